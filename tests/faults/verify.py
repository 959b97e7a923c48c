"""The crash-consistency invariant, checked after every kill.

Definitions. A change is *committed* when its database transaction committed. The
writer reports a change (a line `SEQ OP AGENT` in its report file) only after the call
returned, so every reported change was committed; a kill can leave at most one committed
change unreported: the one in flight (killed after COMMIT, before the report line).

After any kill, with R the highest reported seq, H the database's newest mark and H0 the
newest mark before the killed writer started:
1. the database opens and passes SQLite's integrity check; its marks are exactly 1..H
   (unique, gap-free) and no attempt names a checkpoint after H;
2. R <= H <= max(R, H0) + 1: nothing committed is lost, and at most one change the
   writer did not report survives;
3. every reported change is there: a `start` or `complete` line's agent has its attempt
   (completed for `complete`), and the mark of its seq exists;
4. checkpoint.json is a complete projection of this workflow (never a torn file, never
   ahead of the database): either of checkpoint H, byte for byte what the database
   renders, or behind (a kill between the commit and its projection);
5. loading repairs a projection that is behind (with a warning), after which it is
   current; the `.open`/`.running` markers then match the statuses.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from cairn.manager import CheckpointManager
from cairn.status import ACTIVE, Status
from cairn.store import projection
from cairn.workflow import OPEN_MARK, RUNNING_MARK


@dataclass
class Tally:
    kills: int = 0
    in_flight_survived: int = 0   # H == R + 1: committed, killed before reporting
    projection_behind: int = 0    # killed between the commit and the projection
    last_h: int = 0               # H0 of the next round


def reported(report: Path) -> list[tuple[int, str, str]]:
    """The committed changes (complete lines only: a torn last line is never trusted)."""
    try:
        text = report.read_text()
    except FileNotFoundError:
        return []
    out = []
    for line in text.split("\n")[:-1]:
        seq, op, agent = line.split()
        out.append((int(seq), op, agent))
    return out


def check(root: Path, wid: str, report: Path, tally: Tally) -> int:
    lines = reported(report)
    r = max((seq for seq, _, _ in lines), default=0)
    db = sqlite3.connect(f"file:{root / 'cairn.db'}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
    m = CheckpointManager(root)
    with m.store.read() as rd:
        wf = rd.workflow(wid)
    assert wf is not None
    h = wf.seq
    seqs = [mk.seq for mk in wf.marks]
    assert seqs == list(range(1, h + 1)), f"marks not gap-free: {seqs[-5:]}"
    assert all(max(a.started_seq, a.ended_seq or 0, a.invalidated_seq or 0) <= h for a in wf.attempts)
    assert r <= h <= max(r, tally.last_h) + 1, f"reported {r}, database at {h} (was {tally.last_h})"
    by_agent = {a.agent_id: a for a in wf.attempts if a.agent_id}
    for seq, op, agent in lines:
        assert seq <= h
        if op == "start":
            assert agent in by_agent, f"committed start of {agent} lost"
        elif op == "complete":
            assert agent in by_agent and by_agent[agent].outcome_end == "completed", f"completion {agent} lost"
            assert by_agent[agent].ended_seq == seq
    tally.in_flight_survived += h == max(r, tally.last_h) + 1 and h > r
    tally.last_h = h

    path = root / wid / "checkpoint.json"
    data = path.read_bytes()
    shown = json.loads(data)  # never torn: replaced atomically
    assert shown["workflow_uid"] == wf.uid and shown["workflow_id"] == wid
    assert shown["seq"] <= h, "a projection ahead of the database"
    if shown["seq"] == h:
        assert data == projection.encode(wf), "checkpoint.json at seq H is not the database's rendering"
    loaded, warnings = m.load_with_warnings(wid)
    assert loaded.seq == h
    if shown["seq"] < h:
        tally.projection_behind += 1
        assert warnings and "rewritten from the database" in warnings[0], warnings
    else:
        assert warnings == [], warnings
    # the database's rendering: `loaded` also folds in the liveness file's time, kept outside it
    assert path.read_bytes() == projection.encode(wf)
    statuses = m.list_workflows(include_finished=True)
    assert (root / RUNNING_MARK).exists() == any(s.status == Status.RUNNING for s in statuses)
    assert (root / OPEN_MARK).exists() == any(s.status in ACTIVE for s in statuses)
    tally.kills += 1
    return h
