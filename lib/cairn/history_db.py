"""Analytics over every workflow ever run: an SQLite database at
`<artifacts>/history.db` (WAL mode), fed from the checkpoint files.

The checkpoint files stay the source of truth; this database is derived from them.
`sync()` ingests what changed since the last sync (a workflow is re-read only when its
checkpoint.json changed, and only its history entries newer than the database's are
read); `rebuild()` recreates the database from the files. A workflow removed by
`cairn cleanup` stays in the database (its history is synced first) but a rebuild,
which only sees the files, drops it.

The schema evolves through `MIGRATIONS`, a named, append-only list (as in simonw/llm):
each migration runs once, and its name is recorded in `_migrations`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from cairn.atomic import ensure_dir
from cairn.errors import CairnError
from cairn.manager import CheckpointManager
from cairn.models import Checkpoint, utcnow

DB_FILE = "history.db"
Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []
RESUME_TYPES = ("resume", "rollback", "rerun_from", "retry", "skip", "set_params")


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE workflows (
        workflow_id TEXT PRIMARY KEY, request TEXT NOT NULL, status TEXT NOT NULL,
        created_at TEXT NOT NULL, updated_at TEXT NOT NULL, completed_at TEXT,
        duration_seconds REAL, stages_total INTEGER NOT NULL, stages_done INTEGER NOT NULL,
        last_seq INTEGER NOT NULL, source_mtime_ns INTEGER, source_size INTEGER)""")
    db.execute("""CREATE TABLE checkpoints (
        workflow_id TEXT NOT NULL, seq INTEGER NOT NULL, checkpoint_type TEXT NOT NULL,
        at TEXT, status TEXT, current_agent TEXT, done INTEGER,
        PRIMARY KEY (workflow_id, seq))""")
    db.execute("CREATE INDEX checkpoints_type ON checkpoints (checkpoint_type)")


@migration
def m002_attempts(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE attempts (
        workflow_id TEXT NOT NULL, stage TEXT NOT NULL, number INTEGER NOT NULL,
        started_at TEXT NOT NULL, ended_at TEXT, outcome TEXT NOT NULL, duration_seconds REAL,
        PRIMARY KEY (workflow_id, stage, number))""")


@migration
def m003_created_index(db: sqlite3.Connection) -> None:
    db.execute("CREATE INDEX workflows_created ON workflows (created_at)")


def db_path(root: Path) -> Path:
    return Path(root) / DB_FILE


def connect(path: Path) -> sqlite3.Connection:
    ensure_dir(path.parent)
    db = sqlite3.connect(str(path), timeout=15, isolation_level=None)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    migrate(db)
    return db


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply pending migrations in order; returns their names."""
    db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
    done = {r[0] for r in db.execute("SELECT name FROM _migrations")}
    applied = []
    for name, fn in MIGRATIONS:
        if name in done:
            continue
        with _tx(db):
            fn(db)
            db.execute("INSERT INTO _migrations VALUES (?, ?)", (name, _iso(utcnow())))
        applied.append(name)
    return applied


@contextlib.contextmanager
def _tx(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _iso(dt: datetime | None) -> str | None:
    from cairn.dashboard import iso

    return iso(dt)


def _secs(a: datetime | None, b: datetime | None) -> float | None:
    return round((b - a).total_seconds(), 3) if a and b else None


# ---------------------------------------------------------------------- ingest
def sync(root: Path, *, path: Path | None = None) -> dict[str, int]:
    """Bring the database up to date with the checkpoint files under `root`."""
    m = CheckpointManager(root)
    db = connect(path or db_path(root))
    stats = {"workflows": 0, "checkpoints": 0}
    try:
        known = {r["workflow_id"]: r for r in db.execute(
            "SELECT workflow_id, created_at, last_seq, source_mtime_ns, source_size FROM workflows")}
        for wid in m.store.list_ids():
            latest = m.workflow_dir(wid) / "checkpoint.json"
            try:
                st = latest.stat()
                sig: tuple[int | None, int | None] = (st.st_mtime_ns, st.st_size)
            except OSError:
                sig = (None, None)
            row = known.get(wid)
            if row is not None and sig[0] is not None and \
                    (row["source_mtime_ns"], row["source_size"]) == sig:
                continue
            try:
                cp = m.load(wid)
            except CairnError:
                continue  # unreadable: `cairn validate` reports it; analytics skip it
            with _tx(db):
                stats["checkpoints"] += _ingest(db, m, cp, row, sig)
            stats["workflows"] += 1
    finally:
        db.close()
    return stats


def _ingest(db: sqlite3.Connection, m: CheckpointManager, cp: Checkpoint,
            row: sqlite3.Row | None, sig: tuple[int | None, int | None]) -> int:
    wid = cp.workflow_id
    created = _iso(cp.created_at)
    last_seq = 0
    if row is not None and row["created_at"] == created:
        last_seq = int(row["last_seq"])
    else:  # new, or a workflow of the same id was deleted and created again
        for table in ("workflows", "checkpoints", "attempts"):
            db.execute(f"DELETE FROM {table} WHERE workflow_id = ?", (wid,))
    added = 0
    for entry in m.store.history(wid):
        if entry.seq <= last_seq:
            continue
        try:
            raw: dict[str, Any] = json.loads(entry.path.read_bytes())
        except (OSError, ValueError):
            continue
        done = len(raw.get("completed_agents") or []) + len(raw.get("skipped_agents") or [])
        db.execute("INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?, ?, ?, ?)",
                   (wid, entry.seq, entry.checkpoint_type, _norm(raw.get("updated_at")),
                    raw.get("status"), raw.get("current_agent"), done))
        added += 1
    pipeline = m.pipeline_of(cp)
    completed_at = _iso(cp.updated_at) if cp.status.value == "completed" else None
    db.execute("INSERT OR REPLACE INTO workflows VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               (wid, cp.request[:500], cp.status.value, created, _iso(cp.updated_at), completed_at,
                _secs(cp.created_at, cp.updated_at) if completed_at else None, len(pipeline),
                len([a for a in cp.done if pipeline.has(a)]), cp.seq, sig[0], sig[1]))
    db.execute("DELETE FROM attempts WHERE workflow_id = ?", (wid,))
    for stage, state in cp.agents.items():
        for att in state.attempts:
            db.execute("INSERT OR REPLACE INTO attempts VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (wid, stage, att.number, _iso(att.started_at), _iso(att.ended_at),
                        att.outcome, _secs(att.started_at, att.ended_at)))
    return added


def _norm(value: object) -> str | None:
    from cairn.dashboard import parse_ts

    return _iso(parse_ts(value))


def rebuild(root: Path, *, path: Path | None = None) -> dict[str, int]:
    """Recreate the database from the checkpoint files (replacing it atomically)."""
    target = path or db_path(root)
    tmp = target.with_name(f".{target.name}.rebuild-{os.getpid()}")
    for p in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
    stats = sync(root, path=tmp)
    os.replace(tmp, target)
    for suffix in ("-wal", "-shm"):  # the old database's, if a reader left them
        with contextlib.suppress(FileNotFoundError):
            Path(f"{target}{suffix}").unlink()
    return stats


# ---------------------------------------------------------------------- analytics
def analytics(path: Path, *, top: int = 5, days: int = 30) -> dict[str, Any]:
    db = connect(path)
    try:
        q = db.execute

        def one(sql: str) -> int:
            return int(q(sql).fetchone()[0])

        transitions = """SELECT workflow_id, checkpoint_type, status,
            LAG(status) OVER (PARTITION BY workflow_id ORDER BY seq) AS prev FROM checkpoints"""
        types = ",".join("?" * len(RESUME_TYPES))
        resumes_sql = (f"SELECT workflow_id FROM ({transitions}) WHERE checkpoint_type IN ({types}) "
                       "OR (status = 'running' AND prev IN ('paused', 'failed', 'stale'))")
        resumes = q(f"SELECT COUNT(*) FROM ({resumes_sql})", RESUME_TYPES).fetchone()[0]
        pauses = one(f"SELECT COUNT(*) FROM ({transitions}) WHERE status = 'paused' "
                     "AND (prev IS NULL OR prev != 'paused')")
        resumed = q(f"SELECT COUNT(DISTINCT w.workflow_id), SUM(w.status = 'completed') FROM workflows w "
                    f"WHERE w.workflow_id IN ({resumes_sql})", RESUME_TYPES).fetchone()

        def by_outcome(outcome: str) -> list[dict[str, Any]]:
            return [{"stage": r[0], "count": r[1]} for r in q(
                "SELECT stage, COUNT(*) AS n FROM attempts WHERE outcome = ? GROUP BY stage "
                "ORDER BY n DESC, stage LIMIT ?", (outcome, top))]

        return {
            "database": str(path),
            "workflows": one("SELECT COUNT(*) FROM workflows"),
            "checkpoints": one("SELECT COUNT(*) FROM checkpoints"),
            "by_status": {r[0]: r[1] for r in q(
                "SELECT status, COUNT(*) FROM workflows GROUP BY status ORDER BY status")},
            "resumes": resumes, "pauses": pauses,
            "resumed_workflows": resumed[0] or 0,
            "resume_success_rate": round((resumed[1] or 0) / resumed[0], 4) if resumed[0] else None,
            "stages_interrupted": by_outcome("interrupted"),
            "stages_failed": by_outcome("failed"),
            "stage_durations": [
                {"stage": r[0], "runs": r[1], "average_seconds": round(r[2], 1)} for r in q(
                    "SELECT stage, COUNT(*), AVG(duration_seconds) FROM attempts WHERE outcome = "
                    "'completed' AND duration_seconds IS NOT NULL GROUP BY stage ORDER BY stage")],
            "workflows_per_day": [{"day": r[0], "count": r[1]} for r in q(
                "SELECT substr(created_at, 1, 10) AS day, COUNT(*) FROM workflows GROUP BY day "
                "ORDER BY day DESC LIMIT ?", (days,))],
        }
    finally:
        db.close()


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the data tables, sorted (to compare two databases)."""
    db = connect(path)
    try:
        return {t: sorted(tuple(r) for r in db.execute(f"SELECT * FROM {t}"))
                for t in ("workflows", "checkpoints", "attempts")}
    finally:
        db.close()
