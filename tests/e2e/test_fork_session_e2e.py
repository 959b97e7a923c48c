"""A forked conversation in the real client (`claude --resume <sid> --fork-session`):
SessionStart comes with `source: "fork"` and a new session id (measured, CLIENT_FACTS).
Cairn answers it like a new session: the resume context of the workflow, offered, not
bound; the original session keeps its binding, and the fork holds no lease."""

from __future__ import annotations

import json
import uuid

from fake_api import FakeAnthropic, Request, ResponderResult, text_turn
from harness import ClaudeEnv, parse_stream_json
from scenarios import (
    PLUGIN_DIR,
    WID,
    bash_call,
    binding,
    hook_responses,
    log_lines,
    make_workflow,
    manager,
    plugin_ready,
)

from cairn.status import Status


def test_a_forked_conversation_is_a_new_session(claude_env: ClaudeEnv, fake_api: FakeAnthropic) -> None:

    env, project = claude_env, claude_env.project
    plugin_ready(env)
    make_workflow(project, ["orchestrator"], pause=True)
    original = str(uuid.uuid4())

    def resume_then_stop(req: Request) -> ResponderResult:
        if req.is_side_request:
            return None
        if req.last_tool_result("Bash") is None and "forked" not in req.last_user_text:
            return bash_call(f"cairn resume {WID} --json")
        return text_turn("DONE")

    fake_api.set_responder(resume_then_stop)
    first = env.run("resume the workflow", plugin_dirs=[PLUGIN_DIR], extra_args=["--session-id", original])
    assert first.returncode == 0, first.stderr[-2000:]
    assert binding(project, original) == WID  # (its SessionEnd gave the lease back)

    forked = env.run("forked: what next?", plugin_dirs=[PLUGIN_DIR], timeout=90,
                     extra_args=["--resume", original, "--fork-session", "--include-hook-events"])
    assert forked.returncode == 0, forked.stderr[-2000:]
    events = parse_stream_json(forked.stdout)
    [start] = [e for e in hook_responses(events, "SessionStart") if "cairn" in str(e.get("output", ""))]
    fork_sid = str(start["session_id"])
    assert fork_sid != original
    answer = json.loads(str(start["output"]))
    context = answer["hookSpecificOutput"]["additionalContext"]
    assert f'<cairn-resume-context workflow="{WID}">' in context
    assert f"not yet bound to this session: run /cairn:resume {WID}" in context
    # the fork shares neither the original's binding nor its lease
    assert binding(project, fork_sid) is None and binding(project, original) == WID
    with manager(project).store.read() as r:
        held = r.lease(WID)
        own = r.session_workflows(fork_sid, list(Status))
    assert held is None or held.session_id != fork_sid
    assert own == []  # nothing recorded the fork as working on the workflow
    assert log_lines(project) == []
