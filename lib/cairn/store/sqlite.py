"""The embedded backend: one SQLite database per project, standard library `sqlite3`.

WAL, `synchronous=FULL`, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for every
writer, so concurrent hooks and commands are serialized by the database. Every text a
person or an agent supplied (request, metadata, reasons, errors, audit details,
parameters) is redacted as it is stored, whoever the caller (the importer included). The file is
opened with `nofollow` (a symlinked database planted in a cloned repository is refused)
and created 0600. Reading code lives in `cairn.store.rows`; this module opens, migrates
and writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

from cairn import disk
from cairn.errors import CairnError, DiskError, StoreError, WorkflowExists, WorkflowNotFound
from cairn.model import ArtifactRecord, Effect, LeaseRecord, iso
from cairn.pipeline import Pipeline
from cairn.redact import redact, redact_json
from cairn.status import Status
from cairn.store.rows import RowReader
from cairn.store.schema import MIGRATIONS

DB_FILE = "cairn.db"
BUSY_TIMEOUT_MS = 30_000


class SqliteTx(RowReader):
    """A transaction: the typed operations of `cairn.store.Tx` over one connection."""

    def create_workflow(self, workflow_id: str, uid: str, request: str, created_at: datetime,
                        pipeline: Pipeline, metadata: dict[str, str], git: str | None) -> None:
        digest = pipeline.digest
        self.db.execute("INSERT OR IGNORE INTO pipelines(digest, body) VALUES (?, ?)",
                        (digest, json.dumps(pipeline.to_dict(), sort_keys=True)))
        try:
            self.db.execute(
                "INSERT INTO workflows(id, uid, request, created_at, pipeline, status, metadata, git)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (workflow_id, uid, redact(request), iso(created_at), digest, Status.PENDING.value,
                 redact_json(json.dumps(metadata, sort_keys=True)), git))
        except sqlite3.IntegrityError:
            raise WorkflowExists(workflow_id) from None

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
        try:
            cur = self.db.execute(
                "INSERT INTO attempts(workflow_id, stage, number, started_at, ended_at, outcome, error,"
                " agent_id, session_id, started_seq, ended_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (workflow_id, stage, int(row[0]) + 1, iso(at), iso(at) if ended else None, outcome,
                 redact(error) if error else error, agent_id, session_id, seq, seq if ended else None))
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"agent {agent_id!r} already has an attempt ({exc})",
                             hint="a repeated hook delivery; nothing to do") from None
        return int(cur.lastrowid or 0)

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
            'INSERT OR REPLACE INTO artifacts(attempt_id, path, sha256, size, mtime, inode, schema, "check",'
            " recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(attempt_id, r.path, r.sha256, r.size, r.mtime, r.inode, r.schema, r.check,
              iso(r.recorded_at)) for r in records])

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
        before = self.db.total_changes
        self.db.executemany("INSERT INTO changes(attempt_id, path, how) VALUES (?, ?, ?)"
                            " ON CONFLICT(attempt_id, path) DO NOTHING",
                            [(attempt_id, redact(p), how) for p in paths])
        return self.db.total_changes - before

    def put_pin(self, workflow_id: str, name: str, value: str, seq: int) -> None:
        self.db.execute("INSERT INTO pins(workflow_id, name, value, seq) VALUES (?, ?, ?, ?) ON CONFLICT(workflow_id,"
                        " name) DO UPDATE SET value = excluded.value, seq = excluded.seq",
                        (workflow_id, name, value, seq))

    def set_pipeline(self, workflow_id: str, pipeline: Pipeline) -> None:
        digest = pipeline.digest
        self.db.execute("INSERT INTO pipelines(digest, body) VALUES (?, ?) ON CONFLICT(digest) DO NOTHING",
                        (digest, json.dumps(pipeline.to_dict(), sort_keys=True)))
        self.db.execute("UPDATE workflows SET pipeline = ? WHERE id = ?", (digest, workflow_id))

    def set_parent(self, workflow_id: str, parent: str) -> None:
        self.db.execute("UPDATE workflows SET parent = ? WHERE id = ?", (parent, workflow_id))
    def add_effect(self, workflow_id: str, attempt_id: int, effect: Effect, at: datetime) -> bool:
        """Once per (Bash call, kind, target), whatever the number of deliveries."""
        cur = self.db.execute(
            "INSERT INTO effects(workflow_id, attempt_id, kind, target, url, detail, at, tool_use_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tool_use_id, kind, target) DO NOTHING",  # portable SQL
            (workflow_id, attempt_id, effect.kind, effect.target, effect.url,
             json.dumps(effect.detail, sort_keys=True), iso(at), effect.tool_use_id))
        return cur.rowcount == 1

    def set_usage(self, attempt_id: int, usage: str) -> None:
        self.db.execute("UPDATE attempts SET usage = ? WHERE id = ?", (usage, attempt_id))

    def touch_session(self, workflow_id: str, session_id: str, at: datetime,
                      source: str | None = None) -> None:
        self.db.execute(
            "INSERT INTO sessions(workflow_id, session_id, first_seen, last_seen, source) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT(workflow_id, session_id) DO UPDATE SET last_seen = excluded.last_seen,"
            " source = coalesce(excluded.source, source)",
            (workflow_id, session_id, iso(at), iso(at), source))

    def heartbeat(self, session_id: str, at: datetime) -> list[str]:
        wids = self.session_workflows(session_id, [Status.RUNNING])
        bound = self.binding(session_id)
        if bound is not None and bound not in wids:
            wids.insert(0, bound)
        for wid in wids:
            self.touch_session(wid, session_id, at)
            self.db.execute("UPDATE leases SET heartbeat_at = ? WHERE workflow_id = ? AND session_id = ?",
                            (iso(at), wid, session_id))
        return wids

    def set_parameter(self, workflow_id: str, key: str, value: str, seq: int) -> None:
        self.db.execute("INSERT OR REPLACE INTO parameters(workflow_id, key, value, seq) VALUES (?, ?, ?, ?)",
                        (workflow_id, key, redact(value), seq))

    def bind(self, session_id: str, workflow_id: str, at: datetime, how: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO bindings(session_id, workflow_id, at, how) VALUES (?, ?, ?, ?)",
                        (session_id, workflow_id, iso(at), how))

    def put_dispatch(self, tool_use_id: str, session_id: str, workflow_id: str, stage: str,
                     at: datetime) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO dispatches(tool_use_id, session_id, workflow_id, stage, at)"
                              " VALUES (?, ?, ?, ?, ?)", (tool_use_id, session_id, workflow_id, stage, iso(at)))
        return cur.rowcount == 1

    def claim_dispatch(self, tool_use_id: str, agent_id: str) -> None:
        self.db.execute("UPDATE dispatches SET agent_id = ? WHERE tool_use_id = ? AND agent_id IS NULL",
                        (agent_id, tool_use_id))

    def put_lease(self, workflow_id: str, lease: LeaseRecord) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO leases(workflow_id, session_id, pid, start_time, host, acquired_at,"
            " heartbeat_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
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
            self.db.execute("ROLLBACK TO part")
            self.db.execute("RELEASE part")
            raise
        self.db.execute("RELEASE part")

    def first_delivery(self, key: str, at: datetime) -> bool:
        cur = self.db.execute("INSERT OR IGNORE INTO deliveries(key, at) VALUES (?, ?)", (key, iso(at)))
        return cur.rowcount == 1

    def add_breakpoint(self, workflow_id: str, stage: str, seq: int, at: datetime, source: str) -> int:
        cur = self.db.execute("INSERT INTO breakpoints(workflow_id, stage, set_seq, set_at, source) "
                              "VALUES (?, ?, ?, ?, ?)", (workflow_id, stage, seq, iso(at), source))
        return int(cur.lastrowid or 0)

    def decide_breakpoint(self, breakpoint_id: int, decision: str, seq: int, at: datetime,
                          feedback: str | None, rerun: str | None) -> None:
        """Once: a breakpoint already decided keeps its first decision."""
        self.db.execute("UPDATE breakpoints SET decision = ?, decided_seq = ?, decided_at = ?, feedback = ?, "
                        "rerun = ? WHERE id = ? AND decision IS NULL",
                        (decision, seq, iso(at), feedback, rerun, breakpoint_id))


SIDE_FILES = ("", "-wal", "-shm", "-journal", ".lock")


def _refuse_planted(path: Path) -> None:
    """The database and the files SQLite and Cairn keep beside it must be Cairn's own: a
    symbolic or hard link (planted in a cloned repository, say) would make a write land in
    a file outside the folder, and a file another user owns is theirs to have crafted."""
    for side in SIDE_FILES:
        p = Path(f"{path}{side}")
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise disk.error(exc, str(p), "nothing was read or recorded") or StoreError(
                f"{p} cannot be inspected ({exc.strerror})", hint="check the folder's permissions") from None
        what = ("a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
                if not stat.S_ISREG(st.st_mode) else f"hard-linked ({st.st_nlink} links)" if st.st_nlink > 1
                else None)
        if what is not None:
            raise StoreError(f"{p} is {what}; Cairn never writes through it",
                             hint="remove it (it may come from a cloned repository); `cairn doctor` rebuilds the "
                             "database from the checkpoint.json files")
        if st.st_uid != os.geteuid():
            raise StoreError(f"{p} is owned by another user (uid {st.st_uid}, you are {os.geteuid()}); Cairn "
                             "does not open a database someone else can have written",
                             hint="run Cairn as the user who owns the project, or `chown` the .claude folder "
                             "to yourself if you trust its content")


def harden(db: sqlite3.Connection) -> None:
    """No extension can be loaded, schema objects cannot call functions with side
    effects (`trusted_schema`), and, where the Python build offers it, defensive mode
    (no writable_schema, no journal tricks): a crafted database from a cloned
    repository is data, never code."""
    with contextlib.suppress(AttributeError):  # a Python built without extension support
        db.enable_load_extension(False)
    db.execute("PRAGMA trusted_schema = OFF")
    defensive = getattr(sqlite3, "SQLITE_DBCONFIG_DEFENSIVE", None)
    setconfig = getattr(db, "setconfig", None)  # Python >= 3.12
    if defensive is not None and setconfig is not None:
        setconfig(defensive, True)


def _create_private(path: Path) -> None:
    """Create the database file 0600 without following a planted symlink."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return
    os.close(fd)



def _uri_path(path: str) -> str:
    """A path as the path of a `file:` URI: percent-encode what a URI would misread
    (urllib.parse costs a hook ~2 ms to import for this)."""
    return "".join(c if c.isalnum() or c in "/-._~" else "".join(f"%{b:02X}" for b in c.encode())
                   for c in path)

class SqliteStore:
    """`cairn.store.Store` on a SQLite file (normally `.claude/artifacts/cairn.db`)."""

    def __init__(self, path: Path, *, create: bool = True,
                 init: Callable[[SqliteTx], None] | None = None) -> None:
        """`init` runs once in the life of the database, inside the transaction that creates
        its tables (the import of older formats): a process killed half way leaves a
        database that is initialised again by the next open, never a half-initialised one."""
        self.path = Path(path)
        self._init = init
        self._lock_fd: int | None = None
        self.read_only: DiskError | None = None  # why writes are impossible (opened read-only)
        _refuse_planted(self.path)
        if create:
            try:
                _create_private(self.path)
            except OSError as exc:
                raise disk.error(exc, str(self.path)) or StoreError(
                    f"{self.path} cannot be created ({exc.strerror})", hint="check the folder") from None
        elif not self.path.exists():
            raise StoreError(f"{self.path} does not exist", hint="run a `cairn` command to create it")
        try:
            self.db = self._connect("nofollow=1")
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
            self.db.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as exc:
            failure = disk.error(exc, str(self.path), "")
            if failure is None:
                raise StoreError(f"{self.path} cannot be opened as Cairn's database: {exc}",
                                 hint="run `cairn doctor` to rebuild it from the checkpoint.json files") from None
            self._open_read_only(failure)

    def _connect(self, options: str) -> sqlite3.Connection:
        db = sqlite3.connect(f"file:{_uri_path(str(self.path))}?{options}", uri=True,
                             timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        harden(db)
        return db

    def _open_read_only(self, failure: DiskError) -> None:
        """The disk refuses writes (full, read-only mount, a folder this user cannot write):
        what is recorded can still be read. `mode=ro` needs SQLite's shared-memory file,
        which such a disk may not let it create; `immutable` reads the file alone, which
        is whole when the last writer closed (and nobody can write it now)."""
        with contextlib.suppress(AttributeError, sqlite3.Error):
            self.db.close()
        for options in ("mode=ro&nofollow=1", "mode=ro&immutable=1&nofollow=1"):
            try:
                self.db = self._connect(options)
                version = self.db.execute("PRAGMA user_version").fetchone()[0]
            except sqlite3.DatabaseError:
                with contextlib.suppress(AttributeError, sqlite3.Error):
                    self.db.close()
                continue
            if version != len(MIGRATIONS):  # nothing to read, or a schema that needs a write first
                self.db.close()
                break
            self.read_only = failure
            return
        raise DiskError(f"{failure.message}: nothing can be read or recorded", kind=failure.kind,
                        path=failure.path, hint=failure.hint) from None

    def describe(self) -> str:
        return str(self.path)

    def _migrate(self) -> None:
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version == len(MIGRATIONS):
            return
        if version > len(MIGRATIONS):
            raise StoreError(f"{self.path} was written by a newer Cairn (schema {version})",
                             hint="update the Cairn plugin")
        # In the writers' queue: processes opening a new database at once (the hooks of
        # parallel subagents) would otherwise race on the switch to WAL, which SQLite
        # answers with "database is locked" without waiting.
        fd = self._queue()
        try:
            if self.db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS):
                return  # another process did it while we waited
            if self.db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                self.db.execute("PRAGMA journal_mode = WAL")
            self._apply_migrations()
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _apply_migrations(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT "
                            "NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))")
            done = {r[0] for r in self.db.execute("SELECT name FROM migrations")}
            new = not done  # re-read under the write lock: another process may have just done it
            for name, sql in MIGRATIONS:
                if name not in done:
                    for statement in sql.split(";"):
                        if statement.strip():
                            self.db.execute(statement)
                    self.db.execute("INSERT INTO migrations(name) VALUES (?)", (name,))
            if new and self._init is not None:
                self._init(SqliteTx(self.db, str(self.path)))
            self.db.execute(f"PRAGMA user_version = {len(MIGRATIONS)}")
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def read(self) -> Iterator[SqliteTx]:
        self.db.execute("BEGIN")
        try:
            yield SqliteTx(self.db, str(self.path))
        finally:
            self.db.execute("COMMIT")

    def _queue(self) -> int:
        """The writers' queue: `flock` on `<db>.lock`. SQLite's busy handler makes a waiting
        writer sleep up to 100 ms between tries, so under contention the database sits idle
        while everyone sleeps; a writer waiting here retries every millisecond. A killed
        holder's lock is released by the kernel. Writers that do not queue (another tool)
        are still serialized by `BEGIN IMMEDIATE` and the busy timeout."""
        if self._lock_fd is None:
            try:
                self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW
                                        | getattr(os, "O_CLOEXEC", 0), 0o600)
            except OSError as exc:
                failure = disk.error(exc, f"{self.path}.lock")
                if failure is not None:
                    raise failure from None
                raise StoreError(f"{self.path}.lock cannot be opened ({exc.strerror}); Cairn never follows "
                                 "links there", hint="remove it if it is a link; check the folder's "
                                 "permissions") from None
        fd = self._lock_fd
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        pause = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StoreError(f"{self.path} is busy: another Cairn process has been writing for "
                                     f"{BUSY_TIMEOUT_MS // 1000} s", hint="retry; if it persists, look for a "
                                     "stopped `cairn` or hook process") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.001)

    @contextlib.contextmanager
    def write(self, *, durable: bool = True) -> Iterator[SqliteTx]:
        """A serialized write. `durable=False` (a heartbeat) skips the fsync of the commit:
        losing the last one to a power cut costs nothing."""
        if self.read_only is not None:
            raise DiskError(f"{self.read_only.message}: nothing was recorded", kind=self.read_only.kind,
                            path=self.read_only.path, hint=self.read_only.hint)
        fd = self._queue()
        try:
            if not durable:
                self.db.execute("PRAGMA synchronous = NORMAL")
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise disk.error(exc, str(self.path)) or StoreError(
                    f"{self.path} is busy: {exc}", hint="another Cairn process holds it; retry") from None
            try:
                yield SqliteTx(self.db, str(self.path))
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:  # disk full, I/O error, read-only: nothing was committed
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
                raise disk_error(exc, str(self.path)) from None
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
                raise
        finally:
            if not durable:  # also when BEGIN failed: the next write must be durable again
                self.db.execute("PRAGMA synchronous = FULL")
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def disk_error(exc: sqlite3.Error, where: str) -> CairnError:
    """A sqlite3 error as a Cairn error that says what to do."""
    return disk.error(exc, where) or StoreError(f"{where}: {exc}; nothing was recorded",
                                               hint="check the folder, then retry")
