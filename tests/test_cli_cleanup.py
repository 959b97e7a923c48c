"""`cairn cleanup`: retention by age and status, dry run, never a running workflow."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from cairn.cmd.cleanup import folder_size, parse_age
from cairn.manager import CheckpointManager
from test_cli_support import NOW, build_fleet, db_rows, no_claude_session, run, run_json

__all__ = ["no_claude_session"]  # autouse: every test here runs as in a terminal


@pytest.fixture
def fleet(mgr: CheckpointManager) -> dict[str, str]:
    return build_fleet(mgr)


def test_dry_run_removes_nothing(capsys: pytest.CaptureFixture[str], root: Path,
                                 fleet: dict[str, str]) -> None:
    size = folder_size(root / "wf-done") + folder_size(root / "wf-cancelled")
    with freeze_time(NOW + timedelta(days=30)):
        code, data = run_json(capsys, "--dir", str(root), "cleanup", "--dry-run", "--json")
    assert code == 0 and data["dry_run"] is True
    assert {e["workflow_id"] for e in data["removed"]} == {"wf-done", "wf-cancelled"}
    assert data["bytes_freed"] == size > 0
    assert (root / "wf-done").is_dir() and (root / "wf-cancelled").is_dir()
    assert len(db_rows(root, "SELECT id FROM workflows")) == 6


def test_removes_old_finished_and_reports_space(capsys: pytest.CaptureFixture[str], root: Path,
                                                fleet: dict[str, str]) -> None:
    with freeze_time(NOW):  # wf-done is 2 days old, wf-cancelled 2 days too; 7d keeps both
        code, out, _ = run(capsys, "--dir", str(root), "cleanup")
    assert code == 0 and "Removed 0 workflow(s)" in out
    with freeze_time(NOW):
        code, out, _ = run(capsys, "--dir", str(root), "cleanup", "--older-than", "1d",
                           "--status", "completed")
    assert code == 0 and "removed wf-done" in out and "freed" in out
    assert not (root / "wf-done").exists() and (root / "wf-cancelled").is_dir()
    code, rows = run_json(capsys, "--dir", str(root), "list", "--all", "--json")
    assert "wf-done" not in {r["workflow_id"] for r in rows}
    # its facts are gone from the database, every table (foreign keys cascade)
    assert db_rows(root, "SELECT count(*) FROM workflows WHERE id = 'wf-done'") == [(0,)]
    assert db_rows(root, "SELECT count(*) FROM marks WHERE workflow_id = 'wf-done'") == [(0,)]
    assert db_rows(root, "SELECT count(*) FROM attempts WHERE workflow_id = 'wf-done'") == [(0,)]
    assert not any(p.name.startswith(".deleting-") for p in root.iterdir())


def test_never_touches_running(capsys: pytest.CaptureFixture[str], root: Path,
                               fleet: dict[str, str]) -> None:
    code, _, err = run(capsys, "--dir", str(root), "cleanup", "--status", "running,completed")
    assert code == 2 and "never removes running" in err
    with freeze_time(NOW + timedelta(days=365)):
        code, data = run_json(capsys, "--dir", str(root), "cleanup", "--older-than", "0d", "--status",
                              "completed,cancelled,failed,paused,stale,pending", "--json")
    assert code == 0
    assert {e["workflow_id"] for e in data["removed"]} == {
        "wf-done", "wf-cancelled", "wf-failed", "wf-paused", "wf-stale"}
    assert (root / "wf-running" / "checkpoint.json").is_file()
    assert [r[0] for r in db_rows(root, "SELECT id FROM workflows")] == ["wf-running"]


@pytest.mark.parametrize("bad", ["7", "d", "7y", "-1d", ""])
def test_bad_age_is_a_usage_error(capsys: pytest.CaptureFixture[str], root: Path, bad: str) -> None:
    code, _, err = run(capsys, "--dir", str(root), "cleanup", "--older-than", bad)
    assert code == 2 and "fix:" in err


def test_parse_age() -> None:
    assert parse_age("30m") == timedelta(minutes=30)
    assert parse_age("2w") == timedelta(days=14)
