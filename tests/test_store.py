"""The SQLite backend and the files around it, beyond the contract (test_store_conformance):
pragmas, named migrations, a newer or damaged database, the writers' queue and a killed
holder, durability settings, file modes; the projection's encoding; `safefs`."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cairn import safefs
from cairn.errors import ConfinementError, StoreError
from cairn.manager import CheckpointManager
from cairn.model import utcnow
from cairn.store import projection
from cairn.store import sqlite as backend
from cairn.store.schema import MIGRATIONS
from cairn.store.sqlite import SqliteStore

LIB = Path(__file__).resolve().parent.parent / "lib"


@pytest.fixture
def wf(mgr: CheckpointManager, complete: Callable[..., Path]) -> str:
    """A workflow with three checkpoints: created, orchestrator, researcher done."""
    wid = mgr.create("build the thing", workflow_id="wf-store").workflow_id
    complete(mgr, wid, "orchestrator")
    complete(mgr, wid, "researcher")
    return wid


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Callable[[str, Path], subprocess.Popen[str]]]:
    """Starts a process that holds a lock (`flock` on the queue file, or a SQLite write
    transaction) until it is killed; returns once the lock is held."""
    procs: list[subprocess.Popen[str]] = []

    def start(kind: str, db: Path) -> subprocess.Popen[str]:
        if kind == "flock":
            code = ("import fcntl, os, sys\nfd = os.open(sys.argv[1] + '.lock', os.O_RDWR | os.O_CREAT, 0o600)\n"
                    "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\nsys.stdin.read()\n")
        else:
            code = ("import sqlite3, sys\ndb = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                    "db.execute('BEGIN IMMEDIATE')\nprint('held', flush=True)\nsys.stdin.read()\n")
        proc = subprocess.Popen([sys.executable, "-c", code, str(db)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        procs.append(proc)
        return proc
    yield start
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


# ------------------------------------------------------------------ the database


def test_pragmas_and_named_migrations(mgr: CheckpointManager, wf: str, root: Path) -> None:
    db = sqlite3.connect(root / "cairn.db")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert [r[0] for r in db.execute("SELECT name FROM migrations ORDER BY name")] == [n for n, _ in MIGRATIONS]
    finally:
        db.close()
    store = mgr.store
    assert isinstance(store, SqliteStore)
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] == backend.BUSY_TIMEOUT_MS


def test_a_database_from_a_newer_cairn_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cairn.db"
    SqliteStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.close()
    with pytest.raises(StoreError) as info:
        SqliteStore(path)
    assert "newer Cairn" in str(info.value) and "update" in str(info.value)


def test_a_damaged_database_names_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "cairn.db"
    path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    with pytest.raises(StoreError) as info:
        SqliteStore(path)
    assert "cairn doctor" in str(info.value)
    with pytest.raises(StoreError):
        SqliteStore(tmp_path / "missing.db", create=False)


def test_an_existing_database_is_not_initialised_again(tmp_path: Path) -> None:
    calls: list[int] = []
    SqliteStore(tmp_path / "cairn.db", init=lambda tx: calls.append(1)).close()
    SqliteStore(tmp_path / "cairn.db", init=lambda tx: calls.append(2)).close()
    assert calls == [1]


def test_a_failing_init_leaves_an_uninitialised_database(tmp_path: Path) -> None:
    def boom(tx: object) -> None:
        raise RuntimeError("import failed")
    with pytest.raises(RuntimeError):
        SqliteStore(tmp_path / "cairn.db", init=boom)
    calls: list[int] = []
    store = SqliteStore(tmp_path / "cairn.db", init=lambda tx: calls.append(1))
    store.close()
    assert calls == [1]  # the next open initialises it


def test_a_queued_writer_waits_for_the_holder_and_a_killed_holder_frees_it(
        tmp_path: Path, holder: Callable[[str, Path], subprocess.Popen[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    store = SqliteStore(tmp_path / "cairn.db")
    proc = holder("flock", tmp_path / "cairn.db")
    monkeypatch.setattr(backend, "BUSY_TIMEOUT_MS", 300)
    start = time.monotonic()
    with pytest.raises(StoreError) as info, store.write() as tx:
        tx.first_delivery("x", utcnow())
    assert "busy" in str(info.value) and time.monotonic() - start >= 0.3
    proc.kill()
    proc.wait()  # the kernel drops a killed holder's lock
    with store.write() as tx:
        assert tx.first_delivery("x", utcnow())
    store.close()


def test_a_foreign_writer_is_waited_for(tmp_path: Path, holder: Callable[[str, Path], subprocess.Popen[str]]) -> None:
    """A writer that does not queue (another tool) still serializes through SQLite."""
    store = SqliteStore(tmp_path / "cairn.db")
    proc = holder("sqlite", tmp_path / "cairn.db")
    done = threading.Event()

    def write() -> None:
        with store.write() as tx:
            tx.first_delivery("after", utcnow())
        done.set()
    thread = threading.Thread(target=write)
    thread.start()
    assert not done.wait(0.3)  # blocked behind the foreign transaction
    assert proc.stdin is not None
    proc.stdin.close()  # its process ends: the transaction is rolled back
    proc.wait()
    thread.join(30)
    assert done.is_set()
    store.close()


def test_a_failed_non_durable_write_leaves_the_connection_durable(
        tmp_path: Path, holder: Callable[[str, Path], subprocess.Popen[str]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backend, "BUSY_TIMEOUT_MS", 200)
    store = SqliteStore(tmp_path / "cairn.db")
    holder("sqlite", tmp_path / "cairn.db")
    with pytest.raises(StoreError), store.write(durable=False):
        pass
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2
    store.close()


def test_files_are_private(tmp_path: Path, complete: Callable[..., Path]) -> None:
    root = tmp_path / "fresh" / ".claude" / "artifacts"
    old = os.umask(0o022)
    try:
        m = CheckpointManager(root)
        wid = m.create("private please").workflow_id
        complete(m, wid, "orchestrator")
        m.workflows.heartbeat("s")
    finally:
        os.umask(old)
    for d in (root, root / wid):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    files = [root / "cairn.db", root / "cairn.db-wal", root / "cairn.db-shm", root / "cairn.db.lock",
             root / ".open", root / wid / "checkpoint.json"]
    for f in files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f


def test_no_temp_files_left_behind(mgr: CheckpointManager, wf: str, root: Path) -> None:
    mgr.pause(wf)
    mgr.touch(wf)
    mgr.list_workflows()
    mgr.delete(wf)
    leftovers = [p for p in root.rglob("*") if p.name.endswith(".tmp") or ".deleting-" in p.name]
    assert leftovers == []


def test_two_managers_see_each_others_commits(mgr: CheckpointManager, wf: str, root: Path) -> None:
    other = CheckpointManager(root)
    assert other.load(wf).seq == 3
    mgr.pause(wf)
    assert other.load(wf).seq == 4 and other.load(wf).status.value == "paused"


# ------------------------------------------------------------------ the projection


def test_the_projection_is_valid_json_readable_by_people(mgr: CheckpointManager, wf: str, root: Path) -> None:
    text = (root / wf / "checkpoint.json").read_text()
    data = json.loads(text)
    assert data == json.loads(json.dumps(projection.render(mgr.load(wf))))
    lines = text.splitlines()
    assert lines[0] == "{" and lines[-1] == "}" and '  "seq": 3,' in lines
    assert max(len(line) for line in lines[:12]) < 200  # the head reads line by line
    assert projection.seen(root / wf) == {"seq": 3, "uid": data["workflow_uid"], "workflow_id": wf, "version": "3.2"}


def test_newer_on_disk_reads_only_the_head(mgr: CheckpointManager, wf: str, root: Path) -> None:
    current = mgr.load(wf)
    older = current.as_of(2)
    assert projection.newer_on_disk(root / wf, older)
    assert not projection.newer_on_disk(root / wf, current)
    (root / wf / "checkpoint.json").write_text("garbage")
    assert not projection.newer_on_disk(root / wf, older)


def test_a_projection_is_redacted(mgr: CheckpointManager) -> None:
    key = "sk-ant-api03-" + "Q" * 40
    wf = mgr.create(f"use {key}", workflow_id="wf-r")
    assert key not in wf.request  # redacted before it was stored
    wf.request = f"still {key}"  # and the encoding redacts whatever reaches it
    assert key.encode() not in projection.encode(wf) and b"[REDACTED:anthropic-key]" in projection.encode(wf)


# ------------------------------------------------------------------ safefs


def test_safefs_paths_never_leave_the_folder(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_text("x")
    for rel in ["../f.txt", "/etc/passwd", "a/../../f.txt", "x\x00y", "", ".", "a/.."]:
        with pytest.raises(ConfinementError):
            safefs.read_in(tmp_path, rel)
    assert safefs.read_in(tmp_path, "./f.txt") == b"x"
    with pytest.raises(ConfinementError):
        safefs.read_in(tmp_path, "f.txt", limit=0)


def test_safefs_create_in_is_exclusive_and_private(tmp_path: Path) -> None:
    safefs.create_in(tmp_path, "new.json", b"{}")
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        safefs.create_in(tmp_path, "new.json", b"other")
    (tmp_path / "link").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        safefs.create_in(tmp_path, "link", b"x")
    assert not (tmp_path / "nowhere").exists() and (tmp_path / "new.json").read_bytes() == b"{}"


def test_safefs_replace_in_is_atomic_and_durable(tmp_path: Path) -> None:
    safefs.replace_in(tmp_path, "f.json", b"1", durable=True)
    safefs.replace_in(tmp_path, "f.json", b"2")
    assert (tmp_path / "f.json").read_bytes() == b"2"
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_sweep_temps_removes_only_old_temp_files(tmp_path: Path) -> None:
    old, fresh, other = tmp_path / ".checkpoint.json.abc.tmp", tmp_path / ".x.def.tmp", tmp_path / "keep.tmp"
    for p in (old, fresh, other):
        p.write_text("x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    assert safefs.sweep_temps(tmp_path) == 1
    assert not old.exists() and fresh.exists() and other.exists()


def test_ensure_dir_refuses_a_link_and_a_file(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "file").write_text("x")
    for name in ("link", "file"):
        with pytest.raises(ConfinementError):
            safefs.ensure_dir(tmp_path / name)
    safefs.ensure_dir(tmp_path / "a" / "b" / "c")
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700


def test_hooks_process_sees_what_the_library_wrote(mgr: CheckpointManager, wf: str, root: Path) -> None:
    """Another interpreter on the same database (WAL: readers do not wait for writers)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1])\nfrom pathlib import Path\n"
            "from cairn.manager import CheckpointManager\n"
            "print(CheckpointManager(Path(sys.argv[2])).load(sys.argv[3]).seq)\n")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(LIB), str(root), wf], capture_output=True,
                         text=True, timeout=60, check=True)
    assert out.stdout.strip() == "3"


def test_finished_since_walks_the_checkpoint_time_index(mgr: CheckpointManager, wf: str) -> None:
    """"Completed today" must cost what happened today: SQLite's planner, left alone,
    scanned every checkpoint of the history (in key order, to skip sorting the GROUP BY)."""
    assert isinstance(mgr.store, SqliteStore)
    db = mgr.store.db
    seen: list[str] = []
    db.set_trace_callback(seen.append)
    try:
        with mgr.store.read() as r:
            r.finished_since(utcnow())
    finally:
        db.set_trace_callback(None)
    [sql] = [s for s in seen if "max(at)" in s]
    plan = " | ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + sql))
    assert "INDEX marks_at" in plan and "SCAN marks" not in plan, plan
