"""The benchmark suite's quick mode runs end to end (it asserts nothing about time:
this only keeps `benchmarks/run.py` from rotting). Every case must print a row, with a
figure or with the reason it did not run (e.g. the LangGraph peer not installed)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("cairn_bench_run", REPO / "benchmarks" / "run.py")
assert _spec is not None and _spec.loader is not None
_bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _bench  # dataclasses look their module up while it loads
_spec.loader.exec_module(_bench)
CASES: list[str] = _bench.CASES


def test_quick_suite_prints_every_case() -> None:
    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick"],
                       capture_output=True, text=True, timeout=180, check=False)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    rows = [line for line in p.stdout.splitlines() if line.startswith("| ")]
    for case in CASES:
        assert any(case in row for row in rows), f"no row for {case!r}:\n{p.stdout}"
    scale = [r for r in rows if r.startswith(("| 10 |", "| 100 |"))]
    assert len(scale) == 2, p.stdout
    assert "no Python started (checked)" in p.stdout, p.stdout


def test_shared_store_quick_suite_runs_on_both_backends() -> None:
    """benchmarks/postgres.py --quick: every case on SQLite and on a real local server, and
    the concurrent completions all recorded (its exit code says none was lost)."""
    import pytest

    import pgcluster

    pytest.importorskip("psycopg", reason="psycopg is not installed: pip install -e '.[postgres]'")
    if pgcluster.binaries() is None:
        pytest.skip("no PostgreSQL server binaries (initdb): run .ci/install-postgres.sh")
    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "postgres.py"), "--quick"],
                       capture_output=True, text=True, timeout=300, check=False)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    rows = [line for line in p.stdout.splitlines() if line.startswith("| ") and not line.startswith("| case")]
    assert [row.split(" | ")[0] for row in rows] == ["| checkpoint write + read", "| SessionStart injecting a context",
                                                     "| 8 processes × 5 completions on one workflow"], p.stdout
    assert rows[2].count("40 of 40 recorded, none lost") == 2, p.stdout
