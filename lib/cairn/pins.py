"""Pinned agents: what a workflow runs with, recorded when it starts.

The plugin's version, the sha256 of every stage's agent definition, and the digest of
the resolved pipeline. An agent `cairn:<name>` is the plugin's `agents/<name>.md`
unless the project overrides it with `.claude/agents/<name>.md`; any other agent is the
project's `.claude/agents/<name>.md`. On resume a changed definition is reported by
stage (`agent_changed`); `cairn resume --pinned` keeps going (the change is recorded as
the new pin), `--latest` re-runs the stages whose agent changed and what follows.
Standard library only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cairn.model import Problem, Workflow
from cairn.paths import DATA_DIR
from cairn.pipeline import Pipeline

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cairn.store import Tx

AGENT_CHANGED = "agent_changed"
MISSING = "missing"
PLUGIN_ROOT = DATA_DIR.parents[2]  # lib/cairn/data -> the plugin (agents/, .claude-plugin/)


def plugin_version() -> str:
    try:
        data = json.loads((PLUGIN_ROOT / ".claude-plugin" / "plugin.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "unknown"
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else "unknown"


def agent_file(agent: str, project_dir: Path | None) -> tuple[Path, str] | None:
    """(folder, file name) of the definition Claude Code runs for `agent`, or None."""
    plugin, _, name = agent.rpartition(":")
    if not name or "/" in name or name.startswith("."):
        return None
    rel = f"{name}.md"
    if project_dir is not None and (project_dir / ".claude" / "agents" / rel).is_file():
        return project_dir / ".claude" / "agents", rel
    if plugin == "cairn" and (PLUGIN_ROOT / "agents" / rel).is_file():
        return PLUGIN_ROOT / "agents", rel
    return None


def agent_digest(agent: str, project_dir: Path | None) -> str:
    from cairn import safefs
    from cairn.errors import ConfinementError

    found = agent_file(agent, project_dir)
    if found is None:
        return MISSING
    try:  # the project's folder is not trusted: no link is followed there
        data = safefs.read_in(found[0], found[1], limit=4 << 20)
    except (OSError, ConfinementError):
        return MISSING
    return hashlib.sha256(data).hexdigest()


def current(pipeline: Pipeline, project_dir: Path | None) -> dict[str, str]:
    """The pins of `pipeline` as the plugin and the project are now."""
    out = {"plugin": plugin_version(), "pipeline": pipeline.digest}
    for s in pipeline.stages:
        out[f"agent:{s.name}"] = agent_digest(s.agent, project_dir)
    return out


def recorder(pins: dict[str, str]) -> Callable[[Tx, Workflow, int, datetime], None]:
    """A `Workflows.create(then=...)` that records `pins` with the new workflow."""
    def put(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
        for name, value in sorted(pins.items()):
            tx.put_pin(wf.workflow_id, name, value, seq)
    return put


def changed_stages(wf: Workflow, now: dict[str, str]) -> list[str]:
    """Stages whose agent definition differs from the pinned one (workflows started before
    pins were recorded have none: nothing is reported)."""
    return [s.name for s in wf.pipeline.stages
            if f"agent:{s.name}" in wf.pins and wf.pins[f"agent:{s.name}"] != now.get(f"agent:{s.name}")]


def problems(wf: Workflow, project_dir: Path | None) -> list[Problem]:
    if not any(k.startswith("agent:") for k in wf.pins):
        return []
    now = current(wf.pipeline, project_dir)
    out = []
    done = set(wf.done)  # a stage still to run runs with the prompt as it is
    for name in [n for n in changed_stages(wf, now) if n in done]:
        agent = wf.pipeline.stage(name).agent
        found = agent_file(agent, project_dir)
        where = str(found[0] / found[1]) if found else f"{agent} (no definition found)"
        was = wf.pins[f"agent:{name}"][:12]
        out.append(Problem(AGENT_CHANGED, where, f"the prompt of {name} ({agent}) changed since the workflow "
                           f"started (sha256 {was}… is now {now[f'agent:{name}'][:12]}…)", name))
    return out
