"""`.active` carries the active workflows' summaries so that hooks read O(active), and
`Index.read_active()` falls back to the full index whenever that copy may be stale."""

from __future__ import annotations

import json
import os
from pathlib import Path

from cairn.index import ACTIVE_MARK, DIRTY_DIR, INDEX_FILE, Index
from cairn.manager import CheckpointManager
from cairn.sessions import choose


def _active(index: Index) -> dict[str, object]:
    return {w: s for w, s in index.read().items()
            if s["status"] in {"pending", "running", "paused", "failed", "stale"}}


def test_active_mark_holds_the_active_summaries(mgr: CheckpointManager, root: Path) -> None:
    a = mgr.create("one").workflow_id
    b = mgr.create("two").workflow_id
    mgr.cancel(b)
    body = json.loads((root / ACTIVE_MARK).read_bytes())
    assert set(body["workflows"]) == {a}
    index = Index(root)
    assert index.read_active() == _active(index) == {a: index.read()[a]}
    mgr.cancel(a)
    assert not (root / ACTIVE_MARK).exists()
    assert index.read_active() == {}


def test_stale_or_damaged_copy_is_not_trusted(mgr: CheckpointManager, root: Path) -> None:
    a = mgr.create("one").workflow_id
    index = Index(root)
    # The index changed behind the copy's back (an older Cairn, a crash between the two).
    data = json.loads((root / INDEX_FILE).read_bytes())
    data["workflows"][a]["status"] = "paused"
    tmp = root / "x.tmp"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, root / INDEX_FILE)
    assert index.read_active()[a]["status"] == "paused"
    (root / ACTIVE_MARK).write_bytes(b"")  # an empty marker, as older versions wrote
    assert set(index.read_active()) == {a}
    (root / ACTIVE_MARK).write_bytes(b"{not json")
    assert set(index.read_active()) == {a}


def test_dirty_workflow_is_repaired_before_reading_the_copy(mgr: CheckpointManager, root: Path) -> None:
    a = mgr.create("one").workflow_id
    mgr.index.mark_dirty(a)
    mgr.store.delete(a)  # a writer died between its change and the index update
    assert Index(root).read_active() == {}
    assert not (root / DIRTY_DIR / a).exists()


def test_choose_reads_the_copy(mgr: CheckpointManager, root: Path) -> None:
    a = mgr.create("one").workflow_id
    mgr.record_start(a, "orchestrator")
    assert choose(root, None, {"running"})[0] == a
    assert choose(root, None, {"completed"})[0] is None
