"""CheckpointManager, the library's face: creating workflows, recording starts,
completions and failures, artifact hashing and schema checks, status changes, attempts,
progress, listings, and what it says when it repairs or imports."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from freezegun import freeze_time

from cairn.errors import (
    ArtifactError,
    ConfinementError,
    IllegalTransition,
    NotResumable,
    UnknownAgent,
    UsageError,
    WorkflowExists,
    WorkflowNotFound,
)
from cairn.manager import CheckpointManager
from cairn.model import Workflow
from cairn.operations import Operation
from cairn.pipeline import Pipeline
from cairn.resumer import WorkflowResumer
from cairn.status import Status
from cairn.workflow import MAX_REQUEST

Write = Callable[..., Path]


def resume(m: CheckpointManager, wid: str, session_id: str | None = None) -> Workflow:
    """What `cairn resume ID` does to the workflow: back to running, in one checkpoint."""
    return m.apply(wid, Operation().change, "resume", session_id=session_id)


def ids(m: CheckpointManager) -> list[str]:
    return [s.workflow_id for s in m.list_workflows(include_finished=True)]


# ---------------------------------------------------------------- create


def test_create_generates_a_dated_id(mgr: CheckpointManager) -> None:
    with freeze_time("2026-03-04 05:06:07"):
        cp = mgr.create("  add a flag  ")
    assert re.fullmatch(r"wf-20260304-050607-[0-9a-f]{6}", cp.workflow_id)
    assert cp.request == "add a flag"
    assert cp.status == Status.PENDING and cp.seq == 1
    assert cp.created_at == datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    assert mgr.load(cp.workflow_id) == cp
    assert ids(mgr) == [cp.workflow_id]


def test_generated_ids_are_unique(mgr: CheckpointManager) -> None:
    with freeze_time("2026-03-04 05:06:07"):
        ids = {mgr.create(f"r{i}").workflow_id for i in range(5)}
    assert len(ids) == 5


def test_create_with_custom_id_and_duplicate(mgr: CheckpointManager) -> None:
    cp = mgr.create("x", workflow_id="feature-42")
    assert cp.workflow_id == "feature-42"
    with pytest.raises(WorkflowExists):
        mgr.create("y", workflow_id="feature-42")
    assert mgr.load("feature-42").request == "x"


@pytest.mark.parametrize("wid", ["../up", "a/b", ".dot", "x" * 200])
def test_create_refuses_invalid_ids(mgr: CheckpointManager, root: Path, wid: str) -> None:
    with pytest.raises(ConfinementError):
        mgr.create("x", workflow_id=wid)
    assert ids(mgr) == []


@pytest.mark.parametrize("request_text", ["", "   ", "\n\t"])
def test_create_refuses_empty_request(mgr: CheckpointManager, request_text: str) -> None:
    with pytest.raises(UsageError) as info:
        mgr.create(request_text)
    assert "empty" in info.value.message and info.value.hint
    assert ids(mgr) == []


def test_create_refuses_oversized_request(mgr: CheckpointManager) -> None:
    mgr.create("x" * MAX_REQUEST, workflow_id="max")
    with pytest.raises(UsageError):
        mgr.create("x" * (MAX_REQUEST + 1))


def test_unknown_workflow(mgr: CheckpointManager) -> None:
    with pytest.raises(WorkflowNotFound) as info:
        mgr.pause("wf-nope")
    assert info.value.hint


# ---------------------------------------------------------------- start / completion / failure


def test_record_start_makes_running_and_opens_attempt(mgr: CheckpointManager) -> None:
    wid = mgr.create("go").workflow_id
    cp = mgr.record_start(wid, "orchestrator", agent_id="a-1", session_id="s-1")
    assert cp.status == Status.RUNNING and cp.current_agent == "orchestrator"
    att = cp.agents["orchestrator"].last
    assert att is not None and att.outcome == "running" and att.number == 1
    assert att.agent_id == "a-1" and att.session_id == "s-1"
    assert [s.session_id for s in cp.sessions] == ["s-1"]
    with pytest.raises(UnknownAgent) as info:
        mgr.record_start(wid, "ghost")
    assert "orchestrator" in (info.value.hint or "")


def test_completion_hashes_artifacts(mgr: CheckpointManager, write: Write) -> None:
    wid = mgr.create("go").workflow_id
    path = write(mgr, wid, "orchestrator")
    cp = mgr.record_completion(wid, "orchestrator")
    rec = cp.artifacts["manifest.json"]
    data = path.read_bytes()
    assert rec.sha256 == hashlib.sha256(data).hexdigest()
    assert rec.size == len(data) and rec.agent == "orchestrator"
    assert rec.schema == "manifest.schema.json" and rec.check == "ok"
    assert rec.inode == path.stat().st_ino and rec.mtime == path.stat().st_mtime
    assert cp.completed_agents == ["orchestrator"] and cp.artifacts_created == ["manifest.json"]
    assert cp.status == Status.RUNNING
    att = cp.agents["orchestrator"].last
    assert att is not None and att.outcome == "completed" and att.ended_at is not None


def test_completion_with_absolute_artifact_path_inside(mgr: CheckpointManager, write: Write) -> None:
    wid = mgr.create("go").workflow_id
    path = write(mgr, wid, "orchestrator")
    cp = mgr.record_completion(wid, "orchestrator", artifacts=[str(path)])
    assert list(cp.artifacts) == ["manifest.json"]


def test_completion_with_schema_invalid_artifact(mgr: CheckpointManager, write: Write) -> None:
    wid = mgr.create("go").workflow_id
    write(mgr, wid, "orchestrator", stages="not-a-list")
    with pytest.raises(ArtifactError) as info:
        mgr.record_completion(wid, "orchestrator")
    msg = str(info.value)
    assert "manifest.json" in msg and "stages" in msg and "array" in msg
    assert info.value.hint
    cp = mgr.load(wid)
    assert cp.completed_agents == [] and cp.artifacts == {} and cp.seq == 1
    # Skipping the schema check records it anyway.
    assert mgr.record_completion(wid, "orchestrator", check_schemas=False).completed_agents == [
        "orchestrator"]


def test_completion_with_non_json_artifact(mgr: CheckpointManager) -> None:
    wid = mgr.create("go").workflow_id
    (mgr.workflow_dir(wid) / "manifest.json").write_text("{not json")
    with pytest.raises(ArtifactError) as info:
        mgr.record_completion(wid, "orchestrator")
    assert "manifest.json" in str(info.value) and "not valid JSON" in str(info.value)


def test_completion_with_missing_artifact(mgr: CheckpointManager) -> None:
    wid = mgr.create("go").workflow_id
    with pytest.raises(ArtifactError) as info:
        mgr.record_completion(wid, "orchestrator")
    assert "manifest.json" in str(info.value) and "does not exist" in str(info.value)
    with pytest.raises(ArtifactError) as info2:
        mgr.record_completion(wid, "orchestrator", check_schemas=False)
    assert info2.value.path == str(mgr.workflow_dir(wid)) and "manifest.json" in info2.value.message
    assert mgr.load(wid).completed_agents == []


def test_all_stages_done_completes(mgr: CheckpointManager, complete: Callable[..., Path],
                                   stages: list[str]) -> None:
    wid = mgr.create("everything").workflow_id
    for name in stages:
        assert mgr.load(wid).status != Status.COMPLETED
        complete(mgr, wid, name)
    cp = mgr.load(wid)
    assert cp.status == Status.COMPLETED and cp.completed_agents == stages
    assert len(cp.artifacts) == len(stages)
    assert [m.seq for m in cp.marks] == list(range(1, len(stages) + 2))
    with pytest.raises((IllegalTransition, NotResumable)):
        resume(mgr, wid)
    with pytest.raises(NotResumable):
        mgr.record_start(wid, "orchestrator")
    assert mgr.list_workflows() == []
    assert ids(mgr) == [wid]


def test_failure_then_retry_counts_attempts(mgr: CheckpointManager, write: Write) -> None:
    wid = mgr.create("go").workflow_id
    mgr.record_start(wid, "orchestrator")
    cp = mgr.record_failure(wid, "orchestrator", "model overloaded")
    assert cp.status == Status.FAILED and "model overloaded" in (cp.status_reason or "")
    assert cp.current_agent is None
    state = cp.agents["orchestrator"]
    assert [a.outcome for a in state.attempts] == ["failed"] and state.retry_count == 0
    assert state.attempts[0].error == "model overloaded"
    cp = mgr.record_start(wid, "orchestrator")  # a failed workflow resumes on a new start
    assert cp.status == Status.RUNNING
    mgr.record_failure(wid, "orchestrator", "again")
    resume(mgr, wid)
    mgr.record_start(wid, "orchestrator")
    write(mgr, wid, "orchestrator")
    cp = mgr.record_completion(wid, "orchestrator")
    state = cp.agents["orchestrator"]
    assert [a.number for a in state.attempts] == [1, 2, 3]
    assert [a.outcome for a in state.attempts] == ["failed", "failed", "completed"]
    assert state.retry_count == 2


def test_new_start_interrupts_open_attempt(mgr: CheckpointManager) -> None:
    wid = mgr.create("go").workflow_id
    mgr.record_start(wid, "orchestrator")
    cp = mgr.record_start(wid, "orchestrator")
    assert [a.outcome for a in cp.agents["orchestrator"].attempts] == ["interrupted", "running"]


def test_pause_interrupts_running_attempt_and_resume(mgr: CheckpointManager) -> None:
    wid = mgr.create("go").workflow_id
    mgr.record_start(wid, "orchestrator")
    cp = mgr.pause(wid, "laptop closed")
    assert cp.status == Status.PAUSED and cp.status_reason == "laptop closed"
    att = cp.agents["orchestrator"].last
    assert att is not None and att.outcome == "interrupted" and att.ended_at is not None
    assert att.error == "laptop closed" and cp.current_agent is None
    assert WorkflowResumer(mgr).plan(wid).interrupted == ["orchestrator"]
    cp = resume(mgr, wid, session_id="s-2")
    assert cp.status == Status.RUNNING and cp.status_reason is None
    assert cp.sessions[-1].session_id == "s-2" and cp.sessions[-1].source == "resume"
    with mgr.store.read() as r:
        assert r.binding("s-2") == wid  # `cairn resume` in a session binds it
    actions = [a.action for a in cp.audit]
    assert "status:running->paused" in actions and "status:paused->running" in actions


def test_cancel_is_final(mgr: CheckpointManager) -> None:
    wid = mgr.create("go").workflow_id
    cp = mgr.cancel(wid)
    assert cp.status == Status.CANCELLED
    for action in (lambda w: resume(mgr, w), mgr.pause, mgr.cancel):
        with pytest.raises((IllegalTransition, NotResumable)):
            action(wid)
    with pytest.raises(NotResumable):
        mgr.record_start(wid, "orchestrator")
    assert mgr.load(wid).seq == 2


def test_pause_of_pending_is_legal_in_core_v2(mgr: CheckpointManager) -> None:
    wid = mgr.create("go").workflow_id
    assert mgr.pause(wid).status == Status.PAUSED
    assert [s.workflow_id for s in mgr.resumable()] == [wid]


def test_progress_uses_the_workflows_own_pipeline(mgr: CheckpointManager, tiny: Pipeline,
                                                  complete: Callable[..., Path]) -> None:
    wid = mgr.create("small", pipeline=tiny).workflow_id
    resumer = WorkflowResumer(mgr)
    seen = []
    for name in tiny.names:
        plan = resumer.plan(wid)
        seen.append((plan.progress.completed, plan.progress.total, plan.progress.percent))
        complete(mgr, wid, name)
    plan = resumer.plan(wid)
    seen.append((plan.progress.completed, plan.progress.total, plan.progress.percent))
    assert seen == [(0, 3, 0), (1, 3, 33), (2, 3, 67), (3, 3, 100)]
    assert mgr.load(wid).status == Status.COMPLETED
    [summary] = mgr.list_workflows(include_finished=True)
    assert (summary.completed, summary.total, summary.status) == (3, 3, Status.COMPLETED)
    with pytest.raises(UnknownAgent):
        mgr.record_start(wid, "reviewer")


def test_project_config_pipeline_is_used(project: Path, root: Path) -> None:
    (project / ".claude" / "cairn.yaml").write_text(
        "pipeline:\n  remove: [security-auditor]\nsettings:\n  context_bytes: 1500\n")
    m = CheckpointManager(root)
    assert m.project_dir == project and m.settings.context_bytes == 1500
    cp = m.create("configured")
    assert "security-auditor" not in [s.name for s in cp.pipeline.stages]
    assert len(cp.pipeline.stages) == 7


def test_snapshot_pins_the_pipeline(project: Path, root: Path, complete: Callable[..., Path]) -> None:
    m = CheckpointManager(root)
    wid = m.create("pinned").workflow_id
    (project / ".claude" / "cairn.yaml").write_text("pipeline:\n  remove: [researcher]\n")
    m2 = CheckpointManager(root)
    complete(m2, wid, "orchestrator")
    assert WorkflowResumer(m2).plan(wid).next_agent == "researcher"


def test_delete(mgr: CheckpointManager, root: Path) -> None:
    wid = mgr.create("gone").workflow_id
    (root / wid / "notes.txt").write_text("an agent's file")
    mgr.delete(wid)
    assert ids(mgr) == [] and not (root / wid).exists()
    assert not [p for p in root.iterdir() if p.name.startswith(".deleting-")]
    with pytest.raises(WorkflowNotFound):
        mgr.load(wid)
    with pytest.raises(WorkflowNotFound):
        mgr.delete(wid)


def test_latest_id_prefers_most_recent_activity(mgr: CheckpointManager) -> None:
    with pytest.raises(NotResumable):
        mgr.latest_id()
    with freeze_time("2026-01-01 10:00:00"):
        a = mgr.create("a", workflow_id="a").workflow_id
        mgr.record_start(a, "orchestrator")
    with freeze_time("2026-01-01 11:00:00"):
        b = mgr.create("b", workflow_id="b").workflow_id
        mgr.record_start(b, "orchestrator")
    assert mgr.latest_id() == b
    with freeze_time("2026-01-01 12:00:00"):
        mgr.pause(a)
    assert mgr.latest_id() == a
    mgr.cancel(a)
    assert mgr.latest_id() == b


def test_nothing_is_created_by_reading_an_empty_project(tmp_path: Path) -> None:
    root = tmp_path / "p" / ".claude" / "artifacts"
    m = CheckpointManager(root)
    assert not m.exists() and m.list_workflows() == [] and m.resumable() == []
    with pytest.raises(WorkflowNotFound):
        m.load("wf-none")
    assert not root.exists()


def test_summaries_agree_with_the_workflows(mgr: CheckpointManager, complete: Callable[..., Path]) -> None:
    a = mgr.create("a", workflow_id="wf-a").workflow_id
    complete(mgr, a, "orchestrator")
    mgr.record_start(a, "researcher")
    b = mgr.create("b", workflow_id="wf-b").workflow_id
    complete(mgr, b, "orchestrator")
    op = Operation(rerun_from="orchestrator")
    mgr.apply(b, op.change, op.name())
    for s in mgr.list_workflows(include_finished=True):
        wf = mgr.load(s.workflow_id)
        assert (list(s.done), list(s.running), s.seq, s.status) == (wf.done, wf.running_agents, wf.seq, wf.status)
        assert s.next_agents == wf.pipeline.ready(wf.done) and s.last_activity == wf.last_activity


def test_record_completion_checks_only_what_it_records(mgr: CheckpointManager, write: Write) -> None:
    """`artifacts` names the files to record; a stage's other artifacts are not required."""
    wid = mgr.create("go").workflow_id
    (mgr.workflow_dir(wid) / "extra.txt").write_text("notes")
    wf = mgr.record_completion(wid, "orchestrator", artifacts=["extra.txt"], check_schemas=False)
    assert list(wf.artifacts) == ["extra.txt"] and wf.artifacts["extra.txt"].check == "none"


def test_notes_say_what_was_imported(root: Path) -> None:
    import json

    LEGACY_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "legacy"  # not from conftest (ambiguous)

    (root / "legacy-20251002-101500").mkdir()
    (root / "legacy-20251002-101500" / "checkpoint.json").write_bytes(
        (LEGACY_FIXTURES / "checkpoint-v2.json").read_bytes())
    (root / "wf-bad").mkdir()
    (root / "wf-bad" / "checkpoint.json").write_text(json.dumps({"version": "7.0", "workflow_id": "wf-bad"}))
    m = CheckpointManager(root)
    assert ids(m) == ["legacy-20251002-101500"]
    assert m.notes[0].startswith("imported 1 workflow(s)")
    assert any(n.startswith("not imported") and "wf-bad" in n and "7.0" in n for n in m.notes)
