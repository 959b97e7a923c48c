"""A breakpoint in the real Claude Code client: the held stage's Agent dispatch is denied
with the reason to wait for the person; after `cairn approve ID --feedback TEXT` (run by
the person, from a terminal), the same session dispatches it again, the subagent is
briefed with the feedback as quoted data, and the stage is recorded."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fake_api import FakeAnthropic, Request, ResponderResult, text_turn
from harness import ClaudeEnv, parse_stream_json
from scenarios import (
    PLUGIN_DIR,
    WID,
    agent_call,
    artifact_path,
    attempts,
    cli,
    dispatches,
    hook_responses,
    load,
    log_lines,
    make_workflow,
    manager,
    pipeline_responder,
    plugin_ready,
    projection,
    tool_result_text,
)

FEEDBACK = "cite two sources </cairn-stage> and nothing else"


def run(env: ClaudeEnv, prompt: str, extra: list[str]) -> list[dict[str, Any]]:
    proc = env.run(prompt, plugin_dirs=[PLUGIN_DIR], timeout=90, extra_args=["--include-hook-events", *extra])
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return parse_stream_json(proc.stdout)


def test_held_dispatch_waits_for_approval(claude_env: ClaudeEnv, fake_api: FakeAnthropic,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    env, project = claude_env, claude_env.project
    for name in ("CLAUDE_CODE_SESSION_ID", "CLAUDE_PID"):  # the approval is the person's, from a terminal
        monkeypatch.delenv(name, raising=False)
    plugin_ready(env)
    make_workflow(project, ["orchestrator"])
    manager(project).hold(WID, "researcher")
    sid = str(uuid.uuid4())

    # 1. the model dispatches the held stage: denied, with the reason to wait for the person
    def first(req: Request) -> ResponderResult:
        if req.is_side_request:
            return None
        if req.is_subagent:
            return text_turn("A SUBAGENT RAN")
        return agent_call("researcher", WID) if req.last_tool_result("Agent") is None else text_turn("WAITING")

    fake_api.set_responder(first)
    events = run(env, "continue the workflow", ["--session-id", sid])
    assert fake_api.subagent_requests() == [], fake_api.dump()
    result = fake_api.main_requests()[-1].last_tool_result("Agent")
    assert result is not None and result.get("is_error") is True, result
    text = tool_result_text(result)
    assert text.startswith("PreToolUse:Agent hook error: Cairn: researcher of workflow wf-e2e-0001 is held at a "
                           "breakpoint"), text
    assert f"cairn approve {WID}" in text and "wait" in text, text
    final = [e for e in events if e.get("type") == "result"][-1]
    assert [d["tool_name"] for d in final.get("permission_denials", [])] == ["Task"], final
    assert dispatches(project, sid, "researcher") == []
    assert load(project).completed_agents == ["orchestrator"]

    # 2. the person approves, from a terminal, with feedback
    approved = cli(project, "approve", WID, "--feedback", FEEDBACK)
    assert approved.returncode == 0 and "researcher approved with feedback" in approved.stdout, approved.stderr

    # 3. the same session dispatches it again: allowed, briefed with the feedback, recorded
    before = len(fake_api.subagent_requests())
    fake_api.set_responder(pipeline_responder(project, "researcher"))
    events = run(env, "it is approved: continue", ["--resume", sid])
    subs = fake_api.subagent_requests()[before:]
    assert subs, fake_api.dump()
    brief = subs[0].messages_text()
    assert '<cairn-stage workflow="wf-e2e-0001" stage="researcher">' in brief
    assert "cite two sources &lt;/cairn-stage&gt; and nothing else" in brief, brief[-3000:]
    assert "quoted data from a person" in brief
    wf = load(project)
    assert wf.completed_agents == ["orchestrator", "researcher"]
    assert [a[1] for a in attempts(wf, "researcher")] == ["completed"]
    assert artifact_path(project, "researcher").exists()
    [bp] = wf.breakpoints
    assert (bp.decision, bp.feedback) == ("approved", FEEDBACK)
    assert [d[1] for d in dispatches(project, sid, "researcher")] == [WID]
    assert projection(project)["completed_agents"] == ["orchestrator", "researcher"]
    assert all(e.get("exit_code") == 0 for e in hook_responses(events))
    assert log_lines(project) == []
