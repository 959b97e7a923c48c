"""Which process a session is, and whether it still runs (standard library only).

A lease (`cairn.model.LeaseRecord`, stored by the store, changed only by
`cairn.workflow`) names the session working on a workflow, its Claude Code process
(`pid` and that process's start time, so a recycled pid is not mistaken for it) and the
host. On this host a lease is live while its process runs; a lease from another host is
live while its last sign of life (a commit of its holder, or its liveness file, both
renewed by the hooks) is younger than the time-to-live (`settings.lease_minutes` in
cairn.yaml, 30 by default). An expired lease is taken over with an audit entry, and
`cairn resume --take-over` takes a live one on purpose. The rules live here, apart from
any backend: `cairn.workflow` applies them in one transaction of whatever store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timedelta

from cairn.errors import LeaseHeld
from cairn.model import LeaseRecord

_CLAUDE_COMMS = {"claude", "node"}
_SHELL_COMMS = {"sh", "dash", "bash", "zsh", "ksh", "env", "timeout"}
DEFAULT_TTL = timedelta(minutes=30)


def _stat_fields(pid: int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (after the parenthesised command name)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    return raw[raw.rfind(")") + 2:].split()


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", "rb") as fh:
            return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def process_start_time(pid: int) -> int | None:
    """Start time of `pid` in clock ticks since boot, None if unknown (no /proc, gone)."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):
        return None


def _parent(pid: int) -> int | None:
    fields = _stat_fields(pid)
    try:
        return int(fields[1]) if fields else None
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_pid(env: Mapping[str, str] | None = None) -> int:
    """The process a lease taken from here belongs to: `CAIRN_LEASE_PID` if set, else
    the nearest Claude Code ancestor, else the nearest ancestor that is not a shell
    running a launcher script (for a terminal: the interactive shell)."""
    env = os.environ if env is None else env
    forced = env.get("CAIRN_LEASE_PID", "")
    if forced.isdigit():
        return int(forced)
    chain: list[int] = []
    pid: int | None = os.getppid()
    while pid and pid > 1 and len(chain) < 12:
        chain.append(pid)
        if _comm(pid) in _CLAUDE_COMMS:
            return pid
        pid = _parent(pid)
    for p in chain:
        if _comm(p) not in _SHELL_COMMS:
            return p
    return os.getppid()


def host() -> str:
    return os.uname().nodename[:256]  # = socket.gethostname(), without importing socket


def new_lease(session_id: str, pid: int, now: datetime) -> LeaseRecord:
    return LeaseRecord(session_id=session_id[:200], pid=pid, start_time=process_start_time(pid),
                       host=host(), acquired_at=now, heartbeat_at=now)


def same_holder(a: LeaseRecord, b: LeaseRecord) -> bool:
    """The same session, or the same process (a hook and a `cairn` run of one Claude
    Code session can know it by different ids)."""
    return a.session_id == b.session_id or (
        a.host == b.host and a.pid == b.pid and a.start_time == b.start_time)


def alive(lease: LeaseRecord, now: datetime, ttl: timedelta = DEFAULT_TTL, seen: datetime | None = None) -> bool:
    """On this host: while its process runs. From another host (whose process cannot be
    seen): while its last sign of life is younger than `ttl` (the `lease_minutes` setting).
    A sign of life is a commit of its holder (the heartbeat) or, when the caller passes it,
    `seen`: the session's liveness file, which its Stop hook touches every turn. A time in
    the future (a planted file, a clock gone wrong) is no sign of life: it would hold the
    lease for ever."""
    if lease.host != host():
        last = lease.heartbeat_at
        if seen is not None and last < seen <= now + timedelta(minutes=1):
            last = seen
        return now - last < ttl
    if not pid_alive(lease.pid):
        return False
    started = process_start_time(lease.pid)
    return lease.start_time is None or started is None or started == lease.start_time


def takeover_note(taken: LeaseRecord, me: LeaseRecord | None, live: bool, now: datetime) -> str:
    """The audit entry of a lease taken over: whose, from whom, and why."""
    who = me.describe() if me is not None else "a terminal (`cairn resume --take-over`; the next session takes it)"
    if live:
        return f"{who} took over on purpose (--take-over) the lease of {taken.describe()}, which was live"
    quiet = int((now - taken.heartbeat_at).total_seconds() // 60)
    why = "its process is gone" if taken.host == host() else f"no sign of life for {quiet} min"
    return f"{who} took over the lease of {taken.describe()}, which expired ({why})"


def judge(workflow_id: str, current: LeaseRecord | None, me: LeaseRecord | None, now: datetime,
          ttl: timedelta, seen: datetime | None, take_over: bool) -> tuple[LeaseRecord | None, bool]:
    """(the lease `me` takes over, None if none; whether it was live). `LeaseHeld` when
    another holder's lease is live and `take_over` is not asked. `me` None: a terminal
    freeing the lease; `seen`: the current holder's liveness file time."""
    taken = current if current is not None and (me is None or not same_holder(current, me)) else None
    live = taken is not None and alive(taken, now, ttl, seen)
    if taken is not None and live and not take_over:
        raise LeaseHeld(workflow_id, taken.describe())
    return taken, live
