"""`cairn history`: analytics computed from the project's database (the one source):
success rate with its counts (cancelled is not a failure), average completion time,
resumes and pauses, per-stage attempts, failures and durations."""

from __future__ import annotations

from pathlib import Path

import pytest

from cairn.manager import CheckpointManager
from test_cli_support import build_fleet, complete_stage, db_rows, no_claude_session, run, run_json

__all__ = ["no_claude_session"]  # autouse: every test here runs as in a terminal


def test_analytics_of_the_fleet(capsys: pytest.CaptureFixture[str], root: Path,
                                mgr: CheckpointManager) -> None:
    build_fleet(mgr)
    code, data = run_json(capsys, "--dir", str(root), "history", "--json")
    assert code == 0
    assert set(data) == {"database", "hosts", "workflows", "checkpoints", "by_status", "finished", "success_rate",
                         "average_completion_seconds", "resumes", "pauses", "resumed_workflows",
                         "resume_success_rate", "stages", "stages_interrupted", "stages_failed",
                         "stage_durations", "workflows_per_day", "tokens", "seconds", "saved",
                         "workflow_costs", "rebuilt"}
    assert data["database"] == str(root / "cairn.db")
    assert data["workflows"] == 6
    assert data["checkpoints"] == db_rows(root, "SELECT count(*) FROM marks")[0][0]
    assert data["by_status"] == {"running": 1, "paused": 1, "completed": 1, "failed": 1, "cancelled": 1,
                                 "stale": 1}
    assert data["finished"] == {"completed": 1, "failed": 1, "cancelled": 1}
    assert data["success_rate"] == 0.5  # 1 / (1 completed + 1 failed); the cancelled one does not count
    assert data["average_completion_seconds"] == 8 * (5 * 60 + 30) - 30
    assert data["pauses"] == 1 and data["resumes"] == 0 and data["resume_success_rate"] is None
    assert data["stages_failed"] == [{"stage": "researcher", "count": 1}]
    assert data["stages_interrupted"] == [{"stage": "planner", "count": 1},       # wf-stale
                                          {"stage": "test-master", "count": 1}]   # wf-paused
    stages = {s["stage"]: s for s in data["stages"]}
    assert list(stages) == mgr.project_pipeline().names[:len(stages)]  # pipeline order
    assert stages["orchestrator"] == {"stage": "orchestrator", "attempts": 5, "completed": 5, "failed": 0,
                                      "interrupted": 0, "skipped": 0, "invalidated": 0, "runs": 5,
                                      "average_seconds": (300 + 3 * 240 + 360) / 5, "tokens": 0,
                                      "seconds": 300 + 3 * 240 + 360}
    assert stages["researcher"]["attempts"] == 5 and stages["researcher"]["failed"] == 1
    # wf-done's completed one, and wf-running's, still running: not timed
    assert stages["implementer"]["attempts"] == 2 and stages["implementer"]["runs"] == 1
    durations = {r["stage"]: r for r in data["stage_durations"]}
    assert durations["doc-master"] == {"stage": "doc-master", "runs": 1, "average_seconds": 300.0}
    assert data["workflows_per_day"] == [{"day": "2025-03-03", "count": 1},
                                         {"day": "2025-03-02", "count": 3},
                                         {"day": "2025-03-01", "count": 2}]
    code, out, _ = run(capsys, "--dir", str(root), "history")
    assert code == 0 and "Most often failed: researcher (1)" in out and "Workflows per day" in out
    assert "Success rate: 50% (1 completed, 1 failed; 1 cancelled, not counted)" in out
    assert "Average completion time: 43m 30s" in out


def test_resumes_counted_and_success_rate(capsys: pytest.CaptureFixture[str], root: Path,
                                          mgr: CheckpointManager, stages: list[str]) -> None:
    mgr.create("resumed then completed", workflow_id="wf-a")
    complete_stage(mgr, "wf-a", stages[0])
    mgr.pause("wf-a")
    run(capsys, "--dir", str(root), "resume", "wf-a")
    for stage in stages[1:]:
        complete_stage(mgr, "wf-a", stage)
    mgr.create("resumed, still going", workflow_id="wf-b")
    complete_stage(mgr, "wf-b", stages[0])
    mgr.pause("wf-b")
    run(capsys, "--dir", str(root), "resume", "wf-b", "--set", "target=py311")
    code, data = run_json(capsys, "--dir", str(root), "history", "--json")
    assert code == 0
    assert data["resumes"] == 2 and data["pauses"] == 2 and data["resumed_workflows"] == 2
    assert data["resume_success_rate"] == 0.5
    # a session continuing a paused workflow through its hooks is a resume too
    mgr.pause("wf-b")
    mgr.record_start("wf-b", stages[1])
    _, data = run_json(capsys, "--dir", str(root), "history", "--json")
    assert data["resumes"] == 3 and data["pauses"] == 3 and data["resumed_workflows"] == 2


def test_cancelled_is_not_a_failure(capsys: pytest.CaptureFixture[str], root: Path,
                                    mgr: CheckpointManager, stages: list[str]) -> None:
    mgr.create("done", workflow_id="wf-ok")
    for stage in stages:
        complete_stage(mgr, "wf-ok", stage)
    for wid in ("wf-c1", "wf-c2"):
        mgr.create("dropped", workflow_id=wid)
        mgr.cancel(wid)
    _, data = run_json(capsys, "--dir", str(root), "history", "--json")
    assert data["finished"] == {"completed": 1, "failed": 0, "cancelled": 2}
    assert data["success_rate"] == 1.0
    # recorded at once (`cairn checkpoint` without a start): no duration to average
    assert data["stage_durations"] == [] and data["average_completion_seconds"] is not None


def test_rebuild_is_a_no_op_that_says_why(capsys: pytest.CaptureFixture[str], root: Path,
                                          mgr: CheckpointManager) -> None:
    mgr.create("x", workflow_id="wf-x")
    code, out, err = run(capsys, "--dir", str(root), "history", "--rebuild", "--json")
    assert code == 0 and "the database is the source" in err and "cairn doctor" in err
    assert '"rebuilt": false' in out
    assert not (root / "history.db").exists()


def test_empty_project(capsys: pytest.CaptureFixture[str], root: Path) -> None:
    code, data = run_json(capsys, "--dir", str(root), "history", "--json")
    assert code == 0 and data["workflows"] == 0 and data["success_rate"] is None
    assert not (root / "cairn.db").exists()  # reading creates nothing


def test_cleanup_removes_from_the_analytics(capsys: pytest.CaptureFixture[str], root: Path,
                                            mgr: CheckpointManager, stages: list[str]) -> None:
    mgr.create("old", workflow_id="wf-old")
    mgr.cancel("wf-old")
    mgr.create("kept", workflow_id="wf-kept")
    run(capsys, "--dir", str(root), "cleanup", "--older-than", "0d")
    _, data = run_json(capsys, "--dir", str(root), "history", "--json")
    assert data["workflows"] == 1 and data["finished"]["cancelled"] == 0
