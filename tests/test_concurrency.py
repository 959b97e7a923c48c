"""Concurrency: many processes recording completions on one workflow lose nothing and get
contiguous seqs; parallel subagents through the real hooks are all recorded.

Default run: 8 processes x 25 completions. `python -m pytest -m slow tests/test_concurrency.py -s`:
8 x 200 (1,600 `record_completion` calls), its time printed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.manager import CheckpointManager
from cairn.model import Workflow
from cairn.pipeline import Pipeline
from cairn.store import projection
from faults import hookrun

COMPLETER = Path(__file__).resolve().parent / "faults" / "completer.py"
LIB = Path(__file__).resolve().parent.parent / "lib"


@pytest.fixture(params=["disk", "tmpfs"])
def any_root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    """An artifacts folder on the test's disk, and one on tmpfs (when there is one): the
    first pays the fsyncs of `synchronous=FULL`, the second measures the locking alone."""
    if request.param == "disk":
        yield tmp_path / ".claude" / "artifacts"
        return
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        pytest.skip("no writable /dev/shm")
    import shutil
    import tempfile

    base = Path(tempfile.mkdtemp(dir=shm, prefix="cairn-conc-"))
    try:
        yield base / ".claude" / "artifacts"
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _where(root: Path) -> str:
    return "tmpfs" if str(root).startswith("/dev/shm") else "disk"


def parallel_pipeline(n: int) -> Pipeline:
    """n independent stages and a final one needing them all (never run: the workflow stays
    running however many times the others complete)."""
    stages: list[dict[str, object]] = [{"name": f"w{i}", "artifacts": [], "depends_on": []} for i in range(n)]
    stages.append({"name": "final", "artifacts": [{"path": "final.json"}], "depends_on": [f"w{i}" for i in range(n)]})
    return Pipeline.from_dict({"name": "parallel", "stages": stages})


def hammer(root: Path, procs: int, per: int) -> tuple[CheckpointManager, list[list[int]], float]:
    """`procs` processes each record `per` completions of their own stage, all at once.
    Returns the seqs each got and the wall time from the start signal to the last exit."""
    m = CheckpointManager(root)
    m.create("concurrency", workflow_id="wf-conc", pipeline=parallel_pipeline(procs))
    env = dict(os.environ, PYTHONPATH=str(LIB))
    workers = [subprocess.Popen([sys.executable, str(COMPLETER), str(root), "wf-conc", f"w{i}", str(per), f"p{i}"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=env) for i in range(procs)]
    try:
        for w in workers:  # every worker has imported Cairn and opened the database
            assert w.stdout is not None and w.stdout.readline().strip() == "ready", w.stderr
        start = time.perf_counter()
        for w in workers:
            assert w.stdin is not None
            w.stdin.write("go\n")
            w.stdin.flush()
        seqs = []
        for w in workers:
            out, err = w.communicate(timeout=900)
            assert w.returncode == 0, err[-3000:]
            seqs.append([int(x) for x in out.split()])
        elapsed = time.perf_counter() - start
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait()
    return m, seqs, elapsed


def check(m: CheckpointManager, seqs: list[list[int]], procs: int, per: int) -> Workflow:
    total = procs * per
    for mine in seqs:
        assert len(mine) == per and mine == sorted(mine) and len(set(mine)) == per
    assert sorted(s for mine in seqs for s in mine) == list(range(2, total + 2)), "seqs handed out twice or skipped"
    wf, _ = m.load_with_warnings("wf-conc")  # repairs the projection if the last writer's lost a race
    assert [mk.seq for mk in wf.marks] == list(range(1, total + 2))
    assert wf.seq == total + 1 and wf.status.value == "running"
    assert len(wf.attempts) == total
    for i in range(procs):
        attempts = wf.agents[f"w{i}"].attempts
        assert [a.agent_id for a in attempts] == [f"p{i}-{n}" for n in range(per)]  # none lost, in order
        assert [a.number for a in attempts] == list(range(1, per + 1))
        assert all(a.outcome == "completed" for a in attempts)
        assert [a.ended_seq for a in attempts] == seqs[i]
    assert sorted(wf.completed_agents) == sorted(f"w{i}" for i in range(procs))
    disk = json.loads((m.root / "wf-conc" / "checkpoint.json").read_bytes())
    assert disk == json.loads(projection.encode(wf))
    return wf


def test_8_processes_x_25_completions(any_root: Path) -> None:
    m, seqs, elapsed = hammer(any_root, 8, 25)
    check(m, seqs, 8, 25)
    print(f"\n8 x 25 completions ({_where(any_root)}): {elapsed:.2f} s")


@pytest.mark.slow
def test_8_processes_x_200_completions(any_root: Path) -> None:
    """1,600 real `record_completion` calls; the old file store took 132-151 s."""
    m, seqs, elapsed = hammer(any_root, 8, 200)
    check(m, seqs, 8, 200)
    print(f"\n8 x 200 completions ({_where(any_root)}): {elapsed:.2f} s")
    assert elapsed < 60, f"{elapsed:.1f} s"


# ------------------------------------------------------------------ parallel subagents through the hooks


FANOUT = Pipeline.from_dict({"name": "fanout", "stages": [
    {"name": "scout", "artifacts": [{"path": "scout.json"}], "depends_on": []},
    {"name": "left", "artifacts": [{"path": "left.json"}], "depends_on": ["scout"]},
    {"name": "right", "artifacts": [{"path": "right.json"}], "depends_on": ["scout"]},
    {"name": "join", "artifacts": [{"path": "join.json"}], "depends_on": ["left", "right"]},
]})


def test_parallel_subagents_all_recorded(project: Path, tmp_path: Path) -> None:
    root = project / ".claude" / "artifacts"
    m = CheckpointManager(root, project_dir=project)
    sid = "11111111-2222-4333-8444-555555555555"
    m.create("fan out", workflow_id="wf-par", pipeline=FANOUT, session_id=sid)  # `cairn start` binds the session
    (root / "wf-par" / "scout.json").write_text("{}")
    m.record_completion("wf-par", "scout")
    env = hookrun.hook_env(project, tmp_path / "home" / "data")
    for rnd in range(3):  # several rounds: the hooks race differently each time
        starts = {a: hookrun.payload("subagent-start", project, agent_type=a, agent_id=f"id-{a}-{rnd}")
                  for a in ("left", "right")}
        procs = {a: hookrun.start("subagent-start", p, env, project) for a, p in starts.items()}
        for a, p in procs.items():
            answer = hookrun.finish("subagent-start", p, starts[a])
            assert answer and f'stage="{a}"' in answer["hookSpecificOutput"]["additionalContext"]
        for a in ("left", "right"):
            (root / "wf-par" / f"{a}.json").write_text(json.dumps({"round": rnd}))
        stops = {a: hookrun.payload("subagent-stop", project, agent_type=a, agent_id=f"id-{a}-{rnd}",
                                    stop_hook_active=False) for a in ("left", "right")}
        procs = {a: hookrun.start("subagent-stop", p, env, project) for a, p in stops.items()}
        for a, p in procs.items():
            hookrun.finish("subagent-stop", p, stops[a])
    wf = m.load("wf-par")
    assert set(wf.completed_agents) == {"scout", "left", "right"} and wf.next_agents == ["join"]
    for a in ("left", "right"):
        attempts = wf.agents[a].attempts
        assert [x.agent_id for x in attempts] == [f"id-{a}-{r}" for r in range(3)]
        assert all(x.outcome == "completed" for x in attempts)
        assert wf.artifacts[f"{a}.json"].agent == a
    assert [mk.seq for mk in wf.marks] == list(range(1, wf.seq + 1))
    assert not (root / ".logs" / "cairn.log").exists()
