"""The hook entry points as Claude Code runs them, fed the payloads it really sends.

Every test runs the hook's command from hooks/hooks.json the way Claude Code does
(`/bin/sh -c`, which tests Cairn's marker and runs hooks/run.sh; a subprocess, stdin
the payload captured from Claude Code 2.1.328 in `tests/fixtures/hooks/`, `cwd` and
paths moved into the test's project, the variables the client sets). The launcher
starts Python with `-I -S`, so site-packages are not importable: every hook here runs
on the standard library alone. Cairn must never break a session: whatever the input,
exit 0 and print nothing or one valid hook answer; problems go to one line of
`.claude/artifacts/.logs/cairn.log`. The attribution logic itself is tested in-process
in test_attribution.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cairn.manager import CheckpointManager

REPO = Path(__file__).resolve().parents[1]
HOOKS = Path(__file__).resolve().parent / "fixtures" / "hooks"
EXAMPLES = REPO / "lib" / "cairn" / "data" / "examples"
EVENT_NAMES = {
    "session-start": "SessionStart", "pre-tool-use": "PreToolUse", "post-tool-use": "PostToolUse",
    "subagent-start": "SubagentStart", "subagent-stop": "SubagentStop", "stop": "Stop",
    "pre-compact": "PreCompact", "session-end": "SessionEnd", "post-edit": "PostToolUse",
    "bash-pre": "PreToolUse", "bash-post": "PostToolUse", "stop-failure": "StopFailure",  # test_hook_bash.py
}
# the Agent tool's PreToolUse/PostToolUse (the fixtures' names say the event, not the tool)
ARG_OF = {name: arg for arg, name in EVENT_NAMES.items() if not arg.startswith("bash-") and arg != "post-edit"}
FIXTURES = sorted(p.stem for p in HOOKS.glob("*.json"))
COMMANDS = {h["command"].rsplit(" ", 1)[-1]: h["command"]
            for entries in json.loads((REPO / "hooks" / "hooks.json").read_text())["hooks"].values()
            for entry in entries for h in entry["hooks"]}
SID = "b7d76f10-2312-430d-b826-7d0dc6e95391"  # the session of the captured payloads
WID = "wf-hooks"


def payload(name: str, project: Path, **changes: Any) -> dict[str, Any]:
    """The captured stdin of fixture `name`, moved into `project`."""
    data: dict[str, Any] = json.loads((HOOKS / f"{name}.json").read_text())["stdin"]
    out: dict[str, Any] = json.loads(json.dumps(data).replace("/home/user/project", str(project)))
    out["session_id"] = SID
    out.update(changes)
    return out


def event_of(name: str) -> str:
    return ARG_OF[name.split("-")[0]]


class Hooks:
    def __init__(self, project: Path, data: Path) -> None:
        self.project = project
        self.root = project / ".claude" / "artifacts"
        self.data = data

    def env(self) -> dict[str, str]:
        return {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.data.parent),
            "CLAUDE_PROJECT_DIR": str(self.project),
            "CLAUDE_PLUGIN_ROOT": str(REPO),
            "CLAUDE_PLUGIN_DATA": str(self.data),
            "CLAUDECODE": "1",
        }

    def run_raw(self, event: str, stdin: bytes,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        command = COMMANDS.get(event)  # exactly what Claude Code runs: hooks.json's command via /bin/sh -c
        argv = ["/bin/sh", "-c", command] if command else ["/bin/sh", str(REPO / "hooks" / "run.sh"), event]
        return subprocess.run(argv, input=stdin, capture_output=True, env=env or self.env(), cwd=self.project,
                              timeout=60)

    def run(self, event: str, stdin: bytes) -> dict[str, Any] | None:
        """Run a hook; check it behaved (exit 0, nothing or one valid answer)."""
        proc = self.run_raw(event, stdin)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        assert proc.stderr == b"", proc.stderr.decode(errors="replace")
        return check_answer(event, proc.stdout)

    def fire(self, name: str, **changes: Any) -> dict[str, Any] | None:
        return self.run(event_of(name), json.dumps(payload(name, self.project, **changes)).encode())

    def log(self) -> list[str]:
        path = self.root / ".logs" / "cairn.log"
        return path.read_text().splitlines() if path.exists() else []

    @property
    def mgr(self) -> CheckpointManager:
        return CheckpointManager(self.root, project_dir=self.project)


def check_answer(event: str, stdout: bytes) -> dict[str, Any] | None:
    text = stdout.decode()
    assert "Traceback" not in text
    if not text.strip():
        return None
    assert text.count("\n") == 1 and text.endswith("\n"), text
    answer = json.loads(text)
    assert isinstance(answer, dict), text
    assert set(answer) <= {"systemMessage", "hookSpecificOutput", "decision", "reason"}, answer
    if "hookSpecificOutput" in answer:
        assert answer["hookSpecificOutput"]["hookEventName"] == EVENT_NAMES[event]
    if "decision" in answer:
        assert answer["decision"] == "block" and answer["reason"]
    return dict(answer)


def write_artifact(m: CheckpointManager, wid: str, stage: str) -> Path:
    rel = m.load(wid).pipeline.stage(stage).artifacts[0].path
    data = json.loads((EXAMPLES / rel).read_text())
    data["workflow_id"] = wid
    dest = m.workflow_dir(wid) / rel
    dest.write_text(json.dumps(data))
    return dest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    p = tmp_path / "project"
    p.mkdir()
    return p


@pytest.fixture
def hooks(project: Path, tmp_path: Path) -> Hooks:
    data = tmp_path / "home" / ".claude" / "plugins" / "data" / "cairn-inline"
    data.mkdir(parents=True)
    (data / "deps-4.ok").touch()  # no background set-up of the CLI's packages in tests
    return Hooks(project, data)


@pytest.fixture
def running(hooks: Hooks) -> Hooks:
    """A running workflow bound to the captured session: orchestrator done, researcher next."""
    m = hooks.mgr
    m.create("Add a --dry-run option to export", workflow_id=WID, session_id=SID)
    write_artifact(m, WID, "orchestrator")
    m.record_completion(WID, "orchestrator", session_id=SID)
    return hooks


def seq(h: Hooks) -> int:
    return h.mgr.load(WID).seq


# ------------------------------------------------------------------ no workflow


@pytest.mark.parametrize("name", FIXTURES)
def test_no_workflow_no_output_no_state(hooks: Hooks, name: str) -> None:
    assert hooks.fire(name) is None
    assert not (hooks.project / ".claude").exists()


@pytest.mark.parametrize("name", ["Stop", "SessionEnd", "SessionStart-startup", "SubagentStop"])
def test_nothing_open_starts_no_python(running: Hooks, name: str) -> None:
    running.mgr.cancel(WID)
    assert not (running.root / ".open").exists() and not (running.root / ".running").exists()
    env = running.env()
    env["PATH"] = "/nonexistent"  # no python3 to be found: only the shell may run
    proc = running.run_raw(event_of(name), json.dumps(payload(name, running.project)).encode(), env)
    assert proc.returncode == 0 and proc.stdout == b"", proc.stderr


def test_session_start_in_a_project_without_cairn_runs_no_command(tmp_path: Path) -> None:
    """SessionStart runs in every project: with no marker, no store variable and no
    cairn.yaml, its command decides with shell builtins alone (no grep, no run.sh); a
    cairn.yaml (which may name a shared store) hands on to run.sh, which reads it."""
    plugin, bin_dir, data, project = (tmp_path / d for d in ("plugin", "bin", "data", "project"))
    for d in (plugin / "hooks", bin_dir, data, project / ".claude"):
        d.mkdir(parents=True)
    ran = tmp_path / "ran"
    (plugin / "hooks" / "run.sh").write_text(f'echo "run.sh $1" >> {ran}\n')
    (bin_dir / "grep").write_text(f'#!/bin/sh\necho grep >> {ran}\n')
    (bin_dir / "grep").chmod(0o755)
    (bin_dir / "sh").symlink_to("/bin/sh")
    (data / "deps-4.ok").touch()
    env = {"PATH": str(bin_dir), "CLAUDE_PROJECT_DIR": str(project), "CLAUDE_PLUGIN_ROOT": str(plugin),
           "CLAUDE_PLUGIN_DATA": str(data)}
    command = COMMANDS["session-start"]
    proc = subprocess.run(["/bin/sh", "-c", command], input=b"{}", capture_output=True, env=env, cwd=project)
    assert proc.returncode == 0 and proc.stdout == b"" and not ran.exists(), proc.stderr
    (project / ".claude" / "cairn.yaml").write_text("settings:\n  store: postgresql://db/cairn\n")
    proc = subprocess.run(["/bin/sh", "-c", command], input=b"{}", capture_output=True, env=env, cwd=project)
    assert proc.returncode == 0 and ran.read_text() == "run.sh session-start\n", proc.stderr
    ran.unlink()
    (project / ".claude" / "cairn.yaml").unlink()
    proc = subprocess.run(["/bin/sh", "-c", command], input=b"{}", capture_output=True,
                          env={**env, "CAIRN_STORE": "postgresql://db/cairn"}, cwd=project)
    assert proc.returncode == 0 and ran.read_text() == "run.sh session-start\n", proc.stderr


# ------------------------------------------------------------------ a running workflow


@pytest.mark.parametrize("name", FIXTURES)
def test_real_payloads_with_a_running_workflow(running: Hooks, name: str) -> None:
    running.fire(name)
    assert running.log() == []


def test_session_start_injects_the_context_of_the_sessions_workflow(running: Hooks) -> None:
    answer = running.fire("SessionStart-startup")
    assert answer is not None
    context = answer["hookSpecificOutput"]["additionalContext"]
    assert context.startswith(f'<cairn-resume-context workflow="{WID}">')
    assert "researcher" in context and f"cairn-workflow: {WID}" in context
    compact = running.fire("SessionStart-compact")
    assert compact is not None and WID in compact["hookSpecificOutput"]["additionalContext"]


def test_a_whole_stage_through_the_client_payloads(running: Hooks) -> None:
    prompt = f"Study the code.\ncairn-workflow: {WID}"
    tool_input = {"description": "research", "prompt": prompt, "subagent_type": "cairn:researcher",
                  "run_in_background": False}
    assert running.fire("PreToolUse-Agent", tool_input=tool_input) is None
    brief = running.fire("SubagentStart", agent_type="cairn:researcher")
    assert brief is not None and "research.json" in brief["hookSpecificOutput"]["additionalContext"]
    blocked = running.fire("SubagentStop", agent_type="cairn:researcher")
    assert blocked is not None and blocked["decision"] == "block" and "research.json" in blocked["reason"]
    write_artifact(running.mgr, WID, "researcher")
    assert running.fire("SubagentStop", agent_type="cairn:researcher") is None
    running.fire("PostToolUse-Agent", tool_input=tool_input)
    wf = running.mgr.load(WID)
    assert wf.completed_agents == ["orchestrator", "researcher"]
    (attempt,) = wf.agents["researcher"].attempts
    assert attempt.agent_id == "a14469f274a2cc320" and attempt.usage is not None
    assert json.loads(attempt.usage)["totalTokens"] == 835
    projected = json.loads((running.root / WID / "checkpoint.json").read_text())
    assert projected["seq"] == wf.seq and projected["completed_agents"] == wf.completed_agents
    assert running.log() == []


def test_subagent_stop_blocks_once_then_fails(running: Hooks) -> None:
    tool_input = {"prompt": f"cairn-workflow: {WID}", "subagent_type": "cairn:researcher"}
    running.fire("PreToolUse-Agent", tool_input=tool_input)
    running.fire("SubagentStart", agent_type="cairn:researcher")
    assert running.fire("SubagentStop", agent_type="cairn:researcher")["decision"] == "block"  # type: ignore[index]
    answer = running.fire("SubagentStop", agent_type="cairn:researcher", stop_hook_active=True)
    assert answer is not None and "researcher failed" in answer["systemMessage"]
    wf = running.mgr.load(WID)
    assert wf.status.value == "failed" and wf.agents["researcher"].last.outcome == "failed"  # type: ignore[union-attr]


def test_subagent_stop_compaction_payload_ignored(running: Hooks) -> None:
    before = seq(running)
    assert running.fire("SubagentStop-compaction") is None
    assert seq(running) == before


def test_stop_is_a_heartbeat_not_a_checkpoint(running: Hooks) -> None:
    before = running.mgr.load(WID)
    assert running.fire("Stop") is None
    after = running.mgr.load(WID)
    assert after.seq == before.seq and after.last_seen is not None
    assert before.last_seen is not None and after.last_seen > before.last_seen


@pytest.mark.parametrize("name", ["PreCompact-manual", "PreCompact-auto"])
def test_pre_compact_writes_a_checkpoint(running: Hooks, name: str) -> None:
    before = seq(running)
    assert running.fire(name) is None
    wf = running.mgr.load(WID)
    assert wf.seq == before + 1 and wf.marks[-1].type == "precompact"


def test_session_end_pauses_the_sessions_workflow(running: Hooks) -> None:
    assert running.fire("SessionEnd", session_id="another-session") is None  # not its workflow
    assert running.mgr.load(WID).status.value == "running"
    running.fire("PreToolUse-Agent", tool_input={"prompt": f"cairn-workflow: {WID}",
                                                 "subagent_type": "cairn:researcher"})
    running.fire("SubagentStart", agent_type="cairn:researcher")
    assert running.fire("SessionEnd") is None
    wf = running.mgr.load(WID)
    assert wf.status.value == "paused" and "session ended (reason: other)" in str(wf.status_reason)
    assert wf.agents["researcher"].attempts[-1].outcome == "interrupted"
    assert running.fire("SessionEnd") is None  # again: nothing more to do
    assert running.log() == []


def test_hooks_import_only_the_standard_library(running: Hooks) -> None:
    """Run every handler in one `python -I -S` process and list what it imported."""
    script = f"""
import json, sys
sys.path.insert(0, {str(REPO / 'lib')!r})
from cairn import hooks
env = {{"CLAUDE_PROJECT_DIR": {str(running.project)!r}}}
for event, body in json.loads(sys.stdin.read()):
    hooks.run(event, json.dumps(body).encode(), env)
third = sorted({{m.split('.')[0] for m in sys.modules}} & {{"pydantic", "jsonschema", "yaml", "rich",
                                                          "watchdog", "fastjsonschema"}})
print(json.dumps(third))
"""
    events = [(event_of(n), payload(n, running.project)) for n in FIXTURES]
    proc = subprocess.run([sys.executable, "-I", "-S", "-c", script], input=json.dumps(events).encode(),
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr.decode()
    assert json.loads(proc.stdout) == []


# ------------------------------------------------------------------ bad input and damage


BAD_STDIN: dict[str, Callable[[str, Path], bytes]] = {
    "empty": lambda name, project: b"",
    "not-json": lambda name, project: b"{this is not json",
    "json-array": lambda name, project: b"[1, 2, 3]",
    "binary": lambda name, project: bytes(range(256)) * 64,
    "ten-mb": lambda name, project: json.dumps({**payload(name, project), "pad": "x" * (10 << 20)}).encode(),
    "session-id-int": lambda name, project: json.dumps(payload(name, project, session_id=5)).encode(),
    "agent-type-null": lambda name, project: json.dumps(payload(name, project, agent_type=None)).encode(),
    "deep-nesting": lambda name, project: b"[" * 100_000 + b"]" * 100_000,
}


@pytest.mark.parametrize("bad", sorted(BAD_STDIN))
@pytest.mark.parametrize("name", ["SessionStart-startup", "PreToolUse-Agent", "SubagentStop", "Stop"])
def test_bad_stdin_fails_open(running: Hooks, name: str, bad: str) -> None:
    before = len(running.log())
    running.run(event_of(name), BAD_STDIN[bad](name, running.project))
    # Stop is handled by the shell alone (no Python, nothing to log): it just does nothing
    assert len(running.log()) == before + (name != "Stop"), running.log()
    assert running.mgr.load(WID).status.value == "running"


@pytest.mark.parametrize("sid", ["../../outside", "a b", "x\";touch pwned;\"", "", "a/../../b"])
def test_stop_touches_nothing_but_a_liveness_file(running: Hooks, sid: str) -> None:
    outside = running.project.parent / "outside"
    assert running.fire("Stop", session_id=sid) is None
    assert not outside.exists() and not (running.project / "pwned").exists()
    assert sorted(p.name for p in (running.root / ".live").iterdir()) == [SID]


def test_stop_refreshes_the_liveness_file_from_the_shell(running: Hooks) -> None:
    live = running.root / ".live" / SID
    os.utime(live, (1_000_000_000, 1_000_000_000))
    env = running.env()
    env["PATH"] = "/usr/bin:/bin"  # python3 may be anywhere: the shell path must not need it
    proc = running.run_raw("stop", json.dumps(payload("Stop", running.project)).encode(), env)
    assert proc.returncode == 0 and proc.stdout == b""
    assert live.stat().st_mtime > 1_000_000_000
    os.symlink(running.project / "target", running.root / ".live" / "other")
    proc = running.run_raw("stop", json.dumps(payload("Stop", running.project, session_id="other")).encode(), env)
    assert proc.returncode == 0 and not (running.project / "target").exists()


def test_unknown_event_argument(running: Hooks) -> None:
    assert running.run("bogus-event", b"{}") is None
    assert len(running.log()) == 1


def test_a_damaged_database_fails_open_with_one_line(running: Hooks) -> None:
    db = running.root / "cairn.db"
    for side in ("cairn.db-wal", "cairn.db-shm"):
        (running.root / side).unlink(missing_ok=True)
    db.write_bytes(b"this is not a database" * 100)
    answer = running.fire("SessionStart-startup")
    assert answer is not None and set(answer) == {"systemMessage"}
    assert "cairn doctor" in answer["systemMessage"]
    assert len(running.log()) == 1


def test_hooks_json_names_a_handler_for_every_event() -> None:
    from cairn.hooks import HANDLERS

    config = json.loads((REPO / "hooks" / "hooks.json").read_text())["hooks"]
    for event, entries in config.items():
        for entry in entries:
            for h in entry["hooks"]:
                arg = h["command"].rsplit(" ", 1)[-1]
                assert arg in HANDLERS and EVENT_NAMES[arg] == event


def test_a_project_schema_without_a_validator_is_pending_then_checked(running: Hooks) -> None:
    """On a bare interpreter a project's own schema cannot be checked: the stage is still
    recorded, as "check pending", and the next command with jsonschema settles it."""
    schemas = running.project / ".claude" / "schemas"
    schemas.mkdir()
    (schemas / "research.schema.json").write_text((REPO / "lib" / "cairn" / "data" / "schemas" /
                                                   "research.schema.json").read_text())
    running.fire("PreToolUse-Agent", tool_input={"prompt": f"cairn-workflow: {WID}",
                                                 "subagent_type": "cairn:researcher"})
    write_artifact(running.mgr, WID, "researcher")
    answer = running.fire("SubagentStop", agent_type="cairn:researcher")
    assert answer is not None and "pending" in answer["systemMessage"]
    wf = running.mgr.load(WID)
    assert wf.completed_agents == ["orchestrator", "researcher"]
    assert wf.artifacts["research.json"].check == "pending"
    assert running.mgr.recheck_pending(WID) == []  # this process has jsonschema
    wf = running.mgr.load(WID)
    assert wf.artifacts["research.json"].check == "ok" and wf.audit[-1].action == "schema_check"


# ------------------------------------------------------------------ PostToolUse on the edit tools


def test_a_subagents_edit_through_the_hooks_json_command(running: Hooks) -> None:
    """The captured payload of a subagent's Write, through the exact hooks.json command:
    one line in its edit log, recorded on its attempt when it stops; the main
    conversation's edit (no agent_id) leaves nothing."""
    agent = "a14469f274a2cc320"  # the captured payload's subagent
    running.mgr.record_start(WID, "researcher", agent_id=agent, session_id=SID)
    edit = payload("PostToolUse-Write", running.project)
    assert running.run("post-edit", json.dumps(edit).encode()) is None
    main = {k: v for k, v in edit.items() if k not in ("agent_id", "agent_type")}
    main["tool_input"] = {"file_path": str(running.project / "main.txt"), "content": "x"}
    assert running.run("post-edit", json.dumps(main).encode()) is None
    assert (running.root / ".edits" / agent).read_text() == '["Write", "from-subagent.txt"]\n'
    assert sorted(p.name for p in (running.root / ".edits").iterdir()) == [agent]
    write_artifact(running.mgr, WID, "researcher")
    running.mgr.record_completion(WID, "researcher", agent_id=agent, session_id=SID)
    done = running.mgr.load(WID).effective("researcher")
    assert done is not None and done.changed == (("from-subagent.txt", "Write"),)
    assert not (running.root / ".edits" / agent).exists() and running.log() == []


def test_an_edit_hook_with_nothing_running_writes_nothing(hooks: Hooks) -> None:
    edit = payload("PostToolUse-Write", hooks.project)
    assert hooks.run("post-edit", json.dumps(edit).encode()) is None
    assert not (hooks.root / ".edits").exists()


def test_an_edit_log_is_never_written_through_a_link(running: Hooks, tmp_path: Path) -> None:
    agent = "a14469f274a2cc320"
    running.mgr.record_start(WID, "researcher", agent_id=agent, session_id=SID)
    outside = tmp_path / "outside"
    outside.mkdir()
    (running.root / ".edits").symlink_to(outside)  # planted
    assert running.run("post-edit", json.dumps(payload("PostToolUse-Write", running.project)).encode()) is None
    assert list(outside.iterdir()) == []


def test_a_catastrophic_project_pattern_cannot_stall_subagent_stop(running: Hooks) -> None:
    """A project schema whose pattern backtracks for ever ("^(a+)+$" against 64 a's and a
    "!"), checked by the hook on the plugin's environment (jsonschema importable): within
    the budget the hook answers, exit 0, asking the subagent to fix research.json with the
    schema file and the pattern named; the stage is not recorded as completed."""
    pytest.importorskip("jsonschema")
    venv = running.data / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(sys.executable)  # the plugin's venv: an interpreter with jsonschema
    schemas = running.project / ".claude" / "schemas"
    schemas.mkdir()
    schema = json.loads((REPO / "lib" / "cairn" / "data" / "schemas" / "research.schema.json").read_text())
    schema["properties"]["note"] = {"type": "string", "pattern": "^(a+)+$"}
    (schemas / "research.schema.json").write_text(json.dumps(schema))
    running.fire("PreToolUse-Agent", tool_input={"prompt": f"cairn-workflow: {WID}",
                                                 "subagent_type": "cairn:researcher"})
    dest = write_artifact(running.mgr, WID, "researcher")
    dest.write_text(json.dumps({**json.loads(dest.read_text()), "note": "a" * 64 + "!"}))
    env = {**running.env(), "CAIRN_SCHEMA_BUDGET": "1"}
    stdin = json.dumps(payload("SubagentStop", running.project, agent_type="cairn:researcher")).encode()
    proc = running.run_raw("subagent-stop", stdin, env=env)  # run_raw's own timeout (60 s) is the hook's
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    answer = check_answer("subagent-stop", proc.stdout)
    assert answer is not None and answer["decision"] == "block", answer
    assert "schema .claude/schemas/research.schema.json stopped after 1 s" in answer["reason"]
    assert '"^(a+)+$" at $.properties.note.pattern' in answer["reason"]
    assert running.mgr.load(WID).completed_agents == ["orchestrator"]
