"""Cairn against the real Claude Code client (``--plugin-dir <repo>``, fake Messages API).

The model side is scripted (``fake_api``); everything else — hook dispatch, payloads,
context injection, Stop-hook blocking, signals — is the real client, pinned in
``.ci/install-claude.sh``. See ``scenarios.py`` for the project set-up helpers. The
outcome is read with the library from ``.claude/artifacts/cairn.db``; ``checkpoint.json``
is a projection of it.

What these runs showed about Claude Code 2.1.328 (beyond ../shared/claude-code-hooks):

* Every ``claude -p`` run ends with SessionEnd (reason "other"). Cairn pauses the
  workflow bound to that session (``cairn start``/``cairn resume`` in it); a workflow
  the session only dispatched stages of is not bound (see
  ``test_clean_session_end_leaves_nothing_running``).
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
* stream-json goes to stdout event by event while the client runs, so a responder can
  wait for a hook event (``wait_for_event``).
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import uuid
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
)
from scenarios import (
    PLUGIN_DIR,
    WID,
    agent_call,
    artifact_path,
    artifacts_root,
    attempts,
    completions,
    load,
    log_lines,
    make_workflow,
    pipeline_responder,
    plugin_ready,
    projection,
    resume_in_session,
)

from cairn.store.projection import render


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


def wait_for_event(path: Path, predicate: Any, timeout: float = 20) -> bool:
    """Poll a running client's stream-json stdout file until an event satisfies ``predicate``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and any(predicate(e) for e in parse_stream_json(path.read_text())):
            return True
        time.sleep(0.05)
    return False


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
    # what the plugin reaches is declared (network.hosts): the bootstrap's pip, nothing else
    assert {(h["host"], s["type"]) for h in report["hosts"]["named"] for s in h["sources"]} == {
        ("pypi.org", "declared"), ("files.pythonhosted.org", "declared")}
    assert report["advice"] == []
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
    assert f'<cairn-resume-context workflow="{WID}">' in context and "# Cairn workflow " + WID in context
    nxt = context.split("## Next", 1)[1]
    assert nxt.startswith("\n- test-master: ")
    assert f'subagent_type "cairn:test-master" and put the line "cairn-workflow: {WID}"' in nxt
    assert f"not yet bound to this session: run /cairn:resume {WID}" in context
    # The systemMessage is for the person: the client shows the hook's output (in
    # stream-json, a hook_response event) but the model does not get it.
    hook = session_start_output(events)
    assert hook["systemMessage"] == (f"Cairn: workflow {WID} is 3/8 done, next: test-master"
                                     f" \u2014 /cairn:resume {WID}")
    assert hook["hookSpecificOutput"]["hookEventName"] == "SessionStart"
    assert hook["systemMessage"] not in first.all_text()
    assert len(fake_api.main_requests()) == 1
    assert log_lines(env.project) == []


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

    wf = load(env.project)
    assert wf.completed_agents == ["orchestrator", "researcher"]
    assert attempts(wf, "researcher") == [(1, "completed", subs[0].agent_id)]
    assert wf.artifacts["research.json"].agent == "researcher"
    assert wf.next_agents == ["planner"]
    cp = projection(env.project)
    assert cp["seq"] == wf.seq and cp["completed_agents"] == ["orchestrator", "researcher"]
    assert cp["progress"] == {"completed": 2, "total": 8} and cp["next_agents"] == ["planner"]
    # PostToolUse (after SubagentStop for a foreground agent) kept what the client
    # reported about the run on the attempt.
    usage = json.loads(wf.effective("researcher").usage or "null")  # type: ignore[union-attr]
    assert usage and usage["totalToolUseCount"] == 1 and usage["totalTokens"] > 0, usage
    assert log_lines(env.project) == []


def test_projection_shows_what_the_database_has_after_a_stage(env: ClaudeEnv,
                                                             fake_api: FakeAnthropic) -> None:
    make_workflow(env.project, ["orchestrator"])
    fake_api.set_responder(pipeline_responder(env.project, "researcher"))
    run(env, "run the next stage")
    wf = load(env.project)
    cp = projection(env.project)
    assert cp["seq"] == wf.seq
    truth: dict[str, Any] = json.loads(json.dumps(render(wf)["agents"]))
    differ = {(stage, i, key): (a.get(key), b.get(key))
              for stage in truth for i, (a, b) in enumerate(zip(cp["agents"][stage]["attempts"],
                                                                truth[stage]["attempts"], strict=True))
              for key in a.keys() | b.keys() if a.get(key) != b.get(key)}
    assert differ == {}, "checkpoint.json vs the database (projection, database)"


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
    assert f"{target.name} does not exist" in feedback
    wf = load(env.project)
    assert wf.completed_agents == ["orchestrator", "researcher", "planner"]
    # What really happens: the block does not end the attempt. One SubagentStart, one
    # attempt, completed by the second SubagentStop (stop_hook_active true, file valid).
    assert attempts(wf, "planner") == [(1, "completed", subs[0].agent_id)]
    assert wf.effective("planner").error is None  # type: ignore[union-attr]
    assert "agent_failure" not in [m.type for m in wf.marks]
    assert log_lines(env.project) == []


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
    wf = load(env.project)
    assert wf.status.value == "failed" and "planner" not in wf.completed_agents
    assert attempts(wf, "planner") == [(1, "failed", subs[0].agent_id)]
    [attempt] = [a for a in wf.attempts if a.stage == "planner"]
    assert "architecture.json does not exist" in str(attempt.error)
    assert projection(env.project)["status"] == "failed"


# ------------------------------------------------------------------ 5. killed or ended mid-stage


@pytest.mark.parametrize(("sig", "bound", "cont"), [(signal.SIGKILL, False, False),
                                                    (signal.SIGTERM, True, False),
                                                    (signal.SIGKILL, False, True)],
                         ids=["sigkill", "sigterm-bound", "sigkill-then-continue"])
def test_session_lost_mid_stage_resumes_without_duplicates(
    env: ClaudeEnv, fake_api: FakeAnthropic, sig: int, bound: bool, cont: bool
) -> None:
    """SIGKILL runs no hook: the attempt stays open. SIGTERM runs SessionEnd, which closes
    the attempt and pauses the workflow bound to the session (``cairn resume`` in it).
    The next session re-runs the stage once; nothing is recorded twice."""
    make_workflow(env.project, ["orchestrator", "researcher", "planner"])
    sid = str(uuid.uuid4())
    if bound:
        resume_in_session(env.project, sid)
    release = threading.Event()

    def hang(req: Request) -> ResponderResult:
        if req.is_subagent:
            release.wait(timeout=30)  # test-master "at work" until the client is gone
            return text_turn("too late")
        return None if req.all_tool_uses() else agent_call("test-master")

    fake_api.set_responder(hang)
    proc = env.start("run the pipeline", plugin_dirs=[PLUGIN_DIR], extra_args=["--session-id", sid])
    try:
        assert fake_api.wait_for(lambda r: r.is_subagent, timeout=30), fake_api.dump()
        code = kill_claude(proc, sig)
        assert code is not None, "the client outlived the signal"
    finally:
        release.set()
        if proc.poll() is None:
            kill_claude(proc, signal.SIGKILL)
    before = load(env.project)
    [open_attempt] = [a for a in before.attempts if a.stage == "test-master"]
    if sig == signal.SIGKILL:  # no hook ran: still running, the attempt still open
        assert before.status.value == "running" and open_attempt.outcome == "running"
    else:  # SessionEnd ran: paused as interrupted, the attempt closed
        assert before.status.value == "paused", before.status_reason
        assert "interrupted" in str(before.status_reason)
        assert open_attempt.outcome == "interrupted"
    assert open_attempt.session_id == sid

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
        assert "did not end cleanly" in context
    wf = load(env.project)
    assert wf.completed_agents == ["orchestrator", "researcher", "planner", "test-master"]
    assert completions(wf, "test-master") == 1
    if cont:  # `-p --continue` keeps the session id: one session did it all
        assert [s.session_id for s in wf.sessions] == [sid]
    assert [a[1] for a in attempts(wf, "test-master")] == ["interrupted", "completed"]
    for stage in ("orchestrator", "researcher", "planner"):
        assert completions(wf, stage) == 1
    assert wf.next_agents == ["implementer"]
    assert projection(env.project)["seq"] == wf.seq
    assert log_lines(env.project) == []


# ------------------------------------------------------------------ 6. session end


def test_clean_session_end_leaves_nothing_running(env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    """A session that follows the SessionStart context (dispatch with the
    ``cairn-workflow`` line, no ``/cairn:resume``) records the stage, then ends cleanly.
    The workflow must not stay "running" with nobody on it, and the next session must
    not be told that the previous one was killed."""
    make_workflow(env.project, ["orchestrator"], pause=True)
    sid = str(uuid.uuid4())
    fake_api.set_responder(pipeline_responder(env.project, "researcher"))
    run(env, "run the next stage", extra_args=["--session-id", sid])
    wf = load(env.project)
    assert wf.completed_agents == ["orchestrator", "researcher"]
    assert sid in [s.session_id for s in wf.sessions]  # the database knows who worked on it

    seen = len(fake_api.requests)
    fake_api.set_responder(lambda req: None)
    run(env, "hello")
    context = next(r for r in fake_api.requests[seen:] if r.is_main).system_messages_text()
    assert "did not end cleanly" not in context, context
    wf = load(env.project)
    assert wf.status.value != "running" and not (artifacts_root(env.project) / ".running").exists()


# ------------------------------------------------------------------ 7. compaction


def user_line(text: str) -> str:
    return json.dumps({"type": "user", "message": {"role": "user", "content": text}}) + "\n"


def test_compaction_checkpoints_and_reinjects(env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    make_workflow(env.project, ["orchestrator"])
    sid = str(uuid.uuid4())
    resume_in_session(env.project, sid)  # PreCompact and SessionEnd act on the bound workflow

    def respond(req: Request) -> ResponderResult:
        if "FIRST-PROMPT" in req.last_user_text and not req.is_subagent:
            return text_turn("FIRST-ANSWER")
        if "AFTER-COMPACT" in req.last_user_text:
            return text_turn("SECOND-ANSWER")
        return text_turn("<analysis>fake</analysis>\n<summary>FAKE-COMPACT-SUMMARY</summary>")

    fake_api.set_responder(respond)
    args = ["-p", *claude_args("", plugin_dirs=[PLUGIN_DIR],
                                extra=["--input-format", "stream-json", "--include-hook-events",
                                       "--session-id", sid])[2:]]
    proc = run_claude(args, cwd=env.project, home=env.home, api=fake_api,
                      env_extra=env.env_extra, timeout=60,
                      input=user_line("FIRST-PROMPT") + user_line("/compact") + user_line("AFTER-COMPACT"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    events = parse_stream_json(proc.stdout)
    boundary = [e for e in events if e.get("subtype") == "compact_boundary"]
    assert boundary and boundary[0]["compact_metadata"]["trigger"] == "manual"
    assert boundary[0]["session_id"] == sid

    wf = load(env.project)
    kinds = [m.type for m in wf.marks]
    assert kinds == ["created", "agent_completion", "resume", "precompact", "pause"], kinds
    assert [m.session_id for m in wf.marks][-2] == sid
    assert wf.status.value == "paused" and "session ended" in str(wf.status_reason)
    assert [s.session_id for s in wf.sessions] == [sid]
    assert [h["type"] for h in projection(env.project)["history"]] == kinds

    after = [r for r in fake_api.main_requests() if "AFTER-COMPACT" in r.last_user_text]
    assert len(after) == 1, fake_api.dump()
    context = after[0].system_messages_text()
    assert "FAKE-COMPACT-SUMMARY" in after[0].messages_text()  # the history is the summary now
    assert context.count(f'<cairn-resume-context workflow="{WID}">') == 1
    assert 'subagent_type "cairn:researcher"' in context
    assert "not yet bound" not in context  # the session's own workflow
    # Compaction's own SubagentStop (agent_type "") was ignored without an error.
    assert log_lines(env.project) == []
    answered = [(e["hook_name"], e["output"]) for e in events if e.get("subtype") == "hook_response"]
    # Compaction fires SubagentStop (agent_type ""): answered with nothing. PreCompact
    # is not reported as a hook event; its checkpoint above shows it ran.
    assert ("SubagentStop", "") in answered
    assert [n for n, _ in answered if n.startswith("SessionStart")] == [
        "SessionStart:startup", "SessionStart:compact"]


# ------------------------------------------------------------------ 8. background subagent


def test_background_subagent_recorded_after_main_stop(env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    make_workflow(env.project, ["orchestrator"])
    inner = pipeline_responder(env.project, "researcher", background=True)
    order: list[str] = []

    def stop_ran(e: dict[str, Any]) -> bool:
        return e.get("subtype") == "hook_response" and e.get("hook_name") == "Stop"

    def respond(req: Request) -> ResponderResult:
        if req.is_subagent and not req.all_tool_uses():
            # Keep the agent working until the main agent's turn has ended (Stop ran).
            order.append("stop-seen" if wait_for_event(env.stdout_path, stop_ran) else "no-stop")
        if not req.is_subagent and "<task-notification>" in req.last_user_text:
            order.append("notified")
            return text_turn("MAIN-NOTIFIED")
        return inner(req)

    fake_api.set_responder(respond)
    proc = env.start("run the next stage in the background", plugin_dirs=[PLUGIN_DIR],
                     extra_args=["--include-hook-events"])
    try:
        assert proc.wait(timeout=60) == 0, env.stderr_path.read_text()[-3000:]
    finally:
        if proc.poll() is None:
            kill_claude(proc, signal.SIGKILL)
    events = parse_stream_json(env.stdout_path.read_text())
    hooks = [str(e["hook_name"]) for e in events if e.get("subtype") == "hook_started"]
    assert hooks.index("Stop") < hooks.index("SubagentStop"), hooks
    assert order == ["stop-seen", "notified"], order
    stop_out = [e for e in events if e.get("subtype") == "hook_response"
                and e.get("hook_event") == "SubagentStop"]
    assert [e["exit_code"] for e in stop_out] == [0] and stop_out[0]["output"] == ""

    wf = load(env.project)
    assert wf.completed_agents == ["orchestrator", "researcher"]
    assert attempts(wf, "researcher") == [(1, "completed", fake_api.agent_ids()[0])]
    assert wf.next_agents == ["planner"]
    assert log_lines(env.project) == []


# ------------------------------------------------------------------ 9. SessionStart twice


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
    context = fake_api.main_requests()[0].system_messages_text()
    assert context.count(f'<cairn-resume-context workflow="{WID}">') == 1
    assert sorted(bool(o.strip()) for o in outputs) == [False, True], outputs
    assert log_lines(env.project) == []
