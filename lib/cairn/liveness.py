"""Live or dead at a glance: what a person is shown a workflow is doing right now.

The database's status says what the workflow was last told (`running`, `paused`...); it
cannot say whether the Claude session that runs it is still there, because a killed
client never reports back. This module judges that from the facts kept for it: the
workflow's lease (session, process and host: `cairn.lease`), the sessions seen working on
it and their liveness files (`cairn.live`: the Stop hook touches one at every turn). A
`running` workflow whose session is gone is *interrupted*, with how it ended; a live one
names its session. A pause written by SessionEnd (a session that ended cleanly) is
interrupted too; a pause someone asked for stays *paused*.

The CLI's dashboard, picker and list and the web panel all call `judge` (or `of`), so
they agree. Standard library only; it reads, never writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cairn import lease as leases
from cairn.humanize import ago
from cairn.model import LeaseRecord, Workflow
from cairn.status import INTERRUPTED_PREFIX, Status
from cairn.store import Reader

# Display states, in the order the dashboard groups them.
EXECUTING, PENDING, INTERRUPTED, PAUSED = "executing", "pending", "interrupted", "paused"
FAILED, STALE, COMPLETED, CANCELLED = "failed", "stale", "completed", "cancelled"
STATES = (EXECUTING, PENDING, INTERRUPTED, PAUSED, FAILED, STALE, COMPLETED, CANCELLED)
# A session not heard from for this long (no lease to ask its process) counts as gone:
# the same time-to-live a lease from another host gets.
SILENCE = leases.DEFAULT_TTL


@dataclass(frozen=True)
class Liveness:
    """`state`: one of STATES. `reason`: how it ended or why it waits, for people (None
    when there is nothing to add). `session_id`: the session working on it (executing) or
    the one that was (interrupted), if known. `heard_at`: when that session was last heard
    from."""

    state: str
    reason: str | None
    session_id: str | None
    heard_at: datetime | None


def _sid(session_id: str) -> str:
    return session_id[:12] or "-"


def judge(status: Status, status_reason: str | None, *, lease: LeaseRecord | None,
          session: tuple[str, datetime] | None, last_activity: datetime, now: datetime,
          silence: timedelta = SILENCE) -> Liveness:
    """The display state from the facts: the lease, the session last seen working on the
    workflow (id, last heard from, heartbeats included) and the workflow's last activity."""
    if status != Status.RUNNING:
        if status == Status.PAUSED and (status_reason or "").startswith(INTERRUPTED_PREFIX):
            why = (status_reason or "")[len(INTERRUPTED_PREFIX):] or None
            return Liveness(INTERRUPTED, why, session[0] if session else None, session[1] if session else None)
        if status == Status.PENDING:
            return Liveness(PENDING, status_reason, None, None)
        return Liveness(status.value, status_reason, None, None)
    # the session's heartbeats, and any checkpoint since (a stage it completed)
    heard = max(session[1], last_activity) if session else None
    if lease is not None:
        heard = max(heard, lease.heartbeat_at) if heard else lease.heartbeat_at
        seen = session[1] if session is not None and session[0] == lease.session_id else None
        if leases.alive(lease, now, silence, seen):  # another host: its heartbeat or liveness file
            where = "" if lease.host == leases.host() else f" on {lease.host}"
            return Liveness(EXECUTING, f"session {_sid(lease.session_id)} (pid {lease.pid}{where})",
                            lease.session_id, heard)
        how = (f"its process (pid {lease.pid}) is gone" if lease.host == leases.host()
               else f"host {lease.host} has not been heard from since {ago(lease.heartbeat_at, now)}")
        return Liveness(INTERRUPTED, f"session {_sid(lease.session_id)} ended without a clean stop: {how}",
                        lease.session_id, heard)
    if session is not None and heard is not None:  # bound by `cairn start` or a hook, never leased
        if now - heard < silence:
            return Liveness(EXECUTING, f"session {_sid(session[0])}, heard from {ago(heard, now)}", session[0], heard)
        return Liveness(INTERRUPTED, f"session {_sid(session[0])} ended without a clean stop: not heard from "
                        f"since {ago(heard, now)}", session[0], heard)
    if now - last_activity < silence:
        return Liveness(PENDING, "marked running; no Claude session has taken it yet", None, None)
    return Liveness(INTERRUPTED, f"no Claude session has worked on it since {ago(last_activity, now)}", None, None)


def of(r: Reader, root: Path | None, wf: Workflow, now: datetime) -> Liveness:
    """`judge` for a loaded workflow: its lease from the store, its newest session with the
    time of that session's liveness file under `root` (the artifacts folder), if any."""
    session = r.last_session(wf.workflow_id) if wf.status in (Status.RUNNING, Status.PAUSED) else None
    if session is not None and root is not None and wf.status == Status.RUNNING:
        from cairn.live import live_seen

        seen = live_seen(root, session[0])
        if seen is not None and seen > session[1]:
            session = (session[0], seen)
    held = r.lease(wf.workflow_id) if wf.status == Status.RUNNING else None
    return judge(wf.status, wf.status_reason, lease=held, session=session, last_activity=wf.last_activity, now=now)
