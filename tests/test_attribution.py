"""Every stage attributed by evidence, never by "the most recently active workflow".

The hook logic is called in-process (`cairn.hooks.run`, the same function
hooks/cairn_hook.py calls) with payloads shaped like the real client's; the state is a
real database in a temporary project. The wrong-workflow reproductions of the core v2
issue are here: an old paused workflow plus a new one started in the same session, two
sessions each with its own workflow interleaved, and a subagent of a workflow another
live session holds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cairn import hooks
from cairn.manager import CheckpointManager
from cairn.model import Workflow

EXAMPLES = Path(__file__).resolve().parents[1] / "lib" / "cairn" / "data" / "examples"
Out = dict[str, object] | None


class Session:
    """One Claude Code session driving hooks in a project."""

    def __init__(self, project: Path, session_id: str) -> None:
        self.project = project
        self.sid = session_id
        self.n = 0

    def hook(self, event: str, **fields: object) -> Out:
        payload = {"session_id": self.sid, "cwd": str(self.project), **fields}
        return hooks.run(event, json.dumps(payload).encode(), {"CLAUDE_PROJECT_DIR": str(self.project)})

    def dispatch(self, stage: str, prompt: str) -> tuple[str, Out]:
        self.n += 1
        tool_use = f"toolu_{self.sid}_{self.n}"
        out = self.hook("pre-tool-use", tool_name="Agent", tool_use_id=tool_use,
                        tool_input={"subagent_type": f"cairn:{stage}", "prompt": prompt,
                                    "description": stage})
        return tool_use, out

    def start(self, stage: str, agent_id: str) -> Out:
        return self.hook("subagent-start", agent_id=agent_id, agent_type=f"cairn:{stage}")

    def stop(self, stage: str, agent_id: str, transcript: Path | None = None, active: bool = False) -> Out:
        extra = {"agent_transcript_path": str(transcript)} if transcript else {}
        return self.hook("subagent-stop", agent_id=agent_id, agent_type=f"cairn:{stage}",
                         stop_hook_active=active, **extra)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    p = tmp_path / "project"
    (p / ".claude" / "artifacts").mkdir(parents=True)
    return p


@pytest.fixture
def mgr(project: Path) -> CheckpointManager:
    return CheckpointManager(project / ".claude" / "artifacts", project_dir=project)


def write(mgr: CheckpointManager, wid: str, stage: str, **overrides: object) -> Path:
    wf = mgr.load(wid)
    rel = wf.pipeline.stage(stage).artifacts[0].path
    data = json.loads((EXAMPLES / rel).read_text())
    data.update({"workflow_id": wid, **overrides})
    dest = mgr.workflow_dir(wid) / rel
    dest.write_text(json.dumps(data))
    return dest


def run_stage(s: Session, mgr: CheckpointManager, wid: str, stage: str, agent_id: str) -> None:
    _, denied = s.dispatch(stage, f"Do the {stage} stage.\ncairn-workflow: {wid}")
    assert denied is None, denied
    s.start(stage, agent_id)
    write(mgr, wid, stage)
    assert s.stop(stage, agent_id) is None


def attempts(wf: Workflow) -> list[tuple[str, str, str | None]]:
    return [(a.stage, a.outcome, a.agent_id) for a in wf.attempts]


def test_old_paused_workflow_and_a_new_one_in_the_same_session(project: Path, mgr: CheckpointManager) -> None:
    old = mgr.create("old request", session_id="earlier-session").workflow_id
    run_stage(Session(project, "earlier-session"), mgr, old, "orchestrator", "a-old-1")
    mgr.pause(old, "interrupted")
    before = mgr.load(old)

    s = Session(project, "S2")
    offered = s.hook("session-start", source="startup")
    assert offered is not None and old in json.dumps(offered)  # offered, not bound
    new = mgr.create("new request", session_id="S2").workflow_id  # `cairn start` inside the session
    run_stage(s, mgr, new, "orchestrator", "a-new-1")

    assert mgr.load(new).completed_agents == ["orchestrator"]
    after = mgr.load(old)
    assert (after.seq, attempts(after)) == (before.seq, attempts(before))


def test_two_sessions_each_with_its_own_workflow_interleaved(project: Path, mgr: CheckpointManager) -> None:
    a, b = Session(project, "SA"), Session(project, "SB")
    wa = mgr.create("request A", session_id="SA").workflow_id
    wb = mgr.create("request B", session_id="SB").workflow_id
    # both dispatch the same stage, start, then stop in crossed order; no prompt names a workflow:
    # the bindings made by `cairn start` in each session are the evidence
    assert a.dispatch("orchestrator", "scope the work")[1] is None
    assert b.dispatch("orchestrator", "scope the work")[1] is None
    a.start("orchestrator", "agent-a")
    b.start("orchestrator", "agent-b")
    write(mgr, wb, "orchestrator")
    write(mgr, wa, "orchestrator")
    assert b.stop("orchestrator", "agent-b") is None
    assert a.stop("orchestrator", "agent-a") is None
    assert attempts(mgr.load(wa)) == [("orchestrator", "completed", "agent-a")]
    assert attempts(mgr.load(wb)) == [("orchestrator", "completed", "agent-b")]


def test_a_subagent_of_a_workflow_another_live_session_holds(project: Path, mgr: CheckpointManager) -> None:
    wid = mgr.create("held elsewhere").workflow_id
    s = Session(project, "S3")
    assert s.dispatch("orchestrator", f"cairn-workflow: {wid}")[1] is None
    mgr.workflows.acquire(wid, "other-session", os.getppid())  # a live process on this host took it
    _, denied = s.dispatch("orchestrator", f"cairn-workflow: {wid}")
    assert denied is not None and "another live Claude session" in json.dumps(denied)
    out = s.start("orchestrator", "agent-x")  # dispatched before the other session took it
    assert out is not None and "another live Claude session" in str(out["systemMessage"])
    assert "not recorded" in str(out["systemMessage"])
    write(mgr, wid, "orchestrator")
    out = s.stop("orchestrator", "agent-x")
    assert out is not None and "not recorded" in str(out["systemMessage"])
    assert mgr.load(wid).attempts == []


def test_no_evidence_records_nothing_and_says_what_to_do(project: Path, mgr: CheckpointManager) -> None:
    wid = mgr.create("unbound").workflow_id  # created in a terminal: no session bound
    s = Session(project, "S4")
    _, denied = s.dispatch("orchestrator", "scope the work")
    assert denied is not None and "cairn-workflow:" in json.dumps(denied)
    out = s.start("orchestrator", "agent-y")
    assert out is not None and "cairn-workflow:" in str(out["systemMessage"])
    write(mgr, wid, "orchestrator")
    out = s.stop("orchestrator", "agent-y")
    assert out is not None and "nothing recorded" in str(out["systemMessage"])
    assert mgr.load(wid).attempts == []


def test_the_transcript_is_evidence(project: Path, mgr: CheckpointManager, tmp_path: Path) -> None:
    wid = mgr.create("from the transcript").workflow_id
    mgr.create("another open one")
    transcript = tmp_path / "agent-t.jsonl"
    transcript.write_text(json.dumps({"type": "user", "message": {
        "role": "user", "content": f"Scope it.\ncairn-workflow: {wid}"}}) + "\n")
    s = Session(project, "S5")
    write(mgr, wid, "orchestrator")
    assert s.stop("orchestrator", "agent-t", transcript=transcript) is None
    assert attempts(mgr.load(wid)) == [("orchestrator", "completed", "agent-t")]


def test_conflicting_evidence_records_nothing(project: Path, mgr: CheckpointManager, tmp_path: Path) -> None:
    wa = mgr.create("A").workflow_id
    wb = mgr.create("B").workflow_id
    s = Session(project, "S6")
    assert s.dispatch("orchestrator", f"cairn-workflow: {wa}")[1] is None
    transcript = tmp_path / "agent-c.jsonl"
    transcript.write_text(json.dumps({"type": "user", "message": {"content": f"cairn-workflow: {wb}"}}) + "\n")
    write(mgr, wb, "orchestrator")
    out = s.stop("orchestrator", "agent-c", transcript=transcript)
    assert out is not None and "nothing recorded" in str(out["systemMessage"])
    assert mgr.load(wa).attempts == [] and mgr.load(wb).attempts == []


def test_an_artifact_naming_another_workflow_is_not_this_stages_output(project: Path,
                                                                       mgr: CheckpointManager) -> None:
    wid = mgr.create("mine", session_id="S7").workflow_id
    other = mgr.create("theirs").workflow_id
    s = Session(project, "S7")
    s.dispatch("orchestrator", f"cairn-workflow: {wid}")
    s.start("orchestrator", "agent-w")
    write(mgr, wid, "orchestrator", workflow_id=other)
    out = s.stop("orchestrator", "agent-w")
    assert out is not None and out.get("decision") == "block" and other in str(out["reason"])
    assert mgr.load(wid).completed_agents == []


def test_a_repeated_subagent_stop_is_counted_once(project: Path, mgr: CheckpointManager) -> None:
    wid = mgr.create("once", session_id="S8").workflow_id
    s = Session(project, "S8")
    run_stage(s, mgr, wid, "orchestrator", "agent-r")
    seq = mgr.load(wid).seq
    for _ in range(3):
        assert s.stop("orchestrator", "agent-r") is None
    wf = mgr.load(wid)
    assert attempts(wf) == [("orchestrator", "completed", "agent-r")] and wf.seq == seq


def test_dispatch_out_of_order_is_denied_with_the_stage_to_run(project: Path, mgr: CheckpointManager) -> None:
    wid = mgr.create("order", session_id="S9").workflow_id
    s = Session(project, "S9")
    _, denied = s.dispatch("planner", f"cairn-workflow: {wid}")
    assert denied is not None
    reason = str(denied["hookSpecificOutput"]["permissionDecisionReason"])  # type: ignore[index]
    assert "researcher" in reason and "orchestrator" in reason


def test_a_subagent_stopping_after_its_workflow_was_cancelled(project: Path, mgr: CheckpointManager) -> None:
    first = mgr.create("cancelled soon", session_id="S10").workflow_id
    s = Session(project, "S10")
    s.dispatch("orchestrator", f"cairn-workflow: {first}")
    s.start("orchestrator", "agent-late")
    mgr.cancel(first)
    second = mgr.create("the next one", session_id="S10").workflow_id
    write(mgr, first, "orchestrator")
    write(mgr, second, "orchestrator")
    out = s.stop("orchestrator", "agent-late")
    assert out is not None and "not recorded" in str(out["systemMessage"])
    assert mgr.load(second).attempts == []
    assert [a.outcome for a in mgr.load(first).attempts] == ["interrupted"]


def test_a_rerun_that_writes_nothing_is_not_done(project: Path, mgr: CheckpointManager) -> None:
    from cairn.operations import Operation

    wid = mgr.create("rerun", session_id="S11").workflow_id
    s = Session(project, "S11")
    run_stage(s, mgr, wid, "orchestrator", "agent-1")
    manifest = mgr.workflow_dir(wid) / "manifest.json"
    old = manifest.stat().st_mtime - 3600  # written an hour before the re-run
    os.utime(manifest, (old, old))
    op = Operation(rerun_from="orchestrator")
    mgr.apply(wid, op.change, op.name(), session_id="S11")
    s.dispatch("orchestrator", f"cairn-workflow: {wid}")
    s.start("orchestrator", "agent-2")
    out = s.stop("orchestrator", "agent-2")  # the old manifest.json is still there, untouched
    assert out is not None and out.get("decision") == "block" and "not rewritten" in str(out["reason"])
    assert mgr.load(wid).completed_agents == []
    write(mgr, wid, "orchestrator")
    assert s.stop("orchestrator", "agent-2", active=True) is None
    assert mgr.load(wid).completed_agents == ["orchestrator"]


def test_post_tool_use_ties_the_agent_and_records_usage(project: Path, mgr: CheckpointManager) -> None:
    wid = mgr.create("usage", session_id="S12").workflow_id
    s = Session(project, "S12")
    tool_use, _ = s.dispatch("orchestrator", f"cairn-workflow: {wid}")
    s.hook("post-tool-use", tool_name="Agent", tool_use_id=tool_use,
           tool_input={"subagent_type": "cairn:orchestrator", "prompt": "x"},
           tool_response={"status": "async_launched", "agentId": "agent-bg"})
    # a background agent: its SubagentStop comes later and names only its agent id
    write(mgr, wid, "orchestrator")
    assert s.stop("orchestrator", "agent-bg") is None
    s.hook("post-tool-use", tool_name="Agent", tool_use_id=tool_use,
           tool_input={"subagent_type": "cairn:orchestrator", "prompt": "x"},
           tool_response={"status": "completed", "agentId": "agent-bg", "totalTokens": 835,
                          "totalDurationMs": 628})
    (attempt,) = mgr.load(wid).attempts
    assert attempt.agent_id == "agent-bg" and attempt.outcome == "completed"
    assert attempt.usage is not None and json.loads(attempt.usage)["totalTokens"] == 835


def test_one_stage_dispatched_for_two_workflows_at_once(project: Path, mgr: CheckpointManager,
                                                        tmp_path: Path) -> None:
    """Two Agent calls in one turn: both SubagentStarts come before either agent runs and
    nothing in them says which dispatch started which agent (the client's behaviour).
    Each gets both briefs; each SubagentStop decides from its agent's transcript."""
    wa, wb = mgr.create("A").workflow_id, mgr.create("B").workflow_id
    s = Session(project, "S13")
    for wid in (wa, wb):
        assert s.dispatch("orchestrator", f"cairn-workflow: {wid}")[1] is None
    for agent in ("agent-p", "agent-q"):
        out = s.start("orchestrator", agent)
        assert out is not None
        brief = str(out["hookSpecificOutput"]["additionalContext"])  # type: ignore[index]
        assert wa in brief and wb in brief and "cairn-workflow:" in brief
    for agent, wid in (("agent-q", wb), ("agent-p", wa)):
        transcript = tmp_path / f"{agent}.jsonl"
        transcript.write_text(json.dumps({"type": "user", "message": {"content": f"cairn-workflow: {wid}"}}))
        write(mgr, wid, "orchestrator")
        assert s.stop("orchestrator", agent, transcript=transcript) is None
    assert attempts(mgr.load(wa)) == [("orchestrator", "completed", "agent-p")]
    assert attempts(mgr.load(wb)) == [("orchestrator", "completed", "agent-q")]
