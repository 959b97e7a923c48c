"""PostToolUse on Write, Edit, MultiEdit and NotebookEdit: the hook over the edit spool
(`cairn.edits`). hooks/cairn_hook.py takes `cairn.edits.fast` first; this is the full
hook's path for the same event."""

from __future__ import annotations

from cairn.edits import append
from cairn.hookio import Hook, Output


def post_edit(hook: Hook) -> Output:
    append(str(hook.project), hook.payload)
    return None
