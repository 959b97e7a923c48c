"""Crash consistency: a writer making real changes is SIGKILLed at random moments and at
every fault point of `cairn.faults`; after each kill the invariant of `faults/verify.py`
holds (the database is consistent, nothing committed is lost, the projection is current
or repaired by the next load).

Default run: 100 random kills and every fault point at four depths. `python -m pytest -m
slow tests/test_crash.py`: 1,000 random kills more."""

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
        """Start a writer; SIGKILL it `delay` seconds after it started (a random moment of
        its work), or let `fault` kill it. Returns its wait status."""
        self.stdin.write(f"run {seed} {fault or '-'}\n")
        self.stdin.flush()
        line = self.stdout.readline().split()
        assert line[:1] == ["pid"], line
        pid = int(line[1])
        if delay is not None:
            time.sleep(delay)  # the kill moment itself, not a synchronisation
            os.kill(pid, signal.SIGKILL)  # a zombie at worst until the zygote reaps it: no pid reuse
        line = self.stdout.readline().split()
        assert line[:1] == ["exit"], line
        return int(line[1])

    def close(self) -> None:
        self.stdin.close()
        self.proc.wait(timeout=30)


def _new_workflow(root: Path, n: int) -> tuple[str, Path]:
    """A workflow whose creation (seq 1) is reported."""
    wid = f"crash-{n}"
    wf = manager(root).create("crash test", workflow_id=wid, pipeline=crash_pipeline())
    report = root.parent / f"report-{wid}"
    report.write_text(f"{wf.seq} create -\n")
    return wid, report


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / ".claude" / "artifacts"


def _killed(status: int) -> bool:
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def _random_kills(root: Path, tally: Tally, kills: int, *, per_workflow: int, seed: int) -> None:
    rng = random.Random(seed)
    n = 0
    while n < kills:
        wid, report = _new_workflow(root, n)
        tally.last_h = 0
        check(root, wid, report, tally)
        z = Zygote(root, wid, report)
        try:
            for _ in range(min(per_workflow, kills - n)):
                # mostly short delays (kills land in the first writes, on a fresh connection,
                # on the repair of the previous kill's projection), sometimes longer ones
                delay = rng.uniform(0, 0.03) if rng.random() < 0.6 else rng.uniform(0.03, 0.2)
                status = z.round(rng.randrange(1 << 30), delay=delay)
                assert _killed(status), status
                check(root, wid, report, tally)
                n += 1
        finally:
            z.close()


def test_random_kills(root: Path) -> None:
    tally = Tally()
    _random_kills(root, tally, 100, per_workflow=25, seed=5)
    print(f"\n100 random kills: {tally.in_flight_survived} committed but unreported, "
          f"{tally.projection_behind} projections behind and repaired")
    assert tally.kills == 100 + 4  # plus the check of each fresh workflow
    assert tally.in_flight_survived + tally.projection_behind > 0  # kills did land inside writes


def test_every_fault_point_in_a_forked_writer(root: Path) -> None:
    """Each fault point, reached at its 1st..4th occurrence: the writer dies right there."""
    tally = Tally()
    wid, report = _new_workflow(root, 0)
    z = Zygote(root, wid, report)
    by_point: dict[str, tuple[int, int]] = {}
    try:
        for i, point in enumerate(faults.POINTS):
            before = (tally.in_flight_survived, tally.projection_behind)
            for depth in (1, 2, 3, 4):
                status = z.round(i * 10 + depth, fault=f"{point}:{depth}")
                assert _killed(status), (point, status)
                check(root, wid, report, tally)
            by_point[point] = (tally.in_flight_survived - before[0], tally.projection_behind - before[1])
    finally:
        z.close()
    assert tally.kills == len(faults.POINTS) * 4
    assert by_point["before_commit"] == (0, 0)  # rolled back: nothing committed, nothing to repair
    for point in ("after_commit", "before_projection", "before_replace"):
        assert by_point[point] == (4, 4), (point, by_point[point])  # committed, unreported, file behind
    assert by_point["after_projection"] == (4, 0)  # committed and projected, not reported


@pytest.mark.parametrize("point", ["before_commit", "after_commit", "before_replace"])
def test_fault_env_var_in_a_fresh_process(root: Path, point: str) -> None:
    """CAIRN_FAULT in the environment of a fresh interpreter (how a person would use it)."""
    tally = Tally()
    wid, report = _new_workflow(root, 0)
    check(root, wid, report, tally)
    proc = subprocess.run([sys.executable, str(WRITER), str(root), wid, str(report)],
                          env=_env(CAIRN_FAULT=f"{point}:3", CAIRN_WRITER_SEED="7"),
                          capture_output=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    check(root, wid, report, tally)
    # the next writer carries on from there
    proc = subprocess.run([sys.executable, str(WRITER), str(root), wid, str(report)],
                          env=_env(CAIRN_WRITER_LIMIT="3", CAIRN_WRITER_SEED="8"), capture_output=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check(root, wid, report, tally)
    assert len(reported(report)) >= 4


def test_a_kill_during_the_first_import_leaves_nothing_half_done(tmp_path: Path) -> None:
    """The import of older formats runs in the transaction that creates the tables: killed
    in the middle, the next open imports again, as if nothing had happened."""
    import json

    LEGACY_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "legacy"  # not from conftest (ambiguous)

    root = tmp_path / ".claude" / "artifacts"
    root.mkdir(parents=True)
    legacy = json.loads((LEGACY_FIXTURES / "checkpoint-v2.json").read_text())
    for i in range(30):
        wid = f"legacy-{i:02d}"
        (root / wid).mkdir()
        (root / wid / "checkpoint.json").write_text(json.dumps({**legacy, "workflow_id": wid}))
    code = ("import sys, os, signal\nsys.path.insert(0, sys.argv[2])\n"
            "import cairn.store.importer as imp\nreal = imp.import_record\ncount = [0]\n"
            "def dying(*a, **k):\n    count[0] += 1\n    if count[0] == 15:\n"
            "        os.kill(os.getpid(), signal.SIGKILL)\n    return real(*a, **k)\n"
            "imp.import_record = dying\nfrom cairn.project import open_store\nfrom pathlib import Path\n"
            "open_store(Path(sys.argv[1]))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(root), str(LIB)], capture_output=True, timeout=120,
                          check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert (root / "cairn.db").exists()  # created, its import not committed
    m = manager(root)
    rows = m.list_workflows(include_finished=True)
    assert sorted(s.workflow_id for s in rows) == [f"legacy-{i:02d}" for i in range(30)]
    assert m.notes and "imported 30 workflow(s)" in m.notes[0]


def test_fault_points_cost_nothing_when_unarmed() -> None:
    faults.arm(None)
    start = time.perf_counter()
    for _ in range(100_000):
        faults.point("before_replace")
    assert time.perf_counter() - start < 0.5
    with pytest.raises(ValueError):
        faults.arm("no_such_point")
    assert set(faults.POINTS) == {"before_commit", "after_commit", "before_projection", "before_replace",
                                  "after_projection"}


@pytest.mark.slow
def test_thousand_random_kills(root: Path) -> None:
    tally = Tally()
    _random_kills(root, tally, 1000, per_workflow=50, seed=11)
    assert tally.kills == 1000 + 20
