"""Reading the SQL backends' rows back into `cairn.model` records (the one loader)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from cairn.errors import StoreError
from cairn.model import (
    ArtifactRecord,
    Attempt,
    AuditEvent,
    Breakpoint,
    Effect,
    LeaseRecord,
    Mark,
    SessionRecord,
    Summary,
    Workflow,
    iso,
    parse_iso,
)
from cairn.pipeline import Pipeline
from cairn.status import Status

_PIPELINES: dict[str, Pipeline] = {}  # digest -> parsed body; a digest names one body forever

_ATTEMPT_COLS = ("id, stage, number, started_at, outcome, ended_at, error, agent_id, session_id, "
                 "started_seq, ended_seq, invalidated_seq, usage, git, consumed, code_start")


_TIMES: dict[str, datetime] = {}  # text -> parsed: a workflow's rows are read again on every commit
_TIMES_MAX = 200_000


def _time(text: str) -> datetime:
    """`parse_iso`, remembered (datetimes are immutable, so sharing them is safe)."""
    dt = _TIMES.get(text)
    if dt is None:
        if len(_TIMES) >= _TIMES_MAX:
            _TIMES.clear()
        dt = _TIMES[text] = parse_iso(text)
    return dt


def _ts(text: str | None) -> datetime | None:
    return _time(text) if text else None


def _attempt(row: Sequence[Any], artifacts: tuple[ArtifactRecord, ...] = (),
             changed: tuple[tuple[str, str], ...] = ()) -> Attempt:
    """An attempts row (`_ATTEMPT_COLS`) as a record. The columns come typed from the
    driver (INTEGER as int, TEXT as str, NULL as None): no conversion but the timestamps,
    since a workflow's attempts are read inside every write transaction."""
    (aid, stage, number, started, outcome, ended, error, agent_id, session_id, sseq, eseq, iseq,
     usage, git, consumed, code_start) = row
    return Attempt(aid, stage, number, _time(started), outcome, _time(ended) if ended else None,
                   error, agent_id, session_id, sseq, eseq, iseq, artifacts, usage, git, consumed, code_start,
                   changed)


class Cursor(Protocol):
    """What the backends' cursors share (sqlite3's, and `cairn.store.postgres`'s)."""

    @property
    def rowcount(self) -> int: ...
    @property
    def description(self) -> Any: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...
    def close(self) -> None: ...


class Db(Protocol):
    """A connection that takes `?` placeholders: `sqlite3.Connection` itself, or the
    PostgreSQL backend's adapter, which translates them."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...
    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Cursor: ...


class RowReader:
    """The reading half of a transaction (`cairn.store.Reader`). The few dialect
    differences are the class attributes a backend overrides; the rest is portable SQL."""

    LATER = "max"                   # the later of two values (PostgreSQL: greatest)
    BY_TIME = " INDEXED BY marks_at"  # walk the checkpoint-time index (PostgreSQL plans it alone)
    ORDER_KEY = "rowid"             # insertion order of a table without an id column
    SECONDS = "(julianday({a}) - julianday({b})) * 86400.0"  # seconds between two ISO timestamps

    def __init__(self, db: Db, where: str) -> None:
        self.db = db
        self.where = where

    def _pipeline(self, digest: str) -> Pipeline:
        found = _PIPELINES.get(digest)
        if found is None:
            row = self.db.execute("SELECT body FROM pipelines WHERE digest = ?", (digest,)).fetchone()
            try:
                found = Pipeline.from_dict(json.loads(row[0]))
            except ValueError as exc:  # a crafted or damaged database: its snapshot is not trusted
                raise StoreError(f"{self.where}: the stored pipeline {digest} is refused ({exc})",
                                 hint="run `cairn doctor` to rebuild the database from the checkpoint.json "
                                 "files") from None
            _PIPELINES[digest] = found
        return found

    def workflow(self, workflow_id: str, *, audit: bool = True) -> Workflow | None:
        db = self.db
        row = db.execute("SELECT uid, request, created_at, pipeline, status, status_reason, metadata, git, "
                         "parent FROM workflows WHERE id = ?", (workflow_id,)).fetchone()
        if row is None:
            return None
        uid, request, created, digest, status, reason, metadata, git, parent = row
        attempts = self._attempts(workflow_id)
        marks = [Mark(r[0], r[1], _time(r[2]), r[3]) for r in db.execute(
            "SELECT seq, type, at, session_id FROM marks WHERE workflow_id = ? ORDER BY seq", (workflow_id,))]
        events = [AuditEvent(r[0], _time(r[1]), r[2], r[3]) for r in db.execute(
            "SELECT seq, at, action, detail FROM audit WHERE workflow_id = ? ORDER BY id",
            (workflow_id,))] if audit else []
        sessions = [SessionRecord(r[0], _time(r[1]), _time(r[2]), r[3], r[4]) for r in db.execute(
            "SELECT session_id, first_seen, last_seen, source, host FROM sessions WHERE workflow_id = ? "
            "ORDER BY first_seen", (workflow_id,))]
        param_rows = db.execute("SELECT key, value, seq FROM parameters WHERE workflow_id = ? ORDER BY key",
                                (workflow_id,)).fetchall()
        params = {r[0]: r[1] for r in param_rows}
        last_seen = max((s.last_seen for s in sessions), default=None)
        pins = db.execute("SELECT name, value, seq FROM pins WHERE workflow_id = ? ORDER BY name",
                          (workflow_id,)).fetchall()
        return Workflow(workflow_id, uid, request, parse_iso(created), self._pipeline(digest),
                        Status(status), reason, json.loads(metadata), git, attempts, marks, events,
                        sessions, params, last_seen, tuple(self.breakpoints(workflow_id)), parent,
                        {r[0]: r[1] for r in pins}, {r[0]: r[2] for r in pins}, tuple(self.effects(workflow_id)),
                        {r[0]: r[2] for r in param_rows})

    def _attempts(self, workflow_id: str, stage: str | None = None) -> list[Attempt]:
        """The workflow's attempts (all, or one stage's), in order, with their artifacts and changed files."""
        db = self.db
        only = "" if stage is None else " AND t.stage = ?"
        args: tuple[str, ...] = (workflow_id,) if stage is None else (workflow_id, stage)
        arts: dict[int, list[ArtifactRecord]] = {}
        for r in db.execute('SELECT a.attempt_id, a.path, t.stage, a.sha256, a.size, a.mtime, a.inode, '
                            'a.schema, a."check", a.recorded_at FROM artifacts a JOIN attempts t '
                            f"ON t.id = a.attempt_id WHERE t.workflow_id = ?{only} ORDER BY a.path", args):
            arts.setdefault(r[0], []).append(ArtifactRecord(r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8],
                                                            _time(r[9])))
        changed: dict[int, list[tuple[str, str]]] = {}
        for r in db.execute("SELECT c.attempt_id, c.path, c.how FROM changes c JOIN attempts t ON t.id = "
                            f"c.attempt_id WHERE t.workflow_id = ?{only} ORDER BY c.path", args):
            changed.setdefault(r[0], []).append((r[1], r[2]))
        return [_attempt(r, tuple(arts.get(r[0], ())), tuple(changed.get(r[0], ())))
                for r in db.execute(f"SELECT {_ATTEMPT_COLS} FROM attempts t WHERE workflow_id = ?{only} "
                                    "ORDER BY id", args)]

    def stage_attempts(self, workflow_id: str, stage: str) -> list[Attempt]:
        """One stage's attempts, oldest first, as `workflow` has them (a completion needs
        these, not the workflow's whole history)."""
        return self._attempts(workflow_id, stage)

    def pins(self, workflow_id: str) -> dict[str, str]:
        """What the workflow runs with (`cairn.pins`): name -> value."""
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT name, value FROM pins WHERE workflow_id = ? ORDER BY name", (workflow_id,))}

    def seq(self, workflow_id: str) -> int | None:
        """The seq of the workflow's newest checkpoint (None when there is no such workflow)."""
        row = self.db.execute("SELECT max(seq) FROM marks WHERE workflow_id = ?", (workflow_id,)).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def workflow_id_of_uid(self, uid: str) -> str | None:
        row = self.db.execute("SELECT id FROM workflows WHERE uid = ?", (uid,)).fetchone()
        return None if row is None else str(row[0])

    def ids(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM workflows ORDER BY id")]

    def summaries(self, statuses: Iterable[Status] | None = None, *, limit: int | None = None,
                  ids: Sequence[str] | None = None) -> list[Summary]:
        """Rows newest first, through the status index: cost grows with what is listed,
        not with what is on disk."""
        where, args = [], []
        if statuses is not None:
            values = [s.value for s in statuses]
            where.append(f"w.status IN ({','.join('?' * len(values))})")
            args += values
        if ids is not None:
            where.append(f"w.id IN ({','.join('?' * len(ids))})")
            args += list(ids)
        # newest activity first: the last checkpoint or the last heartbeat, whichever is later
        # (ISO timestamps with microseconds compare as text)
        # (an outer query: PostgreSQL cannot order by an expression over an output alias)
        sql = ("SELECT * FROM (SELECT w.id AS id, w.status, w.status_reason, w.request, w.created_at, w.pipeline, "
               "m.seq, m.at AS at, (SELECT max(last_seen) FROM sessions s WHERE s.workflow_id = w.id) AS seen "
               "FROM workflows w JOIN marks m ON m.workflow_id = w.id AND m.seq = "
               "(SELECT max(seq) FROM marks WHERE workflow_id = w.id)"
               + (" WHERE " + " AND ".join(where) if where else "")
               + f") q ORDER BY {self.LATER}(at, coalesce(seen, at)) DESC, id")
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = self.db.execute(sql, args).fetchall()
        if not rows:
            return []
        wanted = [r[0] for r in rows]
        stages: dict[str, dict[str, tuple[int, str | None, int | None]]] = {}
        running: dict[str, list[str]] = {}
        for chunk in range(0, len(wanted), 500):
            part = wanted[chunk:chunk + 500]
            for wid, stage, number, outcome, iseq in self.db.execute(
                    "SELECT workflow_id, stage, number, outcome, invalidated_seq FROM attempts WHERE "
                    f"workflow_id IN ({','.join('?' * len(part))}) ORDER BY workflow_id, number", part):
                if iseq is not None:
                    continue
                if outcome is None:
                    running.setdefault(wid, []).append(stage)
                elif outcome in ("completed", "skipped"):
                    stages.setdefault(wid, {})[stage] = (number, outcome, iseq)
        out = []
        for wid, status, reason, request, created, digest, seq, at, seen in rows:
            out.append(Summary(wid, Status(status), reason, request, parse_iso(created), parse_iso(at),
                               _ts(seen), seq, tuple(stages.get(wid, {})), tuple(running.get(wid, ())),
                               self._pipeline(digest)))
        return out

    def counts(self) -> dict[Status, int]:
        return {Status(s): n for s, n in self.db.execute(
            "SELECT status, count(*) FROM workflows GROUP BY status")}

    def finished_since(self, since: datetime) -> list[tuple[str, Status, datetime, datetime]]:
        """(id, status, created, finished) of the workflows completed, cancelled or failed
        whose last checkpoint is at or after `since`: through the index on checkpoint times,
        so the cost grows with recent activity, not with the history (the dashboard's
        "completed today"). SQLite is told the index: left alone it scanned every checkpoint
        in key order to skip sorting the GROUP BY (12 ms at 10,000 workflows, 0.3 ms with it)."""
        rows = self.db.execute(
            "SELECT w.id, w.status, w.created_at, r.last FROM (SELECT workflow_id, max(at) AS last FROM "
            f"marks{self.BY_TIME} WHERE at >= ? GROUP BY workflow_id) r JOIN workflows w ON w.id = r.workflow_id "
            "WHERE w.status IN ('completed', 'cancelled', 'failed')", (iso(since),))
        return [(r[0], Status(r[1]), _time(r[2]), _time(r[3])) for r in rows]

    def any_with(self, statuses: Iterable[Status]) -> bool:
        """Whether some workflow has one of `statuses` (one index probe each)."""
        return any(self.db.execute("SELECT 1 FROM workflows WHERE status = ? LIMIT 1", (s.value,)).fetchone()
                   for s in statuses)

    def by_change(self, statuses: Iterable[Status]) -> list[str]:
        """Ids of the workflows in `statuses`, the one the store changed last first (the
        store's order of commits: no clock, no file time)."""
        values = [s.value for s in statuses]
        return [r[0] for r in self.db.execute(
            "SELECT w.id FROM workflows w JOIN activity a ON a.workflow_id = w.id WHERE w.status IN "
            f"({','.join('?' * len(values))}) ORDER BY a.tick DESC", values)]

    def recent(self, status: Status, limit: int) -> list[str]:
        """Ids of the `limit` workflows with `status` whose last checkpoint is newest: walks
        the checkpoint-time index from the newest, so it stops early instead of sorting
        every finished workflow."""
        out: list[str] = []
        seen: set[str] = set()
        cur = self.db.execute(f"SELECT m.workflow_id, w.status FROM marks m{self.BY_TIME} JOIN workflows w "
                              "ON w.id = m.workflow_id ORDER BY m.at DESC")
        for wid, st in cur:
            if wid in seen:
                continue
            seen.add(wid)
            if st == status.value:
                out.append(wid)
                if len(out) >= limit:
                    break
        cur.close()
        return out

    def average_duration(self, status: Status) -> tuple[int, float | None]:
        """(count, mean seconds from creation to last checkpoint) of workflows with `status`,
        aggregated in SQL (one index probe per workflow, nothing loaded)."""
        # the last checkpoint by its key (workflow, seq): one index seek, no scan of the history
        last = "(SELECT at FROM marks WHERE workflow_id = w.id ORDER BY seq DESC LIMIT 1)"
        row = self.db.execute(
            f"SELECT count(*), avg({self.SECONDS.format(a=last, b='w.created_at')}) FROM workflows w "
            "WHERE w.status = ?", (status.value,)).fetchone()
        return int(row[0]), None if row[1] is None else float(row[1])

    def binding(self, session_id: str) -> str | None:
        row = self.db.execute("SELECT workflow_id FROM bindings WHERE session_id = ?", (session_id,)).fetchone()
        return None if row is None else str(row[0])

    def session_workflows(self, session_id: str, statuses: Iterable[Status]) -> list[str]:
        """Workflows with one of `statuses` that the session worked on (bound, dispatched,
        ran a stage), the one it most recently touched first."""
        values = [s.value for s in statuses]
        return [r[0] for r in self.db.execute(
            "SELECT s.workflow_id FROM sessions s JOIN workflows w ON w.id = s.workflow_id WHERE s.session_id = ? "
            f"AND w.status IN ({','.join('?' * len(values))}) ORDER BY s.last_seen DESC", (session_id, *values))]

    def open_session_ids(self) -> list[str]:
        """Every session that worked on an open workflow."""
        return [r[0] for r in self.db.execute(
            "SELECT DISTINCT s.session_id FROM sessions s JOIN workflows w ON w.id = s.workflow_id WHERE "
            "w.status IN ('pending', 'running', 'paused', 'failed', 'stale') ORDER BY s.session_id")]

    def last_session(self, workflow_id: str) -> tuple[str, datetime] | None:
        """The session most recently seen working on the workflow, and when."""
        row = self.db.execute("SELECT session_id, last_seen FROM sessions WHERE workflow_id = ? "
                              "ORDER BY last_seen DESC LIMIT 1", (workflow_id,)).fetchone()
        return None if row is None else (str(row[0]), parse_iso(row[1]))

    def attempt_of_agent(self, agent_id: str) -> tuple[str, Attempt] | None:
        row = self.db.execute(f"SELECT workflow_id, {_ATTEMPT_COLS} FROM attempts WHERE agent_id = ?",
                              (agent_id,)).fetchone()
        return None if row is None else (str(row[0]), _attempt(row[1:]))

    def dispatches(self, session_id: str, stage: str) -> list[tuple[str, str, str | None]]:
        """(tool_use_id, workflow_id, agent_id) of the session's dispatches of `stage`, oldest first."""
        return [(r[0], r[1], r[2]) for r in self.db.execute(
            "SELECT tool_use_id, workflow_id, agent_id FROM dispatches WHERE session_id = ? AND stage = ? "
            f"ORDER BY at, {self.ORDER_KEY}", (session_id, stage))]

    def dispatch_of_agent(self, agent_id: str) -> tuple[str, str] | None:
        row = self.db.execute("SELECT workflow_id, stage FROM dispatches WHERE agent_id = ?",
                              (agent_id,)).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def lease(self, workflow_id: str) -> LeaseRecord | None:
        row = self.db.execute("SELECT session_id, pid, start_time, host, acquired_at, heartbeat_at FROM leases "
                              "WHERE workflow_id = ?", (workflow_id,)).fetchone()
        if row is None:
            return None
        return LeaseRecord(row[0], row[1], row[2], row[3], parse_iso(row[4]), parse_iso(row[5]))


    def body(self, sha256: str) -> bytes | None:
        """An artifact's stored content (`Tx.put_body`), None when it was not stored."""
        row = self.db.execute("SELECT body FROM artifact_bodies WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else base64.b64decode(row[0])

    def dump(self, table: str) -> tuple[list[str], list[tuple[object, ...]]]:
        """(column names, rows) of one of the schema's tables, as stored."""
        from cairn.store.schema import tables

        if table not in tables():
            raise ValueError(f"{table!r} is not a table of Cairn's schema")
        cur = self.db.execute(f"SELECT * FROM {table}")
        return [d[0] for d in cur.description], [tuple(r) for r in cur.fetchall()]

    def effects(self, workflow_id: str, kinds: Sequence[str] | None = None) -> list[Effect]:
        """The workflow's side-effect ledger, oldest first (optionally only `kinds`)."""
        sql = ("SELECT e.kind, e.target, e.url, e.detail, e.at, e.tool_use_id, e.attempt_id, t.stage "
               "FROM effects e JOIN attempts t ON t.id = e.attempt_id WHERE e.workflow_id = ?")
        args: list[str] = [workflow_id]
        if kinds is not None:
            if not kinds:
                return []
            sql += f" AND e.kind IN ({','.join('?' * len(kinds))})"
            args += list(kinds)
        return [Effect(r[0], r[1], r[2], _strings(r[3]), _time(r[4]), r[5], r[6], r[7], workflow_id)
                for r in self.db.execute(sql + " ORDER BY e.id", args)]


    def breakpoints(self, workflow_id: str) -> list[Breakpoint]:
        """The workflow's breakpoints, oldest first (held and decided)."""
        return [Breakpoint(r[0], r[1], r[2], _time(r[3]), r[4], r[5], _ts(r[6]), r[7], r[8], r[9])
                for r in self.db.execute(
                    "SELECT id, stage, set_seq, set_at, source, decided_seq, decided_at, decision, feedback, rerun "
                    "FROM breakpoints WHERE workflow_id = ? ORDER BY id", (workflow_id,))]


def _strings(text: str) -> dict[str, str]:
    data = json.loads(text)
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
