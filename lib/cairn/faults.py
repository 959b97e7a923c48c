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
    "before_commit",      # the change is applied inside the transaction, COMMIT not yet run (workflow.py)
    "after_commit",       # the transaction committed; checkpoint.json and markers not yet written (workflow.py)
    "before_projection",  # about to write checkpoint.json (workflow.py)
    "before_replace",     # the projection's temp file is written, not yet renamed over it (safefs.py)
    "after_projection",   # checkpoint.json written, the .open/.running markers not yet updated (workflow.py)
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
