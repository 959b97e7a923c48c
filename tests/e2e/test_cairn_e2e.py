"""Cairn against the real Claude Code client (``--plugin-dir <repo>``, fake Messages API).

The model side is scripted (``fake_api``); everything else — hook dispatch, payloads,
context injection, Stop-hook blocking, signals — is the real client, pinned in
``.ci/install-claude.sh``. See ``scenarios.py`` for the project set-up helpers.

What these runs showed about Claude Code 2.1.328 (beyond ../shared/claude-code-hooks):

* Every ``claude -p`` run ends with SessionEnd (reason "other"), so a workflow a
  ``-p`` session worked on is ``paused`` afterwards, not ``running``.
* A SessionStart ``systemMessage`` is not sent to the model. In stream-json it shows
  only inside the ``hook_response`` event at startup; after compaction the client also
  emits an ``informational`` event "SessionStart:compact says: <message>".
* Hook events in stream-json: SubagentStart is named ``SubagentStart:cairn:<stage>``,
  SubagentStop just ``SubagentStop``; PreCompact and SessionEnd are not reported
  (``/compact`` prints "Compacted PreCompact [...] completed successfully" instead).
* ``/compact`` is sent as a plain user message on ``--input-format stream-json``
  stdin. The summary request carries no agent-id header (it looks like a main
  request) although compaction then fires SubagentStop with ``agent_type: ""``.
* A Stop-hook block does not end the subagent's attempt: one SubagentStart, two
  SubagentStops (the second with ``stop_hook_active: true``), one attempt.
* With a background agent the main turn does not wait for SubagentStart hooks: the
  main agent's Stop hook ran while SubagentStart was still running.
* ``claude -p --continue`` keeps the session id (SessionStart source "resume", same
  ``session_id``), closes the dangling Agent call and sends both the old and the new
  SessionStart context.
* The client loads a plugin once even when ``--plugin-dir`` names it twice or through
  a symlink; SessionStart runs twice for one session only when the same command is
  also a project settings hook (then both run in parallel).
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from fake_api import FakeAnthropic, Request, ResponderResult, text_turn
from harness import (
    ClaudeEnv,
    claude_args,
    claude_bin,
    kill_claude,
    parse_stream_json,
    run_claude,
    wait_for_file,
)
from scenarios import (
    PLUGIN_DIR,
    WID,
    agent_call,
    artifact_path,
    artifacts_root,
    completions,
    listed,
    log_lines,
    make_workflow,
    pipeline_responder,
    plugin_ready,
    show,
)


@pytest.fixture
def env(claude_env: ClaudeEnv) -> ClaudeEnv:
    plugin_ready(claude_env)
    return claude_env


def run(env: ClaudeEnv, prompt: str, timeout: float = 60,
        extra_args: list[str] | None = None) -> list[dict[str, Any]]:
    proc = env.run(prompt, plugin_dirs=[PLUGIN_DIR], timeout=timeout, extra_args=extra_args or [])
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return parse_stream_json(proc.stdout)


def session_start_output(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The parsed stdout of Cairn's SessionStart hook, as stream-json reports it."""
    outs = [e for e in events if e.get("subtype") == "hook_response"
            and e.get("hook_event") == "SessionStart" and e.get("output")]
    assert len(outs) == 1, outs
    data: dict[str, Any] = json.loads(str(outs[0]["output"]))
    return data


# ------------------------------------------------------------------ 1. validate


def test_plugin_validates_strict_for_the_directory() -> None:
    binary = claude_bin()
    proc = subprocess.run(
        [str(binary), "plugin", "validate", "--strict", "--profile", "directory", "--json",
         str(PLUGIN_DIR)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["success"] is True
    assert report["manifest"]["errors"] == [] and report["manifest"]["warnings"] == []
    assert report["directory"]["findings"] == [] and report["directory"]["failure"] is None
    for part in report["contents"]:
        assert not part.get("errors") and not part.get("warnings"), part
    plugin = subprocess.run(
        [str(binary), "plugin", "validate", "--strict", "--json",
         str(PLUGIN_DIR / ".claude-plugin" / "plugin.json")],
        capture_output=True, text=True, timeout=60)
    assert plugin.returncode == 0, plugin.stdout + plugin.stderr
    manifest = json.loads(plugin.stdout)["manifest"]
    assert manifest["errors"] == [] and manifest["warnings"] == []


# ------------------------------------------------------------------ 2. resume context


def test_resume_context_reaches_first_request(env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    make_workflow(env.project, ["orchestrator", "researcher", "planner"], pause=True)
    fake_api.set_responder(lambda req: None)

    events = run(env, "hello")

    first = fake_api.main_requests()[0]
    context = first.system_messages_text()
    assert "SessionStart hook additional context" in context
    assert f'workflow="{WID}"' in context and "# Cairn workflow " + WID in context
    assert "test-master" in context.split("## Next", 1)[1]
    assert 'subagent_type "cairn:test-master"' in context
    # The systemMessage is for the person: the client shows the hook's output (in
    # stream-json, a hook_response event) but the model does not get it.
    hook = session_start_output(events)
    assert hook["systemMessage"] == (f"Cairn: workflow {WID} is 3/8 done, next: test-master"
                                     " \u2014 /cairn:resume")
    assert hook["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert hook["systemMessage"] not in first.all_text()
    assert len(fake_api.main_requests()) == 1


# ------------------------------------------------------------------ 3. a subagent records its stage


def test_researcher_subagent_is_briefed_and_recorded(env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    make_workflow(env.project, ["orchestrator"])
    fake_api.set_responder(pipeline_responder(env.project, "researcher"))

    run(env, "run the next stage")

    subs = fake_api.subagent_requests()
    assert len(subs) == 2, fake_api.dump()
    brief = subs[0].system_messages_text() + subs[0].messages_text()
    assert f'<cairn-stage workflow="{WID}" stage="researcher">' in brief
    target = artifact_path(env.project, "researcher")
    assert f"- {target} (JSON Schema: " in brief
    assert str(artifact_path(env.project, "orchestrator")) in brief  # upstream to read
    assert "<cairn-resume-context" not in brief  # SessionStart context is the main agent's
    assert target.exists()

    cp = show(env.project)
    assert cp["completed_agents"] == ["orchestrator", "researcher"]
    [attempt] = cp["agents"]["researcher"]["attempts"]
    assert attempt["outcome"] == "completed" and attempt["agent_id"] == subs[0].agent_id
    assert cp["artifacts"]["research.json"]["agent"] == "researcher"
    row = listed(env.project)
    assert row["completed_agents"] == 2 and row["next_agent"] == "planner", row
    assert row["status"] == "paused"  # the `-p` session ended: SessionEnd paused it


# ------------------------------------------------------------------ 4. blocked once, then recorded


def test_subagent_without_artifact_is_blocked_once(env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    make_workflow(env.project, ["orchestrator", "researcher"])
    fake_api.set_responder(pipeline_responder(env.project, "planner", write_first=False))

    run(env, "run the next stage")

    subs = fake_api.subagent_requests()
    assert len(subs) == 3, fake_api.dump()  # stop (blocked) -> Write -> stop
    target = artifact_path(env.project, "planner")
    assert "Stop hook feedback" not in subs[0].messages_text()
    feedback = subs[1].messages_text()
    assert "Stop hook feedback" in feedback
    assert f"the planner stage of workflow {WID} is not done" in feedback
    assert f"{target} does not exist" in feedback
    cp = show(env.project)
    assert cp["completed_agents"] == ["orchestrator", "researcher", "planner"]
    # What really happens: the block does not end the attempt. One SubagentStart, one
    # attempt, completed by the second SubagentStop (stop_hook_active true, file valid).
    [attempt] = cp["agents"]["planner"]["attempts"]
    assert attempt["outcome"] == "completed" and attempt["error"] is None
    assert attempt["agent_id"] == subs[0].agent_id
    assert "agent_failure" not in [h["checkpoint_type"] for h in cp["history"]]


def test_subagent_still_without_artifact_fails(env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    make_workflow(env.project, ["orchestrator", "researcher"])

    def respond(req: Request) -> ResponderResult:
        if req.is_subagent:
            return text_turn("NO-FILE-FROM-ME")
        return None if req.all_tool_uses() else agent_call("planner")

    fake_api.set_responder(respond)
    run(env, "run the next stage")

    subs = fake_api.subagent_requests()
    assert len(subs) == 2, fake_api.dump()  # blocked once, then let go
    assert "Stop hook feedback" in subs[1].messages_text()
    cp = show(env.project)
    assert cp["status"] == "failed" and "planner" not in cp["completed_agents"]
    [attempt] = cp["agents"]["planner"]["attempts"]
    assert attempt["outcome"] == "failed"
    assert "architecture.json does not exist" in attempt["error"]


# ------------------------------------------------------------------ 5. killed or ended mid-stage


@pytest.mark.parametrize(("sig", "cont"), [(signal.SIGKILL, False), (signal.SIGTERM, False),
                                           (signal.SIGKILL, True)],
                         ids=["sigkill", "sigterm", "sigkill-then-continue"])
def test_session_lost_mid_stage_resumes_without_duplicates(
    env: ClaudeEnv, fake_api: FakeAnthropic, sig: int, cont: bool
) -> None:
    make_workflow(env.project, ["orchestrator", "researcher", "planner"])
    release = threading.Event()

    def hang(req: Request) -> ResponderResult:
        if req.is_subagent:
            release.wait(timeout=30)  # test-master "at work" until the client is gone
            return text_turn("too late")
        return None if req.all_tool_uses() else agent_call("test-master")

    fake_api.set_responder(hang)
    proc = env.start("run the pipeline", plugin_dirs=[PLUGIN_DIR])
    try:
        assert fake_api.wait_for(lambda r: r.is_subagent, timeout=30), fake_api.dump()
        code = kill_claude(proc, sig)
        assert code is not None, "the client outlived the signal"
    finally:
        release.set()
        if proc.poll() is None:
            kill_claude(proc, signal.SIGKILL)
    before = show(env.project)
    [open_attempt] = before["agents"]["test-master"]["attempts"]
    if sig == signal.SIGKILL:  # no hook ran: still running, the attempt still open
        assert before["status"] == "running" and open_attempt["outcome"] == "running"
    else:  # SessionEnd ran: paused as interrupted, the attempt closed
        assert before["status"] == "paused", before["status_reason"]
        assert "interrupted" in before["status_reason"]
        assert open_attempt["outcome"] == "interrupted"

    seen = len(fake_api.requests)
    fake_api.set_responder(pipeline_responder(env.project, "test-master"))
    run(env, "continue", extra_args=["--continue"] if cont else [])

    new = [r for r in fake_api.requests[seen:] if r.is_main]
    context = new[0].system_messages_text()
    tag = f'<cairn-resume-context workflow="{WID}">'
    if cont:  # the resumed conversation keeps session 1's context beside the new one
        assert context.count(tag) == 2
        assert "This replaces any earlier Cairn resume context" in context.rsplit(tag, 1)[1]
        context = context.rsplit(tag, 1)[1]
        dangling = new[0].all_tool_uses()[0]
        assert dangling["name"] == "Agent"  # session 1's call, closed by the client
    assert tag in context or cont
    assert 'subagent_type "cairn:test-master"' in context.split("## Next", 1)[1]
    assert "The last attempt of test-master" in context and "did not finish" in context
    if sig == signal.SIGKILL:
        assert "ended without a clean stop" in context
    cp = show(env.project)
    assert cp["completed_agents"] == ["orchestrator", "researcher", "planner", "test-master"]
    assert len(set(cp["completed_agents"])) == len(cp["completed_agents"])
    assert len(completions(cp, "test-master")) == 1
    if cont:  # `-p --continue` keeps the session id: one session did it all
        assert len(cp["sessions"]) == 1
    outcomes = [a["outcome"] for a in cp["agents"]["test-master"]["attempts"]]
    assert outcomes == ["interrupted", "completed"]
    for stage in ("orchestrator", "researcher", "planner"):
        assert len(completions(cp, stage)) == 1
    # The second `claude -p` session ended too (SessionEnd, reason "other"): paused again.
    assert cp["status"] == "paused" and "session ended" in cp["status_reason"]
    row = listed(env.project)
    assert row["next_agent"] == "implementer" and row["completed_agents"] == 4


# ------------------------------------------------------------------ 6. compaction


def user_line(text: str) -> str:
    return json.dumps({"type": "user", "message": {"role": "user", "content": text}}) + "\n"


def test_compaction_checkpoints_and_reinjects(env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    make_workflow(env.project, ["orchestrator"])

    def respond(req: Request) -> ResponderResult:
        if "FIRST-PROMPT" in req.last_user_text and not req.is_subagent:
            return text_turn("FIRST-ANSWER")
        if "AFTER-COMPACT" in req.last_user_text:
            return text_turn("SECOND-ANSWER")
        return text_turn("<analysis>fake</analysis>\n<summary>FAKE-COMPACT-SUMMARY</summary>")

    fake_api.set_responder(respond)
    args = ["-p", *claude_args("", plugin_dirs=[PLUGIN_DIR],
                                extra=["--input-format", "stream-json",
                                       "--include-hook-events"])[2:]]
    proc = run_claude(args, cwd=env.project, home=env.home, api=fake_api,
                      env_extra=env.env_extra, timeout=60,
                      input=user_line("FIRST-PROMPT") + user_line("/compact") + user_line("AFTER-COMPACT"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = parse_stream_json(proc.stdout)
    boundary = [e for e in events if e.get("subtype") == "compact_boundary"]
    assert boundary and boundary[0]["compact_metadata"]["trigger"] == "manual"

    cp = show(env.project)
    kinds = [h["checkpoint_type"] for h in cp["history"]]
    assert kinds == ["created", "agent_completion", "precompact", "pause"], kinds
    session = str(boundary[0]["session_id"])
    assert [s["session_id"] for s in cp["sessions"]] == [session]

    after = [r for r in fake_api.main_requests() if "AFTER-COMPACT" in r.last_user_text]
    assert len(after) == 1, fake_api.dump()
    context = after[0].system_messages_text()
    assert "FAKE-COMPACT-SUMMARY" in after[0].messages_text()  # the history is the summary now
    assert context.count(f'<cairn-resume-context workflow="{WID}">') == 1
    assert 'subagent_type "cairn:researcher"' in context
    # Compaction's own SubagentStop (agent_type "") was ignored without an error.
    assert log_lines(env.project) == []
    answered = [(e["hook_name"], e["output"]) for e in events if e.get("subtype") == "hook_response"]
    # Compaction fires SubagentStop (agent_type ""): answered with nothing. PreCompact
    # is not reported as a hook event; its checkpoint above shows it ran.
    assert ("SubagentStop", "") in answered
    assert [n for n, _ in answered if n.startswith("SessionStart")] == [
        "SessionStart:startup", "SessionStart:compact"]


# ------------------------------------------------------------------ 7. background subagent


def test_background_subagent_recorded_after_main_stop(env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    make_workflow(env.project, ["orchestrator"])
    activity = artifacts_root(env.project) / WID / ".activity"  # touched by the Stop hook
    inner = pipeline_responder(env.project, "researcher", background=True)
    order: list[str] = []

    def respond(req: Request) -> ResponderResult:
        if req.is_subagent and not req.all_tool_uses():
            # Keep the agent working until the main agent's turn has ended (Stop ran).
            order.append("stop-seen" if wait_for_file(activity, timeout=20) else "no-stop")
        if not req.is_subagent and "<task-notification>" in req.last_user_text:
            order.append("notified")
            return text_turn("MAIN-NOTIFIED")
        return inner(req)

    fake_api.set_responder(respond)
    proc = env.run("run the next stage in the background", plugin_dirs=[PLUGIN_DIR],
                   extra_args=["--include-hook-events"], timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = parse_stream_json(proc.stdout)
    hooks = [str(e["hook_name"]) for e in events if e.get("subtype") == "hook_started"]
    assert hooks.index("Stop") < hooks.index("SubagentStop"), hooks
    assert order == ["stop-seen", "notified"], order
    stop_out = [e for e in events if e.get("subtype") == "hook_response"
                and e.get("hook_event") == "SubagentStop"]
    assert [e["exit_code"] for e in stop_out] == [0] and stop_out[0]["output"] == ""

    cp = show(env.project)
    assert cp["completed_agents"] == ["orchestrator", "researcher"]
    [attempt] = cp["agents"]["researcher"]["attempts"]
    assert attempt["outcome"] == "completed"
    assert attempt["agent_id"] == fake_api.agent_ids()[0]
    assert listed(env.project)["next_agent"] == "planner"
    assert log_lines(env.project) == []


# ------------------------------------------------------------------ 8. SessionStart twice


def test_session_start_fired_twice_injects_once(env: ClaudeEnv, fake_api: FakeAnthropic,
                                                tmp_path: Path) -> None:
    """The client loads a plugin once even when given twice (``--plugin-dir`` the same
    folder twice, or through a symlink: one SessionStart hook runs). A duplicate it does
    run: the same launcher also registered in the project's settings. Both hooks run in
    parallel for the same session and source; only one may inject."""
    make_workflow(env.project, ["orchestrator"], pause=True)
    hook = {"type": "command", "command": f'sh "{PLUGIN_DIR}/hooks/run.sh" session-start'}
    (env.project / ".claude" / "settings.json").write_text(json.dumps(
        {"hooks": {"SessionStart": [{"matcher": "startup", "hooks": [hook]}]}}))
    link = tmp_path / "cairn-link"
    link.symlink_to(PLUGIN_DIR)
    proc = env.run("hello", plugin_dirs=[PLUGIN_DIR, PLUGIN_DIR, link], timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]

    events = parse_stream_json(proc.stdout)
    outputs = [str(e["output"]) for e in events if e.get("subtype") == "hook_response"
               and e.get("hook_event") == "SessionStart"]
    assert len(outputs) == 2, outputs  # plugin (once, despite three dirs) + settings
    assert sorted(bool(o.strip()) for o in outputs) == [False, True], outputs
    context = fake_api.main_requests()[0].system_messages_text()
    assert context.count(f'<cairn-resume-context workflow="{WID}">') == 1
    assert log_lines(env.project) == []
