"""The server killed (SIGKILL) in the middle of a completion, then restarted: nothing
committed is lost, nothing is recorded twice. A real PostgreSQL cluster of this test's
own (it is killed), and a real worker process recording completions through the library.

The worker kills the server at a chosen moment of its own write (a fault point in
`cairn.workflow`): before COMMIT (the transaction dies with the server) or after it (the
commit was acknowledged, the projection not yet written). Its call then fails with
StoreUnreachable, as a hook's would; it waits for the server and records the same
completion again (as the offline replay does): the store's rule (one attempt per agent
id) makes the retry a no-op when the first one had committed."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import pgcluster
from cairn.manager import CheckpointManager
from support import LIB

WORKER = r"""
import os, signal, sys, time
from pathlib import Path
from cairn import workflow
from cairn.errors import StoreUnreachable
from cairn.manager import CheckpointManager

root, wid, point, pidfile = Path(sys.argv[1]), sys.argv[2], sys.argv[4], sys.argv[6]
n, at = int(sys.argv[3]), int(sys.argv[5])
hits = 0
def kill_server(name):
    global hits
    if name == point:
        hits += 1
        if hits == at:
            os.kill(int(Path(pidfile).read_text().split()[0]), signal.SIGKILL)
            print("killed", flush=True)
            if name == "before_commit":
                time.sleep(0.2)  # let the server die before COMMIT is sent
workflow.point = kill_server
m = CheckpointManager(root)
for i in range(n):
    while True:
        try:
            wf = m.record_completion(wid, "orchestrator", artifacts=[], agent_id=f"agent-{i}", check_schemas=False)
            print(f"ok {i} {wf.seq}", flush=True)
            break
        except StoreUnreachable as exc:
            print(f"unreachable {i}", flush=True)
            deadline = time.monotonic() + 60
            while not Path(str(pidfile) + ".back").exists() and time.monotonic() < deadline:
                time.sleep(0.01)
"""


@pytest.fixture
def own_server() -> Iterator[pgcluster.Cluster]:
    if pgcluster.binaries() is None:
        pytest.skip("no PostgreSQL server binaries (initdb): run .ci/install-postgres.sh")
    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")
    with pgcluster.cluster() as c:
        yield c


@pytest.mark.parametrize("point", ["before_commit", "after_commit"])
def test_a_server_killed_mid_completion_loses_nothing_committed_and_records_nothing_twice(
        own_server: pgcluster.Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str) -> None:
    project = tmp_path / "project"
    (project / ".claude" / "artifacts").mkdir(parents=True)
    monkeypatch.setenv("CAIRN_STORE", own_server.url)
    monkeypatch.setenv("CAIRN_PROJECT_KEY", "crash-test")
    root = project / ".claude" / "artifacts"
    m = CheckpointManager(root, project_dir=project)
    m.create("survive a crash", workflow_id="wf-c")
    m.store.close()
    n, at = 12, 5
    env = {**os.environ, "PYTHONPATH": str(LIB)}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, str(root), "wf-c", str(n), point, str(at),
                               str(own_server.data / "postmaster.pid")],
                              stdout=subprocess.PIPE, text=True, env=env, cwd=project)
    assert worker.stdout is not None
    lines: list[str] = []
    for line in worker.stdout:
        lines.append(line.strip())
        if line.startswith("killed"):
            own_server.restart()  # once the killed postmaster and its backends are gone
            Path(f"{own_server.data / 'postmaster.pid'}.back").touch()
    assert worker.wait(timeout=120) == 0
    assert "killed" in lines and any(x.startswith("unreachable") for x in lines), lines
    committed = {int(x.split()[1]): int(x.split()[2]) for x in lines if x.startswith("ok")}
    assert sorted(committed) == list(range(n))  # every completion the worker was told of

    wf = CheckpointManager(root, project_dir=project).load("wf-c")
    agents = [a.agent_id for a in wf.attempts]
    assert sorted(agents, key=lambda a: int(str(a).split("-")[1])) == [f"agent-{i}" for i in range(n)]  # once each
    assert [mk.seq for mk in wf.marks] == list(range(1, n + 2))  # no gap, no checkpoint twice
    assert all(wf.marks[seq - 1].type == "agent_completion" for seq in set(committed.values()))

