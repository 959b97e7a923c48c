"""Lineage in the real Claude Code client: a finished workflow whose code a person then
edits. `cairn resume` run by the session's Bash tool re-opens it and names exactly the
stages that read the code (reviewer, security-auditor, doc-master); the session runs
them through the Agent tool; the stages before the edit keep their one attempt.

The workflow is made beforehand with the library in this process, in a real git
repository; the outcome is read back from the database with the library.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from fake_api import FakeAnthropic, Request, ResponderResult, text_turn
from harness import ClaudeEnv, parse_stream_json
from scenarios import (
    PLUGIN_DIR,
    STAGES,
    WID,
    agent_call,
    artifact_path,
    artifact_text,
    attempts,
    bash_call,
    load,
    log_lines,
    make_workflow,
    manager,
    plugin_ready,
    tool_result_text,
    write_call,
)

from cairn.resumer import WorkflowResumer

READERS = ["reviewer", "security-auditor", "doc-master"]
STAGE_OF_BRIEF = re.compile(r'<cairn-stage workflow="[^"]+" stage="([a-z-]+)">')


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True)


def test_a_code_edit_after_the_implementer_reruns_exactly_the_stages_that_read_the_code(
        claude_env: ClaudeEnv, fake_api: FakeAnthropic) -> None:

    env, project = claude_env, claude_env.project
    plugin_ready(env)
    (project / ".gitignore").write_text(".claude/artifacts/\n")
    (project / "app.py").write_text("def export(dry_run=False):\n    return 1\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "the code the workflow worked on")
    before = make_workflow(project, STAGES)
    assert before.status.value == "completed"
    (project / "app.py").write_text("def export(dry_run=False):\n    return 2  # a person's edit\n")
    seen: dict[str, object] = {}

    def respond(req: Request) -> ResponderResult:
        if req.is_side_request:
            return None
        if req.is_subagent:
            found = STAGE_OF_BRIEF.search(req.messages_text())
            assert found, "the subagent got no Cairn stage brief"
            stage = found.group(1)
            writes = sum(1 for u in req.all_tool_uses() if u.get("name") == "Write")
            if stage == "reviewer" and writes == 0:  # the reviewer also leaves a file in the project
                return write_call(project / "REVIEW-NOTES.md", "checked export()\n")
            if writes >= (2 if stage == "reviewer" else 1):
                return text_turn("STAGE-DONE")
            seen.setdefault("briefed", []).append(stage)  # type: ignore[union-attr]
            if "This stage runs again because: the code changed after" in req.messages_text():
                seen.setdefault("told_why", []).append(stage)  # type: ignore[union-attr]
            return write_call(artifact_path(project, stage), artifact_text(stage))
        bash = req.last_tool_result("Bash")
        if "plan" not in seen:
            if bash is None:
                return bash_call(f"cairn resume {WID} --json")
            out = tool_result_text(bash)
            plan = json.JSONDecoder().raw_decode(out[out.index("{"):])[0]
            seen["plan"] = plan
            seen["todo"] = list(plan["invalidated_agents"])
        todo = seen["todo"]
        assert isinstance(todo, list)
        if todo:
            return agent_call(todo.pop(0))
        return text_turn("MAIN-DONE")

    fake_api.set_responder(respond)
    proc = env.run("continue the workflow", plugin_dirs=[PLUGIN_DIR], timeout=240,
                   extra_args=["--include-hook-events"])
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    parse_stream_json(proc.stdout)
    assert not fake_api.errors, fake_api.errors

    plan = seen["plan"]
    assert isinstance(plan, dict)
    # The resume named exactly the stages that read the code, and why, naming the file.
    assert plan["invalidated_agents"] == READERS and plan["next_agents"] == ["reviewer"]
    assert "the code changed after reviewer read it: app.py" in plan["context"]
    assert seen["briefed"] == READERS
    assert seen["told_why"] == READERS  # each re-run stage's brief says what changed
    wf = load(project)
    assert wf.status.value == "completed" and wf.done == STAGES
    for stage in STAGES:
        outcomes = [o for _, o, _ in attempts(wf, stage)]
        if stage in READERS:  # undone by the resume, then run again by a subagent of this session
            assert outcomes == ["invalidated", "completed"], (stage, attempts(wf, stage))
            assert attempts(wf, stage)[-1][2] is not None
        else:  # before the edit, not reading the code: its one attempt stands
            assert outcomes == ["completed"], (stage, attempts(wf, stage))
    # the reviewer's own Write, seen by the PostToolUse hook inside the subagent (agent_id)
    review = wf.effective("reviewer")
    assert review is not None and ("REVIEW-NOTES.md", "Write") in review.changed, review.changed
    assert WorkflowResumer(manager(project)).validate(WID).problems == []
    assert log_lines(project) == []
