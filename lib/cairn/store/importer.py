"""Turning `checkpoint.json` files into database facts.

Used on the first open of a project's database (workflows written by Cairn's file store,
format 3.0, and by autonomous-dev, 2.0; their files are kept) and to rebuild a lost or
damaged database from the projections (3.1). What cannot be recovered is said, per
workflow, never skipped in silence. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cairn.errors import CairnError
from cairn.model import ArtifactRecord, parse_iso, utcnow
from cairn.paths import check_workflow_id
from cairn.pipeline import Pipeline
from cairn.status import Status
from cairn.store import Tx
from cairn.store.projection import read_raw

_HISTORY_RE = re.compile(r"^(\d{8})-([a-z0-9_.-]+)\.json$")
JSON = dict[str, object]


@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each: folder and why
    notes: list[str] = field(default_factory=list)    # partial recoveries


def _ts(value: object, fallback: datetime) -> datetime:
    if isinstance(value, str):
        try:
            return parse_iso(value)
        except ValueError:
            return fallback
    return fallback


def _s(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _i(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _dict(value: object) -> JSON:
    return value if isinstance(value, dict) else {}


def _history(folder: Path) -> list[tuple[int, str]]:
    try:
        names = os.listdir(folder / "checkpoints")
    except OSError:
        return []
    out = []
    for name in names:
        m = _HISTORY_RE.match(name)
        if m:
            out.append((int(m.group(1)), m.group(2)))
    return sorted(out)


def import_record(tx: Tx, folder: Path, raw: JSON, default: Pipeline, report: ImportReport) -> None:
    """Import one checkpoint record (3.1, 3.0 or 2.0) found in `folder`."""
    version = str(raw.get("version"))
    if version == "2.0":
        from cairn.migrate import upgrade

        raw = upgrade(raw, default)
        version = "3.0"
    if version not in ("3.0", "3.1"):
        raise CairnError(f"format {version!r} is not one Cairn reads", hint="it was written by another tool")
    wid = check_workflow_id(str(raw.get("workflow_id")))
    if wid != folder.name:
        raise CairnError(f"its checkpoint names workflow {wid!r}, not the folder's name (a copied or "
                         "renamed folder)", hint=f"rename the folder back to {wid}, or start a new workflow")
    uid = _s(raw.get("workflow_uid")) or secrets.token_hex(16)
    if tx.workflow_id_of_uid(uid) is not None:
        raise CairnError(f"it is a copy of workflow {tx.workflow_id_of_uid(uid)!r}",
                         hint="a workflow is its identity, not its folder; remove the copy")
    now = utcnow()
    created = _ts(raw.get("created_at"), now)
    updated = _ts(raw.get("updated_at"), created)
    pipeline = Pipeline.from_dict(_dict(raw.get("pipeline"))) if raw.get("pipeline") else default
    meta = {str(k): str(v) for k, v in _dict(raw.get("metadata")).items()}
    git = raw.get("git")
    tx.create_workflow(wid, uid, str(raw.get("request") or "")[:20_000], created, pipeline, meta,
                       json.dumps(git) if isinstance(git, dict) else None)
    final = _i(raw.get("seq")) or 1
    marks = [(_i(h.get("seq")) or 0, str(h.get("type")), _ts(h.get("at"), updated))
             for h in map(_dict, _list(raw.get("history")))]
    if not marks:
        marks = [(seq, kind, created if seq == 1 else updated) for seq, kind in _history(folder)]
    if not marks or marks[-1][0] < final:
        marks.append((final, str(raw.get("checkpoint_type") or "imported"), updated))
    for seq, kind, at in marks:
        if seq > 0:
            tx.add_mark(wid, kind, at, None, seq)
    final = max(final, *(m[0] for m in marks))
    status = str(raw.get("status") or "paused")
    if status in {s.value for s in Status}:
        tx.set_status(wid, Status(status), _s(raw.get("status_reason")))
    by_stage: dict[str, int] = {}
    for stage, state in _dict(raw.get("agents")).items():
        for a in map(_dict, _list(_dict(state).get("attempts"))):
            outcome = str(a.get("ended_as") or a.get("outcome") or "interrupted")
            undone = outcome == "invalidated" or _i(a.get("invalidated_seq")) is not None
            ended_as = None if outcome == "running" else ("completed" if outcome == "invalidated" else outcome)
            agent_id = _s(a.get("agent_id"))
            if agent_id and tx.attempt_of_agent(agent_id) is not None:
                agent_id = None
            started = _ts(a.get("started_at"), created)
            aid = tx.start_attempt(wid, str(stage), started, _i(a.get("started_seq")) or final,
                                   agent_id=agent_id, session_id=_s(a.get("session_id")))
            if ended_as is not None:
                tx.end_attempt(aid, ended_as, _ts(a.get("ended_at"), started), _i(a.get("ended_seq")) or final,
                               _s(a.get("error")))
            if undone:
                tx.invalidate_attempt(aid, _i(a.get("invalidated_seq")) or final)
            arts = [_record(_dict(r), str(stage), now) for r in _list(a.get("artifacts"))]
            tx.add_artifacts(aid, [r for r in arts if r is not None])
            if ended_as == "completed" and not undone:
                by_stage[str(stage)] = aid
    if version == "3.0":  # artifacts were kept per workflow, not per attempt
        for rec in map(_dict, _dict(raw.get("artifacts")).values()):
            r = _record(rec, str(rec.get("agent")), now)
            if r is not None and r.agent in by_stage:
                tx.add_artifacts(by_stage[r.agent], [r])
            elif r is not None:
                report.notes.append(f"{wid}: artifact {r.path} has no completed attempt of {r.agent}; dropped")
    for e in map(_dict, _list(raw.get("audit"))):
        tx.add_audit(wid, _i(e.get("seq")) or final, _ts(e.get("at"), updated), str(e.get("action")),
                     str(e.get("detail") or ""))
    for s in map(_dict, _list(raw.get("sessions"))):
        sid = _s(s.get("session_id"))
        if sid:
            tx.touch_session(wid, sid, _ts(s.get("last_seen"), updated), _s(s.get("source")))
    for key, value in _dict(raw.get("parameters")).items():
        tx.set_parameter(wid, str(key), str(value), final)
    tx.add_audit(wid, final, now, "imported", f"from {folder.name}/checkpoint.json (format {version})")
    report.imported.append(wid)


def _record(r: JSON, agent: str, now: datetime) -> ArtifactRecord | None:
    path, sha = _s(r.get("path")), _s(r.get("sha256"))
    if not path or not sha:
        return None
    mtime = r.get("mtime")
    return ArtifactRecord(path, agent, sha, _i(r.get("size")) or 0,
                          float(mtime) if isinstance(mtime, (int, float)) else 0.0, _i(r.get("inode")),
                          _s(r.get("schema")), _s(r.get("check")) or "ok", _ts(r.get("recorded_at"), now))


def import_folders(tx: Tx, root: Path, default: Pipeline, *, only: set[str] | None = None) -> ImportReport:
    """Import every workflow folder under `root` the database does not know."""
    report = ImportReport()
    known = set(tx.ids())
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return report
    for e in entries:
        if e.name.startswith(".") or e.name in known or not e.is_dir(follow_symlinks=False):
            continue
        if only is not None and e.name not in only:
            continue
        folder = Path(e.path)
        try:
            raw = read_raw(folder)
        except FileNotFoundError:
            continue  # not a workflow folder
        except (OSError, ValueError, CairnError) as exc:
            report.skipped.append(f"{folder}: checkpoint.json is unreadable ({str(exc)[:120]})")
            continue
        try:
            with tx.savepoint():
                import_record(tx, folder, raw, default, report)
        except (CairnError, ValueError, TypeError, KeyError) as exc:
            report.skipped.append(f"{folder}: {str(exc).splitlines()[0][:200]}")
    return report
