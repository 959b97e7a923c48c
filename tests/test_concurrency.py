"""Concurrency: many processes writing one workflow lose nothing; parallel subagents are
both recorded; leases keep two sessions from resuming the same workflow."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn import lease
from cairn.manager import CheckpointManager
from cairn.pipeline import Pipeline
from cairn.store import FileStore
from faults import hookrun

COMPLETER = Path(__file__).resolve().parent / "faults" / "completer.py"
LIB = Path(__file__).resolve().parent.parent / "lib"


@pytest.fixture
def fast_root(tmp_path: Path) -> Iterator[Path]:
    """An artifacts folder on tmpfs when there is one: this measures locking, not the
    disk's fsync latency (the crash tests run on the real disk)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        import tempfile

        base = Path(tempfile.mkdtemp(dir=shm, prefix="cairn-conc-"))
        yield base / ".claude" / "artifacts"
        import shutil

        shutil.rmtree(base, ignore_errors=True)
    else:
        yield tmp_path / ".claude" / "artifacts"


def _parallel_pipeline(n: int) -> Pipeline:
    stages = [{"name": f"w{i}", "artifacts": [], "depends_on": []} for i in range(n)]
    stages.append({"name": "final", "artifacts": [{"path": "final.json"}],
                   "depends_on": [f"w{i}" for i in range(n)]})
    return Pipeline.from_dict({"name": "parallel", "stages": stages})


def _hammer(root: Path, procs: int, per: int, mode: str) -> tuple[CheckpointManager, list[list[int]]]:
    m = CheckpointManager(root)
    m.create("concurrency", workflow_id="wf-conc", pipeline=_parallel_pipeline(procs))
    go = root.parent / "go"
    env = dict(os.environ, PYTHONPATH=str(LIB))
    workers = [subprocess.Popen([sys.executable, str(COMPLETER), str(root), "wf-conc", f"w{i}", str(per),
                                 f"p{i}", str(go), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=env) for i in range(procs)]
    time.sleep(0.5)
    go.touch()
    seqs = []
    for w in workers:
        out, err = w.communicate(timeout=600)
        assert w.returncode == 0, err[-3000:]
        seqs.append([int(x) for x in out.split()])
    return m, seqs


def _check_sequences(m: CheckpointManager, seqs: list[list[int]], total: int) -> None:
    for mine in seqs:
        assert mine == sorted(mine) and len(set(mine)) == len(mine)
    every = sorted(s for mine in seqs for s in mine)
    assert every == list(range(2, total + 2)), "seqs handed out twice or skipped"
    hist = FileStore(m.root).history("wf-conc")
    assert [e.seq for e in hist] == list(range(1, total + 2))  # unique, gap-free
    assert m.load("wf-conc").seq == total + 1
    assert m.index.read()["wf-conc"]["seq"] == total + 1


def test_8_processes_x_200_completions_none_lost(fast_root: Path) -> None:
    """1,600 completions through `CheckpointManager.mutate` from 8 processes at once,
    each recorded as an entry of the completion ledger (metadata.completions)."""
    m, seqs = _hammer(fast_root, 8, 200, "ledger")
    cp = m.load("wf-conc")
    ledger = cp.metadata["completions"]
    assert sum(len(v) for v in ledger.values()) == 1600
    for i in range(8):
        assert ledger[f"w{i}"] == [f"p{i}-{n}" for n in range(200)]  # none lost, in order
    _check_sequences(m, seqs, 1600)


def _check_attempts(m: CheckpointManager, seqs: list[list[int]], procs: int, per: int) -> None:
    cp = m.load("wf-conc")
    assert sum(len(a.attempts) for a in cp.agents.values()) == procs * per
    for i in range(procs):
        attempts = cp.agents[f"w{i}"].attempts
        assert [a.agent_id for a in attempts] == [f"p{i}-{n}" for n in range(per)]
        assert [a.number for a in attempts] == list(range(1, per + 1))
        assert all(a.outcome == "completed" for a in attempts)
    assert sorted(cp.completed_agents) == sorted(f"w{i}" for i in range(procs))
    assert cp.status.value == "running"
    _check_sequences(m, seqs, procs * per)


def test_8_processes_record_completion_attempts(fast_root: Path) -> None:
    """The real `record_completion`, 8 parallel stages x 25 completions each."""
    m, seqs = _hammer(fast_root, 8, 25, "attempts")
    _check_attempts(m, seqs, 8, 25)


@pytest.mark.slow
def test_8_processes_x_200_record_completion_attempts(fast_root: Path) -> None:
    """1,600 real `record_completion` calls: the checkpoint grows to 1,600 attempts."""
    m, seqs = _hammer(fast_root, 8, 200, "attempts")
    _check_attempts(m, seqs, 8, 200)


# ------------------------------------------------------------------ parallel subagents


CONFIG = """\
pipeline:
  replace: true
  name: fanout
  stages:
    - {name: scout, artifacts: [scout.json], depends_on: []}
    - {name: left, artifacts: [left.json], depends_on: [scout]}
    - {name: right, artifacts: [right.json], depends_on: [scout]}
    - {name: join, artifacts: [join.json], depends_on: [left, right]}
"""


def test_parallel_subagents_both_recorded(project: Path, tmp_path: Path) -> None:
    (project / ".claude" / "cairn.yaml").write_text(CONFIG)
    root = project / ".claude" / "artifacts"
    m = CheckpointManager(root, project_dir=project)
    cp = m.create("fan out", workflow_id="wf-par")
    assert [s.name for s in cp.pipeline.stages] == ["scout", "left", "right", "join"]
    (root / "wf-par" / "scout.json").write_text("{}")
    m.record_completion("wf-par", "scout")
    assert m.pipeline_of(m.load("wf-par")).ready(["scout"]) == ["left", "right"]

    env = hookrun.hook_env(project, tmp_path / "home" / "data")
    for _round in range(3):  # several rounds: the two hooks race differently each time
        starts = {a: hookrun.payload("subagent-start", project, agent_type=a, agent_id=f"id-{a}-{_round}")
                  for a in ("left", "right")}
        procs = {a: hookrun.start("subagent-start", p, env, project) for a, p in starts.items()}
        for a, p in procs.items():
            answer = hookrun.finish("subagent-start", p, starts[a])
            assert answer and f'stage="{a}"' in answer["hookSpecificOutput"]["additionalContext"]
        for a in ("left", "right"):
            (root / "wf-par" / f"{a}.json").write_text(json.dumps({"round": _round}))
        stops = {a: hookrun.payload("subagent-stop", project, agent_type=a, agent_id=f"id-{a}-{_round}",
                                    stop_hook_active=False) for a in ("left", "right")}
        procs = {a: hookrun.start("subagent-stop", p, env, project) for a, p in stops.items()}
        for a, p in procs.items():
            assert hookrun.finish("subagent-stop", p, stops[a]) is None
    cp = m.load("wf-par")
    assert set(cp.completed_agents) == {"scout", "left", "right"}
    for a in ("left", "right"):
        attempts = cp.agents[a].attempts
        assert [x.agent_id for x in attempts] == [f"id-{a}-{r}" for r in range(3)]
        assert all(x.outcome == "completed" for x in attempts)
        assert cp.artifacts[f"{a}.json"].agent == a
    assert m.pipeline_of(cp).ready(cp.done) == ["join"]
    assert not (root / ".logs" / "cairn.log").exists()


# ------------------------------------------------------------------ leases


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "120"])
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["sleep", "120"])


def test_lease_refused_while_holder_lives_then_taken_over(mgr: CheckpointManager) -> None:
    mgr.create("lease me", workflow_id="wf-lease")
    a, b = _sleeper(), _sleeper()
    try:
        assert lease.acquire(mgr, "wf-lease", "session-A", pid=a.pid) is None
        path = mgr.workflow_dir("wf-lease") / lease.LEASE_FILE
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        held = json.loads(path.read_text())
        assert held["pid"] == a.pid and held["session_id"] == "session-A"
        assert held["start_time"] == lease.process_start_time(a.pid) and held["host"] and held["since"]
        # the same session again (e.g. a new process of `claude --continue`) refreshes it
        assert lease.acquire(mgr, "wf-lease", "session-A", pid=a.pid) is None
        with pytest.raises(lease.LeaseHeld) as info:
            lease.acquire(mgr, "wf-lease", "session-B", pid=b.pid)
        msg = str(info.value)
        assert "session-A" in msg and f"pid {a.pid}" in msg and held["since"] in msg and "fix:" in msg
        seq = mgr.load("wf-lease").seq
        a.kill()
        a.wait()
        old = lease.acquire(mgr, "wf-lease", "session-B", pid=b.pid)
        assert old is not None and old.session_id == "session-A"
        cp = mgr.load("wf-lease")
        assert cp.seq == seq + 1
        note = [e for e in cp.audit if e.action == "lease_takeover"]
        assert len(note) == 1 and "session-A" in note[0].detail and "session-B" in note[0].detail
        assert json.loads(path.read_text())["session_id"] == "session-B"
    finally:
        for p in (a, b):
            p.kill()
            p.wait()


def test_lease_of_a_recycled_pid_is_taken_over(mgr: CheckpointManager,
                                               sleeper: subprocess.Popen[bytes]) -> None:
    """The pid runs, but it is another process (its start time differs): not the holder."""
    mgr.create("lease me", workflow_id="wf-lease")
    start = lease.process_start_time(sleeper.pid)
    assert start is not None
    stale = {"session_id": "ghost", "pid": sleeper.pid, "start_time": start - 1,
             "host": lease.new_lease("x", os.getpid()).host, "since": "2020-01-01T00:00:00Z"}
    (mgr.workflow_dir("wf-lease") / lease.LEASE_FILE).write_text(json.dumps(stale))
    assert not lease.alive(lease.Lease.from_dict(stale))  # type: ignore[arg-type]
    old = lease.acquire(mgr, "wf-lease", "session-B", pid=os.getpid())
    assert old is not None and old.session_id == "ghost"


def test_lease_garbage_file_is_ignored(mgr: CheckpointManager) -> None:
    mgr.create("lease me", workflow_id="wf-lease")
    (mgr.workflow_dir("wf-lease") / lease.LEASE_FILE).write_bytes(b"\x00not json")
    assert lease.read(mgr.workflow_dir("wf-lease")) is None
    assert lease.acquire(mgr, "wf-lease", "s", pid=os.getpid()) is None


def test_owner_pid_env_and_ancestors() -> None:
    assert lease.owner_pid({"CAIRN_LEASE_PID": "1234"}) == 1234
    assert lease.owner_pid({}) > 1


@pytest.fixture
def held(project: Path, sleeper: subprocess.Popen[bytes]) -> Path:
    """A paused workflow `wf-held` whose lease a live process of another session holds."""
    root = project / ".claude" / "artifacts"
    m = CheckpointManager(root, project_dir=project)
    m.create("held elsewhere", workflow_id="wf-held")
    m.record_start("wf-held", "orchestrator")
    m.pause("wf-held")
    lease.acquire(m, "wf-held", "other-session", pid=sleeper.pid)
    return root


def test_session_start_says_another_live_session_holds_it(project: Path, tmp_path: Path, held: Path,
                                                         sleeper: subprocess.Popen[bytes]) -> None:
    env = hookrun.hook_env(project, tmp_path / "home" / "data")
    answer = hookrun.run("session-start", hookrun.payload("session-start", project, source="startup"),
                         env, project)
    assert answer is not None
    context = answer["hookSpecificOutput"]["additionalContext"]
    assert "another live" in context and "other-session" in context and f"pid {sleeper.pid}" in context
    assert "another live" in answer["systemMessage"]


def test_cairn_resume_refused_while_another_session_holds_it(held: Path,
                                                             sleeper: subprocess.Popen[bytes]) -> None:
    root = held
    m = CheckpointManager(root)
    env = dict(os.environ, PYTHONPATH=str(LIB), CAIRN_LEASE_PID=str(os.getpid()))
    cmd = [sys.executable, "-m", "cairn", "--dir", str(root), "resume", "wf-held"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "other-session" in proc.stderr and "fix:" in proc.stderr
    assert m.load("wf-held").status.value == "paused"
    sleeper.send_signal(signal.SIGKILL)
    sleeper.wait()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    cp = m.load("wf-held")
    assert cp.status.value == "running"
    assert any(e.action == "lease_takeover" for e in cp.audit)
    assert json.loads((root / "wf-held" / lease.LEASE_FILE).read_text())["pid"] == os.getpid()
