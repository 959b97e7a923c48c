"""Deterministic kill points for the crash-consistency tests.

`point(name)` is called at the dangerous moments of a write (see `POINTS`). It does
nothing unless a fault is armed, which costs one global lookup and one comparison.
A fault is armed by the environment variable ``CAIRN_FAULT=NAME[:N][@fill]`` read at
import (N, default 1: act at the N-th time the point is reached in this process) or, in
a process that forked from an already-initialised one, by `arm(spec)`. When the armed
point is reached the process SIGKILLs itself: no cleanup, no `finally`, no flush,
exactly what a crash or `kill -9` does. With ``@fill`` it fills the file system instead
(a file named by ``CAIRN_FAULT_FILL`` grows until the disk says it is full) and goes on:
the disk-full tests make the disk fill up at exactly that moment. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal

POINTS = (
    "before_commit",      # the change is applied inside the transaction, COMMIT not yet run (workflow.py)
    "after_commit",       # the transaction committed; checkpoint.json and markers not yet written (workflow.py)
    "before_projection",  # about to write checkpoint.json (workflow.py)
    "before_replace",     # the projection's temp file is written, not yet renamed over it (safefs.py)
    "after_projection",   # checkpoint.json written, the .open/.running markers not yet updated (workflow.py)
)

_armed: str | None = None
_countdown = 0
_fill = False


def arm(spec: str | None) -> None:
    """Arm `NAME[:N]` (or disarm with None / "")."""
    global _armed, _countdown, _fill
    if not spec:
        _armed, _countdown, _fill = None, 0, False
        return
    spec, _, action = spec.partition("@")
    if action not in ("", "fill"):
        raise ValueError(f"unknown fault action {action!r}; known: fill")
    name, _, count = spec.partition(":")
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r}; known: {', '.join(POINTS)}")
    _armed, _countdown, _fill = name, int(count or 1), action == "fill"


def point(name: str) -> None:
    """Die here if this point is armed and its countdown has run out."""
    if _armed is None or _armed != name:
        return
    _hit()


def _hit() -> None:
    global _countdown, _armed
    _countdown -= 1
    if _countdown > 0:
        return
    if not _fill:
        os.kill(os.getpid(), signal.SIGKILL)
    _armed = None  # once
    fill(os.environ["CAIRN_FAULT_FILL"])


def fill(path: str) -> None:
    """Grow the file `path` until its file system is full (ENOSPC), to the last byte."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            chunk = b"\0" * size
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, chunk)
    finally:
        os.close(fd)


with contextlib.suppress(ValueError):  # a typo in a test variable must not break Cairn
    arm(os.environ.get("CAIRN_FAULT"))
