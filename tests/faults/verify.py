"""The crash-consistency invariant, checked after every kill.

Definitions. A checkpoint is *committed* when the writer's call returned (it then
reported its seq). A checkpoint is *fully written* when its history entry exists:
entries are created by link(2) of a complete, fsynced temp file, so an entry is never
partial. A kill can leave at most one fully written checkpoint that was not reported:
the one in flight (its call had not returned, or returned and the process died before
reporting it). The next writer builds on it, so such checkpoints accumulate, one per
kill at most.

After any kill, with R the highest reported seq, H the highest history entry and H0
the highest history entry before the killed writer started:
1. the history's seqs are exactly 1..H (unique, gap-free), every entry a valid
   checkpoint whose own seq is its file's;
2. R <= H <= max(R, H0) + 1: nothing committed is lost, and at most one write
   the killed writer did not report survives (the in-flight one);
3. checkpoint.json parses, validates, is byte-identical to history entry of its seq
   (a complete checkpoint, never a mix), and R <= its seq <= H (below H when writers
   were killed between their history entry and the replace: by one per such kill in
   a row, since the next writer rolls forward and may be killed at the same place);
4. loading rolls forward to H;
5. the index agrees with H, either already (no dirty mark) or after the next read,
   which repairs it; the `.active`/`.running` marks match the index.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from cairn.index import ACTIVE_MARK, DIRTY_DIR, RUNNING_MARK, Index
from cairn.models import Checkpoint
from cairn.store import FileStore


@dataclass
class Tally:
    kills: int = 0
    in_flight_survived: int = 0   # H == R + 1
    rolled_forward: int = 0       # checkpoint.json was behind H
    index_repaired: int = 0       # a dirty mark was left behind
    last_h: int = 0               # H0 of the next round
    verified: set[int] = field(default_factory=set)


def reported(report: Path) -> int:
    """The highest committed seq (complete lines only)."""
    try:
        text = report.read_text()
    except FileNotFoundError:
        return 0
    lines = text.split("\n")[:-1]  # a torn last line would be ignored, never trusted
    return max((int(x) for x in lines if x.strip()), default=0)


def check(root: Path, wid: str, r: int, tally: Tally) -> int:
    store = FileStore(root)
    hist = store.history(wid)
    seqs = [e.seq for e in hist]
    assert seqs == list(range(1, len(seqs) + 1)), f"history not gap-free/unique: {seqs[-5:]}"
    h = seqs[-1]
    for e in hist:
        if e.seq in tally.verified and e.seq < h - 1:
            continue
        raw = json.loads(e.path.read_bytes())
        assert raw["seq"] == e.seq, e.path
        Checkpoint.model_validate(raw)
        tally.verified.add(e.seq)
    assert r <= h <= max(r, tally.last_h) + 1, f"reported {r}, history ends at {h} (was {tally.last_h})"
    latest_bytes = (store.workflow_dir(wid) / "checkpoint.json").read_bytes()
    latest = Checkpoint.model_validate(json.loads(latest_bytes))
    assert latest_bytes == hist[latest.seq - 1].path.read_bytes(), "checkpoint.json is not a history entry"
    assert latest.seq >= r, f"checkpoint.json {latest.seq} behind committed {r}"
    assert latest.seq <= h
    loaded = store.load(wid, Checkpoint.model_validate)
    assert loaded.value.seq == h
    tally.in_flight_survived += h == max(r, tally.last_h) + 1
    tally.last_h = h
    tally.rolled_forward += latest.seq < h

    index = Index(root)
    dirty = (root / DIRTY_DIR / wid).exists()
    raw_index = index._read_raw() or {}
    if not dirty:
        assert raw_index.get(wid, {}).get("seq") == h, "index behind without a dirty mark"
    tally.index_repaired += dirty
    summaries = index.read()
    assert summaries[wid]["seq"] == h
    assert not (root / DIRTY_DIR / wid).exists()
    statuses = {s["status"] for s in summaries.values()}
    assert (root / RUNNING_MARK).exists() == ("running" in statuses)
    assert (root / ACTIVE_MARK).exists() == bool(statuses & {"running", "paused", "failed", "stale",
                                                             "pending"})
    tally.kills += 1
    return h
