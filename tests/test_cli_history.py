"""`cairn history` and history.db: analytics, incremental sync, WAL, named migrations,
and a rebuild from the files equal to the database kept up to date live."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from cairn import history_db
from cairn.manager import CheckpointManager
from test_cli_support import build_fleet, complete_stage, run, run_json


def test_analytics_of_the_fleet(capsys: pytest.CaptureFixture[str], root: Path,
                                mgr: CheckpointManager) -> None:
    build_fleet(mgr)
    code, data = run_json(capsys, "--dir", str(root), "history", "--json")
    assert code == 0
    assert set(data) == {"database", "workflows", "checkpoints", "by_status", "resumes", "pauses",
                         "resumed_workflows", "resume_success_rate", "stages_interrupted",
                         "stages_failed", "stage_durations", "workflows_per_day", "rebuilt"}
    assert data["workflows"] == 6 and data["pauses"] == 1 and data["resumes"] == 0
    assert data["resume_success_rate"] is None
    assert data["stages_failed"] == [{"stage": "researcher", "count": 1}]
    assert {"stage": "test-master", "count": 1} in data["stages_interrupted"]
    durations = {r["stage"]: r for r in data["stage_durations"]}
    assert durations["orchestrator"]["runs"] == 5
    assert durations["doc-master"] == {"stage": "doc-master", "runs": 1, "average_seconds": 300.0}
    assert data["workflows_per_day"] == [{"day": "2025-03-03", "count": 1},
                                         {"day": "2025-03-02", "count": 3},
                                         {"day": "2025-03-01", "count": 2}]
    code, out, _ = run(capsys, "--dir", str(root), "history")
    assert code == 0 and "Most often failed: researcher (1)" in out and "Workflows per day" in out


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


def tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    return history_db.dump(path)


def test_rebuild_equals_live(capsys: pytest.CaptureFixture[str], root: Path, mgr: CheckpointManager,
                             stages: list[str], tmp_path: Path) -> None:
    live = history_db.db_path(root)
    mgr.create("one", workflow_id="wf-1")
    history_db.sync(root)
    complete_stage(mgr, "wf-1", stages[0])
    mgr.record_start("wf-1", stages[1])
    history_db.sync(root)
    mgr.record_failure("wf-1", stages[1], "boom")
    mgr.create("two", workflow_id="wf-2")
    history_db.sync(root)
    run(capsys, "--dir", str(root), "resume", "wf-1", "--retry")
    complete_stage(mgr, "wf-1", stages[1])
    mgr.delete("wf-2")
    mgr.create("two again", workflow_id="wf-2")  # same id, new workflow
    run_json(capsys, "--dir", str(root), "history", "--json")  # the live, incremental path
    copy = tmp_path / "rebuilt.db"
    history_db.rebuild(root, path=copy)
    assert tables(copy) == tables(live)
    assert len(tables(live)["checkpoints"]) == len(mgr.store.history("wf-1")) + 1
    code, data = run_json(capsys, "--dir", str(root), "history", "--rebuild", "--json")
    assert code == 0 and data["rebuilt"] is True
    assert tables(live) == tables(copy)


def test_database_is_wal_with_named_migrations(root: Path, mgr: CheckpointManager) -> None:
    mgr.create("x", workflow_id="wf-x")
    history_db.sync(root)
    db = sqlite3.connect(history_db.db_path(root))
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = [r[0] for r in db.execute("SELECT name FROM _migrations ORDER BY rowid")]
    finally:
        db.close()
    assert names == [name for name, _ in history_db.MIGRATIONS]
    assert names[0] == "m001_initial"
    db = history_db.connect(history_db.db_path(root))  # a second open applies nothing
    try:
        assert history_db.migrate(db) == []
    finally:
        db.close()


def test_sync_reads_only_what_changed(root: Path, mgr: CheckpointManager, stages: list[str]) -> None:
    mgr.create("x", workflow_id="wf-x")
    mgr.create("y", workflow_id="wf-y")
    assert history_db.sync(root) == {"workflows": 2, "checkpoints": 2}
    assert history_db.sync(root) == {"workflows": 0, "checkpoints": 0}
    complete_stage(mgr, "wf-x", stages[0])
    assert history_db.sync(root) == {"workflows": 1, "checkpoints": 1}
