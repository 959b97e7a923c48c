"""The edit spool: the files a stage changed, from PostToolUse on Write, Edit, MultiEdit
and NotebookEdit (`cairn.hook_edits` is the hook; `fast` is its hot path).

A tool call inside a subagent carries its `agent_id`. The hook appends one line (the
tool and the path) to `.claude/artifacts/.edits/<agent id>`: no database and no other
Cairn module (hooks/cairn_hook.py calls `fast` before importing the rest of Cairn), one
`O_APPEND` write, because a subagent edits many files and each edit starts this hook.
The subagent's stop (`hook_agents.subagent_stop`) records the lines on its attempt, in
the completion's transaction (`Workflows.complete_stage`), and removes the file. A call
in the main conversation carries no agent id and starts no Python at all (hooks/run.sh
looks for one in the payload first); git still shows what changed (cairn.lineage).
Paths inside the project are kept relative to it; Cairn's own artifacts folder is left
out (artifacts have their own records). Standard library only: `json` and `os`.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False  # `typing`/`pathlib` cost this hot path milliseconds; annotations only need them
if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

EDIT_TOOLS = ("Write", "Edit", "MultiEdit", "NotebookEdit")
EDITS_DIR = ".edits"
ARTIFACTS = os.path.join(".claude", "artifacts")
MAX_PATH = 4096
MAX_LOG = 1 << 20  # a subagent's log is read whole at its stop: past this, git still tells
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _relative(project: str, raw: object) -> str | None:
    if not isinstance(raw, str) or not raw or len(raw) > MAX_PATH or "\x00" in raw or "\n" in raw:
        return None
    project = project.rstrip("/")
    full = os.path.normpath(os.path.join(project, raw))
    rel = full[len(project) + 1:] if full.startswith(project + "/") else full
    return None if rel.startswith(ARTIFACTS + "/") else rel


def _log(root: str, agent_id: object) -> str | None:
    """The edit log of `agent_id`, or None when the id could not name a file."""
    if not isinstance(agent_id, str) or not agent_id or len(agent_id) > 128 or not set(agent_id) <= _ID_CHARS:
        return None
    return os.path.join(root, EDITS_DIR, agent_id)


def append(project: str, payload: Mapping[str, object]) -> None:
    """Keep the edit of `payload` (a PostToolUse payload) if a subagent made it."""
    root = os.path.join(project, ARTIFACTS)
    tool, tool_input = payload.get("tool_name"), payload.get("tool_input")
    if tool not in EDIT_TOOLS or not isinstance(tool_input, dict) or not os.path.exists(
            os.path.join(root, ".running")):
        return
    log = _log(root, payload.get("agent_id"))
    path = _relative(project, tool_input.get("file_path", tool_input.get("notebook_path")))
    if log is None or path is None:
        return
    folder = os.path.dirname(log)
    if any(os.path.islink(p) for p in (os.path.dirname(root), root, folder)) or (
            os.path.lexists(folder) and not os.path.isdir(folder)):
        return  # Cairn writes through no link (a cloned repository may plant one)
    os.makedirs(folder, mode=0o700, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, (json.dumps([tool, path]) + "\n").encode())
    finally:
        os.close(fd)


def fast(raw: bytes, env: Mapping[str, str]) -> bool:
    """hooks/cairn_hook.py's path: True when handled (nothing to answer). False sends the
    event to the full hook (`cairn.hooks.run`), which logs what went wrong."""
    project = env.get("CLAUDE_PROJECT_DIR")
    if not project or len(raw) > 1 << 20:
        return False
    try:
        payload = json.loads(raw)
        if not isinstance(payload, dict):
            return False
        append(project, payload)
    except (ValueError, OSError):
        return False
    return True


def read_edits(root: Path, agent_id: str | None) -> list[tuple[str, str]]:
    """(path, tool) of each file the subagent edited, first edit first, once each."""
    log = _log(str(root), agent_id)
    if log is None:
        return []
    from pathlib import Path

    from cairn import safefs
    from cairn.errors import ConfinementError

    try:
        text = safefs.read_in(Path(log).parent, os.path.basename(log),
                              limit=MAX_LOG).decode("utf-8", "replace")
    except (OSError, ConfinementError):
        return []
    out: dict[str, str] = {}
    for line in text.splitlines():
        try:
            tool, path = json.loads(line)
        except (ValueError, TypeError):
            continue  # a torn last line (the hook killed mid-write)
        if isinstance(tool, str) and isinstance(path, str):
            out.setdefault(path, tool)
    return list(out.items())


def drop_edits(root: Path, agent_id: str | None) -> None:
    log = _log(str(root), agent_id)
    if log is not None:
        import contextlib

        with contextlib.suppress(FileNotFoundError):  # another delivery of the stop removed it
            os.unlink(log)
