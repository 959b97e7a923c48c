"""Which workflow a new session is offered, and `cairn resume latest`, follow the store's
order of commits (migration 0002_hardening): a clock that went back an hour, or a
liveness file with a 2099 mtime planted by a cloned repository, decides nothing."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from cairn.hooks import run as run_hook
from cairn.manager import CheckpointManager
from cairn.status import Status
from cairn.store.schema import MIGRATIONS


def _two_workflows(mgr: CheckpointManager, root: Path) -> None:
    """wf-a runs in session sess-a; wf-b is changed after it, by a process whose clock
    was two hours behind; sess-a's liveness file says 2099."""
    mgr.create("first", workflow_id="wf-a", session_id="sess-a")
    mgr.record_start("wf-a", "orchestrator", agent_id="ag-a", session_id="sess-a")
    mgr.create("second", workflow_id="wf-b")
    mgr.pause("wf-b", "for later")
    db = sqlite3.connect(root / "cairn.db")
    with db:
        db.execute("UPDATE marks SET at = strftime('%Y-%m-%dT%H:%M:%f000+00:00', at, '-2 hours') "
                   "WHERE workflow_id = 'wf-b'")
    db.close()
    (root / ".live").mkdir(exist_ok=True)
    (root / ".live" / "sess-a").touch()
    future = 4102444800  # 2100-01-01
    os.utime(root / ".live" / "sess-a", (future, future))


def test_a_clock_gone_back_and_a_planted_mtime_choose_nothing(project: Path, root: Path) -> None:
    mgr = CheckpointManager(root)
    _two_workflows(mgr, root)
    fresh = CheckpointManager(root)
    assert [s.workflow_id for s in fresh.resumable()] == ["wf-b", "wf-a"]
    assert fresh.latest_id() == "wf-b"
    payload = {"session_id": "sess-new", "cwd": str(project), "hook_event_name": "SessionStart",
               "source": "startup", "transcript_path": str(project / "t.jsonl")}
    answer = run_hook("session-start", json.dumps(payload).encode(), {"CLAUDE_PROJECT_DIR": str(project)})
    assert answer is not None
    context = answer["hookSpecificOutput"]["additionalContext"]  # type: ignore[index]
    assert 'workflow="wf-b"' in context.splitlines()[0]
    # a change to wf-a makes it the last changed, whatever the clocks say
    mgr.touch("wf-a")
    assert CheckpointManager(root).latest_id() == "wf-a"


def test_a_database_from_before_the_migration_is_ordered_once_by_its_times(root: Path) -> None:
    mgr = CheckpointManager(root)
    mgr.create("older", workflow_id="wf-old")
    mgr.create("newer", workflow_id="wf-new")
    mgr.touch("wf-old")  # the last change, by the clock too
    mgr.store.close()
    db = sqlite3.connect(root / "cairn.db")
    with db:  # as a 0001 database left it
        db.execute("DROP TABLE activity")
        db.execute("DELETE FROM migrations WHERE name = '0002_hardening'")
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) - 1}")
    db.close()
    again = CheckpointManager(root)
    assert again.latest_id() == "wf-old"
    with again.store.read() as r:
        assert r.by_change([Status.PENDING]) == ["wf-old", "wf-new"]
    db = sqlite3.connect(root / "cairn.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert ("0002_hardening",) in db.execute("SELECT name FROM migrations").fetchall()
