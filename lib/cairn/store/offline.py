"""Hooks that cannot reach the shared store record locally; the next Cairn process that
reaches it sends what they kept. Standard library only (hooks run here).

A hook whose project uses a PostgreSQL store and cannot reach it — the server is down
or unreachable, or this interpreter cannot import psycopg (hooks run on the standard
library) — never blocks the session: its event (the hook payload, as Claude Code sent
it) is appended to `.claude/artifacts/offline.db`, a SQLite file of the project, and the
session is told once. The next `cairn` command or hook that reaches the server replays
the kept events in their order through the same hook handlers, before its own work,
each recording the time it was kept (`kept_at`), not the time it is sent.
Replaying is merging, never duplicating: every hook delivery counts once in the store
(an attempt per agent id, a dispatch per tool use id, a SessionStart answer per
session), so an event that did reach the server before the connection broke changes
nothing the second time. What a replay cannot settle (a kept event that is now refused)
is logged and said, never retried forever.
"""

from __future__ import annotations

import contextlib
import fcntl
import hmac
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path

from cairn import safefs
from cairn.errors import CairnError, StoreError, StoreUnreachable

OFFLINE_DB = "offline.db"
DOWN_MARK = ".store-down"  # touched when a hook found the store unreachable
DOWN_FOR_S = 60.0          # hooks do not try again for this long: no session waits on a dead address
DRIVER_STAMP = "pg-1"  # ${CLAUDE_PLUGIN_DATA}/pg-1.ok: psycopg is in the plugin's environment
_SCHEMA = ("CREATE TABLE IF NOT EXISTS pending (id INTEGER PRIMARY KEY, event TEXT NOT NULL, payload BLOB NOT "
           "NULL, project TEXT NOT NULL, at TEXT NOT NULL, seal TEXT NOT NULL);"
           "CREATE TABLE IF NOT EXISTS told (session_id TEXT PRIMARY KEY, at TEXT NOT NULL)")
KEY_FILE = Path(".cache") / "cairn" / "offline.key"  # under the user's home, 0600


def _now() -> str:
    """When the hook ran, to the microsecond (the time its replay records: `kept_at`)."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


def kept_at(text: str, now: datetime) -> datetime:
    """The time a kept event happened, as recorded, for its replay's marks, attempts and
    audit; never later than `now` (a clock that was ahead, an edited row) and `now` when
    it cannot be read. The store's order of commits stays the order of the replay."""
    from cairn.model import parse_iso

    try:
        at = parse_iso(text)
    except ValueError:
        return now
    return min(at, now)


def _key_path() -> Path:
    return Path(os.path.expanduser("~")) / KEY_FILE


def _key() -> bytes | None:
    """This user's key for sealing kept events, None when there is none yet. `.claude/`
    comes with the repository: a kept event is replayed only if this user recorded it (an
    offline.db planted in a cloned repository is data, never hook events)."""
    path = _key_path()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise StoreError(f"{path} is not this user's private key file", hint="remove it; Cairn makes a new one")
        return fh.read(200).strip()


def _new_key() -> bytes:
    found = _key()
    if found is not None:
        return found
    path = _key_path()
    safefs.ensure_dir(path.parent)
    with contextlib.suppress(FileExistsError):  # another hook made it meanwhile: theirs is read back
        safefs.create_in(path.parent, path.name, os.urandom(32).hex().encode())
    return _key() or b""


def _seal(key: bytes, event: str, raw: bytes, project: str) -> str:
    return hmac.new(key, b"\0".join([event.encode(), project.encode(), raw]), "sha256").hexdigest()


@contextlib.contextmanager
def _open(root: Path) -> Iterator[sqlite3.Connection]:
    """The file and the side files SQLite keeps beside it must be this user's own, never
    links (`cairn.store.sqlite`'s rules for its database)."""
    from cairn.store.sqlite import _create_private, _refuse_planted, _uri_path, harden

    safefs.ensure_dir(root)
    path = root / OFFLINE_DB
    _refuse_planted(path)
    _create_private(path)
    db = sqlite3.connect(f"file:{_uri_path(str(path))}?nofollow=1", uri=True, timeout=30, isolation_level=None)
    try:
        harden(db)
        db.executescript(_SCHEMA)
        yield db
    finally:
        db.close()


def record(root: Path, event: str, raw: bytes, project: Path, session_id: str) -> bool:
    """Keep one hook delivery, sealed with this user's key; True when this session has not
    been told yet."""
    key = _new_key()
    with _open(root) as db:
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO pending(event, payload, project, at, seal) VALUES (?, ?, ?, ?, ?)",
                   (event, raw, str(project), _now(), _seal(key, event, raw, str(project))))
        told = db.execute("INSERT OR IGNORE INTO told(session_id, at) VALUES (?, ?)",
                          (session_id or "-", _now())).rowcount == 0
        db.execute("COMMIT")
    return not told


def pending(root: Path) -> int:
    path = root / OFFLINE_DB
    if not path.is_file() or path.is_symlink():
        return 0
    with _open(root) as db:
        return int(db.execute("SELECT count(*) FROM pending").fetchone()[0])


_replaying = False  # a replayed handler opens the store again: it must not replay in turn


Handle = Callable[[str, bytes, Path, Mapping[str, str], datetime], None]
"""Applies one kept event (event name, payload, project folder, environment, when it
happened: `kept_at`): the hook
boundary's own handlers (`cairn.hooks.replay_kept`), passed down so the store never
imports the hooks."""


def reached(root: Path, env: Mapping[str, str], handle: Handle) -> list[str]:
    """This process reached the shared store: hooks may try it again, and what they kept
    is sent now (`replay`). Two stats when there is nothing to do."""
    if os.path.lexists(root / DOWN_MARK):
        with contextlib.suppress(OSError):
            safefs.mark(root / DOWN_MARK, False)
    if not os.path.exists(root / OFFLINE_DB):
        return []
    try:
        return replay(root, env, handle)
    except (OSError, sqlite3.Error, CairnError) as exc:  # the command goes on; the events wait
        return [f"the events kept in {root / OFFLINE_DB} could not be sent: {exc}"]


def replay(root: Path, env: Mapping[str, str], handle: Handle) -> list[str]:
    """Send the kept events to the store, oldest first (one replayer at a time). Returns
    what to tell: how many were sent, and any that could not be applied."""
    global _replaying
    from cairn.model import utcnow

    path = root / OFFLINE_DB
    if _replaying or not path.is_file() or path.is_symlink():
        return []
    try:
        lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:  # a planted link, a folder that refuses: the events wait, the command goes on
        return [f"the events kept in {path} could not be sent ({exc.strerror}): remove {path}.lock if it is "
                "a link, then run a `cairn` command again"]
    notes: list[str] = []
    sent = foreign = 0
    _replaying = True
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return []  # another process is sending them
        key = _key()
        here = os.path.realpath(root.parent.parent)
        with _open(root) as db:
            rows = db.execute("SELECT id, event, payload, project, seal, at FROM pending ORDER BY id").fetchall()
            for rid, event, raw, project, seal, at in rows:
                if not key or not hmac.compare_digest(str(seal), _seal(key, str(event), bytes(raw), str(project))) \
                        or os.path.realpath(str(project)) != here:
                    foreign += 1
                    db.execute("DELETE FROM pending WHERE id = ?", (rid,))
                    continue
                try:
                    handle(str(event), bytes(raw), Path(project), env, kept_at(str(at), utcnow()))
                except StoreUnreachable:
                    break  # gone again: the rest waits for the next time, in order
                except CairnError as exc:
                    notes.append(f"a kept {event} event could not be applied: {exc.message[:200]}")
                db.execute("DELETE FROM pending WHERE id = ?", (rid,))
                sent += 1
            if not db.execute("SELECT 1 FROM pending LIMIT 1").fetchone():
                db.execute("DELETE FROM told")  # a later outage is told again
    finally:
        _replaying = False
        os.close(lock)
    if foreign:
        notes.append(f"{foreign} kept event(s) in {path} were not recorded by this user in this project (a copied "
                     "or planted file?): dropped, not sent")
    if sent:
        notes.insert(0, f"sent {sent} hook event(s) recorded while the shared store was unreachable "
                     f"(from {path})")
    return notes


def fetch_driver(env: Mapping[str, str]) -> bool:
    """Start installing psycopg into the plugin's environment in the background (once:
    hooks/bootstrap.py keeps a lock and a stamp). False when there is no plugin
    environment to install into (a hook run outside Claude Code) or it is already done."""
    data, plugin = env.get("CLAUDE_PLUGIN_DATA", ""), env.get("CLAUDE_PLUGIN_ROOT", "")
    if not data or not plugin or os.path.exists(os.path.join(data, f"{DRIVER_STAMP}.ok")):
        return False
    script = os.path.join(plugin, "hooks", "bootstrap.py")
    if not os.path.isfile(script) or not os.path.isdir(os.path.join(data, "venv")):
        return False
    import subprocess

    subprocess.Popen(["python3", "-I", script, data, DRIVER_STAMP, "requirements-postgres.txt"],
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True, close_fds=True)
    return True


def mark_down(root: Path) -> None:
    """A hook found the store unreachable: the next hooks go offline at once for a while.
    A mark younger than that is left as it is (those hooks did not try: refreshing it
    would keep a busy session from ever trying again)."""
    try:
        if time.time() - os.lstat(root / DOWN_MARK).st_mtime < DOWN_FOR_S:
            return
    except OSError:
        pass
    safefs.mark(root / DOWN_MARK, True)
    with contextlib.suppress(OSError):
        os.utime(root / DOWN_MARK, None, follow_symlinks=False)


def check_down(root: Path) -> None:
    """StoreUnreachable when a hook found the store unreachable less than a minute ago
    (commands always try: they are what reconciles)."""
    try:
        age = time.time() - os.lstat(root / DOWN_MARK).st_mtime
    except OSError:
        return
    if 0 <= age < DOWN_FOR_S:
        raise StoreUnreachable(f"the shared store was unreachable {age:.0f} s ago; hooks try it again after "
                               f"{DOWN_FOR_S:.0f} s", hint="start the server or fix the address; `cairn status` "
                               "tries it now and sends what the hooks kept")
