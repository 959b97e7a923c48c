"""Pinned agents (`cairn.pins`): a workflow records the plugin version, the sha256 of each
stage's agent definition (the project's `.claude/agents/` override first) and the
pipeline's digest; a changed prompt is reported by stage, `--pinned` keeps going,
`--latest` re-runs the stage and what follows."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from cairn import pins
from cairn.manager import CheckpointManager
from cairn.resumer import WorkflowResumer
from test_cli_support import complete_stage, no_claude_session, run, run_json

pytestmark = pytest.mark.usefixtures("no_claude_session")
__all__ = ["no_claude_session"]
WID = "wf-pin"


@pytest.fixture
def m(project: Path) -> CheckpointManager:
    (project / ".claude" / "agents").mkdir()
    (project / ".claude" / "agents" / "reviewer.md").write_text("---\nname: reviewer\n---\nReview strictly.\n")
    mgr = CheckpointManager(project / ".claude" / "artifacts")
    mgr.create("pinned", workflow_id=WID)
    for stage in mgr.load(WID).pipeline.names:
        complete_stage(mgr, WID, stage)
    return mgr


def test_a_workflow_records_what_it_runs_with(m: CheckpointManager, project: Path) -> None:
    wf = m.load(WID)
    override = (project / ".claude" / "agents" / "reviewer.md").read_bytes()
    plugin_planner = (pins.PLUGIN_ROOT / "agents" / "planner.md").read_bytes()
    assert wf.pins["agent:reviewer"] == hashlib.sha256(override).hexdigest()
    assert wf.pins["agent:planner"] == hashlib.sha256(plugin_planner).hexdigest()
    assert wf.pins["pipeline"] == wf.pipeline.digest and wf.pins["plugin"] == pins.plugin_version() != "unknown"
    assert WorkflowResumer(m).validate(WID).problems == []


def test_a_changed_prompt_is_reported_by_stage(m: CheckpointManager, project: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".claude" / "agents" / "reviewer.md").write_text("---\nname: reviewer\n---\nReview gently.\n")
    found = WorkflowResumer(m).validate(WID).problems
    assert [(p.code, p.stage) for p in found] == [("agent_changed", "reviewer")]
    assert found[0].path.endswith(".claude/agents/reviewer.md") and "the prompt of reviewer" in found[0].message
    code, out, _ = run(capsys, "--dir", str(m.root), "validate", WID)
    assert code == 1 and f"cairn resume {WID} --pinned" in out and f"cairn resume {WID} --latest" in out


def test_pinned_keeps_the_completed_stages(m: CheckpointManager, project: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".claude" / "agents" / "reviewer.md").write_text("changed")
    code, _ = run_json(capsys, "--dir", str(m.root), "resume", WID, "--pinned", "--json")
    wf = m.load(WID)
    assert code == 0 and wf.done == wf.pipeline.names and wf.status.value == "completed"
    assert WorkflowResumer(m).validate(WID).problems == []
    assert any(e.action == "pinned" and "agent:reviewer" in e.detail for e in wf.audit)


def test_latest_reruns_the_changed_stage_and_what_follows(m: CheckpointManager, project: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    (project / ".claude" / "agents" / "reviewer.md").write_text("changed")
    code, data = run_json(capsys, "--dir", str(m.root), "resume", WID, "--latest", "--json")
    wf = m.load(WID)
    assert code == 0 and data["next_agents"] == ["reviewer"] and wf.status.value == "running"
    assert wf.remaining_agents == ["reviewer", "security-auditor", "doc-master"]
    assert WorkflowResumer(m).validate(WID).problems == []


def test_a_plugin_agent_and_an_unknown_one(tmp_path: Path) -> None:
    assert pins.agent_file("cairn:planner", tmp_path) == (pins.PLUGIN_ROOT / "agents", "planner.md")
    assert pins.agent_digest("someone-elses-agent", tmp_path) == pins.MISSING
    assert pins.agent_file("cairn:../etc", tmp_path) is None


def test_a_linked_override_is_not_read(tmp_path: Path) -> None:
    (tmp_path / ".claude" / "agents").mkdir(parents=True)
    (tmp_path / "secret").write_text("outside")
    (tmp_path / ".claude" / "agents" / "planner.md").symlink_to(tmp_path / "secret")
    assert pins.agent_digest("cairn:planner", tmp_path) == pins.MISSING
