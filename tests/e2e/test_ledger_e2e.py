"""The side-effect ledger and token accounting in the real Claude Code client.

1. A stage opens a pull request (a fake ``gh`` first on the client's PATH prints the URL
   gh prints, and logs each call), then stops without its artifact and fails. Re-run in
   a new session, the stage's brief tells it about the PR it already opened; when the
   scripted model tries ``gh pr create`` anyway, PreToolUse denies it with the URL, and
   ``gh`` ran once in all.
2. A stage completes (the client reports its tokens on PostToolUse for the Agent tool),
   the session ends; the next session is told what resuming skips, and after ``cairn
   resume`` both ``cairn status ID`` and ``cairn history`` report the tokens it saved.
3. A stage's model request is rate limited (HTTP 429): StopFailure fails its attempt
   with the reason, and the next session is told to wait and retry.
4. A background stage (the Agent tool's default) has its tokens too, from its transcript.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from fake_api import FakeAnthropic, Request, ResponderResult, error_turn, text_turn
from harness import ClaudeEnv, parse_stream_json
from scenarios import (
    PLUGIN_DIR,
    STAGES,
    WID,
    agent_call,
    artifact_path,
    artifact_text,
    bash_call,
    cli,
    hook_responses,
    load,
    log_lines,
    make_workflow,
    manager,
    pipeline_responder,
    plugin_ready,
    tool_result_text,
    write_call,
)

from cairn.operations import Operation

PR_URL = "https://github.com/acme/app/pull/12"
OPEN_PR = ("git checkout -q -b feat/login && git commit --allow-empty -m 'login form' && "
           "gh pr create --title 'Add login' --body 'adds the login form'")


def run(env: ClaudeEnv, prompt: str, sid: str) -> list[dict[str, Any]]:
    proc = env.run(prompt, plugin_dirs=[PLUGIN_DIR], timeout=90,
                   extra_args=["--include-hook-events", "--session-id", sid])
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return parse_stream_json(proc.stdout)


def fake_gh(env: ClaudeEnv) -> Path:
    """A `gh` first on the client's PATH (in the folder of its python3 wrappers) that
    prints what `gh pr create` prints and logs every call."""
    calls = env.home / "gh-calls.log"
    gh = env.home / "pybin" / "gh"
    gh.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{calls}"\n'
                  'echo "Creating pull request for feat/login into main in acme/app"\n'
                  f'echo "{PR_URL}"\n')
    gh.chmod(0o755)
    return calls


def test_a_rerun_stage_is_told_about_its_pr_and_cannot_open_another(claude_env: ClaudeEnv,
                                                                      fake_api: FakeAnthropic) -> None:
    env, project = claude_env, claude_env.project
    plugin_ready(env)
    calls = fake_gh(env)
    subprocess.run(["git", "-C", str(project), "commit", "-q", "--allow-empty", "-m", "init"], check=True)
    make_workflow(project, STAGES[:4])  # the implementer is next

    # Session 1: the implementer opens the PR, then stops twice without its artifact: failed.
    def first(req: Request) -> ResponderResult:
        if req.is_side_request:
            return None
        if req.is_subagent:
            return bash_call(OPEN_PR) if req.last_tool_result("Bash") is None and not req.all_tool_uses() \
                else text_turn("IMPLEMENTER-STOPPING-WITHOUT-ARTIFACT")
        return agent_call("implementer") if req.last_tool_result("Agent") is None else text_turn("MAIN-DONE")

    fake_api.set_responder(first)
    events = run(env, "run the implementer", str(uuid.uuid4()))
    assert calls.read_text().splitlines() == ["pr create --title Add login --body adds the login form"]
    wf = load(project)
    assert wf.agents["implementer"].last.outcome == "failed"  # type: ignore[union-attr]
    with wf_store(project) as r:
        [pr] = r.effects(WID, ["pr"])
        kinds = [e.kind for e in r.effects(WID)]
    assert (pr.stage, pr.target, pr.url, pr.detail["number"]) == ("implementer", "feat/login", PR_URL, "12")
    assert kinds == ["commit", "pr"]
    assert pr.attempt_id == wf.agents["implementer"].last.id  # type: ignore[union-attr]
    assert all(e.get("exit_code") == 0 for e in hook_responses(events))

    # `cairn resume --retry` (the library call, here), then session 2 re-runs the stage.
    manager(project).apply(WID, Operation(retry=True).change, "retry")
    before = len(fake_api.subagent_requests())
    denied: dict[str, str] = {}

    def second(req: Request) -> ResponderResult:
        if req.is_side_request:
            return None
        if req.is_subagent:
            bash = req.last_tool_result("Bash")
            if bash is None and not req.all_tool_uses():
                return bash_call("gh pr create --title 'Add login' --body again")  # it tries anyway
            if bash is not None:
                denied["text"] = tool_result_text(bash)
                denied["error"] = str(bash.get("is_error"))
                return write_call(artifact_path(project, "implementer"), artifact_text("implementer"))
            return text_turn("IMPLEMENTER-DONE")
        return agent_call("implementer") if req.last_tool_result("Agent") is None else text_turn("MAIN-DONE")

    fake_api.set_responder(second)
    run(env, "re-run the implementer", str(uuid.uuid4()))
    brief = fake_api.subagent_requests()[before].messages_text()
    assert '<cairn-stage workflow="wf-e2e-0001" stage="implementer">' in brief
    assert "An earlier attempt of this stage already did this" in brief
    assert f"implementer: opened PR #12 on branch feat/login ({PR_URL}); update it, do not open another" in brief
    assert denied["error"] == "True", denied
    assert denied["text"].startswith("PreToolUse:Bash hook error: Cairn: workflow wf-e2e-0001 already did this: "
                                     "its implementer stage opened PR #12 on branch feat/login"), denied
    assert PR_URL in denied["text"]
    assert len(calls.read_text().splitlines()) == 1  # gh never ran again
    wf = load(project)
    assert "implementer" in wf.completed_agents
    with wf_store(project) as r:
        assert [e.kind for e in r.effects(WID)] == ["commit", "pr"]
    assert log_lines(project) == []


def wf_store(project: Path) -> Any:
    return manager(project).store.read()


def test_a_resume_reports_the_tokens_it_saved(claude_env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    env, project = claude_env, claude_env.project
    plugin_ready(env)
    make_workflow(project, [])
    fake_api.set_responder(pipeline_responder(project, "orchestrator"))
    run(env, "run the orchestrator", str(uuid.uuid4()))
    wf = load(project)
    attempt = wf.effective("orchestrator")
    assert attempt is not None and attempt.usage is not None
    usage = json.loads(attempt.usage)
    tokens = usage["totalTokens"]
    assert tokens > 0 and usage["totalDurationMs"] >= 0 and usage["usage"]["input_tokens"] > 0
    assert wf.status.value == "paused"  # SessionEnd

    # The next session is told what resuming skips.
    fake_api.set_responder(lambda req: None if req.is_side_request else text_turn("OK"))
    run(env, "hello", str(uuid.uuid4()))
    context = fake_api.main_requests()[-1].system_messages_text()
    shown = f"{tokens / 1000:.1f}k" if tokens >= 1000 else str(tokens)
    assert f"- Resuming skips 1 completed stage ({shown} tokens," in context, context[-2000:]

    proc = cli(project, "resume", WID, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["saves"]["tokens"] == tokens
    status = json.loads(cli(project, "status", WID, "--json").stdout)
    assert status["cost"]["saved"] == {"resumes": 1, "stages_not_rerun": 1, "tokens": tokens,
                                       "seconds": round(usage["totalDurationMs"] / 1000, 1)}
    assert status["cost"]["stages"][0]["tokens"] == tokens
    history = json.loads(cli(project, "history", "--json").stdout)
    assert history["saved"]["tokens"] == tokens and history["tokens"] == tokens
    text = cli(project, "status", WID, "--no-color").stdout
    assert f"Saved by resuming: {shown} tokens" in text


def test_a_rate_limited_stage_fails_with_the_reason_and_the_context_says_retry(claude_env: ClaudeEnv,
                                                                              fake_api: FakeAnthropic) -> None:
    """The subagent's request gets HTTP 429: Claude Code sends StopFailure with the
    subagent's agent_id (and no SubagentStop). Its attempt fails with the reason — or,
    when the session's end was handled first (``-p`` ends it right away), the reason is
    kept in the audit trail; the next session is told to wait and retry."""
    env, project = claude_env, claude_env.project
    plugin_ready(env)
    env.env_extra["CLAUDE_CODE_MAX_RETRIES"] = "0"
    make_workflow(project, ["orchestrator"])

    def limited(req: Request) -> ResponderResult:
        if req.is_side_request:
            return None
        if req.is_subagent:
            return error_turn(429, "rate_limit_error", "Rate limited")
        return agent_call("researcher") if req.last_tool_result("Agent") is None else text_turn("MAIN-DONE")

    fake_api.set_responder(limited)
    events = run(env, "run the researcher", str(uuid.uuid4()))
    [agent] = fake_api.agent_ids()
    prefix = "the model API failed (rate_limit): API Error: Request rejected (429)"

    def recorded() -> str | None:
        """The reason, on the failed attempt (StopFailure handled first) or, when the
        session's end paused the workflow first, in the audit trail."""
        wf = load(project)
        last = wf.agents["researcher"].last
        assert last is not None and last.agent_id == agent
        if last.outcome == "failed":
            return last.error
        notes = [e.detail for e in wf.audit if e.action == "api_failure"]
        return notes[-1] if notes else None

    deadline = time.monotonic() + 15  # the client need not wait for a StopFailure hook
    while (found := recorded()) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if found is None and not [e for e in events if str(e.get("hook_name", "")).startswith("StopFailure")]:
        # `claude -p` may exit before it starts a StopFailure hook at all (seen in about one
        # run in three under load): then this run has nothing of Cairn's to check
        pytest.skip("the client ended before it ran the StopFailure hook (it does not wait for it in -p)")
    assert found is not None and found.startswith(prefix), found
    assert load(project).status.value in ("failed", "paused")
    assert all(e.get("exit_code") == 0 for e in hook_responses(events))

    fake_api.set_responder(lambda req: None if req.is_side_request else text_turn("OK"))
    run(env, "hello", str(uuid.uuid4()))
    context = fake_api.main_requests()[-1].system_messages_text()
    assert "## Model API failure" in context
    assert "researcher stopped because a rate limit: wait a few minutes, then retry: `cairn resume" in context
    assert log_lines(project) == []


def test_a_background_stage_has_its_tokens(claude_env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    """`run_in_background` is the Agent tool's default: its PostToolUse comes at launch,
    without usage. SubagentStop rebuilds the figures from the agent's transcript."""
    env, project = claude_env, claude_env.project
    plugin_ready(env)
    make_workflow(project, [])
    inner = pipeline_responder(project, "orchestrator", background=True)

    def respond(req: Request) -> ResponderResult:
        if not req.is_subagent and "<task-notification>" in req.last_user_text:
            return text_turn("MAIN-NOTIFIED")
        return inner(req)

    fake_api.set_responder(respond)
    run(env, "run the orchestrator in the background", str(uuid.uuid4()))
    wf = load(project)
    attempt = wf.effective("orchestrator")
    assert attempt is not None and attempt.usage is not None, wf.attempts
    usage = json.loads(attempt.usage)
    assert usage["source"] == "transcript"
    last = fake_api.subagent_requests()[-1]
    assert usage["usage"]["input_tokens"] > 0 and usage["totalTokens"] > usage["usage"]["input_tokens"]
    assert last.agent_id == attempt.agent_id
    status = json.loads(cli(project, "status", WID, "--json").stdout)
    assert status["cost"]["stages"][0] == {"stage": "orchestrator", "attempts": 1, "tokens": usage["totalTokens"],
                                           "seconds": round(usage["totalDurationMs"] / 1000, 1),
                                           "reported_attempts": 1}
    assert log_lines(project) == []
