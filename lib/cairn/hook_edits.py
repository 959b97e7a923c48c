"""PostToolUse on Write, Edit, MultiEdit and NotebookEdit: the files a stage changed.

A tool call inside a subagent carries its `agent_id`; the file is recorded on that
agent's running attempt (`Workflows.record_edits`: one non-durable write, no checkpoint).
A call in the main conversation carries none and costs nothing: git still shows what
changed (cairn.lineage). Paths inside the project are stored relative to it; Cairn's own
artifacts folder is left out (artifacts have their own records). Standard library only.
"""

from __future__ import annotations

import os

from cairn.hookio import Hook, Output

EDIT_TOOLS = ("Write", "Edit", "MultiEdit", "NotebookEdit")
MAX_PATH = 4096


def _path(hook: Hook) -> str | None:
    tool_input = hook.payload.get("tool_input")
    if not isinstance(tool_input, dict):
        return None
    raw = tool_input.get("file_path", tool_input.get("notebook_path"))
    if not isinstance(raw, str) or not raw or len(raw) > MAX_PATH or "\x00" in raw:
        return None
    project = str(hook.project)
    full = os.path.normpath(os.path.join(project, raw))
    rel = os.path.relpath(full, project) if full.startswith(project.rstrip("/") + "/") else full
    if rel.startswith(os.path.join(".claude", "artifacts") + "/"):
        return None
    return rel.replace(os.sep, "/")


def post_edit(hook: Hook) -> Output:
    tool = hook.text("tool_name")
    agent_id = hook.text("agent_id")
    if tool not in EDIT_TOOLS or not agent_id or not (hook.root / ".running").exists():
        return None
    path = _path(hook)
    if path is None:
        return None
    from cairn.redact import redact

    hook.manager().workflows.record_edits(agent_id, [redact(path)[:MAX_PATH]], tool)
    return None
