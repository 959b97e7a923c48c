"""Crash consistency: a writer is SIGKILLed at random moments and at every armed fault
point (`cairn.faults`); after each kill the invariant of `faults/verify.py` holds.

Default run: >= 100 kills (random + every fault point at several depths) in well under
a minute. `python -m pytest -m slow tests/test_crash.py`: 1,000 random kills more."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn import faults
from cairn.file_lock import locked
from cairn.index import DIRTY_DIR, Index
from faults.verify import Tally, check, reported
from faults.writer import crash_pipeline, manager

WRITER = Path(__file__).resolve().parent / "faults" / "writer.py"
LIB = Path(__file__).resolve().parent.parent / "lib"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CAIRN_FAULT"}
    env["PYTHONPATH"] = str(LIB) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


class Zygote:
    """Drives `writer.py --zygote`: one fork per round, killed by us or by its fault."""

    def __init__(self, root: Path, wid: str, report: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(WRITER), str(root), wid, str(report), "--zygote"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=_env())
        assert self.proc.stdin and self.proc.stdout
        self.stdin, self.stdout = self.proc.stdin, self.proc.stdout

    def round(self, seed: int, *, delay: float | None = None, fault: str | None = None) -> int:
        """Start a writer; kill it after `delay` seconds (or let `fault` kill it).
        Returns its wait status."""
        self.stdin.write(f"run {seed} {fault or '-'}\n")
        self.stdin.flush()
        line = self.stdout.readline().split()
        assert line[:1] == ["pid"], line
        pid = int(line[1])
        if delay is not None:
            time.sleep(delay)
            os.kill(pid, signal.SIGKILL)  # a zombie at worst until the zygote reaps it: no pid reuse
        line = self.stdout.readline().split()
        assert line[:1] == ["exit"], line
        return int(line[1])

    def close(self) -> None:
        self.stdin.close()
        self.proc.wait(timeout=10)


def _new_workflow(root: Path, n: int) -> str:
    """A workflow (seq 1 committed, reported in `<root>/../report-<id>`)."""
    wid = f"crash-{n}"
    cp = manager(root).create("crash test", workflow_id=wid, pipeline=crash_pipeline())
    (root.parent / f"report-{wid}").write_text(f"{cp.seq}\n")
    return wid


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[Path, Tally]]:
    root = tmp_path / ".claude" / "artifacts"
    yield root, Tally()


def _random_kills(root: Path, tally: Tally, kills: int, *, per_workflow: int, seed: int) -> None:
    rng = random.Random(seed)
    n = 0
    while n < kills:
        wid = _new_workflow(root, n)
        report = root.parent / f"report-{wid}"
        tally.last_h = 0
        check(root, wid, reported(report), tally)
        z = Zygote(root, wid, report)
        try:
            for _ in range(min(per_workflow, kills - n)):
                # Mostly short delays (kills land inside the first writes, including the
                # roll-forward of the previous kill's leftovers), sometimes longer ones.
                delay = rng.uniform(0, 0.03) if rng.random() < 0.6 else rng.uniform(0.03, 0.25)
                status = z.round(rng.randrange(1 << 30), delay=delay)
                assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, status
                check(root, wid, reported(report), tally)
                n += 1
        finally:
            z.close()


def test_random_kills(rig: tuple[Path, Tally]) -> None:
    root, tally = rig
    _random_kills(root, tally, 80, per_workflow=40, seed=5)
    assert tally.kills == 80 + 2  # plus the check of each fresh workflow
    assert tally.in_flight_survived > 0  # kills did land inside writes


def test_every_fault_point_in_a_forked_writer(rig: tuple[Path, Tally]) -> None:
    """Each fault point, reached at its 1st..4th occurrence: the writer dies right there."""
    root, tally = rig
    wid = _new_workflow(root, 0)
    report = root.parent / f"report-{wid}"
    z = Zygote(root, wid, report)
    try:
        for i, point in enumerate(faults.POINTS):
            for depth in (1, 2, 3, 4):
                status = z.round(i * 10 + depth, fault=f"{point}:{depth}")
                assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (point, status)
                check(root, wid, reported(report), tally)
    finally:
        z.close()
    assert tally.kills == len(faults.POINTS) * 4
    assert tally.rolled_forward >= 4   # after_history_write left checkpoint.json one behind
    assert tally.index_repaired >= 4   # after_put/before_index/after_index_write left a dirty mark


@pytest.mark.parametrize("point", ["after_history_write", "before_replace", "before_index"])
def test_fault_env_var_in_a_fresh_process(rig: tuple[Path, Tally], point: str) -> None:
    """CAIRN_FAULT in the environment of a fresh interpreter (how a user would use it)."""
    root, tally = rig
    wid = _new_workflow(root, 0)
    report = root.parent / f"report-{wid}"
    proc = subprocess.run([sys.executable, str(WRITER), str(root), wid, str(report)],
                          env=_env(CAIRN_FAULT=f"{point}:3", CAIRN_WRITER_SEED="7"),
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    check(root, wid, reported(report), tally)
    # the next writer repairs and continues
    proc = subprocess.run([sys.executable, str(WRITER), str(root), wid, str(report)],
                          env=_env(CAIRN_WRITER_LIMIT="3"), capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check(root, wid, reported(report), tally)


def test_fault_points_cost_nothing_when_unarmed() -> None:
    faults.arm(None)
    start = time.perf_counter()
    for _ in range(100_000):
        faults.point("before_replace")
    assert time.perf_counter() - start < 0.5
    with pytest.raises(ValueError):
        faults.arm("no_such_point")


def test_index_repair_leaves_the_mark_of_a_writer_in_flight(rig: tuple[Path, Tally]) -> None:
    """A reader repairing the index must not clear the dirty mark of a workflow whose
    writer is between its checkpoint and its index update: were that writer killed
    then, nothing would ever repair the index again."""
    root, _ = rig
    wid = _new_workflow(root, 0)
    m = manager(root)
    with m.store.lock(wid, "test writer in flight"):
        m.index.mark_dirty(wid)
        Index(root).read()
        assert (root / DIRTY_DIR / wid).exists()
    Index(root).read()
    assert not (root / DIRTY_DIR / wid).exists()


def test_lock_on_missing_workflow_creates_nothing(rig: tuple[Path, Tally]) -> None:
    root, _ = rig
    _new_workflow(root, 0)
    from cairn.errors import WorkflowNotFound

    with pytest.raises(WorkflowNotFound):
        manager(root).touch("no-such-workflow")
    assert not (root / "no-such-workflow").exists()


@pytest.mark.slow
def test_thousand_random_kills(rig: tuple[Path, Tally]) -> None:
    root, tally = rig
    _random_kills(root, tally, 1000, per_workflow=50, seed=11)
    assert tally.kills == 1000 + 20


def test_lock_holder_killed_releases_lock(tmp_path: Path) -> None:
    """flock is released by the kernel when its holder is SIGKILLed."""
    lock = tmp_path / "x.lock"
    code = (f"import sys,time;sys.path.insert(0,{str(LIB)!r});from cairn.file_lock import locked\n"
            f"from pathlib import Path\nwith locked(Path({str(lock)!r})):\n"
            "    print('held',flush=True);time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout and proc.stdout.readline().strip() == "held"
    proc.kill()
    proc.wait()
    with locked(lock, timeout=2):
        pass
