"""The embedded backend: one SQLite database per project, standard library `sqlite3`.

WAL, `synchronous=FULL`, foreign keys on, a busy timeout, and `BEGIN IMMEDIATE` for every
writer, so concurrent hooks and commands are serialized by the database. The file is
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
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from cairn.errors import CairnError, StoreError
from cairn.store.rows import Cursor
from cairn.store.schema import MIGRATIONS
from cairn.store.tx import SqlTx

DB_FILE = "cairn.db"
BUSY_TIMEOUT_MS = 30_000


class SqliteTx(SqlTx):
    """`SqlTx` on `sqlite3`: a failed unique insert leaves SQLite's transaction usable."""

    def _insert_unique(self, sql: str, args: Sequence[Any]) -> Cursor | None:
        try:
            return self.db.execute(sql, args)
        except sqlite3.IntegrityError:
            return None


SIDE_FILES = ("", "-wal", "-shm", "-journal", ".lock")


def _refuse_planted(path: Path) -> None:
    """The database and the files SQLite and Cairn keep beside it must be Cairn's own: a
    symbolic or hard link (planted in a cloned repository, say) would make a write land in
    a file outside the folder."""
    for side in SIDE_FILES:
        p = Path(f"{path}{side}")
        try:
            st = os.lstat(p)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(f"{p} cannot be inspected ({exc.strerror})",
                             hint="check the folder's permissions") from None
        what = ("a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
                if not stat.S_ISREG(st.st_mode) else f"hard-linked ({st.st_nlink} links)" if st.st_nlink > 1
                else None)
        if what is not None:
            raise StoreError(f"{p} is {what}; Cairn never writes through it",
                             hint="remove it (it may come from a cloned repository); `cairn doctor` rebuilds the "
                             "database from the checkpoint.json files")


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
        _refuse_planted(self.path)
        if create:
            _create_private(self.path)
        elif not self.path.exists():
            raise StoreError(f"{self.path} does not exist", hint="run a `cairn` command to create it")
        uri = f"file:{_uri_path(str(self.path))}?nofollow=1"
        try:
            self.db = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                                      isolation_level=None, check_same_thread=False)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate()
            self.db.execute("PRAGMA synchronous = FULL")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} cannot be opened as Cairn's database: {exc}",
                             hint="run `cairn doctor` to rebuild it from the checkpoint.json files") from None

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
        fd = self._queue()
        try:
            if not durable:
                self.db.execute("PRAGMA synchronous = NORMAL")
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"{self.path} is busy or unwritable: {exc}",
                                 hint="another Cairn process holds it; retry, or check the folder's "
                                 "permissions and free space") from None
            try:
                yield SqliteTx(self.db, str(self.path))
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:  # disk full, I/O error, read-only: nothing was committed
                with contextlib.suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
                raise disk_error(exc, f"{self.path}: nothing was recorded") from None
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
    return StoreError(f"{where}: {exc}", hint="check free space and permissions of the folder, then retry")
