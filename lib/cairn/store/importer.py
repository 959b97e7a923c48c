"""Turning `checkpoint.json` files into database facts.

Used on the first open of a project's database (workflows written by Cairn's file store,
format 3.0, and by autonomous-dev, 2.0) and to rebuild a lost or damaged database from
the projections (3.2, and 3.1 written before it). What cannot be recovered is said, per workflow, never skipped in
silence. Files are kept: the checkpoint.json found is archived as
`checkpoints/original-checkpoint.json` before the projection replaces it. Standard
library only.

Format 3.0 kept, besides `checkpoint.json`, every checkpoint as
`checkpoints/NNNNNNNN-<type>.json`; those entries give each mark its time, each attempt
the checkpoints that began, ended and undid it, and each audit entry its checkpoint, so
the imported history answers `as_of` (rollback) as the file store did. Its
`completed_agents`/`skipped_agents` lists are the truth of that format: attempts are
reconciled with them (an old rollback could list a stage as completed while its last
attempt said "invalidated").
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cairn import safefs
from cairn.errors import CairnError
from cairn.model import FORMAT, ArtifactRecord, iso, utcnow
from cairn.paths import check_workflow_id
from cairn.pipeline import Pipeline
from cairn.status import Status
from cairn.store import Tx, durable
from cairn.store.legacy import ARCHIVE, HISTORY_DIR, JSON, Found, _dict, _i, _list, _s, _ts, read_folder
from cairn.store.projection import read_raw

# What a damaged or hand-edited record can make the import raise (its savepoint is rolled
# back and the folder reported): wrong types and values, a missing key, nesting too deep,
# numbers out of range, facts that contradict each other (a duplicate seq or agent id).
DAMAGED: tuple[type[BaseException], ...] = (CairnError, ValueError, TypeError, LookupError, AttributeError,
                                           RecursionError, OverflowError, sqlite3.IntegrityError)

@dataclass
class ImportReport:
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line each: folder and why
    notes: list[str] = field(default_factory=list)    # partial recoveries


# ------------------------------------------------------------------ one record


class _Importer:
    def __init__(self, tx: Tx, folder: Path, found: Found, default: Pipeline, report: ImportReport) -> None:
        self.tx, self.folder, self.found, self.report = tx, folder, found, report
        self.default = default
        self.now = utcnow()

    def run(self) -> str:
        tx, raw = self.tx, self.found.raw
        version = str(raw.get("version"))
        self.legacy = version == "2.0"
        if self.legacy:
            from cairn.migrate import upgrade

            raw = upgrade(raw, self.default)
            version = "3.0"
        if version not in ("3.0", "3.1", "3.2"):
            raise CairnError(f"format {version!r} is not one Cairn reads", hint="it was written by another tool")
        self.raw, self.version = raw, version
        wid = check_workflow_id(str(raw.get("workflow_id")))
        if wid != self.folder.name:
            raise CairnError(f"its checkpoint names workflow {wid!r}, not the folder's name (a copied or "
                             "renamed folder)", hint=f"rename the folder back to {wid}, or start a new workflow")
        uid = _s(raw.get("workflow_uid")) or secrets.token_hex(16)
        owner = tx.workflow_id_of_uid(uid)
        if owner is not None:
            raise CairnError(f"it is a copy of workflow {owner!r} (the same workflow_uid)",
                             hint="a workflow is its identity, not its folder; remove the copy")
        self.wid = wid
        self.created = _ts(raw.get("created_at"), self.now)
        self.updated = _ts(raw.get("updated_at"), self.created)
        pipe = raw.get("pipeline")
        self.pipeline = Pipeline.from_dict(pipe) if isinstance(pipe, dict) and pipe else self.default
        metadata = dict(_dict(raw.get("metadata")))
        git = raw.get("git")
        self.last_git: JSON | None = None
        if self.version == "3.0" and isinstance(metadata.get("git"), dict):
            # the file store kept its newest git state in metadata: it becomes the git state
            # of the attempt it was recorded with (or of the creation), where stale checks look
            self.last_git = _dict(metadata.pop("git"))
            if not _s(self.last_git.get("stage")):
                git = self.last_git
        meta = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()}
        tx.create_workflow(wid, uid, str(raw.get("request") or "")[:20_000], self.created, self.pipeline, meta,
                           json.dumps(git, sort_keys=True) if isinstance(git, dict) else None)
        self.snap_seqs = sorted(self.found.snapshots)
        self.final = self._marks()
        status = str(raw.get("status") or "paused")
        if status in {s.value for s in Status}:
            tx.set_status(wid, Status(status), _s(raw.get("status_reason")))
        else:
            tx.set_status(wid, Status.PAUSED, f"imported with an unknown status {status[:40]!r}")
        self._audit()  # the record's own trail first, then what the import adds to it
        self.effective: dict[str, int] = {}  # stage -> attempt id making it done
        self._attempts()
        if version == "3.0":
            self._reconcile()
            self._workflow_artifacts()
            stage = _s((self.last_git or {}).get("stage"))
            if self.last_git is not None and stage:
                wf = tx.workflow(wid, audit=False)
                assert wf is not None
                recorded = [a for a in wf.attempts if a.stage == stage and a.outcome_end == "completed"]
                if recorded:  # the completion it was recorded with (perhaps undone since)
                    git_text = {k: v for k, v in self.last_git.items() if k != "stage"}
                    tx.set_attempt_git(recorded[-1].id, json.dumps(git_text, sort_keys=True))
        for s in map(_dict, _list(raw.get("sessions"))):
            sid = _s(s.get("session_id"))
            if sid:
                host = _s(s.get("host"))  # 3.2 (3.1 and older: this machine's, as before)
                tx.touch_session(wid, sid[:200], _ts(s.get("first_seen"), self.updated), _s(s.get("source")), host)
                tx.touch_session(wid, sid[:200], _ts(s.get("last_seen"), self.updated), host=host)
        seqs = _dict(raw.get("parameters_seq"))  # 3.2; before, each at the record's checkpoint
        for key, value in _dict(raw.get("parameters")).items():
            tx.set_parameter(wid, str(key), str(value), _i(seqs.get(key)) or self.final)
        durable.pins(tx, wid, raw)
        durable.breakpoints(tx, wid, raw, self.final, self.now, self.report.notes)
        parent = _s(raw.get("parent"))
        if parent:
            tx.set_parent(wid, parent[:128])
        shown = "2.0" if self.legacy else version
        if version == "3.1":
            self.report.notes.append(f"{wid}: {durable.BEFORE_32}")
        if version != FORMAT:  # a 3.2 projection is the database's own image: rebuilt from it, nothing is added,
            # so the projection comes back byte for byte and a second rebuild changes nothing
            tx.add_audit(wid, self.final, self.now, "imported", f"from {self.folder.name}/checkpoint.json (format "
                         f"{shown})" + (f"; {'; '.join(self.found.notes)}" if self.found.notes else ""))
        return wid

    # -- marks
    def _marks(self) -> int:
        raw, snaps = self.raw, self.found.snapshots
        final = _i(raw.get("seq")) or 1
        marks: list[tuple[int, str, datetime, str | None]] = []
        if self.version in ("3.1", "3.2"):
            marks = [(_i(h.get("seq")) or 0, str(h.get("type")), _ts(h.get("at"), self.updated),
                      _s(h.get("session_id"))) for h in map(_dict, _list(raw.get("history")))]
        elif self.found.kinds and not self.legacy:
            for seq, kind in self.found.kinds.items():
                snap = snaps.get(seq)
                at = _ts(snap.get("updated_at"), self.updated) if snap else (
                    self.created if seq == 1 else self.updated)
                marks.append((seq, kind, at, None))
        if not marks or max(m[0] for m in marks) < final:
            marks.append((final, str(raw.get("checkpoint_type") or "imported"), self.updated, None))
        seen: set[int] = set()
        for seq, kind, at, session in sorted(marks, key=lambda m: m[0]):
            if seq > 0 and seq not in seen:
                self.tx.add_mark(self.wid, kind[:100], at, session, seq)
                seen.add(seq)
        return max(seen)

    # -- attempts
    def _derived(self, stage: str, k: int) -> tuple[int | None, int | None, int | None, str | None]:
        """(started, ended, invalidated seq, outcome it ended with) of attempt k of `stage`
        as the 3.0 history entries saw it."""
        started = ended = undone = None
        ended_as = None
        for seq in self.snap_seqs:
            atts = _list(_dict(_dict(self.found.snapshots[seq].get("agents")).get(stage)).get("attempts"))
            if len(atts) <= k:
                continue
            outcome = _dict(atts[k]).get("outcome")
            if started is None:
                started = seq
            if ended is None and outcome not in (None, "running"):
                ended = seq
                ended_as = str(outcome) if outcome != "invalidated" else None
            if undone is None and outcome == "invalidated":
                undone = seq
        return started, ended, undone, ended_as

    def _attempts(self) -> None:
        tx, wid, final = self.tx, self.wid, self.final
        for stage, state in _dict(self.raw.get("agents")).items():
            stage = str(stage)
            for k, a in enumerate(map(_dict, _list(_dict(state).get("attempts")))):
                outcome = str(a.get("ended_as") or a.get("outcome") or "interrupted")
                undone = outcome == "invalidated" or _i(a.get("invalidated_seq")) is not None
                d_start, d_end, d_undone, d_as = self._derived(stage, k) if self.version == "3.0" else (None,) * 4
                if outcome == "invalidated":
                    outcome = d_as or "completed"
                ended_as = None if outcome == "running" else outcome
                agent_id = _s(a.get("agent_id"))
                if agent_id and tx.attempt_of_agent(agent_id) is not None:
                    agent_id = None  # another workflow's attempt holds it: keep this one without
                started = _ts(a.get("started_at"), self.created)
                sseq = _i(a.get("started_seq")) or d_start or final
                aid = tx.start_attempt(wid, stage, started, sseq, agent_id=agent_id,
                                       session_id=_s(a.get("session_id")))
                if ended_as is not None:
                    tx.end_attempt(aid, ended_as, _ts(a.get("ended_at"), started),
                                   max(sseq, _i(a.get("ended_seq")) or d_end or final), _s(a.get("error")))
                if undone:
                    tx.invalidate_attempt(aid, _i(a.get("invalidated_seq")) or d_undone or final)
                arts = [_record(_dict(r), stage, self.now) for r in _list(a.get("artifacts"))]
                if not arts and self.version == "3.0" and d_end is not None and ended_as == "completed":
                    then = _dict(self.found.snapshots[d_end].get("artifacts"))
                    arts = [_record(r, stage, self.now) for r in map(_dict, then.values())
                            if r.get("agent") == stage]
                tx.add_artifacts(aid, [r for r in arts if r is not None])
                if a.get("usage") is not None:
                    tx.set_usage(aid, json.dumps(a.get("usage"), sort_keys=True))
                if isinstance(a.get("git"), dict):
                    tx.set_attempt_git(aid, json.dumps(a.get("git"), sort_keys=True))
                consumed = a.get("consumed")
                if isinstance(consumed, dict):  # lineage (format 3.1 since issue 11)
                    tx.set_lineage(aid, json.dumps({str(k): str(v) for k, v in consumed.items()}, sort_keys=True))
                changed = [(_s(c.get("path")), _s(c.get("how")) or "git") for c in map(_dict, _list(a.get("changed")))]
                for how in dict.fromkeys(h for p, h in changed if p):
                    tx.add_changes(aid, [str(p)[:4096] for p, h in changed if p and h == how], how)
                durable.attempt_facts(tx, wid, aid, a, self.now)
                if ended_as in ("completed", "skipped") and not undone:
                    self.effective[stage] = aid  # a later failed attempt leaves it effective

    def _done_at(self, seq: int) -> set[str]:
        snap = self.found.snapshots.get(seq, {})
        return {str(s) for s in [*_list(snap.get("completed_agents")), *_list(snap.get("skipped_agents"))]}

    def _reconcile(self) -> None:
        """Make the attempts agree with the 3.0 record's completed/skipped lists."""
        tx, wid, raw = self.tx, self.wid, self.raw
        completed = [str(s) for s in _list(raw.get("completed_agents"))]
        skipped = [str(s) for s in _list(raw.get("skipped_agents"))]
        done = set(completed) | set(skipped)
        wf = tx.workflow(wid, audit=False)
        assert wf is not None
        for stage in sorted({a.stage for a in wf.attempts} - done):
            for a in wf.attempts:  # done once, undone since (3.0 marked only the last attempt)
                if a.stage == stage and a.outcome in ("completed", "skipped"):
                    after = [s for s in self.snap_seqs if s > (a.ended_seq or 0) and stage not in self._done_at(s)]
                    tx.invalidate_attempt(a.id, after[0] if after else self.final)
                    self.effective.pop(stage, None)
        for stage in [*completed, *[s for s in skipped if s not in completed]]:
            if stage in self.effective:
                continue
            # listed as done without a standing attempt (2.0; or a 3.0 rollback that restored
            # it): an attempt from the checkpoint since which it has been listed
            seq = self.final
            for s in reversed(self.snap_seqs):
                if stage not in self._done_at(s):
                    break
                seq = s
            outcome = "completed" if stage in completed else "skipped"
            why = ("recorded by autonomous-dev (format 2.0)" if self.legacy
                   else f"listed as {outcome} by the format 3.0 checkpoint")
            aid = tx.start_attempt(wid, stage, self.created if self.legacy else self.updated, seq, agent_id=None,
                                   session_id=None, outcome=outcome, error=None if outcome == "completed" else why)
            tx.add_audit(wid, seq, self.now, "import_reconciled", f"{stage}: {why}; a {outcome} attempt records it")
            self.effective[stage] = aid
        current = _s(raw.get("current_agent"))
        if self.legacy and current and current not in done:
            tx.start_attempt(wid, current, self.created, self.final, agent_id=None, session_id=None,
                             outcome="interrupted",
                             error="running when autonomous-dev wrote its checkpoint (format 2.0 current_agent)")

    def _workflow_artifacts(self) -> None:
        """3.0 kept the workflow's current artifacts per workflow: each goes to the attempt
        that makes its stage done. 2.0 kept paths only: the files found are hashed now."""
        for rec in map(_dict, _dict(self.raw.get("artifacts")).values()):
            r = _record(rec, str(rec.get("agent")), self.now)
            if r is not None and r.agent in self.effective:
                self.tx.add_artifacts(self.effective[r.agent], [r])
            elif r is not None:
                self.report.notes.append(f"{self.wid}: artifact {r.path} has no completed attempt of "
                                         f"{r.agent}; dropped")
        if not self.legacy:
            return
        prefix = f".claude/artifacts/{self.wid}/"
        owners = {spec.path: stage.name for stage in self.pipeline.stages for spec in stage.artifacts}
        for path in map(str, _list(self.raw.get("artifacts_created"))):
            rel = path[len(prefix):] if path.startswith(prefix) else path
            stage = owners.get(rel)
            if stage is None or stage not in self.effective:
                self.report.notes.append(f"{self.wid}: artifact {path} (format 2.0) belongs to no completed "
                                         "stage; listed in the archived original only")
                continue
            try:
                data = safefs.read_in(self.folder, rel)
                st = os.lstat(self.folder / rel)
            except (OSError, CairnError) as exc:
                self.report.notes.append(f"{self.wid}: artifact {path} (format 2.0) cannot be read "
                                         f"({str(exc).splitlines()[0][:100]}); not recorded")
                continue
            schema = next((a.schema for a in self.pipeline.stage(stage).artifacts if a.path == rel), None)
            self.tx.add_artifacts(self.effective[stage], [ArtifactRecord(
                rel, stage, hashlib.sha256(data).hexdigest(), len(data), st.st_mtime, st.st_ino, schema,
                "pending" if schema else "none", self.now)])

    def _audit(self) -> None:
        entries = list(map(_dict, _list(self.raw.get("audit"))))
        first_seen: dict[int, int] = {}  # audit index -> the first history entry holding it
        for seq in self.snap_seqs:
            n = len(_list(self.found.snapshots[seq].get("audit")))
            for i in range(n):
                first_seen.setdefault(i, seq)
        for i, e in enumerate(entries):
            seq = _i(e.get("seq")) or first_seen.get(i) or self.final
            self.tx.add_audit(self.wid, seq, _ts(e.get("at"), self.updated), str(e.get("action"))[:200],
                              str(e.get("detail") or "")[:4000])


def _record(r: JSON, agent: str, now: datetime) -> ArtifactRecord | None:
    path, sha = _s(r.get("path")), _s(r.get("sha256"))
    if not path or not sha:
        return None
    mtime = r.get("mtime")
    return ArtifactRecord(path, agent, sha, _i(r.get("size")) or 0,
                          float(mtime) if isinstance(mtime, (int, float)) else 0.0, _i(r.get("inode")),
                          _s(r.get("schema")), _s(r.get("check")) or "ok", _ts(r.get("recorded_at"), now))


def import_record(tx: Tx, folder: Path, found: Found, default: Pipeline, report: ImportReport) -> str:
    """Import one workflow folder's record (3.2, 3.1, 3.0 or 2.0); its id."""
    return _Importer(tx, folder, found, default, report).run()


def _archive(folder: Path, original: bytes | None) -> None:
    """Keep the file that was found: the projection is about to replace checkpoint.json."""
    if original is None:
        return
    safefs.ensure_dir(folder / HISTORY_DIR)
    with contextlib.suppress(FileExistsError):  # an earlier import (then a rebuild) kept it
        safefs.create_in(folder / HISTORY_DIR, ARCHIVE, original)


def _last_change(entry: os.DirEntry[str]) -> str:
    """When the folder's record last changed (its `updated_at`, "" when unreadable): the
    folders are imported in that order, so the store's order of changes (the `activity`
    table: which workflow `latest` and a new session's offer name) is re-derived from the
    checkpoints' times, as migration 0002 derived it, not from the folders' names."""
    if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
        return ""
    try:
        raw = read_raw(Path(entry.path))
    except (OSError, ValueError, CairnError):
        return ""
    updated = raw.get("updated_at")
    return iso(_ts(updated, utcnow())) if isinstance(updated, str) else ""


def import_folders(tx: Tx, root: Path, default: Pipeline, *, only: set[str] | None = None) -> ImportReport:
    """Import every workflow folder under `root` the database does not know. A folder that
    cannot be imported is reported and changes nothing (its part is rolled back)."""
    report = ImportReport()
    known = set(tx.ids())
    try:
        entries = sorted(os.scandir(root), key=lambda e: (_last_change(e), e.name))
    except OSError:
        return report
    for e in entries:
        if e.name.startswith(".") or e.name in known:
            continue
        if only is not None and e.name not in only:
            continue
        folder = Path(e.path)
        if e.is_symlink():
            report.skipped.append(f"{folder}: a symbolic link; Cairn does not follow links there")
            continue
        if not e.is_dir(follow_symlinks=False):
            continue
        try:
            found = read_folder(folder)
        except (OSError, ValueError, CairnError) as exc:
            report.skipped.append(f"{folder}: {str(exc).splitlines()[0][:200]}")
            continue
        if found is None:
            continue  # not a workflow folder
        try:
            with tx.savepoint():
                wid = import_record(tx, folder, found, default, report)
        except DAMAGED as exc:  # one folder's damaged or hostile data never aborts the others
            report.skipped.append(f"{folder}: {str(exc).splitlines()[0][:200] or type(exc).__name__}")
            continue
        report.imported.append(wid)
        report.notes += [f"{wid}: {n}" for n in found.notes]
        try:
            if str(found.raw.get("version")) not in ("3.1", "3.2"):  # a projection is rendered from the database anyway
                _archive(folder, found.original)
        except (OSError, CairnError) as exc:
            report.notes.append(f"{wid}: the original checkpoint.json could not be archived ({exc})")
    return report
