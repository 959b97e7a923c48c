"""Deterministic kill points for the crash-consistency tests.

`point(name)` is called at the dangerous moments of a write (see `POINTS`). It does
nothing unless a fault is armed, which costs one global lookup and one comparison.
A fault is armed by the environment variable ``CAIRN_FAULT=NAME[:N]`` read at import
(N, default 1: die at the N-th time the point is reached in this process) or, in a
process that forked from an already-initialised one, by `arm(spec)`. When the armed
point is reached the process SIGKILLs itself: no cleanup, no `finally`, no flush,
exactly what a crash or `kill -9` does. Standard library only.
"""

from __future__ import annotations

import contextlib
import os
import signal

POINTS = (
    "mid_write",            # half of a temp file written (atomic.py)
    "after_fsync",          # temp file complete and fsynced, not yet renamed (atomic.py)
    "before_replace",       # about to rename a temp file over its target (atomic.py)
    "after_replace",        # renamed, parent folder not yet fsynced (atomic.py)
    "after_history_write",  # history entry written, checkpoint.json not replaced (store.py)
    "after_put",            # checkpoint.json replaced, index not yet updated (store.py)
    "before_index",         # index update about to start (index.py)
    "after_index_write",    # index written, dirty mark not yet cleared (index.py)
)

_armed: str | None = None
_countdown = 0


def arm(spec: str | None) -> None:
    """Arm `NAME[:N]` (or disarm with None / "")."""
    global _armed, _countdown
    if not spec:
        _armed, _countdown = None, 0
        return
    name, _, count = spec.partition(":")
    if name not in POINTS:
        raise ValueError(f"unknown fault point {name!r}; known: {', '.join(POINTS)}")
    _armed, _countdown = name, int(count or 1)


def point(name: str) -> None:
    """Die here if this point is armed and its countdown has run out."""
    if _armed is None or _armed != name:
        return
    _hit()


def _hit() -> None:
    global _countdown
    _countdown -= 1
    if _countdown <= 0:
        os.kill(os.getpid(), signal.SIGKILL)


with contextlib.suppress(ValueError):  # a typo in a test variable must not break Cairn
    arm(os.environ.get("CAIRN_FAULT"))
