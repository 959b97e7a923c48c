"""What a full disk, a read-only mount and missing permissions look like, in plain words.

A disk that refuses a write is not a bug of Cairn's and not a damaged database: the
user is told in one line what happened and where (`DiskError`, exit 1), and whether
anything was recorded. The kind is read from the error (errno, SQLite's result code)
and confirmed on the file system that holds the path (`statvfs`), so "disk I/O error"
on a full tmpfs is reported as the full disk it is. Standard library only.
"""

from __future__ import annotations

import errno
import os

from cairn.errors import DiskError

FULL = "full"
READ_ONLY = "read-only"
DENIED = "denied"
IO = "io"

_ERRNO = {errno.ENOSPC: FULL, errno.EDQUOT: FULL, errno.EFBIG: FULL, errno.EROFS: READ_ONLY,
          errno.EACCES: DENIED, errno.EPERM: DENIED, errno.EIO: IO}
# SQLite's primary result codes (the low byte of the extended code)
_SQLITE = {13: FULL, 8: READ_ONLY, 3: DENIED, 23: DENIED, 10: IO, 14: IO}
_SQLITE_TEXT = (("disk is full", FULL), ("readonly database", READ_ONLY), ("disk I/O error", IO),
                ("unable to open database file", IO), ("access permission denied", DENIED))
_ST_RDONLY = getattr(os, "ST_RDONLY", 1)


def kind_of(exc: BaseException) -> str | None:
    """FULL, READ_ONLY, DENIED or IO when `exc` is the disk refusing; None otherwise."""
    if isinstance(exc, OSError):
        return _ERRNO.get(exc.errno or 0)
    code = getattr(exc, "sqlite_errorcode", None)  # Python >= 3.11
    if isinstance(code, int):
        return _SQLITE.get(code & 0xFF)
    text = str(exc)
    return next((k for needle, k in _SQLITE_TEXT if needle in text), None)


def _writable(folder: str) -> bool:
    return os.access(folder, os.W_OK, effective_ids=os.access in os.supports_effective_ids)


def confirm(kind: str, path: str) -> str:
    """The kind as the file system holding `path` shows it (a read-only mount and a full
    disk both surface as I/O errors in SQLite)."""
    folder = path if os.path.isdir(path) else os.path.dirname(path) or "."
    try:
        st = os.statvfs(folder)
    except OSError:
        return kind
    if st.f_flag & _ST_RDONLY:
        return READ_ONLY
    if st.f_bavail == 0 or (st.f_favail == 0 and st.f_files):
        return FULL
    if kind in (IO, DENIED, READ_ONLY) and not (_writable(folder) and (not os.path.isfile(path)
                                                                      or _writable(path))):
        return DENIED  # SQLite says "readonly database" of a file or folder it may not write
    return kind


def describe(kind: str, path: str) -> tuple[str, str]:
    """(what happened, what to do)."""
    if kind == FULL:
        return f"the disk holding {path} is full", "free some space there, then run the command again"
    if kind == READ_ONLY:
        return (f"{path} is on a read-only file system",
                "remount it read-write, or work in a writable copy of the project")
    if kind == DENIED:
        return (f"permission denied to this user (uid {os.geteuid()}) at {path}",
                "run Cairn as the user who owns the project, or fix the folder's owner and permissions")
    return (f"the disk holding {path} reported an I/O error",
            "check the disk (free space, `dmesg`), then run the command again; if the disk is fine, "
            "`cairn doctor` rebuilds a damaged database from the checkpoint.json files")


def error(exc: BaseException, path: str, outcome: str = "nothing was recorded") -> DiskError | None:
    """`exc` as a DiskError naming `path` and the outcome, or None if it is not the disk."""
    kind = kind_of(exc)
    if kind is None:
        return None
    kind = confirm(kind, path)
    what, fix = describe(kind, path)
    return DiskError(f"{what}: {outcome}" if outcome else what, kind=kind, path=path, hint=fix)
