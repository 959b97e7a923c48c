"""`checkpoint.json`: the projection of a workflow, written after each commit.

People and agents read `.claude/artifacts/<id>/checkpoint.json`; the database is the
truth. The file carries the `seq` of the checkpoint it shows and the workflow's `uid`,
so a reader can tell a projection that is behind (a crash between the commit and the
write) or one that belongs to another workflow (a copied folder). Such a file is
rewritten from the database, never believed. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Hashable
from dataclasses import fields
from functools import partial
from pathlib import Path
from typing import TypedDict

from cairn import safefs
from cairn.errors import ConfinementError
from cairn.model import (
    FORMAT,
    ArtifactRecord,
    Attempt,
    AuditEvent,
    Breakpoint,
    Effect,
    Mark,
    SessionRecord,
    Workflow,
    iso,
)
from cairn.redact import redact_json

CHECKPOINT_FILE = "checkpoint.json"
NOTE = "A projection of .claude/artifacts/cairn.db, rewritten after every change; edits here are ignored."

JSONValue = object


class Seen(TypedDict):
    """What a reader found in a folder's checkpoint.json."""

    seq: int
    uid: str | None
    workflow_id: str | None
    version: str | None


def _artifact(r: ArtifactRecord) -> dict[str, JSONValue]:
    return {"path": r.path, "agent": r.agent, "sha256": r.sha256, "size": r.size, "mtime": r.mtime,
            "inode": r.inode, "schema": r.schema, "check": r.check, "recorded_at": iso(r.recorded_at)}


def _effect(e: Effect) -> dict[str, JSONValue]:
    return {"kind": e.kind, "target": e.target, "url": e.url, "detail": e.detail,
            "at": iso(e.at) if e.at else None, "tool_use_id": e.tool_use_id}


def _breakpoint(b: Breakpoint) -> dict[str, JSONValue]:
    return {"stage": b.stage, "set_seq": b.set_seq, "set_at": iso(b.set_at), "source": b.source,
            "decided_seq": b.decided_seq, "decided_at": iso(b.decided_at) if b.decided_at else None,
            "decision": b.decision, "feedback": b.feedback, "rerun": b.rerun}


def _attempt(a: Attempt, effects: list[Effect]) -> dict[str, JSONValue]:
    return {
        "number": a.number, "started_at": iso(a.started_at),
        "ended_at": iso(a.ended_at) if a.ended_at else None, "outcome": a.outcome, "ended_as": a.outcome_end,
        "error": a.error, "agent_id": a.agent_id, "session_id": a.session_id,
        "started_seq": a.started_seq, "ended_seq": a.ended_seq, "invalidated_seq": a.invalidated_seq,
        "artifacts": [{"path": r.path, "sha256": r.sha256, "size": r.size, "mtime": r.mtime,
                       "inode": r.inode, "schema": r.schema, "check": r.check,
                       "recorded_at": iso(r.recorded_at)} for r in a.artifacts],
        **({"usage": json.loads(a.usage)} if a.usage else {}),
        **({"git": json.loads(a.git)} if a.git else {}),
        **({"consumed": json.loads(a.consumed)} if a.consumed else {}),
        **({"changed": [{"path": p, "how": h} for p, h in a.changed]} if a.changed else {}),
        **({"code_start": json.loads(a.code_start)} if a.code_start else {}),
        **({"effects": [_effect(e) for e in effects]} if effects else {}),
    }


def _session(s: SessionRecord) -> dict[str, JSONValue]:
    return {"session_id": s.session_id, "first_seen": iso(s.first_seen), "last_seen": iso(s.last_seen),
            "source": s.source, "host": s.host}


def _mark(m: Mark) -> dict[str, JSONValue]:
    return {"seq": m.seq, "type": m.type, "at": iso(m.at), "session_id": m.session_id}


def _event(e: AuditEvent) -> dict[str, JSONValue]:
    return {"seq": e.seq, "at": iso(e.at), "action": e.action, "detail": e.detail}


class _Encoded(str):
    """A value already encoded as compact, redacted JSON (`encode` lays it out as is)."""


# Encoded pieces by their content. A workflow's attempts, marks and audit entries are
# re-encoded on every commit (the file shows the whole history), yet an entry rarely
# changes once written: each is rendered, encoded and redacted once per process.
_PIECES: dict[Hashable, _Encoded] = {}
_PIECES_MAX = 100_000


def _piece(key: Hashable, make: Callable[[], JSONValue]) -> _Encoded:
    found = _PIECES.get(key)
    if found is None:
        if len(_PIECES) >= _PIECES_MAX:
            _PIECES.clear()
        found = _PIECES[key] = _Encoded(redact_json(_compact(make())))
    return found


_ATTEMPT_FIELDS = tuple(f.name for f in fields(Attempt))


def _attempt_piece(a: Attempt, effects: list[Effect]) -> _Encoded:
    # keyed by every field of the attempt (it is mutable, so not a key itself) and its
    # effects, which are rare and hold dicts: they enter the key as their JSON
    key = ("attempt", *(getattr(a, name) for name in _ATTEMPT_FIELDS),
           _compact([_effect(e) for e in effects]) if effects else None)
    return _piece(key, lambda: _attempt(a, effects))


Effects = dict[int, list[Effect]]


def _stage_piece(attempts: list[Attempt], effects: Effects) -> _Encoded:
    return _Encoded('{"attempts": [' + ", ".join(_attempt_piece(a, effects.get(a.id, [])) for a in attempts)
                    + "]}")


def _stage_plain(attempts: list[Attempt], effects: Effects) -> JSONValue:
    return {"attempts": [_attempt(a, effects.get(a.id, [])) for a in attempts]}


def _render(wf: Workflow, item: Callable[[Hashable, Callable[[], JSONValue]], object],
            stage: Callable[[list[Attempt], Effects], object]) -> dict[str, object]:
    """The projection's fields; `item` and `stage` make the entries of its long lists and
    maps (plain objects for `render`, encoded pieces for `encode`)."""
    pipeline = wf.pipeline
    completed, skipped, running = wf.completed_agents, wf.skipped_agents, wf.running_agents
    done = [*completed, *skipped]
    ready = pipeline.ready(done)
    artifacts = wf.artifacts
    effects: Effects = {}
    for e in wf.effects:
        effects.setdefault(e.attempt_id, []).append(e)
    return {
        "version": FORMAT,
        "note": NOTE,
        "workflow_id": wf.workflow_id,
        "workflow_uid": wf.uid,
        "seq": wf.seq,
        "checkpoint_type": wf.checkpoint_type,
        "created_at": iso(wf.created_at),
        "updated_at": iso(wf.updated_at),
        "last_activity": iso(wf.last_activity),
        "status": wf.status.value,
        "status_reason": wf.status_reason,
        "request": wf.request,
        "completed_agents": completed,
        "skipped_agents": skipped,
        "current_agent": wf.current_agent,
        "next_agents": [s for s in ready if s not in set(running)] or ready,  # as Workflow.next_agents
        "progress": {"completed": len(done), "total": len(pipeline)},
        "artifacts_created": list(artifacts),
        "artifacts": {p: item(("artifact", r), partial(_artifact, r)) for p, r in artifacts.items()},
        "agents": {name: stage(st.attempts, effects) for name, st in wf.agents.items()},
        "sessions": [item(("session", s), partial(_session, s)) for s in wf.sessions],
        "parameters": wf.parameters,
        **({"parameters_seq": wf.parameter_seqs} if wf.parameters else {}),
        "metadata": wf.metadata,
        "git": json.loads(wf.git) if wf.git else None,
        **({"parent": wf.parent} if wf.parent else {}),
        **({"pins": wf.pins, "pins_seq": wf.pin_seqs} if wf.pins else {}),
        **({"breakpoints": [_breakpoint(b) for b in wf.breakpoints]} if wf.breakpoints else {}),
        "pipeline": pipeline.to_dict(),
        "history": [item(("mark", m), partial(_mark, m)) for m in wf.marks],
        "audit": [item(("event", e), partial(_event, e)) for e in wf.audit],
    }


def render(wf: Workflow) -> dict[str, JSONValue]:
    """The projection as a JSON object (derived fields included: it is for reading)."""
    return _render(wf, lambda _key, make: make(), _stage_plain)


def _compact(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _entry(key: str, value: object) -> str:
    """A line of a second-level map, redacted as a whole (a `"password": "..."` pair is
    caught); an encoded piece opens with `{`, where no pattern that began in the key goes on."""
    if isinstance(value, _Encoded):
        return redact_json(f"    {_compact(key)}: ") + value
    return redact_json(f"    {_compact(key)}: {_compact(value)}")


def encode(wf: Workflow) -> bytes:
    """The projection as UTF-8 JSON, redacted (no credential reaches the disk). Two levels
    are laid out one entry per line, deeper values compact: `json.dumps(indent=...)` runs
    the pure-Python encoder, ~10x slower, and this file is rewritten on every commit.
    Each line is redacted on its own (every pattern stops at a quote or a line break, so
    no secret spans two lines), which lets the entries of the history be encoded once."""
    parts = []
    for key, value in _render(wf, _piece, _stage_piece).items():
        if isinstance(value, dict) and value:
            inner = ",\n".join(_entry(k, v) for k, v in value.items())
            parts.append(f"  {_compact(key)}: {{\n{inner}\n  }}")
        elif isinstance(value, list) and value:
            inner = ",\n".join(f"    {v if isinstance(v, _Encoded) else redact_json(_compact(v))}" for v in value)
            parts.append(f"  {_compact(key)}: [\n{inner}\n  ]")
        else:
            parts.append(redact_json(f"  {_compact(key)}: {_compact(value)}"))
    return ("{\n" + ",\n".join(parts) + "\n}\n").encode("utf-8")


def write(root: Path, wf: Workflow) -> Path:
    """Write `<root>/<id>/checkpoint.json` (creating the folder, refusing links)."""
    folder = root / wf.workflow_id
    safefs.ensure_dir(folder)
    safefs.replace_in(folder, CHECKPOINT_FILE, encode(wf))
    return folder / CHECKPOINT_FILE


_HEAD = re.compile(rb'"workflow_uid": "([0-9A-Za-z_-]*)",\s*"seq": (\d+),')
HEAD_BYTES = 4096


def newer_on_disk(folder: Path, wf: Workflow) -> bool:
    """Whether `folder/checkpoint.json` already shows a later checkpoint of `wf` (another
    writer committed after us and projected first). Reads only the head of the file, where
    `render` puts the uid and the seq; anything unreadable counts as not newer."""
    try:
        fd = safefs.open_in(folder, CHECKPOINT_FILE)
    except (OSError, ConfinementError):
        return False
    try:
        head = os.read(fd, HEAD_BYTES)
    except OSError:
        return False
    finally:
        os.close(fd)
    m = _HEAD.search(head)
    return m is not None and m.group(1).decode() == wf.uid and int(m.group(2)) > wf.seq


def read_raw(folder: Path) -> dict[str, JSONValue]:
    """The JSON object in `folder/checkpoint.json` (ValueError when it is not one)."""
    data = safefs.read_in(folder, CHECKPOINT_FILE)
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"not UTF-8 JSON: {str(exc)[:80]}") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def seen(folder: Path) -> Seen | None:
    """seq, uid and id of the folder's projection; None when missing or unreadable."""
    try:
        raw = read_raw(folder)
    except (OSError, ValueError, ConfinementError):
        return None
    seq, uid, wid, version = raw.get("seq"), raw.get("workflow_uid"), raw.get("workflow_id"), raw.get("version")
    return Seen(seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else -1,
                uid=uid if isinstance(uid, str) else None, workflow_id=wid if isinstance(wid, str) else None,
                version=version if isinstance(version, str) else None)
