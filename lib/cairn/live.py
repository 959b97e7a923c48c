"""Liveness of sessions, readable without the database.

`.claude/artifacts/.live/<session id>` exists while a session works on a workflow; the
Stop hook refreshes its mtime from the shell at every turn (hooks/run.sh starts no
Python for it). It only says when a session was last heard from, for people and for
lease time-outs; no decision of which workflow a stage belongs to ever reads it.
Standard library only.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from cairn import safefs

LIVE_DIR = ".live"
_SID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def _live_path(root: Path, session_id: str) -> Path | None:
    if not 0 < len(session_id) <= 128 or not set(session_id) <= _SID_CHARS:
        return None  # only ids that are safe file names (Claude Code's are UUIDs)
    return root / LIVE_DIR / session_id


def mark_live(root: Path, session_id: str) -> None:
    path = _live_path(root, session_id)
    if path is not None:
        safefs.ensure_dir(path.parent)
        safefs.mark(path, True)


def drop_live(root: Path, session_id: str) -> None:
    path = _live_path(root, session_id)
    if path is not None and not os.path.islink(path.parent):
        safefs.mark(path, False)


def live_seen(root: Path, session_id: str) -> datetime | None:
    """When the session's Stop hook last touched its liveness file."""
    path = _live_path(root, session_id)
    if path is None or os.path.islink(path.parent):
        return None
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return datetime.fromtimestamp(st.st_mtime, timezone.utc)
