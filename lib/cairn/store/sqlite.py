"""The embedded backend: one SQLite database per project, standard library `sqlite3`.

WAL, `synchronous=FULL`, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for every
writer, so concurrent hooks and commands are serialized by the database. Every text a
person or an agent supplied (request, metadata, reasons, errors, audit details,
parameters) is redacted as it is stored, whoever the caller (the importer included:
`cairn.store.tx`, shared with the PostgreSQL backend). The file is
opened with `nofollow` (a symlinked database planted in a cloned repository is refused)
and created 0600. Reading code lives in `cairn.store.rows`; this module opens, migrates
and writes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from cairn import disk
from cairn.errors import CairnError, DiskError, StoreError
from cairn.store.schema import MIGRATIONS
from cairn.store.tx import SqlTx

DB_FILE = "cairn.db"
BUSY_TIMEOUT_MS = 30_000


class SqliteTx(SqlTx):
    """`SqlTx` on `sqlite3` (the SQL is all shared; a class of its own for the type and
    for what SQLite alone may need)."""


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

    shared = False  # one machine's folder: artifacts stay in the folder, not in the database

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
