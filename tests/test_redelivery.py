"""Exactly once: a hook process killed at each fault point of its write (`cairn.faults`),
then the same delivery made again — twice — records the event once: one dispatch per
tool use id, one attempt per agent id, one completion, counted once by `cairn history`.
The killed deliveries are real hook processes; the repeats are the hook logic in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cairn import hooks
from cairn.faults import POINTS
from cairn.manager import CheckpointManager
from support import ARTIFACT_FIXTURES, LIB, run_cairn

SID = "11111111-2222-4333-8444-555555555555"
AGENT = "agent-once"
TOOL_USE = "toolu_once_1"
EVENTS = ("pre-tool-use", "subagent-start", "subagent-stop")
COUNTS = {"cases": 0, "killed": 0, "double counts": 0}


def payload(project: Path, event: str) -> bytes:
    fields: dict[str, object] = {"session_id": SID, "cwd": str(project)}
    if event == "pre-tool-use":
        fields.update(tool_name="Agent", tool_use_id=TOOL_USE,
                      tool_input={"subagent_type": "cairn:orchestrator", "description": "orchestrator",
                                  "prompt": "Run the orchestrator.\ncairn-workflow: wf-a"})
    else:
        fields.update(agent_id=AGENT, agent_type="cairn:orchestrator")
    return json.dumps(fields).encode()


def deliver(project: Path, event: str) -> None:
    out = hooks.run(event, payload(project, event), {"CLAUDE_PROJECT_DIR": str(project)})
    assert out is None or "internal error" not in json.dumps(out), out


def killed(project: Path, event: str, point: str) -> bool:
    """The hook as a real process, armed to die at `point`; True if it died there."""
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(LIB), "CLAUDE_PROJECT_DIR": str(project),
           "HOME": str(project.parent / "home"), "CAIRN_FAULT": point}
    done = subprocess.run([sys.executable, "-m", "cairn.hooks", event], input=payload(project, event),
                          capture_output=True, env=env, cwd=project, timeout=60, check=False)
    assert b"Traceback" not in done.stderr
    return done.returncode == -9


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("event", EVENTS)
def test_a_delivery_killed_at_each_point_then_repeated_counts_once(tmp_path: Path, event: str,
                                                                    point: str) -> None:
    project = tmp_path / "project"
    root = project / ".claude" / "artifacts"
    root.mkdir(parents=True)
    m = CheckpointManager(root, project_dir=project)
    m.create("once", workflow_id="wf-a", session_id=SID)
    data = json.loads((ARTIFACT_FIXTURES / "manifest.json").read_text())
    data["workflow_id"] = "wf-a"
    (root / "wf-a" / "manifest.json").write_text(json.dumps(data))
    for before in EVENTS[:EVENTS.index(event)]:  # the deliveries that came first, once each
        deliver(project, before)
    COUNTS["cases"] += 1
    COUNTS["killed"] += killed(project, event, point)
    for _ in range(2):  # the client delivers it again (after a crash, a retry, a duplicate hook)
        deliver(project, event)
    for after in EVENTS[EVENTS.index(event) + 1:]:
        deliver(project, after)
        deliver(project, after)
    wf = CheckpointManager(root).load("wf-a")
    mine = [a for a in wf.attempts if a.agent_id == AGENT]
    completions = [a for a in wf.attempts if a.stage == "orchestrator" and a.outcome == "completed"]
    with m.store.read() as r:
        dispatched = [d for d in r.dispatches(SID, "orchestrator") if d[0] == TOOL_USE]
    COUNTS["double counts"] += max(0, len(mine) - 1) + max(0, len(completions) - 1) + max(0, len(dispatched) - 1)
    assert len(dispatched) == 1, dispatched
    assert [(a.stage, a.outcome) for a in mine] == [("orchestrator", "completed")], wf.attempts
    assert len(completions) == 1
    history = run_cairn("--dir", str(root), "history", "--json")
    assert history.returncode == 0, history.stderr
    [stage] = [s for s in json.loads(history.stdout)["stages"] if s["stage"] == "orchestrator"]
    assert stage["attempts"] == 1, stage  # analytics count it once


def test_zz_report() -> None:
    print("redelivery:", COUNTS)
