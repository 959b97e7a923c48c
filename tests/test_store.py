"""The file backend on real files: atomic writes, history, recovery from damaged or
lagging checkpoint.json, the cross-process lock, permissions, and the index."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn.errors import CheckpointCorrupt, LockTimeout
from cairn.index import ACTIVE_MARK, DIRTY_DIR, INDEX_FILE, RUNNING_MARK, Index
from cairn.manager import CheckpointManager
from cairn.models import Checkpoint
from cairn.paths import CHECKPOINT_FILE, HISTORY_DIR, LOCK_FILE
from cairn.status import Status
from cairn.store import FileStore

LIB = Path(__file__).resolve().parent.parent / "lib"


@pytest.fixture
def wf(mgr: CheckpointManager, complete: Callable[..., Path]) -> str:
    """A workflow with three checkpoints: created, orchestrator, researcher done."""
    wid = mgr.create("build the thing", workflow_id="wf-store").workflow_id
    complete(mgr, wid, "orchestrator")
    complete(mgr, wid, "researcher")
    return wid


def _latest(mgr: CheckpointManager, wid: str) -> Path:
    return mgr.workflow_dir(wid) / CHECKPOINT_FILE


# ---------------------------------------------------------------- writes and history


def test_every_checkpoint_is_kept_in_history(mgr: CheckpointManager, wf: str) -> None:
    hist = mgr.store.history(wf)
    assert [h.seq for h in hist] == [1, 2, 3]
    assert [h.checkpoint_type for h in hist] == ["created", "agent_completion", "agent_completion"]
    assert [h.path.name for h in hist] == ["00000001-created.json", "00000002-agent_completion.json",
                                           "00000003-agent_completion.json"]
    assert json.loads(hist[1].path.read_text())["completed_agents"] == ["orchestrator"]
    # checkpoint.json is byte-identical to the newest history entry.
    assert _latest(mgr, wf).read_bytes() == hist[-1].path.read_bytes()


def test_history_entries_are_never_rewritten(mgr: CheckpointManager, wf: str) -> None:
    before = {h.path: (h.path.read_bytes(), h.path.stat().st_ino) for h in mgr.store.history(wf)}
    mgr.pause(wf)
    mgr.resume(wf)
    after = {h.path: (h.path.read_bytes(), h.path.stat().st_ino) for h in mgr.store.history(wf)}
    assert len(after) == len(before) + 2
    for path, facts in before.items():
        assert after[path] == facts


def test_no_temp_files_left_behind(mgr: CheckpointManager, wf: str, root: Path) -> None:
    mgr.pause(wf)
    mgr.resume(wf)
    mgr.list_workflows()
    leftovers = [p for p in root.rglob("*") if p.name.endswith(".tmp") or ".deleting-" in p.name]
    assert leftovers == []


def test_files_are_private(tmp_path: Path, complete: Callable[..., Path]) -> None:
    root = tmp_path / "fresh" / ".claude" / "artifacts"
    m = CheckpointManager(root)
    wid = m.create("private please").workflow_id
    complete(m, wid, "orchestrator")
    wdir = m.workflow_dir(wid)
    for d in (root, wdir, wdir / HISTORY_DIR):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    files = [wdir / CHECKPOINT_FILE, wdir / LOCK_FILE, root / INDEX_FILE,
             *(h.path for h in m.store.history(wid))]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


# ---------------------------------------------------------------- recovery

DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"\x00\xff\xfe not json at all \x00",
    "empty": lambda data: b"",
    "schema-violating": lambda data: json.dumps(
        {**json.loads(data), "status": "exploded", "seq": 0}).encode(),
    "not-an-object": lambda data: b"[1, 2, 3]",
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_checkpoint_falls_back_to_newest_valid_history(
        mgr: CheckpointManager, wf: str, kind: str) -> None:
    latest = _latest(mgr, wf)
    latest.write_bytes(DAMAGE[kind](latest.read_bytes()))
    loaded = mgr.load_with_warnings(wf)
    assert loaded.value.seq == 3
    assert loaded.value.completed_agents == ["orchestrator", "researcher"]
    assert loaded.source.name == "00000003-agent_completion.json"
    assert any(str(latest) in w and "unreadable" in w for w in loaded.warnings), loaded.warnings
    # The next write repairs checkpoint.json and records the recovery.
    cp = mgr.pause(wf)
    assert cp.seq == 4
    assert Checkpoint.model_validate_json(latest.read_bytes()).seq == 4
    assert any(a.action == "recovered" and str(latest) in a.detail for a in cp.audit)


def test_damaged_newest_history_entry_is_skipped(mgr: CheckpointManager, wf: str) -> None:
    latest = _latest(mgr, wf)
    latest.write_bytes(b"{")
    newest = mgr.store.history(wf)[-1].path
    newest.write_bytes(b"garbage")
    loaded = mgr.load_with_warnings(wf)
    assert loaded.value.seq == 2
    assert any(str(newest) in w for w in loaded.warnings)
    assert any(str(latest) in w for w in loaded.warnings)


def test_everything_damaged_raises_checkpoint_corrupt(mgr: CheckpointManager, wf: str) -> None:
    _latest(mgr, wf).write_bytes(b"")
    for h in mgr.store.history(wf):
        h.path.write_bytes(b"nope")
    with pytest.raises(CheckpointCorrupt) as info:
        mgr.load(wf)
    assert wf in info.value.message and info.value.hint


def test_interrupted_write_rolls_forward(mgr: CheckpointManager, wf: str) -> None:
    hist = mgr.store.history(wf)
    latest = _latest(mgr, wf)
    # A crash after the history entry but before checkpoint.json was replaced.
    latest.write_bytes(hist[0].path.read_bytes())
    loaded = mgr.load_with_warnings(wf)
    assert loaded.rolled_forward
    assert loaded.value.seq == 3 and loaded.source == hist[-1].path
    assert any("rolled forward to checkpoint 3" in w for w in loaded.warnings)


def test_missing_checkpoint_json_uses_history(mgr: CheckpointManager, wf: str) -> None:
    latest = _latest(mgr, wf)
    latest.unlink()
    loaded = mgr.load_with_warnings(wf)
    assert loaded.value.seq == 3
    assert any(str(latest) in w and "missing" in w for w in loaded.warnings)
    assert mgr.pause(wf).seq == 4 and latest.is_file()


# ---------------------------------------------------------------- lock

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from cairn.file_lock import locked
    with locked(Path(sys.argv[1]), purpose="test holder"):
        print("held", flush=True)
        time.sleep(30)
""")


def test_lock_timeout_names_the_holder(mgr: CheckpointManager, wf: str) -> None:
    lock = mgr.workflow_dir(wf) / LOCK_FILE
    env = {**os.environ, "PYTHONPATH": str(LIB)}
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock)], stdout=subprocess.PIPE,
                            text=True, env=env)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "held"
        store = FileStore(mgr.root, lock_timeout=0.2)
        with pytest.raises(LockTimeout) as info, store.lock(wf):
            pass
        assert f"pid {proc.pid}" in str(info.value)
        assert "test holder" in str(info.value)
        assert info.value.hint
        slow = CheckpointManager(mgr.root, store=store)
        with pytest.raises(LockTimeout):
            slow.pause(wf)
    finally:
        proc.kill()
        proc.wait()
    # The kernel released the lock when the holder died.
    assert CheckpointManager(mgr.root, store=FileStore(mgr.root, lock_timeout=2)).pause(wf).seq == 4


# ---------------------------------------------------------------- index


def test_index_lists_after_create(mgr: CheckpointManager, wf: str, root: Path) -> None:
    rows = dict(mgr.list_workflows())
    assert set(rows) == {wf}
    s = rows[wf]
    assert s["status"] == "running" and s["completed"] == 2 and s["total"] == 8
    assert s["next_agents"] == ["planner"] and s["seq"] == 3
    on_disk = json.loads((root / INDEX_FILE).read_text())
    assert on_disk["workflows"][wf]["seq"] == 3


@pytest.mark.parametrize("damage", ["deleted", "garbage", "wrong-version"])
def test_index_rebuilt_when_missing_or_corrupt(mgr: CheckpointManager, wf: str, root: Path,
                                               damage: str) -> None:
    other = mgr.create("second", workflow_id="wf-other").workflow_id
    idx = root / INDEX_FILE
    if damage == "deleted":
        idx.unlink()
    elif damage == "garbage":
        idx.write_bytes(b"\x00{{{")
    else:
        idx.write_text(json.dumps({"version": 999, "workflows": {}}))
    rows = dict(mgr.list_workflows())
    assert set(rows) == {wf, other}
    assert rows[wf]["completed"] == 2
    assert set(json.loads(idx.read_text())["workflows"]) == {wf, other}


def test_dirty_mark_repaired_on_read(mgr: CheckpointManager, wf: str, root: Path) -> None:
    cp = mgr.load(wf)
    cp.seq = 4
    cp.status = Status.PAUSED
    cp.checkpoint_type = "pause"
    mgr.index.mark_dirty(wf)
    with mgr.store.lock(wf):  # a writer that died before updating the index
        mgr.store.put(wf, cp.model_dump(mode="json", by_alias=True))
    stale = json.loads((root / INDEX_FILE).read_text())["workflows"][wf]
    assert stale["status"] == "running" and stale["seq"] == 3
    rows = dict(Index(root).read())
    assert rows[wf]["status"] == "paused" and rows[wf]["seq"] == 4
    assert list((root / DIRTY_DIR).iterdir()) == []
    assert json.loads((root / INDEX_FILE).read_text())["workflows"][wf]["seq"] == 4


def test_dirty_mark_of_deleted_workflow_drops_it(mgr: CheckpointManager, wf: str, root: Path) -> None:
    mgr.index.mark_dirty(wf)
    mgr.store.delete(wf)
    assert wf not in Index(root).read()


def test_marker_files_follow_statuses(mgr: CheckpointManager, root: Path) -> None:
    def marks() -> tuple[bool, bool]:
        return (root / ACTIVE_MARK).exists(), (root / RUNNING_MARK).exists()

    assert marks() == (False, False)
    wid = mgr.create("markers").workflow_id
    assert marks() == (True, False)  # pending is active, not running
    mgr.record_start(wid, "orchestrator")
    assert marks() == (True, True)
    mgr.pause(wid)
    assert marks() == (True, False)
    mgr.resume(wid)
    assert marks() == (True, True)
    mgr.cancel(wid)
    assert marks() == (False, False)
    # Rebuilding from scratch gives the same answer.
    (root / INDEX_FILE).unlink()
    Index(root).read()
    assert marks() == (False, False)


def test_an_index_with_a_bad_entry_is_rebuilt_from_the_checkpoints(mgr: CheckpointManager) -> None:
    mgr.create("index repair", workflow_id="wf-idx")
    index_file = mgr.root / ".index.json"
    body = json.loads(index_file.read_text())
    body["workflows"]["wf-idx"]["status"] = ["not", "a", "status"]
    index_file.write_text(json.dumps(body))
    rows = mgr.list_workflows(include_finished=True)
    assert [(wid, s["status"]) for wid, s in rows] == [("wf-idx", "pending")]
    assert json.loads(index_file.read_text())["workflows"]["wf-idx"]["status"] == "pending"
