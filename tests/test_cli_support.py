"""Shared helpers of the `test_cli_*` suites: a scripted set of workflows built at
frozen times (so dashboards and logs are byte-for-byte reproducible), the CLI run
in-process and as a real process, and golden-file comparison
(`CAIRN_UPDATE_GOLDEN=1 pytest` rewrites the golden files)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from cairn.cli import main
from cairn.manager import CheckpointManager
from cairn.status import Status

TESTS = Path(__file__).resolve().parent
GOLDEN = TESTS / "golden"
REPO = TESTS.parent
LIB = REPO / "lib"
ARTIFACTS = LIB / "cairn" / "data" / "examples"
T0 = datetime(2025, 3, 1, 9, 0, 0)
NOW = datetime(2025, 3, 3, 12, 0, 0)
SESSION_VARS = ("CLAUDE_CODE_SESSION_ID", "CLAUDE_PID", "CAIRN_LEASE_PID")


@pytest.fixture(autouse=True)
def no_claude_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run as in a terminal unless they say otherwise (a suite run inside Claude
    Code must not bind or lease anything). Autouse in every module that imports it."""
    for name in SESSION_VARS:
        monkeypatch.delenv(name, raising=False)


# The helpers below mirror conftest's: `from support import` is ambiguous when the
# e2e suite's conftest is collected in the same run.
def write_artifact(mgr: CheckpointManager, wid: str, stage: str, **overrides: object) -> Path:
    wf = mgr.load(wid)
    rel = wf.pipeline.stage(stage).artifacts[0].path
    data = json.loads((ARTIFACTS / Path(rel).name).read_text(encoding="utf-8"))
    data["workflow_id"] = wid
    data.update(overrides)
    dest = mgr.workflow_dir(wid) / rel
    dest.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return dest


def complete_stage(mgr: CheckpointManager, wid: str, stage: str) -> Path:
    path = write_artifact(mgr, wid, stage)
    mgr.record_completion(wid, stage)
    return path


def cli_env(extra: Mapping[str, str] | None = None, *, session: bool = False) -> dict[str, str]:
    """The environment of a `cairn` process: the isolated test environment, the library on
    the path, and no Claude Code session unless `extra` gives one."""
    env = {k: v for k, v in os.environ.items() if session or k not in SESSION_VARS}
    env["PYTHONPATH"] = str(LIB) + os.pathsep + os.environ.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def run_cairn(*args: str, timeout: float = 60, env: Mapping[str, str] | None = None,
              python: tuple[str, ...] = (sys.executable,)) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*python, "-m", "cairn", *args], capture_output=True, text=True,
                          env=cli_env(env), timeout=timeout, check=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code, out, err = run(capsys, *argv)
    assert out, err
    return code, json.loads(out)


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("CAIRN_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.is_file(), f"missing golden file {path}; run with CAIRN_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def db_rows(root: Path, sql: str, *params: object) -> list[tuple[Any, ...]]:
    """Rows of the project's real database, read with a separate connection."""
    db = sqlite3.connect(root / "cairn.db")
    try:
        return db.execute(sql, params).fetchall()
    finally:
        db.close()


class Clock:
    """Runs a block at successive frozen instants."""

    def __init__(self, start: datetime) -> None:
        self.now = start
        self._freezer = freeze_time(start)
        self._frozen: Any = None

    def __enter__(self) -> Clock:
        self._frozen = self._freezer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._freezer.stop()

    def tick(self, **kw: float) -> None:
        self.now += timedelta(**kw)
        self._frozen.move_to(self.now)


def stages_done(mgr: CheckpointManager, clock: Clock, wid: str, stages: list[str],
                minutes: float = 4) -> None:
    for stage in stages:
        mgr.record_start(wid, stage)
        clock.tick(minutes=minutes)
        complete_stage(mgr, wid, stage)
        clock.tick(seconds=30)


def build_fleet(mgr: CheckpointManager) -> dict[str, str]:
    """Six workflows, one per state of interest, at frozen times."""
    names = mgr.project_pipeline().names
    with Clock(T0) as clock:
        mgr.create("Add a --dry-run flag to the deploy command", workflow_id="wf-done")
        stages_done(mgr, clock, "wf-done", names, minutes=5)
        clock.tick(hours=3)
        mgr.create("Cancelled experiment", workflow_id="wf-cancelled")
        clock.tick(minutes=1)
        mgr.cancel("wf-cancelled", "not needed")
        clock.tick(hours=20)
        mgr.create("Migrate the | billing tables to\nthe new schema", workflow_id="wf-failed")
        stages_done(mgr, clock, "wf-failed", names[:1])
        mgr.record_start("wf-failed", names[1])
        clock.tick(minutes=7)
        mgr.record_failure("wf-failed", names[1], "API rate limit | retry after 60s")
        clock.tick(hours=2)
        mgr.create("Refactor the logging setup", workflow_id="wf-stale")
        stages_done(mgr, clock, "wf-stale", names[:2])
        mgr.record_start("wf-stale", names[2])
        clock.tick(minutes=3)
        mgr.workflows.set_status("wf-stale", Status.STALE, "no activity for 2 hours", "stale")
        clock.tick(hours=10)
        mgr.create("Speed up the test suite by running it in parallel workers "
                   "and caching fixtures between sessions", workflow_id="wf-paused")
        stages_done(mgr, clock, "wf-paused", names[:3])
        mgr.record_start("wf-paused", names[3])
        clock.tick(minutes=2)
        mgr.pause("wf-paused", "user closed the terminal")
        clock.tick(hours=3)
        mgr.create("Add OAuth login", workflow_id="wf-running")
        stages_done(mgr, clock, "wf-running", names[:4], minutes=6)
        mgr.record_start("wf-running", names[4])
        clock.tick(minutes=3)
        assert clock.now < NOW
    return {"done": "wf-done", "cancelled": "wf-cancelled", "failed": "wf-failed",
            "stale": "wf-stale", "paused": "wf-paused", "running": "wf-running"}
