"""Core v2 in the real Claude Code client: hooks on a bare ``python3``, and attribution by
evidence (the ``cairn-workflow: <id>`` line of an Agent dispatch, a workflow created in
the session, PreToolUse denying a dispatch that names no workflow or comes too early).

Every workflow is made beforehand with the library in this process (or, for the one made
inside the session, by the session's own Bash tool); the outcome is read back from the
database with the library, then from the ``checkpoint.json`` projection.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from fake_api import FakeAnthropic, Request, ResponderResult, Turn, text_turn
from harness import ClaudeEnv, parse_stream_json, wait_for_file
from scenarios import (
    PLUGIN_DIR,
    SYSTEM_PATH,
    WID,
    agent_call,
    artifact_path,
    artifact_text,
    artifacts_root,
    attempts,
    bare_python,
    bash_call,
    binding,
    db_path,
    deps_stamp,
    dispatches,
    fingerprint,
    hook_responses,
    load,
    log_lines,
    make_workflow,
    offline_pip_env,
    pipeline_responder,
    plugin_data,
    plugin_ready,
    projection,
    sha256,
    tool_result_text,
    write_call,
)


def run(env: ClaudeEnv, prompt: str, *, extra_args: list[str] | None = None,
        timeout: float = 60) -> list[dict[str, Any]]:
    proc = env.run(prompt, plugin_dirs=[PLUGIN_DIR], timeout=timeout,
                   extra_args=["--include-hook-events", *(extra_args or [])])
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return parse_stream_json(proc.stdout)


def assert_hooks_clean(events: list[dict[str, Any]], project: Path) -> None:
    """Every hook exited 0 without an internal error, and the hook log is empty."""
    outs = hook_responses(events)
    assert outs, "no hook_response events: did the plugin load?"
    for e in outs:
        assert e.get("exit_code") == 0, e
        assert "internal error" not in str(e.get("output")), e
        assert not str(e.get("stderr") or "").strip(), e
    assert log_lines(project) == []


# ------------------------------------------------------------------ 1. a bare python3


def test_stage_completes_on_a_bare_python_offline(claude_env: ClaudeEnv, fake_api: FakeAnthropic,
                                                   tmp_path: Path) -> None:
    """No package, no pip, no network: the hooks (standard library only) record the
    orchestrator; the background dependency bootstrap fails offline and that is fine."""
    env, project = claude_env, claude_env.project
    venv, calls = bare_python(tmp_path / "bare")
    probe = subprocess.run([str(venv / "bin" / "python3"), "-c",
                            "import sys, importlib.util as u; print(sys.prefix); "
                            "print(u.find_spec('pydantic'), u.find_spec('pip'), u.find_spec('cairn'))"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.split("\n")[:2] == [str(venv), "None None None"], probe.stdout
    calls.unlink()
    site = list((venv / "lib").glob("python3*/site-packages"))
    assert len(site) == 1 and list(site[0].iterdir()) == [], site
    data = plugin_data(env)
    data.mkdir(parents=True)  # an empty CLAUDE_PLUGIN_DATA: nothing bootstrapped yet
    env.env_extra.update(offline_pip_env())
    env.env_extra["PATH"] = f"{venv / 'bin'}:{SYSTEM_PATH}"

    make_workflow(project, [])
    target = artifact_path(project, "orchestrator")
    fake_api.set_responder(pipeline_responder(project, "orchestrator"))

    events = run(env, "open the workflow")

    subs = fake_api.subagent_requests()
    assert len(subs) == 2, fake_api.dump()
    assert f'<cairn-stage workflow="{WID}" stage="orchestrator">' in subs[0].messages_text()
    assert target.exists()
    # The database: the orchestrator's one attempt completed, by that subagent, with its file.
    wf = load(project)
    assert wf.completed_agents == ["orchestrator"]
    assert attempts(wf, "orchestrator") == [(1, "completed", subs[0].agent_id)]
    [record] = wf.effective("orchestrator").artifacts  # type: ignore[union-attr]
    assert record.path == "manifest.json" and record.sha256 == sha256(target)
    assert record.check == "ok", record  # the shipped schemas need no package
    assert db_path(project).is_file()
    # The projection says the same, at the same checkpoint.
    cp = projection(project)
    assert cp["version"] == "3.2" and cp["seq"] == wf.seq and cp["workflow_uid"] == wf.uid
    assert cp["completed_agents"] == ["orchestrator"]
    assert cp["artifacts"]["manifest.json"]["sha256"] == sha256(target)
    assert cp["next_agents"] == ["researcher"]
    assert not (artifacts_root(project) / WID / "checkpoints").exists()  # no v1 history folder
    assert_hooks_clean(events, project)

    # The hooks ran on the bare venv: its python3 started every Cairn hook, with -I -S.
    hook_calls = [line for line in calls.read_text().splitlines() if "cairn_hook.py" in line]
    started = {line.rsplit(" ", 1)[-1] for line in hook_calls}
    assert {"session-start", "pre-tool-use", "subagent-start", "subagent-stop", "post-tool-use"} <= started, \
        hook_calls
    assert all(line.startswith("-I -S ") for line in hook_calls), hook_calls
    assert list(site[0].iterdir()) == []  # and nothing was installed into it
    # The bootstrap started (from the bare python3), failed offline, and never took over.
    stamp = deps_stamp()
    assert any("bootstrap.py" in line for line in calls.read_text().splitlines())
    assert wait_for_file(data / f"{stamp}.failed", timeout=60), (data / "bootstrap.log").read_text()
    assert not (data / f"{stamp}.ok").exists()


# ------------------------------------------------------------------ 2. the wrong-workflow reproduction

NEW_REQUEST = "new request"

# Run by the scripted model through the Bash tool when the CLI cannot create a workflow
# yet: the library, in the session, bound to the session the Bash tool reports.
LIB_START = (
    "python3 -c 'import json, os, pathlib; from cairn.manager import CheckpointManager; "
    "root = pathlib.Path.cwd() / \".claude\" / \"artifacts\"; "
    "wf = CheckpointManager(root, project_dir=pathlib.Path.cwd()).create("
    "\"new request\", session_id=os.environ[\"CLAUDE_CODE_SESSION_ID\"]); "
    "print(json.dumps({\"workflow_id\": wf.workflow_id}))'"
)


@pytest.mark.parametrize(("via", "named"), [("cli", True), ("library", True), ("cli", False), ("library", False)],
                         ids=["cli-marker", "library-marker", "cli-unnamed", "library-unnamed"])
def test_new_workflow_in_a_session_offered_an_old_one(claude_env: ClaudeEnv, fake_api: FakeAnthropic,
                                                      via: str, named: bool) -> None:
    """The reported bug: a session offered an old paused workflow creates a new one and
    dispatches its orchestrator; the stage must land on the new workflow only. The new
    workflow is made by the session's Bash tool: ``cairn start --json`` (the plugin's
    ``bin/`` is on the Bash tool's PATH), or the library bound to
    ``$CLAUDE_CODE_SESSION_ID`` — what ``cairn start`` must do. The dispatch names the new
    workflow with its ``cairn-workflow:`` line, or names none (``unnamed``: then the
    session's binding is the evidence)."""
    env, project = claude_env, claude_env.project
    via_cli = via == "cli"
    plugin_ready(env)
    old = make_workflow(project, ["orchestrator"], pause=True)
    before = fingerprint(old)
    sid = str(uuid.uuid4())
    if not via_cli:  # the Bash tool's python3 runs this interpreter (plugin_ready)
        env.env_extra["PYTHONPATH"] = str(PLUGIN_DIR / "lib")
    command = f"command -v cairn && cairn start --json '{NEW_REQUEST}'" if via_cli else LIB_START
    created: dict[str, str] = {}  # the new workflow's id and the output that named it

    def respond(req: Request) -> ResponderResult:
        if req.is_side_request:
            return None
        new = created.get("id")
        if req.is_subagent:
            if any(u.get("name") == "Write" for u in req.all_tool_uses()):
                return text_turn("ORCHESTRATOR-DONE")
            assert new, "a subagent ran before the new workflow existed"
            return write_call(artifact_path(project, "orchestrator", new), artifact_text("orchestrator", new))
        bash = req.last_tool_result("Bash")
        if bash is not None:
            out = tool_result_text(bash)
            created["out"] = out
            created["id"] = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]["workflow_id"]
            return agent_call("orchestrator", created["id"] if named else None)
        if req.last_tool_result("Agent") is not None:
            return text_turn("MAIN-DONE")
        return bash_call(command)

    fake_api.set_responder(respond)
    events = run(env, "start a new workflow", extra_args=["--session-id", sid])

    assert not fake_api.errors, (fake_api.errors, created)
    new = created.get("id")
    assert new and new != WID, fake_api.dump()
    # SessionStart offered the old workflow (to this very session id).
    first = fake_api.main_requests()[0]
    context = first.system_messages_text()
    assert f'<cairn-resume-context workflow="{WID}">' in context
    assert "researcher" in context.split("## Next", 1)[1]
    start = [e for e in hook_responses(events, "SessionStart")]
    assert start and start[0]["session_id"] == sid, start
    # The new workflow is the session's, and got the orchestrator.
    assert binding(project, sid) == new, f"created by the {via}: {created}"
    if via_cli:  # the plugin's bin/cairn (the client appends it to the Bash tool's PATH)
        assert created["out"].startswith(f"{PLUGIN_DIR / 'bin' / 'cairn'}\n"), created["out"]
        assert '"session_bound": true' in created["out"], created["out"]
    wf = load(project, new)
    subs = fake_api.subagent_requests()
    assert wf.request == NEW_REQUEST
    assert wf.completed_agents == ["orchestrator"]
    assert attempts(wf, "orchestrator") == [(1, "completed", subs[0].agent_id)]
    assert [a.session_id for a in wf.attempts] == [sid]
    assert f'<cairn-stage workflow="{new}" stage="orchestrator">' in subs[0].messages_text()
    assert projection(project, new)["completed_agents"] == ["orchestrator"]
    [agent_use] = [u for u in fake_api.main_requests()[-1].all_tool_uses() if u["name"] == "Agent"]
    assert dispatches(project, sid, "orchestrator") == [(agent_use["id"], new, subs[0].agent_id)]
    # The old one is exactly as it was.
    after = load(project, WID)
    assert fingerprint(after) == before
    assert projection(project, WID)["seq"] == before[0]
    assert_hooks_clean(events, project)


# ------------------------------------------------------------------ 3. / 4. PreToolUse denies


def denied_dispatch(env: ClaudeEnv, fake_api: FakeAnthropic, call: Turn) -> tuple[str, str]:
    """Run one session whose model makes ``call`` (an Agent call), then stops. Returns
    the session id and the text of the tool_result the model got for the call."""
    sid = str(uuid.uuid4())

    def respond(req: Request) -> ResponderResult:
        if req.is_side_request:
            return None
        if req.is_subagent:
            return text_turn("A SUBAGENT RAN")
        return call if req.last_tool_result("Agent") is None else text_turn("MAIN-DONE")

    fake_api.set_responder(respond)
    events = run(env, "dispatch a stage", extra_args=["--session-id", sid])
    assert fake_api.subagent_requests() == [], fake_api.dump()
    mains = fake_api.main_requests()
    assert len(mains) == 2, fake_api.dump()
    result = mains[1].last_tool_result("Agent")
    assert result is not None and result.get("is_error") is True, result
    text = tool_result_text(result)
    assert text.startswith("PreToolUse:Agent hook error: Cairn: "), text
    started = [e for e in events if e.get("subtype") == "hook_started"]
    assert not [e for e in started if str(e.get("hook_name")).startswith("SubagentStart")], started
    final = [e for e in events if e.get("type") == "result"][-1]
    assert [d["tool_name"] for d in final.get("permission_denials", [])] == ["Task"], final
    assert_hooks_clean(events, env.project)
    return sid, text


def test_dispatch_naming_no_workflow_is_denied(claude_env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    env, project = claude_env, claude_env.project
    plugin_ready(env)
    before = fingerprint(make_workflow(project, ["orchestrator"]))

    sid, text = denied_dispatch(env, fake_api, agent_call("researcher", None))

    assert "cairn-workflow" in text, text
    assert WID in text, text  # it lists the open workflows the model could mean
    assert fingerprint(load(project)) == before
    assert dispatches(project, sid, "researcher") == []
    assert binding(project, sid) is None
    assert projection(project)["seq"] == before[0]


def test_dispatch_out_of_order_is_denied(claude_env: ClaudeEnv, fake_api: FakeAnthropic) -> None:
    env, project = claude_env, claude_env.project
    plugin_ready(env)
    before = fingerprint(make_workflow(project, ["orchestrator"]))

    sid, text = denied_dispatch(env, fake_api, agent_call("planner", WID))

    assert "planner" in text and "researcher" in text and WID in text, text
    assert "not complete" in text, text
    assert fingerprint(load(project)) == before
    assert dispatches(project, sid, "planner") == []
    assert projection(project)["seq"] == before[0]


# ------------------------------------------------------------------ 5. one stage, two workflows, one turn


def test_parallel_dispatches_of_one_stage_for_two_workflows(claude_env: ClaudeEnv,
                                                            fake_api: FakeAnthropic) -> None:
    """One assistant message dispatches ``cairn:orchestrator`` twice, each prompt naming
    its own workflow. SubagentStart's payload has no ``agent_transcript_path`` and no
    ``tool_use_id`` (the subagent's transcript does not exist yet), so two pending
    dispatches of one stage cannot be told apart there: each agent gets both briefs.
    SubagentStop has the transcript: each stage is recorded on the workflow its prompt
    names, once."""
    env, project = claude_env, claude_env.project
    plugin_ready(env)
    for wid in ("wf-a", "wf-b"):
        make_workflow(project, [], wid=wid)

    def respond(req: Request) -> ResponderResult:
        if req.is_side_request:
            return None
        if req.is_subagent:
            if any(u.get("name") == "Write" for u in req.all_tool_uses()):
                return text_turn("ORCHESTRATOR-DONE")
            wid = "wf-a" if "cairn-workflow: wf-a" in req.messages_text() else "wf-b"
            return write_call(artifact_path(project, "orchestrator", wid), artifact_text("orchestrator", wid))
        if req.last_tool_result("Agent") is None:
            return Turn(blocks=[b for wid in ("wf-a", "wf-b")
                                for b in agent_call("orchestrator", wid).blocks])
        return text_turn("MAIN-DONE")

    fake_api.set_responder(respond)
    events = run(env, "open both workflows")

    subs = {r.agent_id: r for r in fake_api.subagent_requests() if len(r.messages) <= 2}
    assert len(subs) == 2, fake_api.dump()
    for wid in ("wf-a", "wf-b"):
        [agent] = [a for a, r in subs.items() if f"cairn-workflow: {wid}" in r.messages_text()]
        wf = load(project, wid)
        assert wf.completed_agents == ["orchestrator"]
        assert attempts(wf, "orchestrator") == [(1, "completed", agent)], wid
        assert projection(project, wid)["completed_agents"] == ["orchestrator"]
        # Each was briefed at SubagentStart (nothing there says which dispatch is whose, so
        # it gets every candidate's brief and its own cairn-workflow line decides).
        brief = subs[agent].messages_text()
        for each in ("wf-a", "wf-b"):
            assert f'<cairn-stage workflow="{each}" stage="orchestrator">' in brief, brief[-3000:]
    assert all(e.get("exit_code") == 0 for e in hook_responses(events))
    assert log_lines(project) == []
