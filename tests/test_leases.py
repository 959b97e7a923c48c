"""Leases: a time-to-live from cairn.yaml, renewed by the hooks (their commits, and the
liveness file Stop touches); an expired lease from any host is taken over with an audit
entry; `cairn resume --take-over` takes a live one on purpose and says whose it took."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from cairn import lease
from cairn.errors import LeaseHeld
from cairn.live import mark_live
from cairn.manager import CheckpointManager
from cairn.model import LeaseRecord, utcnow
from test_cli_support import db_rows, no_claude_session, run_cairn

__all__ = ["no_claude_session"]


def foreign(session_id: str, quiet: timedelta) -> LeaseRecord:
    """A lease taken on another host, last heard from `quiet` ago."""
    then = utcnow() - quiet
    return LeaseRecord(session_id=session_id, pid=4242, start_time=1, host="build-box-7", acquired_at=then,
                       heartbeat_at=then)


def plant(mgr: CheckpointManager, wid: str, held: LeaseRecord) -> None:
    with mgr.store.write() as tx:
        tx.put_lease(wid, held)


def test_another_hosts_lease_expires_after_the_ttl(mgr: CheckpointManager) -> None:
    mgr.create("x", workflow_id="wf-a")
    plant(mgr, "wf-a", foreign("sess-far", timedelta(minutes=10)))
    with pytest.raises(LeaseHeld):  # 10 min quiet, the default ttl is 30
        mgr.workflows.acquire("wf-a", "sess-here", os.getpid())
    taken = mgr.workflows.acquire("wf-a", "sess-here", os.getpid(), ttl=timedelta(minutes=5))
    assert taken is not None and taken.session_id == "sess-far"
    entry = [e for e in mgr.load("wf-a").audit if e.action == "lease_takeover"][-1]
    assert "build-box-7" in entry.detail and "expired" in entry.detail and "no sign of life for 10 min" in entry.detail
    assert db_rows(mgr.root, "SELECT session_id FROM leases") == [("sess-here",)]


def test_the_ttl_comes_from_cairn_yaml(project: Path, root: Path, sleeper: subprocess.Popen[bytes]) -> None:
    mgr = CheckpointManager(root)
    mgr.create("x", workflow_id="wf-a")
    mgr.pause("wf-a")
    plant(mgr, "wf-a", foreign("sess-far", timedelta(minutes=10)))
    env = {"CLAUDE_CODE_SESSION_ID": "sess-here", "CLAUDE_PID": str(sleeper.pid)}
    held = run_cairn("--dir", str(root), "resume", "wf-a", env=env)
    assert held.returncode == 1 and "another live session" in held.stderr and "--take-over" in held.stderr
    (project / ".claude" / "cairn.yaml").write_text("settings:\n  lease_minutes: 5\n")
    done = run_cairn("--dir", str(root), "resume", "wf-a", env=env)
    assert done.returncode == 0, done.stderr
    assert "took over the lease of session sess-far" in done.stderr
    assert db_rows(root, "SELECT session_id FROM leases") == [("sess-here",)]


def test_the_hooks_renew_the_lease(mgr: CheckpointManager, root: Path) -> None:
    """A commit of the holder (a hook recording its stage) and its liveness file (touched
    by Stop every turn) are signs of life; a liveness file dated in the future is not."""
    mgr.create("x", workflow_id="wf-a")
    plant(mgr, "wf-a", foreign("sess-far", timedelta(minutes=50)))
    before = mgr.store.read
    mgr.record_start("wf-a", "orchestrator", agent_id="ag-1", session_id="sess-far")
    with before() as r:
        renewed = r.lease("wf-a")
    assert renewed is not None and utcnow() - renewed.heartbeat_at < timedelta(minutes=1)
    with pytest.raises(LeaseHeld):
        mgr.workflows.acquire("wf-a", "sess-here", os.getpid())
    # quiet in the database for 50 min, but its Stop hook touched the liveness file
    plant(mgr, "wf-a", foreign("sess-far", timedelta(minutes=50)))
    mark_live(root, "sess-far")
    with pytest.raises(LeaseHeld):
        mgr.workflows.acquire("wf-a", "sess-here", os.getpid())
    future = (utcnow() + timedelta(days=3650)).timestamp()
    os.utime(root / ".live" / "sess-far", (future, future))  # a planted 2036 mtime holds nothing
    assert mgr.workflows.acquire("wf-a", "sess-here", os.getpid()) is not None


def test_a_dead_process_on_this_host_is_taken_over(mgr: CheckpointManager) -> None:
    mgr.create("x", workflow_id="wf-a")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(timeout=10)
    mgr.workflows.acquire("wf-a", "sess-dead", gone.pid)
    assert mgr.workflows.acquire("wf-a", "sess-here", os.getpid()) is not None
    entry = [e for e in mgr.load("wf-a").audit if e.action == "lease_takeover"][-1]
    assert "sess-dead" in entry.detail and "its process is gone" in entry.detail


def test_take_over_on_purpose(root: Path, mgr: CheckpointManager, sleeper: subprocess.Popen[bytes]) -> None:
    mgr.create("x", workflow_id="wf-a")
    mgr.pause("wf-a")
    a = {"CLAUDE_CODE_SESSION_ID": "sess-A", "CLAUDE_PID": str(sleeper.pid)}
    assert run_cairn("--dir", str(root), "resume", "wf-a", env=a).returncode == 0
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        b = {"CLAUDE_CODE_SESSION_ID": "sess-B", "CLAUDE_PID": str(other.pid)}
        assert run_cairn("--dir", str(root), "resume", "wf-a", env=b).returncode == 1
        done = run_cairn("--dir", str(root), "resume", "wf-a", "--take-over", env=b)
        assert done.returncode == 0, done.stderr
        assert "took over the lease of session sess-A" in done.stderr
        assert db_rows(root, "SELECT session_id FROM leases") == [("sess-B",)]
        entry = [e for e in mgr.load("wf-a").audit if e.action == "lease_takeover"][-1]
        assert "on purpose" in entry.detail and "sess-A" in entry.detail and "was live" in entry.detail
        # from a terminal: the lease is freed (audited) for the next session
        done = run_cairn("--dir", str(root), "resume", "wf-a", "--take-over")
        assert done.returncode == 0, done.stderr
        assert "the next session that resumes it takes it" in done.stderr
        assert db_rows(root, "SELECT count(*) FROM leases") == [(0,)]
    finally:
        other.kill()
        other.wait(timeout=10)


def test_alive_is_backend_neutral() -> None:
    """The rule itself, with no store: another host's lease by its signs of life."""
    now = utcnow()
    far = foreign("s", timedelta(minutes=20))
    assert lease.alive(far, now) and not lease.alive(far, now, timedelta(minutes=10))
    assert lease.alive(far, now, timedelta(minutes=10), seen=now - timedelta(minutes=1))
    assert not lease.alive(far, now, timedelta(minutes=10), seen=now + timedelta(hours=1))


def test_the_hooks_judge_another_hosts_lease_by_the_ttl(project: Path, root: Path) -> None:
    """PreToolUse denies a dispatch while another host's lease is live, by cairn.yaml's
    lease_minutes (read with the standard library on the hook path)."""
    import json

    from cairn.hooks import run as run_hook

    mgr = CheckpointManager(root, project_dir=project)
    mgr.create("x", workflow_id="wf-a")
    plant(mgr, "wf-a", foreign("sess-far", timedelta(minutes=10)))

    def dispatch(n: int) -> dict[str, object] | None:
        payload = {"session_id": "sess-here", "cwd": str(project), "tool_name": "Agent",
                   "tool_use_id": f"toolu_{n}", "tool_input": {"subagent_type": "cairn:orchestrator",
                                                              "prompt": "go\ncairn-workflow: wf-a"}}
        return run_hook("pre-tool-use", json.dumps(payload).encode(), {"CLAUDE_PROJECT_DIR": str(project)})
    denied = dispatch(1)
    assert denied is not None and "build-box-7" in json.dumps(denied), denied
    (project / ".claude" / "cairn.yaml").write_text("settings:\n  lease_minutes: 5\n")
    assert dispatch(2) is None
