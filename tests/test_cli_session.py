"""`cairn start` / `cairn resume` inside a Claude Code session (its Bash tool sets
CLAUDE_CODE_SESSION_ID and CLAUDE_PID) bind the workflow to the session and take its
lease; the same commands typed in a terminal bind nothing and take no lease. Real
processes, the real database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.manager import CheckpointManager
from test_cli_support import complete_stage, db_rows, no_claude_session, run_cairn

__all__ = ["no_claude_session"]  # autouse: nothing leaks in from a surrounding session


def in_session(session: str, pid: int) -> dict[str, str]:
    return {"CLAUDE_CODE_SESSION_ID": session, "CLAUDE_PID": str(pid)}


def leases(root: Path) -> list[tuple[str, str, int]]:
    return [(r[0], r[1], int(r[2])) for r in db_rows(root, "SELECT workflow_id, session_id, pid FROM leases")]


def bindings(root: Path) -> list[tuple[str, str, str]]:
    return [(r[0], r[1], r[2]) for r in db_rows(root, "SELECT session_id, workflow_id, how FROM bindings")]


def test_start_in_a_session_binds_the_workflow(root: Path, sleeper: subprocess.Popen[bytes]) -> None:
    r = run_cairn("--dir", str(root), "start", "bound work", "--json", env=in_session("sess-1", sleeper.pid))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"workflow_id", "stages", "folder"} <= set(out) and out["session_bound"] is True
    assert Path(out["folder"]) == root / out["workflow_id"]
    assert bindings(root) == [("sess-1", out["workflow_id"], "cairn start")]
    assert leases(root) == [(out["workflow_id"], "sess-1", sleeper.pid)]  # the session works on it
    wf = CheckpointManager(root).load(out["workflow_id"])
    assert [s.session_id for s in wf.sessions] == ["sess-1"] and wf.marks[0].session_id == "sess-1"


def test_a_killed_client_shows_its_started_workflow_interrupted_at_once(root: Path,
                                                                      sleeper: subprocess.Popen[bytes]) -> None:
    """`/cairn:start` in a session, a stage running, then the client is killed (no hook
    runs): the dashboard says interrupted right away, not "executing" until heartbeats
    go quiet for half an hour."""
    from cairn import liveness
    from cairn.model import utcnow

    r = run_cairn("--dir", str(root), "start", "bound work", "--json", env=in_session("sess-1", sleeper.pid))
    wid = json.loads(r.stdout)["workflow_id"]
    m = CheckpointManager(root)
    m.workflows.start_stage(wid, "orchestrator", session_id="sess-1")

    def state() -> str:
        with m.store.read() as rd:
            wf = rd.workflow(wid)
            assert wf is not None
            return liveness.of(rd, root, wf, utcnow()).state

    assert state() == "executing"
    sleeper.kill()
    sleeper.wait(timeout=10)
    assert state() == "interrupted"


def test_start_in_a_terminal_binds_nothing(root: Path) -> None:
    r = run_cairn("--dir", str(root), "start", "terminal work", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["session_bound"] is False
    assert bindings(root) == [] and db_rows(root, "SELECT count(*) FROM sessions") == [(0,)]


def paused_workflow(mgr: CheckpointManager) -> str:
    mgr.create("resume me", workflow_id="wf-s")
    complete_stage(mgr, "wf-s", "orchestrator")
    mgr.pause("wf-s")
    return "wf-s"


def test_resume_in_a_session_binds_and_takes_the_lease(root: Path, mgr: CheckpointManager,
                                                       sleeper: subprocess.Popen[bytes]) -> None:
    wid = paused_workflow(mgr)
    r = run_cairn("--dir", str(root), "resume", wid, "--json", env=in_session("sess-A", sleeper.pid))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["status"] == "running"
    assert leases(root) == [(wid, "sess-A", sleeper.pid)]
    assert bindings(root) == [("sess-A", wid, "cairn resume")]
    wf = mgr.load(wid)
    assert wf.marks[-1].type == "resume" and wf.marks[-1].session_id == "sess-A"
    # the same session resuming again only refreshes its lease
    r = run_cairn("--dir", str(root), "resume", wid, "--json", env=in_session("sess-A", sleeper.pid))
    assert r.returncode == 0, r.stderr
    assert leases(root) == [(wid, "sess-A", sleeper.pid)]


def test_another_live_session_is_refused_until_it_is_gone(root: Path, mgr: CheckpointManager,
                                                          sleeper: subprocess.Popen[bytes]) -> None:
    wid = paused_workflow(mgr)
    assert run_cairn("--dir", str(root), "resume", wid, env=in_session("sess-A", sleeper.pid)).returncode == 0
    seq = mgr.load(wid).seq
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        r = run_cairn("--dir", str(root), "resume", wid, "--from", "orchestrator",
                      env=in_session("sess-B", other.pid))
        assert r.returncode == 1 and r.stdout == ""
        assert "being worked on by another live session" in r.stderr and "sess-A" in r.stderr
        assert "fix:" in r.stderr
        assert mgr.load(wid).seq == seq and leases(root) == [(wid, "sess-A", sleeper.pid)]
        sleeper.kill()
        sleeper.wait(timeout=10)
        r = run_cairn("--dir", str(root), "resume", wid, env=in_session("sess-B", other.pid))
        assert r.returncode == 0, r.stderr
        assert leases(root) == [(wid, "sess-B", other.pid)]
        assert any(e.action == "lease_takeover" for e in mgr.load(wid).audit)
    finally:
        other.kill()
        other.wait(timeout=10)


def test_resume_in_a_terminal_takes_no_lease(root: Path, mgr: CheckpointManager,
                                             sleeper: subprocess.Popen[bytes]) -> None:
    wid = paused_workflow(mgr)
    r = run_cairn("--dir", str(root), "resume", wid, "--json")
    assert r.returncode == 0, r.stderr
    assert leases(root) == [] and bindings(root) == []
    assert mgr.load(wid).status.value == "running"
    # a live Claude session holds it: the terminal says so, changes nothing of the lease
    assert run_cairn("--dir", str(root), "resume", wid, env=in_session("sess-A", sleeper.pid)).returncode == 0
    r = run_cairn("--dir", str(root), "resume", wid)
    assert r.returncode == 0, r.stderr
    assert "warning" in r.stderr and "sess-A" in r.stderr
    assert leases(root) == [(wid, "sess-A", sleeper.pid)] and bindings(root) == [("sess-A", wid, "cairn resume")]


def test_without_claude_pid_the_lease_goes_to_the_owner_process(root: Path, mgr: CheckpointManager,
                                                                sleeper: subprocess.Popen[bytes]) -> None:
    wid = paused_workflow(mgr)
    env = {"CLAUDE_CODE_SESSION_ID": "sess-C", "CAIRN_LEASE_PID": str(sleeper.pid)}
    r = run_cairn("--dir", str(root), "resume", wid, env=env)
    assert r.returncode == 0, r.stderr
    assert leases(root) == [(wid, "sess-C", sleeper.pid)]


def test_dry_run_in_a_session_takes_nothing(root: Path, mgr: CheckpointManager,
                                            sleeper: subprocess.Popen[bytes]) -> None:
    wid = paused_workflow(mgr)
    r = run_cairn("--dir", str(root), "resume", wid, "--dry-run", env=in_session("sess-D", sleeper.pid))
    assert r.returncode == 0, r.stderr
    assert leases(root) == [] and bindings(root) == [] and mgr.load(wid).status.value == "paused"


def test_a_resume_that_fails_after_the_lease_gives_it_back(
        root: Path, mgr: CheckpointManager, sleeper: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from cairn.cli import main
    from cairn.errors import NotResumable

    wid = paused_workflow(mgr)
    monkeypatch.setenv("CLAUDE_CODE_SESSION_ID", "sess-E")
    monkeypatch.setenv("CLAUDE_PID", str(sleeper.pid))

    def refuse(*_a: object, **_k: object) -> None:
        raise NotResumable("changed meanwhile", hint="try again")

    monkeypatch.setattr(CheckpointManager, "apply", refuse)
    assert main(["--dir", str(root), "resume", wid]) == 1
    assert "changed meanwhile" in capsys.readouterr().err
    assert leases(root) == [] and mgr.load(wid).status.value == "paused"
