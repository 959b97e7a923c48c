"""Run a hook the way Claude Code does: `sh hooks/run.sh EVENT`, payload on stdin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RUN_SH = REPO / "hooks" / "run.sh"
EVENTS = {"session-start": "SessionStart", "pre-tool-use": "PreToolUse", "post-tool-use": "PostToolUse",
          "subagent-start": "SubagentStart", "subagent-stop": "SubagentStop", "stop": "Stop",
          "pre-compact": "PreCompact", "session-end": "SessionEnd"}


def deps_stamp() -> str:
    """The stamp run.sh looks for before it starts the background set-up of the CLI's packages."""
    for line in RUN_SH.read_text().splitlines():
        if line.startswith("DEPS_STAMP="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("hooks/run.sh names no DEPS_STAMP")


def hook_env(project: Path, data: Path, **extra: str) -> dict[str, str]:
    data.mkdir(parents=True, exist_ok=True)
    (data / f"{deps_stamp()}.ok").touch()  # no background dependency install in tests
    env = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(data.parent),
        "CLAUDE_PROJECT_DIR": str(project),
        "CLAUDE_PLUGIN_ROOT": str(REPO),
        "CLAUDE_PLUGIN_DATA": str(data),
        "CLAUDECODE": "1",
    }
    env.update(extra)
    return env


def start(event: str, stdin: bytes, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["sh", str(RUN_SH), event], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=cwd)
    return proc


def finish(event: str, proc: subprocess.Popen[bytes], stdin: bytes) -> dict[str, Any] | None:
    out, err = proc.communicate(stdin, timeout=120)
    assert proc.returncode == 0, err.decode(errors="replace")
    return check_answer(event, out)


def run(event: str, stdin: bytes, env: dict[str, str], cwd: Path) -> dict[str, Any] | None:
    return finish(event, start(event, stdin, env, cwd), stdin)


def payload(event: str, project: Path, **fields: Any) -> bytes:
    data = {"session_id": "11111111-2222-4333-8444-555555555555", "cwd": str(project),
            "hook_event_name": EVENTS[event], "transcript_path": str(project / "t.jsonl")}
    data.update(fields)
    return json.dumps(data).encode()


def check_answer(event: str, stdout: bytes) -> dict[str, Any] | None:
    """Nothing, or exactly one line of valid hook JSON for this event."""
    text = stdout.decode()
    assert "Traceback" not in text
    if not text.strip():
        return None
    assert text.count("\n") == 1 and text.endswith("\n"), text[:500]
    answer = json.loads(text)
    assert isinstance(answer, dict), text[:500]
    assert set(answer) <= {"systemMessage", "hookSpecificOutput", "decision", "reason"}, answer
    if "hookSpecificOutput" in answer:
        out = answer["hookSpecificOutput"]
        assert out["hookEventName"] == EVENTS[event]
        if event == "pre-tool-use":
            assert out["permissionDecision"] == "deny" and isinstance(out["permissionDecisionReason"], str)
        else:
            assert isinstance(out["additionalContext"], str)
    return dict(answer)
