"""Checkpoints written by autonomous-dev (format "2.0") are listed, loaded, resumed and
archived on the first write; malformed ones raise MigrationError."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cairn.errors import CairnError, MigrationError
from cairn.manager import CheckpointManager
from cairn.migrate import is_legacy, upgrade
from cairn.models import Checkpoint
from cairn.paths import CHECKPOINT_FILE, HISTORY_DIR
from cairn.pipeline import default_pipeline
from cairn.resumer import WorkflowResumer
from cairn.status import Status

LEGACY = Path(__file__).parent / "fixtures" / "legacy" / "checkpoint-v2.json"


def legacy() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(LEGACY.read_text())
    return data


@pytest.fixture
def placed(root: Path) -> tuple[str, Path]:
    data = legacy()
    wid = data["workflow_id"]
    wdir = root / wid
    wdir.mkdir()
    (wdir / CHECKPOINT_FILE).write_bytes(LEGACY.read_bytes())
    return wid, wdir


def test_fixture_is_format_two() -> None:
    data = legacy()
    assert data["version"] == "2.0" and is_legacy(data)
    assert data["completed_agents"] == ["orchestrator", "researcher", "planner"]
    assert data["current_agent"] == "test-master"


def test_legacy_workflow_is_listed_and_loaded(mgr: CheckpointManager, placed: tuple[str, Path]) -> None:
    wid, _ = placed
    rows = dict(mgr.list_workflows())
    assert wid in rows
    assert rows[wid]["status"] == "paused" and rows[wid]["completed"] == 3
    assert rows[wid]["next_agents"] == ["test-master"]
    cp = mgr.load(wid)
    assert cp.version == "3.0" and cp.status == Status.PAUSED
    assert cp.completed_agents == ["orchestrator", "researcher", "planner"]
    assert cp.current_agent == "test-master"
    assert cp.request == "Add rate limiting to the public API endpoints"
    assert cp.metadata == legacy()["metadata"]  # nothing lost
    assert cp.artifacts_created == legacy()["artifacts_created"]
    assert cp.created_at.tzinfo is not None
    assert cp.created_at.isoformat().startswith("2025-10-02T10:15:00.123456")


def test_legacy_workflow_resumes_with_test_master(mgr: CheckpointManager,
                                                  placed: tuple[str, Path]) -> None:
    wid, wdir = placed
    original = LEGACY.read_bytes()
    plan = WorkflowResumer(mgr).plan(wid)
    assert plan.can_resume and plan.next_agent == "test-master"
    assert plan.remaining_agents == default_pipeline().names[3:]
    cp = mgr.resume(wid)
    assert cp.status == Status.RUNNING
    archived = wdir / HISTORY_DIR / "original-checkpoint.json"
    assert archived.read_bytes() == original
    assert Checkpoint.model_validate_json((wdir / CHECKPOINT_FILE).read_bytes()).version == "3.0"
    # Later writes keep the archive as it was.
    mgr.pause(wid)
    assert archived.read_bytes() == original
    assert [h.seq for h in mgr.store.history(wid)] == [2, 3]


def test_validate_reports_legacy_artifact_paths(mgr: CheckpointManager, placed: tuple[str, Path]) -> None:
    wid, wdir = placed
    (wdir / "manifest.json").write_text("{}")
    report = WorkflowResumer(mgr).validate(wid)
    missing = sorted(p.path for p in report.problems if p.code == "artifact_missing")
    assert missing == sorted(legacy()["artifacts_created"][1:])


MALFORMED = [
    pytest.param({"workflow_id": None}, "workflow_id", id="no-id"),
    pytest.param({"created_at": "yesterday"}, "created_at", id="bad-time"),
    pytest.param({"created_at": 12}, "created_at", id="time-not-string"),
    pytest.param({"completed_agents": "planner"}, "completed_agents", id="agents-not-list"),
    pytest.param({"artifacts_created": [1, 2]}, "artifacts_created", id="artifacts-not-strings"),
    pytest.param({"metadata": ["x"]}, "metadata", id="metadata-not-object"),
    pytest.param({"current_agent": 7}, "current_agent", id="current-not-string"),
]


@pytest.mark.parametrize(("change", "field"), MALFORMED)
def test_malformed_legacy_raises_migration_error(change: dict[str, Any], field: str) -> None:
    with pytest.raises(MigrationError) as info:
        upgrade({**legacy(), **change}, default_pipeline())
    assert isinstance(info.value, CairnError)
    assert field in info.value.message and info.value.hint


def test_malformed_legacy_on_disk_is_reported(mgr: CheckpointManager, root: Path) -> None:
    wdir = root / "legacy-bad"
    wdir.mkdir()
    (wdir / CHECKPOINT_FILE).write_text(json.dumps({**legacy(), "workflow_id": "legacy-bad",
                                                    "created_at": "not a time"}))
    with pytest.raises(CairnError) as info:
        mgr.load("legacy-bad")
    assert "created_at" in str(info.value)


def test_upgrade_of_finished_legacy_is_completed() -> None:
    data = {**legacy(), "completed_agents": default_pipeline().names, "current_agent": None}
    out = upgrade(data, default_pipeline())
    assert out["status"] == "completed"
    Checkpoint.model_validate(out)


def test_upgrade_refuses_unknown_version() -> None:
    with pytest.raises(MigrationError):
        upgrade({**legacy(), "version": "9.9"}, default_pipeline())
