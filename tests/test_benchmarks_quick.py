"""The benchmark suite's quick mode runs end to end (it asserts nothing about time:
this only keeps `benchmarks/run.py` from rotting)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CASES = [
    "Stop hook, no workflow running",
    "Stop hook, a workflow running",
    "SessionStart, none resumable",
    "SessionStart, resumable, injecting context",
    "SubagentStop, 10 artifacts, schema check, fsync'd checkpoint",
    "cairn status --json",
    "validating artifacts (full hash)",
    "re-validating unchanged artifacts (stat cache)",
    "in-process checkpoint write + read",
]


def test_quick_suite_prints_every_case() -> None:
    p = subprocess.run([sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick"],
                       capture_output=True, text=True, timeout=180, check=False)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-4000:]
    rows = [line for line in p.stdout.splitlines() if line.startswith("| ")]
    for case in CASES:
        assert any(case in row for row in rows), f"no row for {case!r}:\n{p.stdout}"
    scale = [r for r in rows if r.startswith(("| 10 |", "| 100 |"))]
    assert len(scale) == 2, p.stdout
