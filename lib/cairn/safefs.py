"""Opening files under `.claude/` as if the folder were hostile (standard library only).

Anything there may come from someone else's repository. So a path is walked one
component at a time from an open folder descriptor with `O_NOFOLLOW` (a symlink swapped
in during a check is never followed), only regular files are read (a FIFO cannot hang a
command), a file with several hard links is refused (its content may belong to a file
outside the folder), and new files are created 0600 with `O_EXCL`.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from cairn.errors import ConfinementError
from cairn.faults import point

TYPE_CHECKING = False  # hooks import this module: `typing` only for the checker
if TYPE_CHECKING:
    from typing import BinaryIO

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


def _refuse(path: Path | str, what: str) -> ConfinementError:
    return ConfinementError(f"{path} is {what}; Cairn does not follow or read it",
                            hint="replace it with a regular file or folder (it may come from a cloned "
                            "repository)")


def open_dir(path: Path) -> int:
    """A descriptor of the folder `path`, refusing a symlink at its last component."""
    try:
        return os.open(path, _DIR_FLAGS)
    except OSError as exc:
        if os.path.islink(path):
            raise _refuse(path, "a symbolic link") from None
        raise exc


def ensure_dir(path: Path) -> None:
    """Create the private folder `path` (parents too); refuse it if it is a link."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except FileNotFoundError:
        ensure_dir(path.parent)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(path, "a symbolic link")
    if not stat.S_ISDIR(st.st_mode):
        raise _refuse(path, "not a folder")


def _parts(rel: str) -> list[str]:
    if not isinstance(rel, str) or not rel or "\x00" in rel or rel.startswith("/"):
        raise ConfinementError(f"invalid path {rel!r}", hint="give a path relative to the workflow folder")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise ConfinementError(f"path {rel!r} leaves its folder",
                               hint="paths are relative to the workflow folder, without '..'")
    return parts


def open_in(folder: Path, rel: str) -> int:
    """A read descriptor of the regular file `folder/rel`, walked without following links."""
    parts = _parts(rel)
    fd = open_dir(folder)
    try:
        for part in parts[:-1]:
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (getattr(os, "ELOOP", 40), 20):  # a link, or not a folder
                    raise _refuse(folder / rel, "reached through a link or a non-folder") from None
                raise
            os.close(fd)
            fd = nxt
        try:
            file_fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
        except OSError as exc:
            if exc.errno == getattr(os, "ELOOP", 40):
                raise _refuse(folder / rel, "a symbolic link") from None
            raise
    finally:
        os.close(fd)
    st = os.fstat(file_fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
        os.close(file_fd)
        raise _refuse(folder / rel, "not a regular file" if not stat.S_ISREG(st.st_mode)
                      else f"hard-linked ({st.st_nlink} links)")
    return file_fd


def open_regular(path: str | None) -> BinaryIO | None:
    """A file the client names by absolute path (a subagent's transcript), opened for
    reading without following a link, and only if it is a regular file (checked on the
    open descriptor: a FIFO cannot hang a hook). None otherwise."""
    if not path or not os.path.isabs(path):
        return None
    try:
        fd = os.open(path, _FILE_FLAGS)
    except OSError:
        return None
    try:
        regular = stat.S_ISREG(os.fstat(fd).st_mode)
    except OSError:
        regular = False
    if not regular:
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def read_in(folder: Path, rel: str, limit: int = 64 << 20) -> bytes:
    fd = open_in(folder, rel)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ConfinementError(f"{folder / rel} is larger than {limit} bytes",
                               hint="Cairn reads small JSON files only here")
    return data


def replace_in(folder: Path, name: str, data: bytes, *, durable: bool = False) -> None:
    """Atomically replace `folder/name` with `data`: a same-folder temp file created with
    O_EXCL|O_NOFOLLOW, then `os.replace` (which replaces a planted link, never follows it).
    `durable` adds the fsyncs; projections skip them (they are rewritten from the database
    when found missing or behind)."""
    fd_dir = open_dir(folder)
    tmp = f".{name}.{os.urandom(6).hex()}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd_dir)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                if durable:
                    fh.flush()
                    os.fsync(fh.fileno())
            point("before_replace")
            os.replace(tmp, name, src_dir_fd=fd_dir, dst_dir_fd=fd_dir)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=fd_dir)
            raise
        if durable:
            os.fsync(fd_dir)
    finally:
        os.close(fd_dir)


def create_in(folder: Path, name: str, data: bytes) -> None:
    """Create the new private file `folder/name` with `data` (FileExistsError if anything,
    a planted link included, is already there)."""
    fd_dir = open_dir(folder)
    try:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=fd_dir)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    finally:
        os.close(fd_dir)


def mark(path: Path, present: bool) -> None:
    """Create or remove an empty marker file (what hooks/run.sh tests without Python)."""
    if present:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            os.close(fd)
        except FileExistsError:
            if os.path.islink(path):  # a planted link: drop it, never write through it
                os.unlink(path)
                mark(path, True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def sweep_temps(folder: Path, older_than: float = 3600.0) -> int:
    """Remove temp files of killed writers (`.*.tmp` older than an hour)."""
    import time

    removed = 0
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return 0
    for e in entries:
        if e.name.startswith(".") and e.name.endswith(".tmp") and e.is_file(follow_symlinks=False):
            with contextlib.suppress(OSError):
                if time.time() - e.stat(follow_symlinks=False).st_mtime > older_than:
                    os.unlink(e.path)
                    removed += 1
    return removed
