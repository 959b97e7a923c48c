"""Which workflow a Claude session works on (standard library only: hot paths use it).

`<root>/.sessions/<session-id>` holds the id of the workflow the session adopted. When a
session has none yet (the workflow was started from the CLI, or the session is new
after a crash), hooks fall back to the project's most recently active workflow.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

from cairn.index import ACTIVE_VALUES, Index, Summary

# atomic (tempfile) and file_lock (socket) are imported where they are used: the Stop
# hook never writes, and their imports are a third of its cost.

SESSIONS_DIR = ".sessions"
ACTIVITY_FILE = ".activity"
_SID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def safe_session_id(session_id: object) -> str | None:
    """The session id if it is safe to use in a file name, else None."""
    if isinstance(session_id, str) and _SID_RE.match(session_id):
        return session_id
    return None


def bound_workflow(root: Path, session_id: str | None) -> str | None:
    sid = safe_session_id(session_id)
    if sid is None:
        return None
    try:
        with open(root / SESSIONS_DIR / sid, encoding="utf-8") as fh:
            wid = fh.read(200).strip()
    except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError):
        return None
    return wid or None


def bind(root: Path, session_id: str | None, workflow_id: str) -> None:
    sid = safe_session_id(session_id)
    if sid is None or bound_workflow(root, sid) == workflow_id:
        return
    from cairn.atomic import atomic_write

    atomic_write(root / SESSIONS_DIR / sid, workflow_id.encode())


def last_activity(root: Path, workflow_id: str, summary: Summary) -> str:
    """The later of the checkpoint's last activity and the Stop hook's touch file."""
    recorded = str(summary.get("last_activity") or "")
    try:
        mtime = os.stat(root / workflow_id / ACTIVITY_FILE).st_mtime
    except OSError:
        return recorded
    touched = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(mtime)) + f".{int(mtime % 1 * 1e6):06d}Z"
    return max(recorded, touched)


def choose(root: Path, session_id: str | None, statuses: set[str],
           index: dict[str, Summary] | None = None) -> tuple[str | None, list[str], str | None]:
    """(workflow id, other candidate ids, a note) for a hook: the session's own
    workflow if it is in `statuses`, else the most recently active such workflow."""
    if index is not None:
        workflows = index
    elif statuses <= ACTIVE_VALUES:
        workflows = Index(root).read_active()  # O(active workflows), not O(all)
    else:
        workflows = Index(root).read()
    candidates = [w for w, s in workflows.items() if s.get("status") in statuses]
    if not candidates:
        return None, [], None
    candidates.sort(key=lambda w: last_activity(root, w, workflows[w]), reverse=True)
    mine = bound_workflow(root, session_id)
    if mine in candidates:
        return mine, [w for w in candidates if w != mine], None
    note = None
    if len(candidates) > 1:
        note = (f"{len(candidates)} workflows are open in this project; this is the most "
                "recently active one")
    return candidates[0], candidates[1:], note


def touch_activity(root: Path, workflow_id: str) -> None:
    path = root / workflow_id / ACTIVITY_FILE
    try:
        os.utime(path)
    except FileNotFoundError:
        from cairn.atomic import ensure_dir

        ensure_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)


def first_delivery(root: Path, session_id: str | None, source: str, *, window: float = 30.0) -> bool:
    """False when the same session and source was already served within `window`
    seconds (Claude Code may fire SessionStart twice: inject once)."""
    sid = safe_session_id(session_id) or "unknown"
    src = re.sub(r"[^a-z]", "", source.lower())[:20] or "unknown"
    mark = root / SESSIONS_DIR / f"{sid}.{src}.served"
    from cairn.atomic import ensure_dir
    from cairn.file_lock import locked

    ensure_dir(mark.parent)
    with locked(root / SESSIONS_DIR / ".lock", timeout=2.0, purpose="session-start"):
        with contextlib.suppress(FileNotFoundError):
            if time.time() - os.stat(mark).st_mtime < window:
                return False
        fd = os.open(mark, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)
        os.utime(mark)
    return True
