"""What the command modules share: where the artifacts are, the manager, JSON output,
colour, the Claude Code session a command runs in, and the lines every command prints
the same way. Standard library only."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from cairn.paths import default_artifacts_dir

if TYPE_CHECKING:
    from cairn.manager import CheckpointManager
    from cairn.model import Problem, Workflow

SESSION_ENV = "CLAUDE_CODE_SESSION_ID"  # set by Claude Code in its Bash tool's environment
PID_ENV = "CLAUDE_PID"                  # the Claude Code process, same place

_opened: list[CheckpointManager] = []  # managers of this run: their notes are printed at the end


class Subparsers(Protocol):
    """The part of argparse's subparsers action the command modules use."""

    def add_parser(self, name: str, **kwargs: str | None) -> argparse.ArgumentParser: ...


def artifacts_root(args: argparse.Namespace) -> Path:
    d: Path | None = getattr(args, "dir", None)
    return d if d is not None else default_artifacts_dir()


def manager(args: argparse.Namespace) -> CheckpointManager:
    from cairn.manager import CheckpointManager

    m = CheckpointManager(artifacts_root(args), on_reach=_replay_kept)
    _opened.append(m)
    return m


def _replay_kept(root: Path) -> list[str]:
    """The next command that reaches the shared store sends what hooks kept meanwhile."""
    from cairn.hooks import replay_kept

    return replay_kept(root)


def start_run() -> None:
    _opened.clear()


def end_run() -> list[str]:
    """What the run's managers have to tell (imports on first open, projections not
    refreshed), once each."""
    lines: list[str] = []
    for m in _opened:
        for note in [*m.notes, *(m._workflows.warnings if m._workflows is not None else [])]:
            if note not in lines:
                lines.append(note)
    _opened.clear()
    return lines


def emit_json(data: object) -> None:
    # dumps + one write: json.dump writes each of its (tens of thousands of) pieces on
    # its own, which doubled the cost of `cairn status --json`; the text is the same.
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def warn(text: str) -> None:
    print(f"cairn: warning: {text}", file=sys.stderr)


def use_color(args: argparse.Namespace) -> bool:
    if getattr(args, "no_color", False) or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


@dataclass(frozen=True)
class ClaudeSession:
    """The Claude Code session a command runs in (its Bash tool), or None in a terminal."""

    session_id: str
    pid: int


def claude_session(env: Mapping[str, str] | None = None) -> ClaudeSession | None:
    env = os.environ if env is None else env
    sid = env.get(SESSION_ENV, "").strip()
    if not sid:
        return None
    raw = env.get(PID_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        pid = int(raw)
    else:
        from cairn.lease import owner_pid

        pid = owner_pid(env)
    return ClaudeSession(sid[:200], pid)


def resolve_id(m: CheckpointManager, workflow_id: str) -> str:
    """`latest` is the most recently active resumable workflow; anything else is an id."""
    return m.latest_id() if workflow_id == "latest" else workflow_id


def settle_pending(m: CheckpointManager, wf: Workflow) -> Workflow:
    """Artifacts whose schema check was left pending (recorded where no validator was
    available) are checked now when this Python can, and the outcome recorded."""
    if not any(r.check == "pending" for a in wf.attempts for r in a.artifacts):
        return wf
    m.recheck_pending(wf.workflow_id)
    return m.load(wf.workflow_id)


def print_problems(title: str, problems: list[Problem], options: list[str]) -> None:
    print(title)
    for p in problems:
        print(f"  [{p.code}] {p.path}: {p.message}")
    if options:
        print("Recovery options:")
        for o in options:
            print(f"  {o}")
