"""Smoke tests of the e2e harness, with a throwaway "probe" plugin (not Cairn).

What these runs showed about Claude Code 2.1.328 (`claude -p`, fake API):

* Every model call is ``POST /v1/messages?beta=true`` with ``stream: true``;
  nothing else is requested (no count_tokens, no title/topic side calls in
  ``-p`` mode). Subagent calls carry ``x-claude-code-agent-id`` (e.g.
  ``a9433971e016f0717``, the same id hooks get as ``agent_id``); main-agent
  calls do not.
* The body's ``messages`` contain role ``"system"`` turns besides user and
  assistant ones: SessionStart ``additionalContext`` arrives there (main agent
  only), and the first user message begins with a ``<system-reminder>`` block.
* Main requests offer the tools Agent, Bash, Edit, ListAgents, Read,
  ReportFindings, ScheduleWakeup, Skill, ToolSearch, Workflow,
  DeferredToolPlaceholder, Write (others are "deferred" behind ToolSearch). The
  stream-json ``init`` event lists the subagent tool as ``Task``, but the API
  request and the hooks call it ``Agent``. A subagent's request offers only the
  tools of its definition (``tools: Write, Read`` -> ``["Write", "Read"]``) and
  its system prompt holds the agent's markdown body.
* ``Agent`` input schema (``additionalProperties: false``, required
  ``description`` and ``prompt``)::

      description: str          # "A short (3-5 word) description of the task"
      prompt: str               # the task for the agent
      subagent_type: str        # "<plugin>:<agent>" for a plugin agent, e.g. "probe:helper"
      model: "sonnet"|"opus"|"haiku"|"fable"      (optional)
      effort: "low"|"medium"|"high"|"xhigh"|"max" (optional)
      run_in_background: bool   # default TRUE
      isolation: "worktree"|"remote"              (optional)

* ``run_in_background`` defaults to true. Then the ``Agent`` tool_result is an
  immediate "Async agent launched successfully..." and the main agent's next
  request races the subagent's requests; when the subagent finishes the main
  agent gets one more turn (a ``<task-notification>`` user message), and
  stream-json has two ``result`` events. With ``run_in_background: false`` the
  order is deterministic: main(Agent call) -> subagent turns -> SubagentStop ->
  main(with the Agent tool_result holding the subagent's final text). Scripts
  that want a fixed order must set it to false.
* A ``-p`` run with a subagent takes about 1-1.5 s of wall time here.
* The client writes task output under ``$CLAUDE_CODE_TMPDIR`` (default
  ``/tmp/claude-<uid>/``); the harness points it into the temporary HOME.
"""

from __future__ import annotations

import json
import shlex
import signal
import threading
from pathlib import Path
from typing import Any

from fake_api import FakeAnthropic, Request, ResponderResult, text_turn, tool_turn
from harness import (
    ClaudeEnv,
    find_result,
    kill_claude,
    parse_stream_json,
    wait_for_file,
    write_plugin,
)

PROBE_CONTEXT = "PROBE-CONTEXT-123"
AGENT_BODY_MARKER = "PROBE-HELPER-BODY-7"


def make_probe_plugin(root: Path, out_dir: Path) -> Path:
    """The probe plugin: SessionStart context, SubagentStop/Stop dumps, agent "helper"."""
    out_dir.mkdir(parents=True, exist_ok=True)
    session_start = json.dumps(
        {
            "hookSpecificOutput": {
                "hookEventName": "SessionStart",
                "additionalContext": PROBE_CONTEXT,
            }
        }
    )

    def dump(event: str) -> list[dict[str, Any]]:
        target = shlex.quote(str(out_dir / f"{event}.json"))
        return [{"hooks": [{"type": "command", "command": f"cat > {target}"}]}]

    return write_plugin(
        root,
        name="probe",
        hooks={
            "SessionStart": [
                {"hooks": [{"type": "command", "command": f"echo {shlex.quote(session_start)}"}]}
            ],
            "SubagentStop": dump("SubagentStop"),
            "Stop": dump("Stop"),
        },
        agents={
            "helper": (
                "---\n"
                "name: helper\n"
                "description: Probe helper agent used by the e2e harness smoke test.\n"
                "tools: Write, Read\n"
                "---\n"
                f"You are the probe helper. {AGENT_BODY_MARKER}\n"
            )
        },
    )


def test_session_start_context_reaches_first_main_request(
    claude_env: ClaudeEnv, fake_api: FakeAnthropic, tmp_path: Path
) -> None:
    plugin = make_probe_plugin(tmp_path / "probe", tmp_path / "hook-out")
    fake_api.script_main(text_turn("PROBE-REPLY"))

    proc = claude_env.run("say hello", plugin_dirs=[plugin], timeout=30)

    assert proc.returncode == 0, proc.stderr
    main = fake_api.main_requests()
    assert main, f"no main-agent request\n{fake_api.dump()}"
    first = main[0]
    assert first.query.get("beta") == ["true"]
    assert first.stream
    assert not first.is_subagent
    assert first.contains(PROBE_CONTEXT)
    assert PROBE_CONTEXT in first.system_messages_text()
    assert "say hello" in first.first_user_text
    result = find_result(parse_stream_json(proc.stdout))
    assert result is not None and result.get("result") == "PROBE-REPLY"
    assert not fake_api.errors


def test_subagent_runs_write_and_fires_subagent_stop(
    claude_env: ClaudeEnv, fake_api: FakeAnthropic, tmp_path: Path
) -> None:
    out_dir = tmp_path / "hook-out"
    plugin = make_probe_plugin(tmp_path / "probe", out_dir)
    target = claude_env.project / "from-subagent.txt"
    agent_prompt = "Create from-subagent.txt containing the word hello."

    def responder(req: Request) -> ResponderResult:
        if req.is_side_request:
            return None  # default "ok"
        if req.is_subagent:
            if req.last_tool_result("Write") is None:
                return tool_turn("Write", {"file_path": str(target), "content": "hello\n"})
            return text_turn("SUBAGENT-DONE: wrote from-subagent.txt")
        if req.last_tool_result("Agent") is None:
            return tool_turn(
                "Agent",
                {
                    "description": "Write the probe file",
                    "prompt": agent_prompt,
                    "subagent_type": "probe:helper",
                    "run_in_background": False,
                },
            )
        return text_turn("MAIN-DONE")

    fake_api.set_responder(responder)
    proc = claude_env.run("delegate to the helper", plugin_dirs=[plugin], timeout=30)

    assert proc.returncode == 0, proc.stderr
    assert not fake_api.errors, fake_api.errors
    assert target.read_text() == "hello\n"

    # The Agent tool as the client offers it.
    agent_tool = fake_api.main_requests()[0].tool("Agent")
    assert agent_tool is not None
    props = agent_tool["input_schema"]["properties"]
    assert {"description", "prompt", "subagent_type", "run_in_background"} <= set(props)
    assert set(agent_tool["input_schema"]["required"]) == {"description", "prompt"}

    # Subagent requests: header set, own tools, own system prompt, no SessionStart context.
    sub = fake_api.subagent_requests()
    assert len(sub) == 2, fake_api.dump()
    agent_id = sub[0].agent_id
    assert agent_id and all(r.agent_id == agent_id for r in sub)
    assert sorted(sub[0].tool_names) == ["Read", "Write"]
    assert AGENT_BODY_MARKER in sub[0].system_text
    assert agent_prompt in sub[0].messages_text()
    assert not sub[0].contains(PROBE_CONTEXT)
    assert sub[1].answered_tools() == ["Write"]

    # Deterministic order with run_in_background false: main, sub, sub, main.
    kinds = ["sub" if r.is_subagent else "main" for r in fake_api.message_requests()]
    assert kinds == ["main", "sub", "sub", "main"], fake_api.dump()
    final_main = fake_api.main_requests()[-1]
    agent_result = final_main.last_tool_result("Agent")
    assert agent_result is not None
    assert "SUBAGENT-DONE" in json.dumps(agent_result["content"])

    # SubagentStop hook payload.
    stop_file = out_dir / "SubagentStop.json"
    assert wait_for_file(stop_file, timeout=5)
    payload = json.loads(stop_file.read_text())
    assert payload["hook_event_name"] == "SubagentStop"
    assert payload["agent_type"] == "probe:helper"
    assert payload["agent_id"] == agent_id
    assert payload["last_assistant_message"] == "SUBAGENT-DONE: wrote from-subagent.txt"
    assert Path(payload["agent_transcript_path"]).exists()

    stop = json.loads((out_dir / "Stop.json").read_text())
    assert stop["last_assistant_message"] == "MAIN-DONE"
    assert stop["background_tasks"] == []


def test_sigkill_mid_subagent_runs_no_more_hooks(
    claude_env: ClaudeEnv, fake_api: FakeAnthropic, tmp_path: Path
) -> None:
    """start_claude + kill_claude: the subagent's request hangs, the client is SIGKILLed."""
    out_dir = tmp_path / "hook-out"
    plugin = make_probe_plugin(tmp_path / "probe", out_dir)
    release = threading.Event()

    def responder(req: Request) -> ResponderResult:
        if req.is_subagent:
            release.wait(timeout=20)  # keep the subagent "thinking" until the kill
            return text_turn("too late")
        if req.is_main and req.last_tool_result("Agent") is None:
            return tool_turn(
                "Agent",
                {
                    "description": "Hang",
                    "prompt": "hang",
                    "subagent_type": "probe:helper",
                    "run_in_background": False,
                },
            )
        return None

    fake_api.set_responder(responder)
    proc = claude_env.start("delegate and hang", plugin_dirs=[plugin])
    try:
        hanging = fake_api.wait_for(lambda r: r.is_subagent, timeout=30)
        assert hanging is not None, fake_api.dump()
        assert kill_claude(proc, signal.SIGKILL) == -signal.SIGKILL
    finally:
        release.set()
        if proc.poll() is None:
            kill_claude(proc, signal.SIGKILL)
    assert not (out_dir / "SubagentStop.json").exists()
    assert not (out_dir / "Stop.json").exists()
    assert len(fake_api.main_requests()) == 1


def test_fake_api_streams_and_answers_other_paths(fake_api: FakeAnthropic) -> None:
    """The fake alone (no client needed): SSE shape, non-streaming JSON, other paths."""
    import urllib.error
    import urllib.request

    fake_api.script_main(tool_turn("Bash", {"command": "true"}, id="toolu_x"))

    def post(path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> bytes:
        req = urllib.request.Request(
            fake_api.base_url + path,
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json", **(headers or {})},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            data: bytes = resp.read()
            return data

    tools = [{"name": "Bash", "input_schema": {"type": "object"}}]
    sse = post(
        "/v1/messages?beta=true",
        {
            "model": "m",
            "stream": True,
            "tools": tools,
            "messages": [{"role": "user", "content": "hi"}],
        },
    ).decode()
    names = [line[len("event: ") :] for line in sse.splitlines() if line.startswith("event: ")]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    datas = [json.loads(line[6:]) for line in sse.splitlines() if line.startswith("data: ")]
    assert datas[1]["content_block"]["name"] == "Bash"
    assert json.loads(datas[2]["delta"]["partial_json"]) == {"command": "true"}
    assert datas[4]["delta"]["stop_reason"] == "tool_use"

    # Subagent request, not streaming, empty subagent queue -> default text "ok".
    msg = json.loads(
        post(
            "/v1/messages",
            {
                "model": "m",
                "stream": False,
                "tools": tools,
                "messages": [{"role": "user", "content": "x"}],
            },
            headers={"x-claude-code-agent-id": "a123"},
        )
    )
    assert msg["content"] == [{"type": "text", "text": "ok"}]
    assert msg["stop_reason"] == "end_turn"
    assert json.loads(post("/v1/messages/count_tokens", {"messages": []}))["input_tokens"] >= 1
    try:
        urllib.request.urlopen(fake_api.base_url + "/nope", timeout=5)
        raise AssertionError("expected 404")
    except urllib.error.HTTPError as exc:
        assert exc.code == 404
    assert fake_api.subagent_requests("a123")[0].agent_id == "a123"
    assert fake_api.agent_ids() == ["a123"]
    assert [r.path for r in fake_api.requests] == [
        "/v1/messages",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/nope",
    ]
