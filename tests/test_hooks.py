"""The hook entry points fed the real payloads Claude Code 2.1.328 sends.

Every test runs `sh hooks/run.sh <event>` as Claude Code does (a subprocess, stdin the
payload, the variables it sets), with payloads from `tests/fixtures/hooks/` (captured
from the real client; `cwd` and paths rewritten to the test's project). Cairn must
never break a session: whatever the input, exit 0 and print nothing or one valid hook
answer; problems go to one line of `.claude/artifacts/.logs/cairn.log`.
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
EVENT_NAMES = {
    "session-start": "SessionStart",
    "subagent-start": "SubagentStart",
    "subagent-stop": "SubagentStop",
    "stop": "Stop",
    "pre-compact": "PreCompact",
    "session-end": "SessionEnd",
}
ARG_OF = {name: arg for arg, name in EVENT_NAMES.items()}
FIXTURES = sorted(p.stem for p in HOOKS.glob("*.json"))
WID = "wf-hooks"
OTHER_SESSION = "00000000-0000-4000-8000-000000000000"


def payload(name: str, project: Path, **changes: Any) -> dict[str, Any]:
    """The captured stdin of fixture `name`, moved into `project`."""
    data: dict[str, Any] = json.loads((HOOKS / f"{name}.json").read_text())["stdin"]
    text = json.dumps(data).replace("/home/user/project", str(project))
    out: dict[str, Any] = json.loads(text)
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

    def run_raw(self, event: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(["sh", str(REPO / "hooks" / "run.sh"), event], input=stdin,
                              capture_output=True, env=self.env(), cwd=self.project, timeout=60)

    def run(self, event: str, stdin: bytes) -> dict[str, Any] | None:
        """Run a hook; check it behaved (exit 0, nothing or one valid answer)."""
        proc = self.run_raw(event, stdin)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
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
        assert isinstance(answer["hookSpecificOutput"]["additionalContext"], str)
    if "decision" in answer:
        assert answer["decision"] == "block" and answer["reason"]
    return dict(answer)


@pytest.fixture
def hooks(project: Path, tmp_path: Path) -> Hooks:
    data = tmp_path / "home" / ".claude" / "plugins" / "data" / "cairn-inline"
    data.mkdir(parents=True)
    (data / "deps-1.ok").touch()  # no background dependency install in tests
    return Hooks(project, data)


@pytest.fixture
def running(hooks: Hooks, complete: Callable[..., Path]) -> Hooks:
    """A running workflow: orchestrator done, researcher next."""
    m = hooks.mgr
    m.create("Add a --dry-run option to export", workflow_id=WID)
    complete(m, WID, "orchestrator")
    return hooks


def seq(h: Hooks) -> int:
    return h.mgr.load(WID).seq


# ------------------------------------------------------------------ no workflow


@pytest.mark.parametrize("name", FIXTURES)
def test_no_workflow_no_output_no_state(hooks: Hooks, name: str) -> None:
    assert hooks.fire(name) is None
    assert sorted(p.name for p in hooks.root.iterdir()) == []
    assert hooks.log() == []


@pytest.mark.parametrize("name", FIXTURES)
def test_no_project_folder_at_all(hooks: Hooks, name: str) -> None:
    hooks.root.rmdir()
    assert hooks.fire(name) is None
    assert not hooks.root.exists()


# ------------------------------------------------------------------ every payload, workflow running


@pytest.mark.parametrize("name", FIXTURES)
def test_real_payloads_with_a_running_workflow(running: Hooks, name: str) -> None:
    answer = running.fire(name)
    assert running.log() == []
    if name.startswith("SessionStart"):
        assert answer is not None
        assert f'<cairn-resume-context workflow="{WID}">' in answer["hookSpecificOutput"]["additionalContext"]
        assert answer["systemMessage"].startswith(f"Cairn: workflow {WID} is 1/8 done, next: researcher")
    else:  # writer is not a pipeline agent; "" is compaction's; Stop/PreCompact/SessionEnd are silent
        assert answer is None


# ------------------------------------------------------------------ SessionStart


def test_session_start_once_per_session_and_source(running: Hooks) -> None:
    assert running.fire("SessionStart-startup") is not None
    assert running.fire("SessionStart-startup") is None  # fired twice: inject once
    compact = payload("SessionStart-compact", running.project,
                      session_id=payload("SessionStart-startup", running.project)["session_id"])
    assert running.run("session-start", json.dumps(compact).encode()) is not None
    other = running.fire("SessionStart-startup", session_id=OTHER_SESSION)
    assert other is not None


def test_session_start_nothing_to_resume(hooks: Hooks, complete: Callable[..., Path]) -> None:
    m = hooks.mgr
    m.create("x", workflow_id=WID)
    m.cancel(WID)
    assert hooks.fire("SessionStart-startup") is None


def test_session_start_after_a_killed_session_says_so(running: Hooks) -> None:
    running.fire("SubagentStart", agent_type="cairn:researcher", session_id=OTHER_SESSION)
    answer = running.fire("SessionStart-startup")
    assert answer is not None
    context = answer["hookSpecificOutput"]["additionalContext"]
    assert "ended without a clean stop" in context
    assert "The last attempt of researcher" in context and "did not finish" in context


def test_session_start_resume_of_the_same_session_after_a_kill(running: Hooks) -> None:
    """`claude --continue` keeps the session id: the killed process is still gone."""
    sid = payload("SessionStart-startup", running.project)["session_id"]
    running.fire("SubagentStart", agent_type="cairn:researcher", session_id=sid)
    answer = running.fire("SessionStart-startup", source="resume")
    assert answer is not None
    assert "ended without a clean stop" in answer["hookSpecificOutput"]["additionalContext"]


# ------------------------------------------------------------------ SubagentStart / SubagentStop


@pytest.mark.parametrize("agent_type", ["cairn:researcher", "researcher"])
def test_subagent_start_records_and_briefs(running: Hooks, agent_type: str) -> None:
    answer = running.fire("SubagentStart", agent_type=agent_type)
    assert answer is not None
    brief = answer["hookSpecificOutput"]["additionalContext"]
    assert f'<cairn-stage workflow="{WID}" stage="researcher">' in brief
    assert str(running.mgr.workflow_dir(WID) / "research.json") in brief
    [attempt] = running.mgr.load(WID).agents["researcher"].attempts
    assert attempt.outcome == "running" and attempt.agent_id == "a14469f274a2cc320"


@pytest.mark.parametrize("agent_type", ["", "cairn:writer", "writer", "cairn:", "other:researcher"])
def test_subagent_hooks_ignore_other_agents(running: Hooks, agent_type: str) -> None:
    before = seq(running)
    assert running.fire("SubagentStart", agent_type=agent_type) is None
    assert running.fire("SubagentStop", agent_type=agent_type) is None
    assert seq(running) == before and running.log() == []


def test_subagent_stop_compaction_payload_ignored(running: Hooks) -> None:
    before = seq(running)
    assert running.fire("SubagentStop-compaction") is None
    assert seq(running) == before


@pytest.mark.parametrize("agent_type", ["cairn:researcher", "researcher"])
def test_subagent_stop_blocks_once_then_fails(running: Hooks, agent_type: str) -> None:
    running.fire("SubagentStart", agent_type=agent_type)
    answer = running.fire("SubagentStop", agent_type=agent_type)
    assert answer is not None and answer["decision"] == "block"
    assert "research.json does not exist" in answer["reason"]
    assert running.mgr.load(WID).agents["researcher"].attempts[-1].outcome == "running"
    again = running.fire("SubagentStop", agent_type=agent_type, stop_hook_active=True)
    assert again is not None and "decision" not in again
    assert again["systemMessage"].startswith("Cairn: researcher failed")
    cp = running.mgr.load(WID)
    assert cp.status.value == "failed"
    assert cp.agents["researcher"].attempts[-1].outcome == "failed"


def test_subagent_stop_invalid_artifact_names_the_error(running: Hooks,
                                                        write: Callable[..., Path]) -> None:
    running.fire("SubagentStart", agent_type="cairn:researcher")
    write(running.mgr, WID, "researcher", findings="not a list")
    answer = running.fire("SubagentStop", agent_type="cairn:researcher")
    assert answer is not None and answer["decision"] == "block"
    assert "research.json: " in answer["reason"] and "findings" in answer["reason"]


@pytest.mark.parametrize("name", ["SubagentStop", "SubagentStop-background"])
def test_subagent_stop_records_a_valid_artifact(running: Hooks, write: Callable[..., Path],
                                                name: str) -> None:
    running.fire("SubagentStart", agent_type="cairn:researcher",
                 agent_id=payload(name, running.project)["agent_id"])
    write(running.mgr, WID, "researcher")
    assert running.fire(name, agent_type="cairn:researcher") is None
    cp = running.mgr.load(WID)
    assert cp.completed_agents == ["orchestrator", "researcher"]
    [attempt] = cp.agents["researcher"].attempts
    assert attempt.outcome == "completed"
    assert "research.json" in cp.artifacts


def test_subagent_stop_without_start_still_recorded(running: Hooks, write: Callable[..., Path]) -> None:
    write(running.mgr, WID, "researcher")
    assert running.fire("SubagentStop", agent_type="researcher", stop_hook_active=True) is None
    assert running.mgr.load(WID).completed_agents == ["orchestrator", "researcher"]


# ------------------------------------------------------------------ Stop / PreCompact / SessionEnd


@pytest.mark.parametrize("name", ["Stop", "Stop-after-block", "Stop-with-background-task"])
def test_stop_touches_activity_only(running: Hooks, name: str) -> None:
    before = seq(running)
    assert running.fire(name) is None
    assert (running.root / WID / ".activity").exists()
    assert seq(running) == before


def test_stop_and_session_end_skip_python_when_nothing_runs(running: Hooks) -> None:
    hooks = running
    hooks.mgr.pause(WID)
    assert not (hooks.root / ".running").exists()
    env = hooks.env()
    env["PATH"] = "/nonexistent"  # no python3 to be found: only sh builtins may run
    for name in ("Stop", "SessionEnd"):
        proc = subprocess.run(["/bin/sh", str(REPO / "hooks" / "run.sh"), event_of(name)],
                              input=json.dumps(payload(name, hooks.project)).encode(),
                              capture_output=True, env=env, timeout=10)
        assert proc.returncode == 0 and proc.stdout == b"", proc.stderr


@pytest.mark.parametrize("name", ["PreCompact-manual", "PreCompact-auto"])
def test_pre_compact_writes_a_checkpoint(running: Hooks, name: str) -> None:
    before = seq(running)
    assert running.fire(name) is None
    assert seq(running) == before + 1
    assert running.mgr.store.history(WID)[-1].checkpoint_type == "precompact"


def test_session_end_pauses_the_sessions_workflow(running: Hooks) -> None:
    sid = payload("SessionEnd", running.project)["session_id"]
    assert running.fire("SessionEnd") is None  # not this session's workflow yet
    assert running.mgr.load(WID).status.value == "running"
    running.fire("SubagentStart", agent_type="cairn:researcher", session_id=sid)
    assert running.fire("SessionEnd") is None
    cp = running.mgr.load(WID)
    assert cp.status.value == "paused" and "session ended (reason: other)" in str(cp.status_reason)
    assert cp.agents["researcher"].attempts[-1].outcome == "interrupted"
    assert running.fire("SessionEnd") is None  # again: nothing more to do
    assert running.log() == []


# ------------------------------------------------------------------ bad stdin


BAD_STDIN: dict[str, Callable[[str, Path], bytes]] = {
    "empty": lambda name, project: b"",
    "not-json": lambda name, project: b"{this is not json",
    "json-array": lambda name, project: b"[1, 2, 3]",
    "json-string": lambda name, project: b'"SessionStart"',
    "binary": lambda name, project: bytes(range(256)) * 64,
    "ten-mb": lambda name, project: json.dumps(
        {**payload(name, project), "pad": "x" * (10 << 20)}).encode(),
    "session-id-int": lambda name, project: json.dumps(payload(name, project, session_id=5)).encode(),
    "agent-type-null": lambda name, project: json.dumps(
        payload(name, project, agent_type=None)).encode(),
    "cwd-list": lambda name, project: json.dumps(payload(name, project, cwd=["/"])).encode(),
}


@pytest.mark.parametrize("bad", sorted(BAD_STDIN))
@pytest.mark.parametrize("name", ["SessionStart-startup", "SubagentStart", "SubagentStop", "Stop",
                                  "PreCompact-manual", "SessionEnd"])
def test_bad_stdin_fails_open(running: Hooks, name: str, bad: str) -> None:
    before = len(running.log())
    running.run(event_of(name), BAD_STDIN[bad](name, running.project))
    assert len(running.log()) == before + 1, running.log()
    assert running.mgr.load(WID).status.value in ("running", "paused")


@pytest.mark.parametrize("bad", ["empty", "not-json", "binary"])
def test_bad_stdin_without_workflow_is_silent(hooks: Hooks, bad: str) -> None:
    for name in ("SessionStart-startup", "SubagentStop", "Stop"):
        assert hooks.run(event_of(name), BAD_STDIN[bad](name, hooks.project)) is None
    assert hooks.log() == []


def test_unknown_event_argument(running: Hooks) -> None:
    assert running.run("bogus-event", b"{}") is None
    assert len(running.log()) == 1


def test_internal_error_fails_open_with_a_message(running: Hooks) -> None:
    (running.root / WID / "checkpoint.json").write_text("{broken")
    for f in running.mgr.store.history(WID):
        f.path.write_text("{broken")
    answer = running.fire("SessionStart-startup")
    assert answer is None or set(answer) == {"systemMessage"}
    assert len(running.log()) == 1
