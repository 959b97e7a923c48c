"""A shared PostgreSQL store in the real Claude Code client: a pipeline started in one
project folder is resumed from a second clone in another folder (standing in for another
machine), with its artifacts restored before the context is injected.

The server is the tests' own throwaway cluster (tests/pgcluster.py). Both folders have
the same `origin`, so the same project scope. The hooks run on the plugin's environment
as hooks/bootstrap.py leaves it once psycopg is in it (a venv that sees this
interpreter's packages): they reach the server. ``CAIRN_STORE`` names it, in the
client's environment (hooks and Bash tool inherit it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fake_api import FakeAnthropic, Request, ResponderResult
from harness import ClaudeEnv, parse_stream_json, which_git
from scenarios import (
    PLUGIN_DIR,
    WID,
    artifact_path,
    attempts,
    bash_call,
    deps_stamp,
    hook_responses,
    load,
    log_lines,
    make_workflow,
    pipeline_responder,
    plugin_data,
    plugin_ready,
    sha256,
    tool_result_text,
)


def run(env: ClaudeEnv, prompt: str, timeout: float = 90) -> list[dict[str, Any]]:
    proc = env.run(prompt, plugin_dirs=[PLUGIN_DIR], timeout=timeout, extra_args=["--include-hook-events"])
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return parse_stream_json(proc.stdout)


def hooks_clean(events: list[dict[str, Any]], project: Path) -> None:
    outs = hook_responses(events)
    assert outs, "no hook_response events: did the plugin load?"
    for e in outs:
        assert e.get("exit_code") == 0, e
        assert "internal error" not in str(e.get("output")) and "Working offline" not in str(e.get("output")), e
    assert log_lines(project) == []


@pytest.mark.parametrize("configured", ["CAIRN_STORE", "plugin option"])
def test_a_pipeline_started_in_one_folder_resumes_in_another_clone_with_its_artifacts(
        claude_env: ClaudeEnv, fake_api: FakeAnthropic, pg_url: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, configured: str) -> None:
    """The store named by ``CAIRN_STORE`` in the client's environment, or by the plugin's
    ``store`` option in the user's settings (``pluginConfigs``: the client hands it to the
    hooks as ``CLAUDE_PLUGIN_OPTION_STORE``)."""
    git = which_git()
    origin = tmp_path / "origin.git"
    subprocess.run([git, "init", "--bare", "-q", str(origin)], check=True)
    a = claude_env.project
    subprocess.run([git, "-C", str(a), "remote", "add", "origin", str(origin)], check=True)
    b = tmp_path / "second-clone"
    subprocess.run([git, "clone", "-q", str(origin), str(b)], check=True, capture_output=True)
    monkeypatch.setenv("CAIRN_STORE", pg_url)  # for this process's library calls
    plugin_ready(claude_env)
    data = plugin_data(claude_env)  # the plugin's environment, psycopg in reach
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(data / "venv")],
                   check=True)
    (data / f"{deps_stamp()}.ok").touch()
    if configured == "CAIRN_STORE":
        claude_env.env_extra["CAIRN_STORE"] = pg_url
    else:
        settings = claude_env.home / ".claude" / "settings.json"
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps({"pluginConfigs": {"cairn@inline": {"options": {"store": pg_url}}}}))

    # Machine A: the workflow is made, its orchestrator runs in a real session.
    make_workflow(a, [])
    fake_api.set_responder(pipeline_responder(a, "orchestrator"))
    first = run(claude_env, "run the orchestrator")
    hooks_clean(first, a)
    made = artifact_path(a, "orchestrator")
    kept = a / ".claude" / "artifacts"
    assert not (kept / "offline.db").exists() and not (kept / "cairn.db").exists()  # the server only
    wf = load(a)
    assert wf.completed_agents == ["orchestrator"], wf.completed_agents
    assert not (b / ".claude").exists()

    # Machine B: a fresh clone, nothing of Cairn's in it. SessionStart reaches the server,
    # restores the orchestrator's artifact (hash checked) and injects the context; the
    # session goes on with the researcher.
    env_b = ClaudeEnv(home=claude_env.home, project=b, bin=claude_env.bin, api=fake_api,
                      env_extra=dict(claude_env.env_extra))
    before = len(fake_api.main_requests())
    researcher = pipeline_responder(b, "researcher")
    seen: dict[str, str] = {}

    def respond(req: Request) -> ResponderResult:
        """First the session's own `cairn` (its Bash tool) on the store, then the researcher."""
        if req.is_main and not req.is_side_request and "bash" not in seen:
            result = req.last_tool_result("Bash")
            if result is None:
                return bash_call('echo "STORE=${CAIRN_STORE:-none}"; cairn status --json')
            seen["bash"] = tool_result_text(result)
            return researcher(req)
        return researcher(req)

    fake_api.set_responder(respond)
    second = run(env_b, "continue the workflow")
    # the `cairn` the model runs uses the same store: the address (never a password) reached its Bash tool
    assert f"STORE={pg_url}" in seen.get("bash", ""), seen
    assert WID in seen["bash"] and '"running"' in seen["bash"], seen
    hooks_clean(second, b)
    restored = artifact_path(b, "orchestrator")
    assert restored.read_bytes() == made.read_bytes() and sha256(restored) == wf.artifacts["manifest.json"].sha256
    starts = [e for e in hook_responses(second, "SessionStart") if "additionalContext" in str(e.get("output"))]
    assert starts, hook_responses(second, "SessionStart")
    context = json.loads(str(starts[0]["output"]))["hookSpecificOutput"]["additionalContext"]
    assert WID in context and "restored 1 artifact(s) from the shared store" in context
    # the first request of the session in B carried that context to the model
    assert any("restored 1 artifact(s)" in r.messages_text() + r.system_text
               for r in fake_api.main_requests()[before:])

    after = load(a)  # read from machine A's folder: the server has B's work
    assert after.completed_agents == ["orchestrator", "researcher"]
    [(number, outcome, agent)] = attempts(after, "researcher")
    assert (number, outcome) == (1, "completed") and agent
    assert artifact_path(b, "researcher").is_file()
    assert (b / ".claude" / "artifacts" / ".shared").is_file()
