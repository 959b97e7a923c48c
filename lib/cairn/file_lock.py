"""Cross-process exclusive lock (fcntl.flock) with a timeout that names the holder."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from cairn.atomic import FILE_MODE, ensure_dir
from cairn.errors import LockTimeout

DEFAULT_TIMEOUT = 10.0
_POLL = 0.005


def _holder_note(purpose: str) -> bytes:
    note = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "purpose": purpose,
    }
    return json.dumps(note).encode()


def _describe_holder(fd: int) -> str:
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw.decode() or "{}")
    except (OSError, ValueError):
        return "an unknown process"
    if not isinstance(info, dict):
        return "an unknown process"
    return (
        f"pid {info.get('pid', '?')} on {info.get('host', '?')} "
        f"since {info.get('since', '?')} ({info.get('purpose', '?')})"
    )


@contextlib.contextmanager
def locked(path: Path, *, timeout: float = DEFAULT_TIMEOUT, purpose: str = "write") -> Iterator[None]:
    """Hold an exclusive lock on `path` for the duration of the block.

    The lock is advisory and released by the kernel when the process dies, so a
    crashed holder never wedges a workflow.
    """
    ensure_dir(path.parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        deadline = time.monotonic() + timeout
        delay = _POLL
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"{path} is locked by {_describe_holder(fd)}; gave up after {timeout:g}s",
                        hint="wait for that process to finish, or stop it if it is hung "
                        "(the lock is released when it exits)",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
        note = _holder_note(purpose)
        os.ftruncate(fd, 0)
        os.pwrite(fd, note, 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextlib.contextmanager
def try_locked(path: Path) -> Iterator[bool]:
    """Take the lock on `path` if nobody holds it, without waiting: yields True when
    taken (released at the end of the block), False when another process holds it.
    Creates neither `path`'s folder nor, when that folder is missing, the lock file
    (yields True: there is nothing left to lock)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except (FileNotFoundError, NotADirectoryError):
        yield True
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
