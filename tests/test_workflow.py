"""`cairn.workflow.Workflows`: every transition, the computed views, the projection
written after each commit, and leases. Real SQLite databases under tmp_path, real
artifacts, real processes for lease holders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cairn import lease as leases
from cairn.errors import (
    ArtifactError,
    IllegalTransition,
    LeaseHeld,
    NotResumable,
    UnknownAgent,
    UsageError,
    WorkflowNotFound,
)
from cairn.manager import CheckpointManager
from cairn.model import LeaseRecord, Workflow, utcnow
from cairn.operations import Operation, parse_params
from cairn.pipeline import Pipeline
from cairn.resumer import WorkflowResumer
from cairn.status import Status
from cairn.store import projection
from cairn.workflow import OPEN_MARK, RUNNING_MARK

Complete = Callable[..., Path]
Write = Callable[..., Path]


def stored(m: CheckpointManager, wid: str) -> Workflow:
    """The database's view, without the manager's projection repair."""
    with m.store.read() as r:
        wf = r.workflow(wid)
    assert wf is not None
    return wf


def on_disk(m: CheckpointManager, wid: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((m.root / wid / "checkpoint.json").read_bytes())
    return data


def assert_projected(m: CheckpointManager, wid: str) -> Workflow:
    """checkpoint.json is exactly render(the database's view), with its seq and uid."""
    wf = stored(m, wid)
    disk = on_disk(m, wid)
    assert disk == json.loads(projection.encode(wf))
    assert disk == json.loads(json.dumps(projection.render(wf)))  # encode's cached pieces are not stale
    assert disk["seq"] == wf.seq and disk["workflow_uid"] == wf.uid and disk["version"] == "3.2"
    return wf


def apply(m: CheckpointManager, wid: str, **op: Any) -> Workflow:
    operation = Operation(**op)
    return m.apply(wid, operation.change, operation.name())


@pytest.fixture
def tiny_wf(mgr: CheckpointManager, tiny: Pipeline) -> str:
    return mgr.create("three stages", workflow_id="wf-tiny", pipeline=tiny).workflow_id


# ------------------------------------------------------------------ the life of a workflow


def test_create_start_complete_auto_completes(mgr: CheckpointManager, tiny_wf: str, write: Write) -> None:
    wid = tiny_wf
    wf = assert_projected(mgr, wid)
    assert (wf.seq, wf.status, wf.checkpoint_type, wf.next_agents) == (1, Status.PENDING, "created",
                                                                        ["orchestrator"])
    seqs = [1]
    for i, stage in enumerate(["orchestrator", "researcher", "planner"]):
        wf = mgr.record_start(wid, stage, agent_id=f"ag-{i}", session_id="sess")
        assert wf.status == Status.RUNNING and wf.current_agent == stage and wf.running_agents == [stage]
        assert_projected(mgr, wid)
        write(mgr, wid, stage)
        wf = mgr.record_completion(wid, stage, agent_id=f"ag-{i}", session_id="sess")
        assert wf.current_agent is None and wf.completed_agents[-1] == stage
        assert_projected(mgr, wid)
        seqs += [wf.seq - 1, wf.seq]
    assert seqs == list(range(1, 8))
    assert wf.status == Status.COMPLETED and wf.status_reason == "every stage completed"
    assert wf.completed_agents == ["orchestrator", "researcher", "planner"] and wf.next_agents == []
    assert set(wf.artifacts) == {"manifest.json", "research.json", "architecture.json"}
    assert [a.agent_id for a in wf.attempts] == ["ag-0", "ag-1", "ag-2"]
    assert all(a.outcome == "completed" and a.artifacts for a in wf.attempts)
    assert [m.type for m in wf.marks] == ["created"] + ["agent_start", "agent_completion"] * 3
    assert [e.action for e in wf.audit if e.action.startswith("status:")] == [
        "status:pending->running", "status:running->completed"]
    assert wf.sessions[0].session_id == "sess"
    with pytest.raises(NotResumable):
        mgr.record_start(wid, "planner")
    assert stored(mgr, wid).seq == 7


def test_repeated_subagent_stop_records_once(mgr: CheckpointManager, tiny_wf: str, write: Write) -> None:
    mgr.record_start(tiny_wf, "orchestrator", agent_id="ag-1")
    assert mgr.record_start(tiny_wf, "orchestrator", agent_id="ag-1").seq == 2  # SubagentStart again
    write(mgr, tiny_wf, "orchestrator")
    first = mgr.record_completion(tiny_wf, "orchestrator", agent_id="ag-1")
    before = (mgr.root / tiny_wf / "checkpoint.json").read_bytes()
    again = mgr.record_completion(tiny_wf, "orchestrator", agent_id="ag-1")
    failed = mgr.record_failure(tiny_wf, "orchestrator", "late failure", agent_id="ag-1")
    assert first.seq == again.seq == failed.seq == 3
    assert len(again.attempts) == 1 and again.attempts[0].outcome == "completed"
    assert again.status == Status.RUNNING
    assert (mgr.root / tiny_wf / "checkpoint.json").read_bytes() == before


def test_a_stop_without_a_start_is_one_attempt(mgr: CheckpointManager, tiny_wf: str, write: Write) -> None:
    write(mgr, tiny_wf, "orchestrator")
    mgr.record_completion(tiny_wf, "orchestrator", agent_id="ag-x")
    wf = mgr.record_completion(tiny_wf, "orchestrator", agent_id="ag-x")
    assert wf.seq == 2 and [(a.agent_id, a.outcome) for a in wf.attempts] == [("ag-x", "completed")]


def test_the_agent_of_another_stage_is_refused(mgr: CheckpointManager, tiny_wf: str, write: Write) -> None:
    mgr.record_start(tiny_wf, "orchestrator", agent_id="ag-1")
    write(mgr, tiny_wf, "orchestrator")
    with pytest.raises(Exception, match="recorded on"):
        mgr.record_completion(tiny_wf, "researcher", agent_id="ag-1", check_schemas=False,
                              artifacts=["manifest.json"])
    assert stored(mgr, tiny_wf).seq == 2


def test_complete_after_cancel_is_refused_and_writes_nothing(mgr: CheckpointManager, tiny_wf: str,
                                                            write: Write) -> None:
    mgr.record_start(tiny_wf, "orchestrator", agent_id="ag-1")
    wf = mgr.cancel(tiny_wf, "no longer needed")
    assert wf.status == Status.CANCELLED and wf.attempts[0].outcome == "interrupted"
    assert wf.attempts[0].error == "no longer needed"
    write(mgr, tiny_wf, "orchestrator")
    before = (mgr.root / tiny_wf / "checkpoint.json").read_bytes()
    for call in (lambda: mgr.record_completion(tiny_wf, "orchestrator", agent_id="ag-1"),
                 lambda: mgr.record_completion(tiny_wf, "orchestrator"),
                 lambda: mgr.record_failure(tiny_wf, "orchestrator", "x", agent_id="ag-1"),
                 lambda: mgr.record_start(tiny_wf, "orchestrator", agent_id="ag-2"),
                 lambda: apply(mgr, tiny_wf, retry=True)):
        with pytest.raises((NotResumable, IllegalTransition)):
            call()
    after = stored(mgr, tiny_wf)
    assert after.seq == wf.seq and len(after.attempts) == 1 and after.completed_agents == []
    assert (mgr.root / tiny_wf / "checkpoint.json").read_bytes() == before
    with pytest.raises(IllegalTransition):
        mgr.pause(tiny_wf)


def test_fail_then_retry(mgr: CheckpointManager, tiny_wf: str, write: Write) -> None:
    mgr.record_start(tiny_wf, "orchestrator", agent_id="ag-1")
    wf = mgr.record_failure(tiny_wf, "orchestrator", "schema error in manifest.json", agent_id="ag-1")
    assert wf.status == Status.FAILED and "orchestrator failed: schema error" in (wf.status_reason or "")
    assert wf.attempts[0].outcome == "failed" and wf.attempts[0].error == "schema error in manifest.json"
    assert_projected(mgr, tiny_wf)
    wf = apply(mgr, tiny_wf, retry=True)
    assert wf.status == Status.RUNNING and wf.checkpoint_type == "retry"
    assert any(e.action == "retry" and e.detail.startswith("orchestrator") for e in wf.audit)
    mgr.record_start(tiny_wf, "orchestrator", agent_id="ag-2")
    write(mgr, tiny_wf, "orchestrator")
    wf = mgr.record_completion(tiny_wf, "orchestrator", agent_id="ag-2")
    assert [a.outcome for a in wf.agents["orchestrator"].attempts] == ["failed", "completed"]
    assert wf.agents["orchestrator"].retry_count == 1 and wf.completed_agents == ["orchestrator"]
    with pytest.raises(NotResumable):
        apply(mgr, tiny_wf, retry=True)  # nothing failed any more


@pytest.mark.parametrize("how", ["pause", "cancel"])
def test_pause_and_cancel_close_running_attempts(mgr: CheckpointManager, tiny_wf: str, how: str) -> None:
    mgr.record_start(tiny_wf, "orchestrator", agent_id="ag-1")
    wf = getattr(mgr, how)(tiny_wf, f"{how} now")
    [a] = wf.attempts
    assert a.outcome == "interrupted" and a.error == f"{how} now" and a.ended_seq == wf.seq
    assert wf.running_agents == [] and wf.current_agent is None
    assert wf.status == (Status.PAUSED if how == "pause" else Status.CANCELLED)
    assert_projected(mgr, tiny_wf)


def test_pause_of_pending_then_resume(mgr: CheckpointManager, tiny_wf: str) -> None:
    wf = mgr.pause(tiny_wf)  # core v2 allows pending -> paused (status.py)
    assert wf.status == Status.PAUSED and wf.seq == 2
    wf = apply(mgr, tiny_wf)
    assert wf.status == Status.RUNNING and wf.checkpoint_type == "resume"
    with pytest.raises(IllegalTransition) as info:
        mgr.workflows.set_status(tiny_wf, Status.PENDING, "back", "test")
    assert info.value.current == "running" and info.value.target == "pending"
    assert stored(mgr, tiny_wf).seq == 3


def test_a_new_start_interrupts_the_running_attempt_and_a_late_stop_is_kept(
        mgr: CheckpointManager, tiny_wf: str, write: Write) -> None:
    mgr.record_start(tiny_wf, "orchestrator", agent_id="ag-1")
    wf = mgr.record_start(tiny_wf, "orchestrator", agent_id="ag-2")
    assert [a.outcome for a in wf.attempts] == ["interrupted", "running"]
    write(mgr, tiny_wf, "orchestrator")
    wf = mgr.record_completion(tiny_wf, "orchestrator", agent_id="ag-1")  # the first agent stops late
    assert [(a.agent_id, a.outcome) for a in wf.attempts] == [("ag-1", "interrupted"), ("ag-2", "running"),
                                                             (None, "completed")]
    assert any(e.action == "late_stop" and "ag-1" in e.detail for e in wf.audit)
    assert mgr.record_completion(tiny_wf, "orchestrator", agent_id="ag-1").seq == wf.seq  # delivered again
    wf = mgr.record_completion(tiny_wf, "orchestrator", agent_id="ag-2")
    assert [a.outcome for a in wf.attempts] == ["interrupted", "completed", "completed"]
    assert wf.completed_agents == ["orchestrator"] and len(wf.artifacts) == 1
    assert mgr.record_failure(tiny_wf, "orchestrator", "late", agent_id="ag-1").seq == wf.seq
    assert stored(mgr, tiny_wf).status == Status.RUNNING


def test_unknown_workflow_and_stage(mgr: CheckpointManager, tiny_wf: str, root: Path) -> None:
    for call in (lambda: mgr.record_start("wf-none", "orchestrator"), lambda: mgr.touch("wf-none"),
                 lambda: mgr.pause("wf-none"), lambda: mgr.load("wf-none"), lambda: mgr.delete("wf-none")):
        with pytest.raises(WorkflowNotFound):
            call()
    with pytest.raises(UnknownAgent):
        mgr.record_start(tiny_wf, "doc-master")
    assert not (root / "wf-none").exists() and stored(mgr, tiny_wf).seq == 1


# ------------------------------------------------------------------ resume operations


@pytest.fixture
def three_done(mgr: CheckpointManager, complete: Complete) -> str:
    """The default pipeline: orchestrator, researcher, planner completed (seqs 2, 3, 4)."""
    wid = mgr.create("resume me", workflow_id="wf-ops").workflow_id
    for stage in ("orchestrator", "researcher", "planner"):
        complete(mgr, wid, stage)
    return wid


def test_rerun_from_invalidates_downstream(mgr: CheckpointManager, three_done: str) -> None:
    wf = apply(mgr, three_done, rerun_from="researcher", reason="new facts")
    assert wf.completed_agents == ["orchestrator"] and wf.next_agents == ["researcher"]
    assert list(wf.artifacts) == ["manifest.json"]
    assert [(a.stage, a.outcome) for a in wf.attempts] == [
        ("orchestrator", "completed"), ("researcher", "invalidated"), ("planner", "invalidated")]
    assert all(a.invalidated_seq == wf.seq for a in wf.attempts[1:])
    notes = [e.detail for e in wf.audit if e.action == "invalidated"]
    assert len(notes) == 2 and "research.json sha256:" in notes[0] and "new facts" in notes[0]
    assert wf.status == Status.RUNNING and wf.checkpoint_type == "rerun_from"
    assert_projected(mgr, three_done)
    plan = WorkflowResumer(mgr).plan(three_done)
    assert plan.completed_agents == ["orchestrator"] and plan.next_agent == "researcher"


def test_rerun_from_then_rollback_agree(mgr: CheckpointManager, three_done: str) -> None:
    """The old bug: after `resume --from orchestrator` then `--rollback 2`, completed_agents
    listed the orchestrator while its attempt said invalidated."""
    wf = apply(mgr, three_done, rerun_from="orchestrator")
    assert wf.completed_agents == [] and wf.artifacts == {}
    wf = apply(mgr, three_done, rollback=2)
    assert wf.completed_agents == ["orchestrator"]
    assert wf.agents["orchestrator"].last is not None and wf.agents["orchestrator"].last.outcome == "completed"
    assert wf.effective("orchestrator") is wf.agents["orchestrator"].last
    assert list(wf.artifacts) == ["manifest.json"] and wf.artifacts["manifest.json"].agent == "orchestrator"
    for stage in ("researcher", "planner"):
        assert all(a.outcome == "invalidated" for a in wf.agents[stage].attempts)
    disk = on_disk(mgr, three_done)
    assert disk["completed_agents"] == ["orchestrator"] and list(disk["artifacts"]) == ["manifest.json"]
    assert disk["agents"]["orchestrator"]["attempts"][-1]["outcome"] == "completed"
    plan = WorkflowResumer(mgr).plan(three_done, report=WorkflowResumer(mgr).validate(three_done))
    assert plan.completed_agents == ["orchestrator"] and plan.next_agent == "researcher"
    assert plan.problems == []


def test_rollback_restores_and_is_itself_reversible(mgr: CheckpointManager, three_done: str) -> None:
    wf = apply(mgr, three_done, rollback=2, reason="planner went wrong")
    assert wf.seq == 5 and wf.completed_agents == ["orchestrator"]
    assert any(e.action == "rollback" and "checkpoint 2" in e.detail for e in wf.audit)
    wf = apply(mgr, three_done, rollback=4)  # back to where all three were done
    assert wf.completed_agents == ["orchestrator", "researcher", "planner"]
    assert set(wf.artifacts) == {"manifest.json", "research.json", "architecture.json"}
    assert any(e.action == "rollback" and "restored researcher, planner" in e.detail for e in wf.audit)
    assert WorkflowResumer(mgr).validate(three_done).valid
    for bad in (99, 6, 0):
        with pytest.raises(UsageError):
            apply(mgr, three_done, rollback=bad)
    assert stored(mgr, three_done).seq == 6


def test_skip(mgr: CheckpointManager, three_done: str) -> None:
    wf = apply(mgr, three_done, skip=["test-master"], reason="no tests here")
    assert wf.skipped_agents == ["test-master"] and wf.next_agents == ["implementer"]
    assert wf.agents["test-master"].last is not None and wf.agents["test-master"].last.error == "no tests here"
    assert apply(mgr, three_done, skip=["test-master"]).skipped_agents == ["test-master"]  # idempotent
    with pytest.raises(UsageError):
        apply(mgr, three_done, skip=["planner"])  # completed: nothing to skip
    wf = apply(mgr, three_done, rerun_from="planner")  # a skip is undone like a completion
    assert wf.skipped_agents == [] and wf.completed_agents == ["orchestrator", "researcher"]


def test_parameters(mgr: CheckpointManager, three_done: str) -> None:
    wf = apply(mgr, three_done, params=parse_params(["target=py311", "mode=fast"]))
    assert wf.parameters == {"mode": "fast", "target": "py311"}
    wf = apply(mgr, three_done, params=parse_params(["target=py312"]))
    assert wf.parameters["target"] == "py312"
    assert any(e.action == "set_param" and e.detail == "target: 'py311' -> 'py312'" for e in wf.audit)
    assert on_disk(mgr, three_done)["parameters"] == {"mode": "fast", "target": "py312"}


@pytest.mark.parametrize("item", ["api_key=x", "token=abc", "password=x", "GITHUB_TOKEN=x", "key=v",
                                  "deploy.key=v", "note=sk-abcdef", "x=ghp_abc", "x=AKIAABC",
                                  "x=-----BEGIN RSA", "novalue", "=v", "1bad=v", "a b=v", "x=" + "v" * 501,
                                  "x=a\x00b"])
def test_parse_params_refuses_secrets_and_junk(item: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_params([item])
    assert info.value.hint


def test_a_rerun_counts_only_with_a_rewritten_artifact(mgr: CheckpointManager, three_done: str) -> None:
    path = mgr.workflow_dir(three_done) / "architecture.json"
    apply(mgr, three_done, rerun_from="planner")
    old = path.stat().st_mtime
    wf = mgr.record_start(three_done, "planner", agent_id="ag-again")
    os.utime(path, (old - 10, old - 10))  # surely older than the attempt: the undone run's output
    with pytest.raises(ArtifactError) as info:
        mgr.record_completion(three_done, "planner", agent_id="ag-again")
    assert "not rewritten" in info.value.message
    after = stored(mgr, three_done)
    assert after.seq == wf.seq and after.completed_agents == ["orchestrator", "researcher"]
    path.write_bytes(path.read_bytes())  # rewritten (same content) after the start: it counts
    wf = mgr.record_completion(three_done, "planner", agent_id="ag-again")
    assert wf.completed_agents[-1] == "planner"


def test_a_rerun_without_a_start_needs_new_content(mgr: CheckpointManager, three_done: str) -> None:
    apply(mgr, three_done, rerun_from="planner")
    with pytest.raises(ArtifactError):
        mgr.record_completion(three_done, "planner")
    path = mgr.workflow_dir(three_done) / "architecture.json"
    data = json.loads(path.read_text())
    data["summary"] = "a new plan"
    path.write_text(json.dumps(data))
    assert mgr.record_completion(three_done, "planner").completed_agents[-1] == "planner"


# ------------------------------------------------------------------ views and projection


def test_as_of_matches_each_checkpoint(mgr: CheckpointManager, three_done: str, complete: Complete) -> None:
    seen: dict[int, tuple[Any, ...]] = {}

    def snap(wf: Workflow) -> tuple[Any, ...]:
        return (wf.completed_agents, wf.skipped_agents, wf.running_agents, wf.status, sorted(wf.artifacts),
                [a.outcome for a in wf.attempts], wf.next_agents)

    wf = stored(mgr, three_done)
    for seq in range(1, wf.seq + 1):
        seen[seq] = snap(wf.as_of(seq))  # before any undo: checked again below
    steps: list[Callable[[], Workflow]] = [
        lambda: mgr.record_start(three_done, "test-master", agent_id="tm-1"),
        lambda: mgr.pause(three_done),
        lambda: apply(mgr, three_done, rerun_from="researcher"),
        lambda: apply(mgr, three_done, skip=["researcher"]),
        lambda: apply(mgr, three_done, rollback=3),
        lambda: mgr.record_failure(three_done, "planner", "boom"),
        lambda: apply(mgr, three_done, retry=True, params={"k": "v"}),
    ]
    for step in steps:
        wf = step()
        seen[wf.seq] = snap(wf)
    final = stored(mgr, three_done)
    for seq, view in seen.items():
        assert snap(final.as_of(seq)) == view, seq
    assert [m.seq for m in final.as_of(4).marks] == [1, 2, 3, 4]


def test_projection_after_every_commit(mgr: CheckpointManager, three_done: str) -> None:
    wid = three_done
    for step in (lambda: mgr.touch(wid, session_id="s-1"), lambda: mgr.pause(wid),
                 lambda: apply(mgr, wid, rollback=2, params={"a": "b"}), lambda: mgr.record_start(wid, "researcher"),
                 lambda: mgr.record_failure(wid, "researcher", "x"), lambda: mgr.cancel(wid)):
        wf = step()
        assert_projected(mgr, wid)
        assert on_disk(mgr, wid)["seq"] == wf.seq
    disk = on_disk(mgr, wid)
    assert disk["status"] == "cancelled" and [h["seq"] for h in disk["history"]] == list(range(1, wf.seq + 1))
    assert disk["note"].startswith("A projection")


def test_projection_failure_is_a_warning_and_repaired(mgr: CheckpointManager, three_done: str) -> None:
    folder = mgr.root / three_done
    (folder / "checkpoint.json").unlink()
    (folder / "checkpoint.json").mkdir()  # the projection cannot be written
    wf = mgr.pause(three_done)
    assert wf.status == Status.PAUSED and stored(mgr, three_done).seq == wf.seq  # committed
    assert any("checkpoint.json not refreshed" in w for w in mgr.workflows.warnings)
    (folder / "checkpoint.json").rmdir()
    loaded, warnings = mgr.load_with_warnings(three_done)
    assert loaded.seq == wf.seq and any("missing" in w and "rewritten" in w for w in warnings)
    assert_projected(mgr, three_done)


@pytest.mark.parametrize("damage", ["behind", "garbage", "foreign", "missing"])
def test_a_damaged_projection_is_rewritten_on_load(mgr: CheckpointManager, three_done: str, damage: str) -> None:
    path = mgr.root / three_done / "checkpoint.json"
    raw = json.loads(path.read_text())
    if damage == "behind":
        raw["seq"] = 2
        path.write_text(json.dumps(raw))
    elif damage == "garbage":
        path.write_bytes(b"\x00{not json")
    elif damage == "foreign":
        raw["workflow_uid"] = "f" * 32
        path.write_text(json.dumps(raw))
    else:
        path.unlink()
    _, warnings = CheckpointManager(mgr.root).load_with_warnings(three_done)
    assert len(warnings) == 1 and "rewritten from the database" in warnings[0]
    assert_projected(mgr, three_done)
    assert CheckpointManager(mgr.root).load_with_warnings(three_done)[1] == []


def test_a_projection_never_goes_backwards(mgr: CheckpointManager, three_done: str) -> None:
    """A writer that committed earlier but projects later leaves the newer file alone."""
    older = stored(mgr, three_done)
    newer = mgr.touch(three_done)
    mgr.workflows.project(older)
    assert on_disk(mgr, three_done)["seq"] == newer.seq
    mgr.workflows.project(older, force=True)  # the repair path may
    assert on_disk(mgr, three_done)["seq"] == older.seq


def test_markers_follow_statuses(mgr: CheckpointManager, tiny: Pipeline, root: Path) -> None:
    def marks() -> tuple[bool, bool]:
        return (root / OPEN_MARK).exists(), (root / RUNNING_MARK).exists()

    mgr.create("a", workflow_id="wf-a", pipeline=tiny)
    assert marks() == (True, False)
    mgr.record_start("wf-a", "orchestrator")
    assert marks() == (True, True)
    mgr.pause("wf-a")
    assert marks() == (True, False)
    mgr.cancel("wf-a")
    assert marks() == (False, False)
    mgr.create("b", workflow_id="wf-b", pipeline=tiny)
    mgr.record_start("wf-b", "orchestrator")
    assert marks() == (True, True)
    mgr.delete("wf-b")
    assert marks() == (False, False) and not (root / "wf-b").exists()


def test_heartbeat_touches_the_sessions_running_workflows(mgr: CheckpointManager, tiny_wf: str) -> None:
    assert mgr.workflows.heartbeat("unknown") == []
    mgr.record_start(tiny_wf, "orchestrator", session_id="sess-1")
    seq = stored(mgr, tiny_wf).seq
    assert mgr.workflows.heartbeat("sess-1") == [tiny_wf]
    wf = stored(mgr, tiny_wf)
    assert wf.seq == seq and wf.last_seen is not None and wf.last_activity == wf.last_seen  # no checkpoint
    mgr.pause(tiny_wf)
    assert mgr.workflows.heartbeat("sess-1") == []  # a paused workflow is not kept alive
    with pytest.raises(WorkflowNotFound):
        mgr.workflows.bind("sess-1", "wf-none", "x")


# ------------------------------------------------------------------ leases


@pytest.fixture
def holder() -> Iterator[subprocess.Popen[bytes]]:
    """A live process standing for another Claude session (it waits on its stdin)."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_lease_live_holder_refused_dead_holder_taken_over(mgr: CheckpointManager, tiny_wf: str,
                                                          holder: subprocess.Popen[bytes]) -> None:
    wfs = mgr.workflows
    assert wfs.acquire(tiny_wf, "session-A", holder.pid) is None
    assert wfs.acquire(tiny_wf, "session-A", holder.pid) is None  # the same session refreshes it
    with pytest.raises(LeaseHeld) as info:
        wfs.acquire(tiny_wf, "session-B", os.getpid())
    assert "session-A" in str(info.value) and f"pid {holder.pid}" in str(info.value) and info.value.hint
    seq = stored(mgr, tiny_wf).seq
    holder.kill()
    holder.wait()  # reaped: the pid is gone
    old = wfs.acquire(tiny_wf, "session-B", os.getpid())
    assert stored(mgr, tiny_wf).seq == seq + 1  # a takeover is a checkpoint of its own
    assert_projected(mgr, tiny_wf)
    assert old is not None and old.session_id == "session-A" and old.pid == holder.pid
    with mgr.store.read() as r:
        now = r.lease(tiny_wf)
    assert now is not None and now.session_id == "session-B" and now.pid == os.getpid()
    note = [e for e in stored(mgr, tiny_wf).audit if e.action == "lease_takeover"]
    assert len(note) == 1 and "session-A" in note[0].detail and "session-B" in note[0].detail
    assert wfs.release(tiny_wf, "session-A") is False and wfs.release(tiny_wf, "session-B") is True
    with mgr.store.read() as r:
        assert r.lease(tiny_wf) is None


def test_lease_of_a_recycled_pid_is_taken_over(mgr: CheckpointManager, tiny_wf: str,
                                               holder: subprocess.Popen[bytes]) -> None:
    """The pid runs, but it is another process (its start time differs): not the holder."""
    start = leases.process_start_time(holder.pid)
    assert start is not None
    ghost = LeaseRecord("ghost", holder.pid, start - 1, leases.host(), utcnow(), utcnow())
    with mgr.store.write() as tx:
        tx.put_lease(tiny_wf, ghost)
    assert not leases.alive(ghost, utcnow())
    old = mgr.workflows.acquire(tiny_wf, "session-B", os.getpid())
    assert old is not None and old.session_id == "ghost"


def test_lease_from_another_host_lives_while_its_heartbeat_is_fresh(mgr: CheckpointManager,
                                                                    tiny_wf: str) -> None:
    now = utcnow()
    remote = LeaseRecord("remote", 1, None, "another-host.example", now, now - timedelta(minutes=5))
    with mgr.store.write() as tx:
        tx.put_lease(tiny_wf, remote)
    with pytest.raises(LeaseHeld):
        mgr.workflows.acquire(tiny_wf, "local", os.getpid())
    stale = LeaseRecord("remote", 1, None, "another-host.example", now,
                        now - leases.DEFAULT_TTL - timedelta(seconds=1))
    with mgr.store.write() as tx:
        tx.put_lease(tiny_wf, stale)
    old = mgr.workflows.acquire(tiny_wf, "local", os.getpid())
    assert old is not None and old.host == "another-host.example"
    assert any(e.action == "lease_takeover" for e in stored(mgr, tiny_wf).audit)


def test_heartbeat_keeps_a_remote_lease_alive(mgr: CheckpointManager, tiny_wf: str) -> None:
    old = utcnow() - leases.DEFAULT_TTL - timedelta(minutes=1)
    mgr.record_start(tiny_wf, "orchestrator", session_id="remote")
    with mgr.store.write() as tx:
        tx.put_lease(tiny_wf, LeaseRecord("remote", 1, None, "another-host.example", old, old))
    assert mgr.workflows.heartbeat("remote") == [tiny_wf]  # its Stop hook (on a shared folder)
    with pytest.raises(LeaseHeld):
        mgr.workflows.acquire(tiny_wf, "local", os.getpid())


def test_lease_on_an_unknown_workflow(mgr: CheckpointManager) -> None:
    with pytest.raises(WorkflowNotFound):
        mgr.workflows.acquire("wf-none", "s", os.getpid())


def test_a_writer_overtaken_after_its_commit_returns_its_own_checkpoint(
        mgr: CheckpointManager, tiny_wf: str, root: Path, write: Write, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between a commit and its read-back another process commits: the caller still gets
    the workflow as of its own checkpoint, and the later writer's projection stays."""
    import cairn.workflow as workflow_module

    other = CheckpointManager(root)
    mgr.record_start(tiny_wf, "orchestrator", agent_id="ag-1", session_id="s1")
    write(mgr, tiny_wf, "orchestrator")
    real_point = workflow_module.point

    def overtaken(name: str) -> None:
        real_point(name)
        if name == "after_commit":
            monkeypatch.setattr(workflow_module, "point", real_point)
            other.pause(tiny_wf, "paused from elsewhere")

    monkeypatch.setattr(workflow_module, "point", overtaken)
    wf = mgr.record_completion(tiny_wf, "orchestrator", agent_id="ag-1")
    assert wf.seq == 3 and wf.status == Status.RUNNING and wf.status_reason is None
    assert wf.completed_agents == ["orchestrator"] and wf.next_agents == ["researcher"]
    assert [m.seq for m in wf.marks] == [1, 2, 3]
    latest = stored(mgr, tiny_wf)
    assert latest.seq == 4 and latest.status == Status.PAUSED
    assert on_disk(mgr, tiny_wf)["seq"] == 4  # the overtaking writer's projection is the one kept
    assert latest.as_of(3).completed_agents == wf.completed_agents
