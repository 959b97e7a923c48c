"""Token accounting (`cairn.accounting`): what each stage cost and what resuming saved,
computed from the usage the client reports on PostToolUse for the Agent tool (the shape
of `tests/fixtures/hooks/PostToolUse-Agent.json`), through the real store; and how
`cairn history` and `cairn status ID` show it."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cairn import accounting
from cairn.cli import main
from cairn.manager import CheckpointManager
from cairn.operations import Operation

EXAMPLES = Path(__file__).resolve().parents[1] / "lib" / "cairn" / "data" / "examples"
CAPTURED = Path(__file__).resolve().parent / "fixtures" / "hooks" / "PostToolUse-Agent.json"
WID = "wf-cost"


def report(tokens: int, ms: int) -> str:
    """What PostToolUse on the Agent tool keeps (hook_agents.post_tool_use), from the
    captured payload with other figures."""
    response = json.loads(CAPTURED.read_text())["stdin"]["tool_response"]
    response.update(totalTokens=tokens, totalDurationMs=ms)
    return json.dumps({k: response[k] for k in ("totalTokens", "totalDurationMs", "totalToolUseCount", "usage")})


def run_stage(m: CheckpointManager, stage: str, agent: str, tokens: int, ms: int) -> None:
    m.record_start(WID, stage, agent_id=agent)
    rel = m.load(WID).pipeline.stage(stage).artifacts[0].path
    data = json.loads((EXAMPLES / rel).read_text())
    data["workflow_id"] = WID
    (m.workflow_dir(WID) / rel).write_text(json.dumps(data))
    m.record_completion(WID, stage, agent_id=agent)
    m.workflows.agent_launched(f"toolu-{agent}", agent, report(tokens, ms))


@pytest.fixture
def mgr(tmp_path: Path) -> CheckpointManager:
    m = CheckpointManager(tmp_path / ".claude" / "artifacts", project_dir=tmp_path)
    m.create("cost me", workflow_id=WID)
    return m


def test_usage_is_kept_whole_per_attempt(mgr: CheckpointManager) -> None:
    run_stage(mgr, "orchestrator", "ag-1", 835, 628)
    attempt = mgr.load(WID).effective("orchestrator")
    assert attempt is not None and attempt.usage is not None
    kept = json.loads(attempt.usage)
    assert kept["totalTokens"] == 835 and kept["totalDurationMs"] == 628
    assert kept["usage"]["input_tokens"] == 818 and kept["usage"]["output_tokens"] == 17
    u = accounting.usage(attempt)
    assert (u.tokens, u.seconds, u.input_tokens, u.output_tokens) == (835, 0.628, 818, 17)


def test_stage_costs_sum_every_attempt(mgr: CheckpointManager) -> None:
    run_stage(mgr, "orchestrator", "ag-1", 1000, 60_000)
    run_stage(mgr, "researcher", "ag-2", 5000, 120_000)
    mgr.apply(WID, Operation(rerun_from="researcher").change, "rerun_from")
    run_stage(mgr, "researcher", "ag-3", 7000, 180_000)
    costs = {c.stage: c for c in accounting.stage_costs(mgr.load(WID))}
    assert list(costs) == ["orchestrator", "researcher"]
    assert costs["researcher"] == accounting.StageCost("researcher", 2, 12_000, 300.0, 2)
    assert costs["orchestrator"] == accounting.StageCost("orchestrator", 1, 1000, 60.0, 1)


def test_a_resume_saves_the_stages_it_does_not_rerun(mgr: CheckpointManager) -> None:
    run_stage(mgr, "orchestrator", "ag-1", 1000, 60_000)
    run_stage(mgr, "researcher", "ag-2", 5000, 120_000)
    wf = mgr.load(WID)
    assert accounting.saved(wf) == accounting.NOTHING
    assert accounting.would_save(wf) == accounting.Saving(0, 2, 6000, 180.0)
    mgr.pause(WID, "session ended")
    mgr.apply(WID, Operation().change, "resume")  # `cairn resume`: nothing re-run
    assert accounting.saved(mgr.load(WID)) == accounting.Saving(1, 2, 6000, 180.0)
    # a second resume that re-runs the researcher: the first resume's saving of it is
    # undone too (it was re-run after all); the orchestrator counts for both resumes
    run_stage(mgr, "planner", "ag-3", 2000, 30_000)
    mgr.pause(WID, "again")
    mgr.apply(WID, Operation(rerun_from="researcher").change, "rerun_from")
    assert accounting.saved(mgr.load(WID)) == accounting.Saving(2, 2, 2000, 120.0)


def test_stages_without_a_report_count_their_time_only(mgr: CheckpointManager) -> None:
    mgr.record_start(WID, "orchestrator", agent_id="ag-1")
    (mgr.workflow_dir(WID) / "manifest.json").write_text(
        json.dumps({**json.loads((EXAMPLES / "manifest.json").read_text()), "workflow_id": WID}))
    mgr.record_completion(WID, "orchestrator", agent_id="ag-1")
    [c] = accounting.stage_costs(mgr.load(WID))
    assert c.tokens == 0 and c.reported == 0 and c.seconds >= 0


def test_history_and_status_show_tokens_minutes_and_savings(mgr: CheckpointManager,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    run_stage(mgr, "orchestrator", "ag-1", 12_000, 90_000)
    mgr.pause(WID, "session ended")
    mgr.apply(WID, Operation().change, "resume")
    root = str(mgr.root)
    assert main(["--dir", root, "history", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["tokens"] == 12_000 and data["seconds"] == 90.0
    assert data["saved"] == {"resumes": 1, "stages_not_rerun": 1, "tokens": 12_000, "seconds": 90.0}
    assert data["workflow_costs"] == [{"workflow_id": WID, "tokens": 12_000, "seconds": 90.0,
                                       "saved": data["saved"]}]
    assert [(s["stage"], s["tokens"], s["seconds"]) for s in data["stages"]] == [("orchestrator", 12_000, 90.0)]
    assert main(["--dir", root, "history"]) == 0
    text = capsys.readouterr().out
    assert "Spent: 12.0k tokens, 1.5 min; saved by resuming: 12.0k tokens, 1.5 min (1 completed stage not " \
           "re-run over 1 resume)" in text
    assert main(["--dir", root, "status", WID, "--json"]) == 0
    cost = json.loads(capsys.readouterr().out)["cost"]
    assert cost["tokens"] == 12_000 and cost["saved"]["tokens"] == 12_000
    assert cost["stages"] == [{"stage": "orchestrator", "attempts": 1, "tokens": 12_000, "seconds": 90.0,
                               "reported_attempts": 1}]
    assert main(["--dir", root, "status", WID, "--no-color"]) == 0
    text = capsys.readouterr().out
    assert "  orchestrator              1     12.0k        1.5" in text
    assert "Saved by resuming: 12.0k tokens, 1.5 min (1 completed stage not re-run over 1 resume)" in text


def test_the_resume_context_says_what_resuming_skips(mgr: CheckpointManager) -> None:
    from cairn.resumer import WorkflowResumer

    run_stage(mgr, "orchestrator", "ag-1", 12_000, 90_000)
    mgr.pause(WID, "session ended")
    resumer = WorkflowResumer(mgr)
    context = resumer.render_context(resumer.plan(WID), mgr.load(WID))
    assert "- Resuming skips 1 completed stage (12.0k tokens, 1.5 min of work)" in context


BASH_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "bash-hooks"


def test_transcript_usage_matches_what_the_client_reports(tmp_path: Path) -> None:
    """A background agent's PostToolUse carries no usage: SubagentStop rebuilds it from
    the agent's transcript, the way the client counts it for a foreground agent."""
    reported = json.loads((BASH_FIXTURES / "PostToolUse-Agent-of-transcript.json").read_text())["stdin"]
    reported = reported["tool_response"]
    transcript = tmp_path / "agent.jsonl"
    transcript.write_bytes((BASH_FIXTURES / "agent-transcript.jsonl").read_bytes())
    rebuilt = json.loads(accounting.transcript_usage(str(transcript)) or "null")
    assert rebuilt["totalTokens"] == reported["totalTokens"] == 2012
    assert rebuilt["usage"] == reported["usage"]
    assert 0 <= rebuilt["totalDurationMs"] <= reported["totalDurationMs"]
    assert rebuilt["source"] == "transcript"
    # not a file, a relative path, a link, no assistant entry: no report
    link = tmp_path / "link.jsonl"
    link.symlink_to(transcript)
    empty = tmp_path / "empty.jsonl"
    empty.write_text('{"type": "user"}\nnot json\n')
    for path in (None, "", "agent.jsonl", str(tmp_path / "missing.jsonl"), str(link), str(empty)):
        assert accounting.transcript_usage(path) is None, path


def test_a_background_stage_gets_its_usage_at_subagent_stop(mgr: CheckpointManager, tmp_path: Path) -> None:
    from cairn.hooks import run

    transcript = tmp_path / "agent.jsonl"
    transcript.write_bytes((BASH_FIXTURES / "agent-transcript.jsonl").read_bytes())
    mgr.record_start(WID, "orchestrator", agent_id="ag-bg", session_id="s1")
    (mgr.workflow_dir(WID) / "manifest.json").write_text(
        json.dumps({**json.loads((EXAMPLES / "manifest.json").read_text()), "workflow_id": WID}))
    stop = {"session_id": "s1", "hook_event_name": "SubagentStop", "agent_id": "ag-bg",
            "agent_type": "cairn:orchestrator", "agent_transcript_path": str(transcript), "stop_hook_active": False,
            "cwd": str(mgr.project_dir)}
    assert run("subagent-stop", json.dumps(stop).encode(), {"CLAUDE_PROJECT_DIR": str(mgr.project_dir)}) is None
    attempt = mgr.load(WID).effective("orchestrator")
    assert attempt is not None and accounting.usage(attempt).tokens == 2012
    seq = mgr.load(WID).seq
    # a foreground agent's own report, arriving after its stop, replaces the rebuilt one
    mgr.workflows.agent_launched("toolu-x", "ag-bg", report(2500, 900))
    wf = mgr.load(WID)
    assert accounting.usage(wf.effective("orchestrator")).tokens == 2500 and wf.seq == seq + 1  # type: ignore[arg-type]


def test_a_transcript_that_is_not_a_regular_file_is_not_read(tmp_path: Path) -> None:
    """A FIFO or a folder named as a transcript: both transcript readers (usage here, the
    first prompt for evidence) answer None at once; reading the usage used to raise on
    the FIFO's seek, and a writer holding it open must not hang a hook either."""
    from cairn.evidence import first_prompt

    fifo = tmp_path / "agent.jsonl"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # a writer holds it open: a blocking read would wait for ever
    try:
        for path in (str(fifo), str(tmp_path)):
            assert accounting.transcript_usage(path) is None, path
            assert first_prompt(path) is None, path
    finally:
        os.close(writer)
