"""Helpers for the Cairn end-to-end tests (``test_cairn_e2e.py``).

They set a project up the way a user would (the ``cairn`` CLI, valid artifacts copied
from ``lib/cairn/data/examples`` with the workflow id replaced), make the real client
load this repository as a plugin (``--plugin-dir <repo>``), and script the model side.

The plugin's hooks run ``python3`` from PATH (``hooks/run.sh``): ``plugin_ready``
puts this interpreter's folder first on the client's PATH, and pre-creates the
dependency stamp in ``CLAUDE_PLUGIN_DATA`` (``~/.claude/plugins/data/cairn-inline``
for a ``--plugin-dir`` plugin) so that no test starts the background ``pip install``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fake_api import Request, ResponderResult, Turn, text_turn, tool_turn
from harness import REPO_ROOT, ClaudeEnv

PLUGIN_DIR = REPO_ROOT
FIXTURES = REPO_ROOT / "lib" / "cairn" / "data" / "examples"
ARTIFACT_OF = {
    "orchestrator": "manifest.json",
    "researcher": "research.json",
    "planner": "architecture.json",
    "test-master": "tests.json",
    "implementer": "implementation.json",
    "reviewer": "review.json",
    "security-auditor": "security.json",
    "doc-master": "docs.json",
}
STAGES = list(ARTIFACT_OF)
WID = "wf-e2e-0001"
REQUEST = "Add a --dry-run option to the export command"


# ------------------------------------------------------------------ project state


def artifacts_root(project: Path) -> Path:
    return project / ".claude" / "artifacts"


def cairn(project: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the ``cairn`` CLI on the project's artifacts folder."""
    proc = subprocess.run(
        [sys.executable, "-m", "cairn", "--dir", str(artifacts_root(project)), *args],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "CLAUDE_PROJECT_DIR": str(project)},
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"cairn {' '.join(args)} exited {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


def cairn_json(project: Path, *args: str) -> Any:
    return json.loads(cairn(project, *args).stdout)


def show(project: Path, wid: str = WID) -> dict[str, Any]:
    """``cairn show ID``: the checkpoint as JSON plus its history."""
    data: dict[str, Any] = cairn_json(project, "show", wid)
    return data


def listed(project: Path, wid: str = WID) -> dict[str, Any]:
    """The workflow's row of ``cairn list --all --json``."""
    rows = cairn_json(project, "list", "--all", "--json")
    for row in rows:
        if row["workflow_id"] == wid:
            return dict(row)
    raise AssertionError(f"{wid} not in cairn list: {rows}")


def artifact_path(project: Path, stage: str, wid: str = WID) -> Path:
    return artifacts_root(project) / wid / ARTIFACT_OF[stage]


def artifact_text(stage: str, wid: str = WID) -> str:
    """A valid artifact of ``stage`` for workflow ``wid`` (from the fixtures)."""
    data = json.loads((FIXTURES / ARTIFACT_OF[stage]).read_text())
    data["workflow_id"] = wid
    return json.dumps(data, indent=2) + "\n"


def write_artifact(project: Path, stage: str, wid: str = WID) -> Path:
    path = artifact_path(project, stage, wid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(artifact_text(stage, wid))
    return path


def make_workflow(project: Path, done: Sequence[str], *, wid: str = WID,
                  pause: bool = False) -> None:
    """A workflow made with the CLI as a user would: ``cairn start``, then for each of
    the first stages ``done`` a valid artifact and ``cairn checkpoint`` (schema-checked),
    then ``cairn pause`` if asked."""
    cairn(project, "start", REQUEST, "--id", wid)
    for stage in done:
        write_artifact(project, stage, wid)
        cairn(project, "checkpoint", wid, "--agent", stage)
    if pause:
        cairn(project, "pause", wid, "--reason", "paused by the e2e test")


def completions(cp: dict[str, Any], stage: str) -> list[dict[str, Any]]:
    return [a for a in cp["agents"].get(stage, {}).get("attempts", [])
            if a.get("outcome") == "completed"]


def log_lines(project: Path) -> list[str]:
    log = artifacts_root(project) / ".logs" / "cairn.log"
    return log.read_text().splitlines() if log.exists() else []


# ------------------------------------------------------------------ the client


def plugin_ready(env: ClaudeEnv) -> None:
    """Make the hooks find this interpreter (with Cairn's dependencies) as ``python3``
    and mark the plugin's dependencies as installed."""
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.env_extra["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{path}"
    data = env.home / ".claude" / "plugins" / "data" / "cairn-inline"
    data.mkdir(parents=True, exist_ok=True)
    (data / "deps-1.ok").touch()


def agent_call(stage: str, prompt: str | None = None, *, background: bool = False,
               subagent_type: str | None = None) -> Turn:
    return tool_turn("Agent", {
        "description": f"Run the {stage} stage",
        "prompt": prompt or f"Run the {stage} stage of Cairn workflow {WID}.",
        "subagent_type": subagent_type or f"cairn:{stage}",
        "run_in_background": background,
    })


def write_call(path: Path, content: str) -> Turn:
    return tool_turn("Write", {"file_path": str(path), "content": content})


def pipeline_responder(
    project: Path, stage: str, *, wid: str = WID, write_first: bool = True,
    background: bool = False, main_done: str = "MAIN-DONE",
) -> Callable[[Request], ResponderResult]:
    """Main agent: one Agent call for ``stage``, then done. Subagent: Write its
    artifact (at once, or only after Cairn blocked its first stop), then done."""
    target = artifact_path(project, stage, wid)

    def respond(req: Request) -> ResponderResult:
        if req.is_side_request:
            return None
        if req.is_subagent:
            wrote = any(u.get("name") == "Write" for u in req.all_tool_uses())
            if wrote:
                return text_turn(f"{stage.upper()}-DONE")
            if write_first or "Stop hook feedback" in req.messages_text():
                return write_call(target, artifact_text(stage, wid))
            return text_turn(f"{stage.upper()}-STOPPING-WITHOUT-ARTIFACT")
        # The turn's prompt (not the Agent result, nor a background agent's notice):
        # delegate. Judged on the last message only, so a `--continue`d conversation
        # holding an earlier Agent call still delegates again.
        if req.last_tool_result("Agent") is None and "<task-notification>" not in req.last_user_text:
            return agent_call(stage, background=background)
        return text_turn(main_done)

    return respond
