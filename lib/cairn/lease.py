"""Leases: which live session works on a workflow, so two sessions never resume it at once.

A lease is the sidecar `<workflow>/.lease.json` (written atomically, 0600)::

    {"session_id": "...", "pid": 4242, "start_time": 881234, "host": "box", "since": "..."}

`pid` is the process of the session: for a hook or a `cairn` run inside Claude Code,
the Claude Code process found among the ancestors (`owner_pid`). `start_time` is that
process's start time (field 22 of /proc/<pid>/stat), so a recycled pid is not mistaken
for the holder. A lease is *live* while its process runs on this host with that start
time; a lease from another host is assumed live (it cannot be checked from here).

`acquire` takes the lease under the workflow lock: it is refused (`LeaseHeld`, naming
the holder and since when) while another live session holds it, and a lease whose
process is gone is taken over with a `lease_takeover` note in the audit trail.
Standard library only (the manager is passed in), so hooks can check cheaply.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cairn.atomic import atomic_write
from cairn.errors import CairnError

LEASE_FILE = ".lease.json"
_CLAUDE_COMMS = {"claude", "node"}
_SHELL_COMMS = {"sh", "dash", "bash", "zsh", "ksh", "env", "timeout"}


class LeaseHeld(CairnError):
    """Another live session holds the workflow's lease."""

    def __init__(self, workflow_id: str, holder: Lease) -> None:
        super().__init__(
            f"workflow {workflow_id!r} is being worked on by another live session: {holder.describe()}",
            hint="continue it in that session, or end that session (its lease ends with its "
            "process) and resume again")
        self.holder = holder


@dataclass(frozen=True)
class Lease:
    session_id: str
    pid: int
    start_time: int | None
    host: str
    since: str

    def describe(self) -> str:
        return f"session {self.session_id[:36]} (pid {self.pid} on {self.host[:64]}) since {self.since}"

    def same_holder(self, other: Lease) -> bool:
        """The same session, or the same process (a hook and a `cairn` run of one
        Claude Code session can know it by different ids)."""
        return self.session_id == other.session_id or (
            self.host == other.host and self.pid == other.pid and self.start_time == other.start_time)

    @classmethod
    def from_dict(cls, raw: Any) -> Lease | None:
        if not isinstance(raw, dict):
            return None
        try:
            start = raw.get("start_time")
            return cls(session_id=str(raw["session_id"])[:200], pid=int(raw["pid"]),
                       start_time=int(start) if start is not None else None,
                       host=str(raw["host"])[:256], since=str(raw["since"])[:40])
        except (KeyError, TypeError, ValueError):
            return None


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


def new_lease(session_id: str, pid: int) -> Lease:
    return Lease(session_id=session_id[:200], pid=pid, start_time=process_start_time(pid),
                 host=socket.gethostname(), since=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))


def alive(lease: Lease) -> bool:
    if lease.host != socket.gethostname():
        return True  # cannot be checked from here: assume it runs
    if not pid_alive(lease.pid):
        return False
    now = process_start_time(lease.pid)
    return lease.start_time is None or now is None or now == lease.start_time


def read(workflow_dir: Path) -> Lease | None:
    try:
        with open(workflow_dir / LEASE_FILE, "rb") as fh:
            return Lease.from_dict(json.loads(fh.read(4096)))
    except (OSError, ValueError):
        return None


def holder(workflow_dir: Path, me: Lease) -> Lease | None:
    """The live lease of another session, if any (read-only: for SessionStart)."""
    current = read(workflow_dir)
    if current is None or current.same_holder(me) or not alive(current):
        return None
    return current


def acquire(manager: Any, workflow_id: str, session_id: str, *, pid: int | None = None) -> Lease | None:
    """Take (or refresh) the lease for `session_id`, owned by process `pid` (default:
    `owner_pid()`). Raises `LeaseHeld` while another live session holds it; returns the
    dead lease it took over, if any (recorded in the audit trail)."""
    me = new_lease(session_id, pid if pid is not None else owner_pid())
    wdir = manager.workflow_dir(workflow_id)
    with manager.store.lock(workflow_id, "lease"):
        current = read(wdir)
        if current is not None and not current.same_holder(me) and alive(current):
            raise LeaseHeld(workflow_id, current)
        atomic_write(wdir / LEASE_FILE, json.dumps(asdict(me)).encode())
    if current is None or current.same_holder(me):
        return None

    def note(cp: Any) -> None:
        from cairn.models import AuditEntry, utcnow

        detail = f"{me.describe()} took over the lease of {current.describe()}, whose process is gone"
        cp.audit.append(AuditEntry(at=utcnow(), action="lease_takeover", detail=detail[:500]))
    manager.mutate(workflow_id, note, "lease_takeover")
    return current


def acquire_for_cli(manager: Any, workflow_id: str, env: Mapping[str, str] | None = None) -> Lease | None:
    """`cairn resume`: the session is `$CLAUDE_SESSION_ID` (or `$CAIRN_SESSION_ID`) when
    set, else the owner process (`pid-N`), which `same_holder` matches anyway."""
    env = os.environ if env is None else env
    pid = owner_pid(env)
    session = env.get("CLAUDE_SESSION_ID") or env.get("CAIRN_SESSION_ID") or f"pid-{pid}"
    return acquire(manager, workflow_id, session, pid=pid)


def release(workflow_dir: Path, session_id: str | None, pid: int | None = None) -> bool:
    """Drop the lease if this session (or process) holds it."""
    current = read(workflow_dir)
    if current is None:
        return False
    me = new_lease(session_id or "", pid if pid is not None else owner_pid())
    if not current.same_holder(me):
        return False
    with contextlib.suppress(FileNotFoundError):
        os.unlink(workflow_dir / LEASE_FILE)
    return True
