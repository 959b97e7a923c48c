"""Reopening finished work and the rules that keep a pipeline honest: `cairn fork`,
dependencies through configuration overrides, `current_agent` with parallel stages, and
a forked conversation's SessionStart."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cairn.hooks import run as run_hook
from cairn.manager import CheckpointManager
from cairn.resumer import WorkflowResumer
from cairn.status import Status
from test_cli_support import complete_stage, no_claude_session, run_json

pytestmark = pytest.mark.usefixtures("no_claude_session")
__all__ = ["no_claude_session"]
WID = "wf-open"
README_OVERRIDE = "pipeline:\n  stages:\n    - name: security-auditor\n      depends_on: [implementer]\n"


def finished(m: CheckpointManager, wid: str = WID) -> None:
    m.create("reopen me", workflow_id=wid)
    for stage in m.load(wid).pipeline.names:
        complete_stage(m, wid, stage)


def test_fork_shares_the_completed_stages_and_records_its_parent(mgr: CheckpointManager,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    finished(mgr)
    code, data = run_json(capsys, "--dir", str(mgr.root), "fork", WID, "--from", "reviewer", "--id", "wf-child",
                          "--json")
    assert code == 0 and data["parent"] == WID and data["next_agents"] == ["reviewer"]
    child, parent = mgr.load("wf-child"), mgr.load(WID)
    assert child.parent == WID and child.status == Status.PENDING
    assert child.done == ["orchestrator", "researcher", "planner", "test-master", "implementer"]
    assert sorted(child.artifacts) == sorted(p for p, r in parent.artifacts.items() if r.agent in child.done)
    manifest = json.loads((mgr.root / "wf-child" / "manifest.json").read_text())
    assert manifest["workflow_id"] == "wf-child"  # the evidence names the fork; recorded with its new hash
    assert WorkflowResumer(mgr).validate("wf-child").problems == []  # the files came along
    assert child.pins == parent.pins and child.request == parent.request
    assert any(e.action == "forked" and WID in e.detail for e in child.audit)
    assert any(e.action == "forked_into" and "wf-child" in e.detail for e in parent.audit)
    assert parent.status == Status.COMPLETED and parent.done == parent.pipeline.names  # unchanged
    on_disk = json.loads((mgr.root / "wf-child" / "checkpoint.json").read_text())
    assert on_disk["parent"] == WID


def test_a_cancelled_workflow_forks_whole(mgr: CheckpointManager, capsys: pytest.CaptureFixture[str]) -> None:
    mgr.create("half", workflow_id=WID)
    for stage in ("orchestrator", "researcher"):
        complete_stage(mgr, WID, stage)
    mgr.cancel(WID)
    code, data = run_json(capsys, "--dir", str(mgr.root), "fork", WID, "--json")
    assert code == 0 and data["shared"] == ["orchestrator", "researcher"] and data["next_agents"] == ["planner"]


def test_the_readme_override_waits_for_every_upstream_stage(project: Path) -> None:
    (project / ".claude" / "cairn.yaml").write_text(README_OVERRIDE)
    m = CheckpointManager(project / ".claude" / "artifacts")
    m.create("parallel review", workflow_id=WID)
    pipeline = m.load(WID).pipeline
    assert pipeline.stage("doc-master").depends_on == ("reviewer", "security-auditor")
    for stage in ("orchestrator", "researcher", "planner", "test-master", "implementer"):
        complete_stage(m, WID, stage)
    assert m.load(WID).next_agents == ["reviewer", "security-auditor"]
    complete_stage(m, WID, "security-auditor")
    assert m.load(WID).next_agents == ["reviewer"]
    payload = {"session_id": "s-dep", "cwd": str(project), "hook_event_name": "PreToolUse", "tool_name": "Agent",
               "tool_use_id": "toolu_dep", "tool_input": {"subagent_type": "cairn:doc-master",
                                                          "prompt": f"Write the docs.\ncairn-workflow: {WID}"}}
    answer = run_hook("pre-tool-use", json.dumps(payload).encode(), {"CLAUDE_PROJECT_DIR": str(project)})
    assert answer is not None
    decision = answer["hookSpecificOutput"]
    assert isinstance(decision, dict) and decision["permissionDecision"] == "deny"
    assert "depends on reviewer, which is not complete" in str(decision["permissionDecisionReason"])


def test_current_agent_names_every_running_stage(project: Path) -> None:
    (project / ".claude" / "cairn.yaml").write_text(README_OVERRIDE)
    m = CheckpointManager(project / ".claude" / "artifacts")
    m.create("parallel review", workflow_id=WID)
    for stage in ("orchestrator", "researcher", "planner", "test-master", "implementer"):
        complete_stage(m, WID, stage)
    m.record_start(WID, "security-auditor", agent_id="a-sec")
    wf = m.record_start(WID, "reviewer", agent_id="a-rev")
    assert wf.current_agent == "reviewer, security-auditor"
    complete_stage(m, WID, "security-auditor")
    wf = m.load(WID)
    assert wf.current_agent == "reviewer"
    assert json.loads((m.root / WID / "checkpoint.json").read_text())["current_agent"] == "reviewer"


def test_a_forked_conversation_does_not_share_the_original_lease(mgr: CheckpointManager, project: Path) -> None:
    mgr.create("held", workflow_id=WID)
    complete_stage(mgr, WID, "orchestrator")
    mgr.workflows.bind("sess-orig", WID, "cairn resume")
    mgr.workflows.acquire(WID, "sess-orig", os.getpid())  # the original session's process is alive
    mgr.pause(WID)
    env = {"CLAUDE_PROJECT_DIR": str(project)}

    def start(source: str) -> str:
        payload = {"session_id": "sess-orig", "cwd": str(project), "hook_event_name": "SessionStart",
                   "source": source, "transcript_path": str(project / f"{source}.jsonl")}
        answer = run_hook("session-start", json.dumps(payload).encode(), env)
        assert answer is not None
        return str(answer["systemMessage"])
    assert "another live Claude session holds this workflow" not in start("resume")  # the session itself
    forked = start("fork")  # the client may give a fork the original's id: it is a new session all the same
    assert "another live Claude session holds this workflow" in forked


def test_hooks_json_starts_session_start_for_a_fork() -> None:
    config = json.loads((Path(__file__).resolve().parents[1] / "hooks" / "hooks.json").read_text())
    assert "fork" in config["hooks"]["SessionStart"][0]["matcher"].split("|")


def test_a_completed_workflow_rolls_back(mgr: CheckpointManager, capsys: pytest.CaptureFixture[str]) -> None:
    finished(mgr)
    after_planner = next(mk.seq for mk in mgr.load(WID).marks if mk.type == "agent_completion" and any(
        a.stage == "planner" and a.ended_seq == mk.seq for a in mgr.load(WID).attempts))
    code, data = run_json(capsys, "--dir", str(mgr.root), "resume", WID, "--rollback", str(after_planner), "--json")
    wf = mgr.load(WID)
    assert code == 0 and data["next_agents"] == ["test-master"] and wf.status == Status.RUNNING
    assert wf.done == ["orchestrator", "researcher", "planner"]
    assert [e.action for e in wf.audit if e.action in ("rollback", "status:completed->running")] == [
        "rollback", "status:completed->running"]
