"""History grows linearly with events: the database keeps one row per checkpoint (no copy
of the workflow per checkpoint), so the bytes a workflow costs per event stay the same
at 100 and at 1,000 events (what 3.0 did, a full copy per checkpoint, grows the cost per
event with the number of events). Real commits through the manager, projection included."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from cairn.manager import CheckpointManager
from cairn.operations import Operation


def grown(root: Path, events: int) -> tuple[float, float]:
    """Bytes per event of the database (WAL folded in, free pages dropped) and of the
    projection, after `events` events (a subagent starts, fails, is retried)."""
    m = CheckpointManager(root)
    m.create("grow", workflow_id="wf-g")
    db = root / "cairn.db"

    def sizes() -> tuple[int, int]:
        con = sqlite3.connect(db)
        con.execute("VACUUM")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        return os.path.getsize(db), os.path.getsize(root / "wf-g" / "checkpoint.json")

    base = sizes()
    for i in range(events // 3):
        m.record_start("wf-g", "orchestrator", agent_id=f"agent-{i}")
        m.record_failure("wf-g", "orchestrator", f"step {i} failed: a plain error message", agent_id=f"agent-{i}")
        op = Operation(retry=True, reason="try again")
        m.apply("wf-g", op.change, op.name())
    m.store.close()
    after = sizes()
    n = 3 * (events // 3)
    return (after[0] - base[0]) / n, (after[1] - base[1]) / n


def check(tmp_path: Path, small: int, large: int) -> dict[int, tuple[float, float]]:
    found = {n: grown(tmp_path / str(n), n) for n in (small, large)}
    for n, (db, projection) in found.items():
        print(f"{n} events: {db:.0f} database bytes and {projection:.0f} projection bytes per event")
    (db_s, proj_s), (db_l, proj_l) = found[small], found[large]
    # linear: the cost per event does not grow with the count (B-tree pages and index depth
    # add a little; a copy per checkpoint would multiply it by large/small)
    assert db_l < 1.6 * db_s + 64, found
    assert proj_l < 1.3 * proj_s + 64, found
    return found


def test_history_grows_linearly(tmp_path: Path) -> None:
    check(tmp_path, 99, 300)


@pytest.mark.slow
def test_history_grows_linearly_to_a_thousand_events(tmp_path: Path) -> None:
    check(tmp_path, 99, 999)
