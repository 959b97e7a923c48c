"""The workflow status state machine (standard library only: hooks import it)."""

from __future__ import annotations

from enum import Enum

from cairn.errors import IllegalTransition


class Status(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STALE = "stale"

    def __str__(self) -> str:
        return self.value


_ALLOWED: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.RUNNING, Status.PAUSED, Status.CANCELLED}),
    Status.RUNNING: frozenset(
        {Status.PAUSED, Status.COMPLETED, Status.FAILED, Status.CANCELLED, Status.STALE}
    ),
    # Resume takes these back to running.
    Status.PAUSED: frozenset({Status.RUNNING, Status.CANCELLED, Status.STALE}),
    Status.FAILED: frozenset({Status.RUNNING, Status.CANCELLED, Status.STALE}),
    Status.STALE: frozenset({Status.RUNNING, Status.CANCELLED, Status.PAUSED, Status.COMPLETED}),
    # Reopened by a rollback, a re-run or a change that invalidates a stage (cairn.operations);
    # a completed workflow whose work a check finds outdated is stale.
    Status.COMPLETED: frozenset({Status.RUNNING, Status.STALE}),
    Status.CANCELLED: frozenset({Status.RUNNING}),
}

RESUMABLE = frozenset({Status.PAUSED, Status.FAILED, Status.STALE})
# Running workflows are offered too: their session may be gone (killed client).
ACTIVE = frozenset({Status.PENDING, Status.RUNNING, *RESUMABLE})
FINISHED = frozenset({Status.COMPLETED, Status.CANCELLED})
# How a session that stopped pauses its workflow (SessionEnd; StopFailure, a failed model
# call): the reason starts with this, so people are shown it as interrupted, not as a
# pause someone asked for (`cairn.liveness`).
INTERRUPTED_PREFIX = "interrupted: "


def can_transition(current: Status, target: Status) -> bool:
    return target in _ALLOWED[current]


def check_transition(current: Status, target: Status, workflow_id: str) -> None:
    if not can_transition(current, target):
        raise IllegalTransition(current.value, target.value, workflow_id)
