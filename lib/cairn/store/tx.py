"""The writing half of a transaction (`cairn.store.Tx`), in SQL both backends run.

Every text a person or an agent supplied (request, metadata, reasons, errors, audit
details, parameters) is redacted as it is stored, whoever the caller.

Upserts are `INSERT ... ON CONFLICT`, new ids come back through `RETURNING`, and an
insert that would break a unique constraint is `ON CONFLICT DO NOTHING` with no row back
(which leaves a PostgreSQL transaction usable, where a failed statement would abort it):
SQLite (3.35+) and PostgreSQL run them alike. What differs lives in a backend's module:
the reading fragments of `RowReader`, placeholders, DDL.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from datetime import datetime

from cairn.errors import StoreError, WorkflowExists, WorkflowNotFound
from cairn.model import ArtifactRecord, Effect, LeaseRecord, iso
from cairn.pipeline import Pipeline
from cairn.redact import redact, redact_json
from cairn.status import Status
from cairn.store.rows import RowReader

HOST = os.uname().nodename[:256]  # the machine this process runs on (recorded with each session)


class SqlTx(RowReader):
    """A transaction: the typed operations of `cairn.store.Tx` over one connection."""

    def create_workflow(self, workflow_id: str, uid: str, request: str, created_at: datetime,
                        pipeline: Pipeline, metadata: dict[str, str], git: str | None) -> None:
        digest = pipeline.digest
        self.db.execute("INSERT INTO pipelines(digest, body) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        (digest, json.dumps(pipeline.to_dict(), sort_keys=True)))
        if self.db.execute(
                "INSERT INTO workflows(id, uid, request, created_at, pipeline, status, metadata, git)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (workflow_id, uid, redact(request), iso(created_at), digest, Status.PENDING.value,
                 redact_json(json.dumps(metadata, sort_keys=True)), git)).rowcount != 1:
            raise WorkflowExists(workflow_id)  # its id or its uid is taken

    def delete_workflow(self, workflow_id: str) -> None:
        if self.db.execute("DELETE FROM workflows WHERE id = ?", (workflow_id,)).rowcount == 0:
            raise WorkflowNotFound(workflow_id, self.where)

    def add_mark(self, workflow_id: str, kind: str, at: datetime, session_id: str | None,
                 seq: int | None = None) -> int:
        if seq is None:
            row = self.db.execute("SELECT coalesce(max(seq), 0) FROM marks WHERE workflow_id = ?",
                                  (workflow_id,)).fetchone()
            seq = int(row[0]) + 1
        self.db.execute("INSERT INTO marks(workflow_id, seq, type, at, session_id) VALUES (?, ?, ?, ?, ?)",
                        (workflow_id, seq, kind, iso(at), session_id))
        self.db.execute("INSERT INTO activity(workflow_id, tick) VALUES (?, (SELECT coalesce(max(tick), 0) + 1 "
                        "FROM activity)) ON CONFLICT(workflow_id) DO UPDATE SET tick = excluded.tick", (workflow_id,))
        return seq

    def set_status(self, workflow_id: str, status: Status, reason: str | None) -> None:
        self.db.execute("UPDATE workflows SET status = ?, status_reason = ? WHERE id = ?",
                        (status.value, redact(reason) if reason else reason, workflow_id))

    def add_audit(self, workflow_id: str, seq: int, at: datetime, action: str, detail: str) -> None:
        self.db.execute("INSERT INTO audit(workflow_id, seq, at, action, detail) VALUES (?, ?, ?, ?, ?)",
                        (workflow_id, seq, iso(at), action, redact(detail)))

    def start_attempt(self, workflow_id: str, stage: str, at: datetime, seq: int, *,
                      agent_id: str | None, session_id: str | None,
                      outcome: str | None = None, error: str | None = None) -> int:
        row = self.db.execute("SELECT coalesce(max(number), 0) FROM attempts WHERE workflow_id = ? "
                              "AND stage = ?", (workflow_id, stage)).fetchone()
        ended = outcome is not None
        got = self.db.execute(
            "INSERT INTO attempts(workflow_id, stage, number, started_at, ended_at, outcome, error,"
            " agent_id, session_id, started_seq, ended_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO NOTHING RETURNING id",
            (workflow_id, stage, int(row[0]) + 1, iso(at), iso(at) if ended else None, outcome,
             redact(error) if error else error, agent_id, session_id, seq, seq if ended else None)).fetchone()
        if got is None:  # the unique index on agent_id
            raise StoreError(f"agent {agent_id!r} already has an attempt",
                             hint="a repeated hook delivery; nothing to do")
        return int(got[0])

    def end_attempt(self, attempt_id: int, outcome: str, at: datetime, seq: int,
                    error: str | None) -> None:
        self.db.execute("UPDATE attempts SET outcome = ?, ended_at = ?, ended_seq = ?, error = ? "
                        "WHERE id = ? AND outcome IS NULL", (outcome, iso(at), seq, redact(error) if error else error,
                                                             attempt_id))

    def invalidate_attempt(self, attempt_id: int, seq: int) -> None:
        self.db.execute("UPDATE attempts SET invalidated_seq = ? WHERE id = ? AND invalidated_seq IS NULL",
                        (seq, attempt_id))

    def add_artifacts(self, attempt_id: int, records: Sequence[ArtifactRecord]) -> None:
        self.db.executemany(
            'INSERT INTO artifacts(attempt_id, path, sha256, size, mtime, inode, schema, "check", recorded_at)'
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(attempt_id, path) DO UPDATE SET"
            " sha256 = excluded.sha256, size = excluded.size, mtime = excluded.mtime, inode = excluded.inode,"
            ' schema = excluded.schema, "check" = excluded."check", recorded_at = excluded.recorded_at',
            [(attempt_id, r.path, r.sha256, r.size, r.mtime, r.inode, r.schema, r.check,
              iso(r.recorded_at)) for r in records])

    def put_body(self, sha256: str, data: bytes) -> None:
        """An artifact's content, by its hash (stored once however many attempts wrote it).
        Base64 text: one portable column type for both backends."""
        self.db.execute("INSERT INTO artifact_bodies(sha256, size, body) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                        (sha256, len(data), base64.b64encode(data).decode("ascii")))

    def set_artifact_check(self, attempt_id: int, path: str, check: str) -> None:
        self.db.execute('UPDATE artifacts SET "check" = ? WHERE attempt_id = ? AND path = ?',
                        (check, attempt_id, path))

    def set_attempt_git(self, attempt_id: int, git: str) -> None:
        self.db.execute("UPDATE attempts SET git = ? WHERE id = ?", (git, attempt_id))

    def set_lineage(self, attempt_id: int, consumed: str) -> None:
        self.db.execute("UPDATE attempts SET consumed = ? WHERE id = ?", (consumed, attempt_id))

    def set_code_start(self, attempt_id: int, code: str) -> None:
        self.db.execute("UPDATE attempts SET code_start = ? WHERE id = ?", (code, attempt_id))

    def add_changes(self, attempt_id: int, paths: Sequence[str], how: str) -> int:
        """Files the attempt changed; a path already recorded keeps its first `how`. Returns how many are new."""
        return sum(self.db.execute("INSERT INTO changes(attempt_id, path, how) VALUES (?, ?, ?)"
                                   " ON CONFLICT(attempt_id, path) DO NOTHING", (attempt_id, redact(p), how)).rowcount
                   for p in dict.fromkeys(paths))

    def put_pin(self, workflow_id: str, name: str, value: str, seq: int) -> None:
        self.db.execute("INSERT INTO pins(workflow_id, name, value, seq) VALUES (?, ?, ?, ?) ON CONFLICT(workflow_id,"
                        " name) DO UPDATE SET value = excluded.value, seq = excluded.seq",
                        (workflow_id, name, value, seq))

    def set_pipeline(self, workflow_id: str, pipeline: Pipeline) -> None:
        digest = pipeline.digest
        self.db.execute("INSERT INTO pipelines(digest, body) VALUES (?, ?) ON CONFLICT DO NOTHING",
                        (digest, json.dumps(pipeline.to_dict(), sort_keys=True)))
        self.db.execute("UPDATE workflows SET pipeline = ? WHERE id = ?", (digest, workflow_id))

    def set_parent(self, workflow_id: str, parent: str) -> None:
        self.db.execute("UPDATE workflows SET parent = ? WHERE id = ?", (parent, workflow_id))

    def add_effect(self, workflow_id: str, attempt_id: int, effect: Effect, at: datetime) -> bool:
        """Once per (Bash call, kind, target), whatever the number of deliveries."""
        cur = self.db.execute(
            "INSERT INTO effects(workflow_id, attempt_id, kind, target, url, detail, at, tool_use_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tool_use_id, kind, target) DO NOTHING",
            (workflow_id, attempt_id, effect.kind, effect.target, effect.url,
             json.dumps(effect.detail, sort_keys=True), iso(at), effect.tool_use_id))
        return cur.rowcount == 1

    def set_usage(self, attempt_id: int, usage: str) -> None:
        self.db.execute("UPDATE attempts SET usage = ? WHERE id = ?", (usage, attempt_id))

    def touch_session(self, workflow_id: str, session_id: str, at: datetime,
                      source: str | None = None, host: str | None = None) -> None:
        """`host`: the machine the session ran on, this one when None (a rebuild passes the recorded one).
        `last_seen` never moves back: a replayed hook event carries the time it was kept
        (`cairn.store.offline`), which can be older than what a later one wrote first."""
        self.db.execute(
            "INSERT INTO sessions(workflow_id, session_id, first_seen, last_seen, source, host)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(workflow_id, session_id) DO UPDATE SET"
            " last_seen = CASE WHEN excluded.last_seen > sessions.last_seen THEN excluded.last_seen"
            " ELSE sessions.last_seen END, source = coalesce(excluded.source, sessions.source),"
            " host = excluded.host", (workflow_id, session_id, iso(at), iso(at), source, host or HOST))

    def heartbeat(self, session_id: str, at: datetime) -> list[str]:
        wids = self.session_workflows(session_id, [Status.RUNNING])
        bound = self.binding(session_id)
        if bound is not None and bound not in wids:
            wids.insert(0, bound)
        for wid in wids:
            self.touch_session(wid, session_id, at)
            self.refresh_lease(wid, session_id, at)
        return wids

    def set_parameter(self, workflow_id: str, key: str, value: str, seq: int) -> None:
        self.db.execute("INSERT INTO parameters(workflow_id, key, value, seq) VALUES (?, ?, ?, ?) ON CONFLICT"
                        "(workflow_id, key) DO UPDATE SET value = excluded.value, seq = excluded.seq",
                        (workflow_id, key, redact(value), seq))

    def bind(self, session_id: str, workflow_id: str, at: datetime, how: str) -> None:
        self.db.execute("INSERT INTO bindings(session_id, workflow_id, at, how) VALUES (?, ?, ?, ?) ON CONFLICT"
                        "(session_id) DO UPDATE SET workflow_id = excluded.workflow_id, at = excluded.at,"
                        " how = excluded.how", (session_id, workflow_id, iso(at), how))

    def put_dispatch(self, tool_use_id: str, session_id: str, workflow_id: str, stage: str,
                     at: datetime) -> bool:
        cur = self.db.execute("INSERT INTO dispatches(tool_use_id, session_id, workflow_id, stage, at)"
                              " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                              (tool_use_id, session_id, workflow_id, stage, iso(at)))
        return cur.rowcount == 1

    def claim_dispatch(self, tool_use_id: str, agent_id: str) -> None:
        self.db.execute("UPDATE dispatches SET agent_id = ? WHERE tool_use_id = ? AND agent_id IS NULL",
                        (agent_id, tool_use_id))

    def put_lease(self, workflow_id: str, lease: LeaseRecord) -> None:
        self.db.execute(
            "INSERT INTO leases(workflow_id, session_id, pid, start_time, host, acquired_at, heartbeat_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(workflow_id) DO UPDATE SET session_id = excluded.session_id,"
            " pid = excluded.pid, start_time = excluded.start_time, host = excluded.host,"
            " acquired_at = excluded.acquired_at, heartbeat_at = excluded.heartbeat_at",
            (workflow_id, lease.session_id, lease.pid, lease.start_time, lease.host,
             iso(lease.acquired_at), iso(lease.heartbeat_at)))

    def refresh_lease(self, workflow_id: str, session_id: str, at: datetime) -> None:
        """The holder is at work: its lease's heartbeat (what another host judges it by)."""
        self.db.execute("UPDATE leases SET heartbeat_at = ? WHERE workflow_id = ? AND session_id = ?",
                        (iso(at), workflow_id, session_id))

    def delete_lease(self, workflow_id: str) -> None:
        self.db.execute("DELETE FROM leases WHERE workflow_id = ?", (workflow_id,))

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: a failing part is undone, the rest kept."""
        self.db.execute("SAVEPOINT part")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK TO SAVEPOINT part")
            self.db.execute("RELEASE SAVEPOINT part")
            raise
        self.db.execute("RELEASE SAVEPOINT part")

    def add_breakpoint(self, workflow_id: str, stage: str, seq: int, at: datetime, source: str) -> int:
        return int(self.db.execute("INSERT INTO breakpoints(workflow_id, stage, set_seq, set_at, source) "
                                   "VALUES (?, ?, ?, ?, ?) RETURNING id",
                                   (workflow_id, stage, seq, iso(at), source)).fetchone()[0])

    def decide_breakpoint(self, breakpoint_id: int, decision: str, seq: int, at: datetime,
                          feedback: str | None, rerun: str | None) -> None:
        """Once: a breakpoint already decided keeps its first decision."""
        self.db.execute("UPDATE breakpoints SET decision = ?, decided_seq = ?, decided_at = ?, feedback = ?, "
                        "rerun = ? WHERE id = ? AND decision IS NULL",
                        (decision, seq, iso(at), feedback, rerun, breakpoint_id))

    def load(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
        """Rows as `dump` gave them (ids included), into one of the schema's tables."""
        from cairn.store.schema import tables

        if table not in tables() or not all(c.replace("_", "").isalnum() for c in columns):
            raise ValueError(f"{table!r} ({', '.join(columns)}) is not a table of Cairn's schema")
        if rows:
            names = ", ".join(f'"{c}"' for c in columns)
            self.db.executemany(f"INSERT INTO {table}({names}) VALUES ({', '.join('?' * len(columns))})", rows)

    def first_delivery(self, key: str, at: datetime) -> bool:
        cur = self.db.execute("INSERT INTO deliveries(key, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                              (key, iso(at)))
        return cur.rowcount == 1
