"""SessionStart for a new session, served from a cache in ~1 ms of work after start-up.

The full SessionStart (cairn.hooks.session_start) validates the newest resumable
workflow and renders its resume context. For a brand-new session (`source: startup`)
the answer is the same until something changes, so the full path keeps it in
`.claude/artifacts/.offer` with what it depends on, and `serve` answers from it when all
of that still holds; otherwise it returns None and the full path runs:

- the database: any committed change (the files' stat facts and the WAL index header);
- every artifact of the workflow: size, mtime and inode, as the stat cache of the full
  path checks them;
- the files git state was read from (`.git/HEAD`, the branch's ref): same content;
- the expiry time of the workflow (`settings.expiry_days` after its last activity).

Times in the context ("3 minutes ago") are kept as `@@ago:<epoch>@@` and filled in when
served. Each delivery is answered once (an `O_EXCL` file per session, source and
transcript size, shared with the full path). Imports only `os`, `time` and
`cairn.humanize`: this module is the reason a new session's start costs about what a
bare interpreter does. Everything here fails towards the full path, never towards a
wrong answer.
"""

from __future__ import annotations

import os
import time

OFFER_FILE = ".offer"
DELIVERED_DIR = ".delivered"
MAGIC = "cairn-offer 1"
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
_MAX = 1 << 20


def _field(payload: str, key: str) -> str | None:
    """A plain string field of the client's JSON payload, read without `json` (its import
    costs more than this whole path). None when absent or escaped: then the full path."""
    at = payload.find(f'"{key}"')
    if at < 0:
        return None
    colon = payload.find(":", at + len(key) + 2)
    start = payload.find('"', colon + 1)
    if colon < 0 or start < 0 or payload[colon + 1:start].strip():
        return None
    end = payload.find('"', start + 1)
    value = payload[start + 1:end] if end > 0 else None
    return None if value is None or "\\" in value else value


def delivery_key(session_id: str, source: str, transcript: str) -> str | None:
    """The file name that marks one SessionStart delivery (None: not a safe name)."""
    try:
        size = os.lstat(transcript).st_size if transcript else 0
    except OSError:
        size = 0
    if not session_id or not set(session_id) <= _SAFE or not set(source) <= _SAFE or len(session_id) > 128:
        return None
    return f"{session_id}.{source or 'none'}.{size}"


def first_delivery(root: str, key: str | None) -> bool:
    """True the first time `key` is seen under `root` (created with O_EXCL, no link followed)."""
    if key is None:
        return True
    folder = os.path.join(root, DELIVERED_DIR)
    try:
        os.makedirs(folder, 0o700, exist_ok=True)
        if os.path.islink(folder):
            return True  # a planted link: do not write through it (and do not refuse to answer)
        fd = os.open(os.path.join(folder, key), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        return False
    except OSError:  # a full or read-only disk: answer (at worst twice) rather than not at all
        return True
    os.close(fd)
    return True


def db_stamp(root: str) -> str | None:
    """What the cached answer depends on in the database, read without opening it (the
    `sqlite3` import alone costs more than the rest of this path): the database file's
    identity, size and mtime, the WAL's, and the head of its shared-memory index, whose
    header SQLite changes with every committed transaction (a change counter, the last
    frame, the salts of each WAL reset). A commit is either in the WAL (the index header
    moves) or checkpointed into the database file (its mtime moves); a change that only
    closes connections (the WAL checkpointed and removed) makes the stamp differ too,
    which costs a cache miss, never a stale answer. None when there is no database."""
    parts = []
    for name in ("cairn.db", "cairn.db-wal"):
        try:
            st = os.lstat(os.path.join(root, name))
        except OSError:
            if name == "cairn.db":
                return None
            parts.append("-")
            continue
        parts.append(f"{st.st_ino}:{st.st_size}:{st.st_mtime_ns}")
    # the two copies of the WAL index header (48 bytes each); not what follows, where every
    # reader takes a read mark
    head = _read_bytes(os.path.join(root, "cairn.db-shm"), 96)
    parts.append(head.hex() if head else "-")
    return "|".join(parts)


def _read_bytes(path: str, limit: int) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return os.read(fd, limit)
    finally:
        os.close(fd)


def read_file(path: str, limit: int = 4096, *, own: bool = False) -> str | None:
    """The text of `path` (no link followed, a FIFO never waited on); with `own`, only a
    regular file with one link that this user owns."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        if own:
            st = os.fstat(fh.fileno())
            if st.st_mode & 0o170000 != 0o100000 or st.st_nlink != 1 or st.st_uid != os.geteuid():
                return None
        return fh.read(limit).decode("utf-8", "replace")


def _holds(kind: str, value: str, now: float) -> bool:
    """Whether one recorded dependency still holds (an unknown kind does not)."""
    if kind == "expires":
        return now < float(value)
    if kind == "stat":  # size mtime_ns ino path
        size, mtime, ino, path = value.split(" ", 3)
        try:
            st = os.lstat(path)
        except OSError:
            return False
        return (st.st_size, st.st_mtime_ns, st.st_ino) == (int(size), int(mtime), int(ino))
    return False


def serve(root: str, payload: str) -> str | None:
    """The SessionStart answer for a new session from the cache; "" when this delivery was
    already answered; None when the full path must run."""
    if _field(payload, "source") != "startup":
        return None
    session_id = _field(payload, "session_id") or ""
    if not session_id:
        return None
    # The cache answers with text that reaches the model: it must be this user's own file,
    # and tied by its stamp to this very database file (an inode a cloned or copied
    # project cannot reproduce). A planted `.offer` is never served.
    text = read_file(os.path.join(root, OFFER_FILE), _MAX, own=True)
    if not text or not text.startswith(MAGIC + "\n"):
        return None
    stamped = False
    now = time.time()
    lines = text.split("\n")
    output: str | None = None
    i = 1
    while i < len(lines):
        kind, _, value = lines[i].partition("\t")
        i += 1
        if kind == "output":
            output = value
        elif kind == "sessions":  # a session that worked on an open workflow gets its own answer
            if session_id in value.split(" "):
                return None
        elif kind == "stamp":
            if db_stamp(root) != value:
                return None
            stamped = True
        elif kind == "file":  # value: path; the next line: its expected content, escaped
            expected = lines[i].replace("\\n", "\n").replace("\\\\", "\\") if i < len(lines) else ""
            i += 1
            if (read_file(value) or "").strip() != expected:
                return None
        elif kind and not _holds(kind, value, now):
            return None
    if output is None or not stamped:
        return None
    if not first_delivery(root, delivery_key(session_id, "startup", _field(payload, "transcript_path") or "")):
        return ""
    return _fill(output, now)


def _fill(text: str, now: float) -> str:
    from cairn.humanize import ago_seconds

    parts = text.split("@@ago:")
    out = [parts[0]]
    for part in parts[1:]:
        stamp, sep, rest = part.partition("@@")
        out.append(ago_seconds(int(now - float(stamp))) + rest if sep else "@@ago:" + part)
    return "".join(out)


def placeholder(epoch: float) -> str:
    return f"@@ago:{epoch:.3f}@@"


def write(output: str, stamp: str, stats: list[tuple[int, int, int, str]], files: list[tuple[str, str]],
          expires: float, sessions: list[str]) -> str | None:
    """The cache file's text (the caller writes it atomically, without following links);
    None when a path could not be written on one line."""
    if any("\n" in p or "\t" in p for *_, p in stats) or any("\n" in p or "\t" in p for p, _ in files):
        return None
    if any(not s or not set(s) <= _SAFE for s in sessions):
        return None
    lines = [MAGIC, f"stamp\t{stamp}", f"expires\t{expires:.3f}", "sessions\t" + " ".join(sessions)]
    lines += [f"stat\t{size} {mtime} {ino} {path}" for size, mtime, ino, path in stats]
    for path, content in files:
        lines += [f"file\t{path}", content.strip().replace("\\", "\\\\").replace("\n", "\\n")]
    lines.append(f"output\t{output}")
    return "\n".join(lines) + "\n"
