"""Typed seams: a misspelled call anywhere across the library's modules fails
`mypy --strict` (the reason the seams carry no `Any`)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SNIPPET = '''
from pathlib import Path

from cairn.hookio import Hook
from cairn.manager import CheckpointManager
from cairn.resumer import WorkflowResumer
from cairn.store.sqlite import SqliteStore
from cairn.workflow import Workflows


def misspelled(root: Path, hook: Hook) -> None:
    m = CheckpointManager(root)
    m.record_strat("wf", "planner")
    m.workflows.creat("request")
    m.workflows.mutat("wf")
    hook.manager().lod("wf")
    WorkflowResumer(m).plann("wf")
    with SqliteStore(root / "cairn.db").write() as tx:
        tx.add_mrk("wf", "x", None, None)
    Workflows(m.store).complete_stage("wf", "planner", records=[], agentid="a")
'''
EXPECTED = ["record_strat", "creat", "mutat", "lod", "plann", "add_mrk", "agentid"]


@pytest.mark.skipif(shutil.which("mypy") is None and not (Path(sys.executable).parent / "mypy").exists(),
                    reason="mypy is not installed (pip install -e '.[dev]')")
def test_misspelled_calls_fail_the_type_check(tmp_path: Path) -> None:
    probe = tmp_path / f"probe_{os.urandom(4).hex()}.py"  # a new module name: mypy's cache is keyed by it
    probe.write_text(SNIPPET)
    proc = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(probe)],
                          capture_output=True, text=True, timeout=300, cwd=REPO,
                          env={"MYPYPATH": str(REPO / "lib"), "PATH": "/usr/bin:/bin",
                               # .ci/env.sh keeps mypy's cache out of the plugin's folder
                               **{k: v for k, v in os.environ.items() if k == "MYPY_CACHE_DIR"}})
    errors = [line for line in proc.stdout.splitlines() if line.startswith(str(probe))]
    for name in EXPECTED:
        assert any(name in line for line in errors), (name, proc.stdout)
    assert proc.returncode == 1
