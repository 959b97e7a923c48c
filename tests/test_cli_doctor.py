"""`cairn doctor`: a lost or damaged database rebuilt from the checkpoint.json
projections, projections rewritten, leftovers swept, pending schema checks settled, and
what cannot be recovered said. Real files, the real database, the CLI as a process."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from cairn.manager import CheckpointManager
from test_cli_support import REPO, complete_stage, db_rows, no_claude_session, run_cairn, write_artifact

__all__ = ["no_claude_session"]  # autouse: every test here runs as in a terminal


def doctor(root: Path, *extra: str) -> tuple[int, dict[str, object], str]:
    r = run_cairn("--dir", str(root), "doctor", "--json", *extra)
    assert "Traceback" not in r.stderr
    return r.returncode, json.loads(r.stdout), r.stderr


@pytest.fixture
def two(mgr: CheckpointManager, stages: list[str]) -> CheckpointManager:
    mgr.create("first", workflow_id="wf-1")
    complete_stage(mgr, "wf-1", stages[0])
    complete_stage(mgr, "wf-1", stages[1])
    mgr.create("second", workflow_id="wf-2")
    mgr.pause("wf-2")
    mgr.store.close()
    return mgr


def test_healthy_project(root: Path, two: CheckpointManager) -> None:
    code, out, _ = doctor(root)
    assert code == 0 and out["ok"] is True and out["database"] == "ok"
    assert out["imported"] == [] and out["projections_rewritten"] == [] and out["unrecovered"] == []
    r = run_cairn("--dir", str(root), "doctor")
    assert r.returncode == 0 and r.stdout.endswith("Everything is in order.\n")


def test_damaged_database_is_rebuilt_from_the_projections(root: Path, two: CheckpointManager) -> None:
    before = {wid: json.loads((root / wid / "checkpoint.json").read_text()) for wid in ("wf-1", "wf-2")}
    (root / "cairn.db").write_bytes(b"this is not a database" * 100)
    for side in ("-wal", "-shm"):
        (root / f"cairn.db{side}").unlink(missing_ok=True)
    r = run_cairn("--dir", str(root), "status")
    assert r.returncode == 1 and "cairn doctor" in r.stderr and "Traceback" not in r.stderr
    code, out, _ = doctor(root)
    assert code == 0, out
    assert out["database"] == "rebuilt" and sorted(out["imported"]) == ["wf-1", "wf-2"]  # type: ignore[arg-type]
    assert (root / "cairn.db.damaged-1").read_bytes().startswith(b"this is not a database")
    fresh = CheckpointManager(root)
    wf = fresh.load("wf-1")
    assert wf.completed_agents == before["wf-1"]["completed_agents"] and wf.seq == before["wf-1"]["seq"]
    assert wf.uid == before["wf-1"]["workflow_uid"]
    assert fresh.load("wf-2").status.value == "paused"
    r = run_cairn("--dir", str(root), "list", "--all", "--json")
    assert {row["workflow_id"] for row in json.loads(r.stdout)} == {"wf-1", "wf-2"}
    assert run_cairn("--dir", str(root), "validate", "wf-1").returncode == 0


def test_lost_database_is_rebuilt(root: Path, two: CheckpointManager) -> None:
    for name in ("cairn.db", "cairn.db-wal", "cairn.db-shm"):
        (root / name).unlink(missing_ok=True)
    code, out, _ = doctor(root)
    assert code == 0 and out["database"] == "rebuilt"
    assert db_rows(root, "SELECT id FROM workflows ORDER BY id") == [("wf-1",), ("wf-2",)]


def test_projections_missing_or_behind_are_rewritten(root: Path, two: CheckpointManager) -> None:
    (root / "wf-1" / "checkpoint.json").unlink()
    stale = json.loads((root / "wf-2" / "checkpoint.json").read_text())
    stale["seq"] = 1
    (root / "wf-2" / "checkpoint.json").write_text(json.dumps(stale))
    code, out, _ = doctor(root)
    assert code == 0 and out["database"] == "ok"
    rewritten = "\n".join(out["projections_rewritten"])  # type: ignore[arg-type]
    assert "wf-1:" in rewritten and "missing" in rewritten
    assert "wf-2:" in rewritten and "at checkpoint 1, the database at 2" in rewritten
    assert json.loads((root / "wf-1" / "checkpoint.json").read_text())["seq"] == 3
    assert json.loads((root / "wf-2" / "checkpoint.json").read_text())["seq"] == 2
    code, out, _ = doctor(root)
    assert out["projections_rewritten"] == []  # once repaired, nothing to do


def test_leftovers_are_swept(root: Path, two: CheckpointManager) -> None:
    old = time.time() - 7200
    leftovers = [root / ".checkpoint.json.dead01.tmp", root / "wf-1" / ".checkpoint.json.dead02.tmp"]
    for p in leftovers:
        p.write_text("partial")
        os.utime(p, (old, old))
    fresh = root / "wf-1" / ".checkpoint.json.live03.tmp"  # a writer may be using it right now
    fresh.write_text("in progress")
    trash = root / ".deleting-wf-9-999999999"
    (trash / "sub").mkdir(parents=True)
    (root / ".edits").mkdir()
    stale_log, live_log = root / ".edits" / "agent-gone", root / ".edits" / "agent-editing"
    for log in (stale_log, live_log):
        log.write_text('["Write", "src/x.py"]\n')
    os.utime(stale_log, (old - 86400, old - 86400))  # a subagent whose stop never came, a day ago
    code, out, _ = doctor(root)
    assert code == 0 and out["temp_files_removed"] == 4
    assert not any(p.exists() for p in leftovers) and not trash.exists() and fresh.exists()
    assert not stale_log.exists() and live_log.exists()


def test_lost_workflow_folder_is_imported_and_garbage_is_reported(root: Path, two: CheckpointManager) -> None:
    with sqlite3.connect(root / "cairn.db") as db:  # the database lost wf-2 (an older copy restored)
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("DELETE FROM workflows WHERE id = 'wf-2'")
    (root / "wf-junk").mkdir()
    (root / "wf-junk" / "checkpoint.json").write_text("{ not json")
    code, out, _ = doctor(root)
    assert code == 1 and out["ok"] is False
    assert out["imported"] == ["wf-2"]
    assert len(out["unrecovered"]) == 1 and "wf-junk" in out["unrecovered"][0]  # type: ignore[index]
    assert CheckpointManager(root).load("wf-2").status.value == "paused"
    r = run_cairn("--dir", str(root), "doctor")
    assert r.returncode == 1 and "Could not recover (1):" in r.stdout and "wf-junk" in r.stdout


def test_a_newer_database_is_left_alone(root: Path, two: CheckpointManager) -> None:
    db = sqlite3.connect(root / "cairn.db")
    db.execute("PRAGMA user_version = 99")
    db.close()
    code, out, _ = doctor(root)
    assert code == 1 and out["database"] == "newer" and "newer Cairn" in out["unrecovered"][0]  # type: ignore[index]
    assert db_rows(root, "PRAGMA user_version") == [(99,)] and len(db_rows(root, "SELECT id FROM workflows")) == 2
    assert not list(root.glob("cairn.db.damaged-*"))


def test_nothing_there(tmp_path: Path) -> None:
    code, out, _ = doctor(tmp_path / "nowhere" / ".claude" / "artifacts")
    assert code == 0 and out["database"] == "none" and out["ok"] is True


def test_pending_checks_are_settled_and_failures_reported(root: Path, project: Path, mgr: CheckpointManager) -> None:
    """Recorded on a bare interpreter against the project's own, stricter schema: pending;
    doctor (with jsonschema) checks, records and reports."""
    schemas = project / ".claude" / "schemas"
    schemas.mkdir()
    strict = json.loads((REPO / "lib" / "cairn" / "data" / "schemas" / "manifest.schema.json").read_text())
    strict["properties"]["summary"]["maxLength"] = 10
    (schemas / "manifest.schema.json").write_text(json.dumps(strict))
    for wid, summary in (("wf-ok", "short"), ("wf-bad", "a summary far longer than ten characters")):
        mgr.create(wid, workflow_id=wid)
        write_artifact(mgr, wid, "orchestrator", summary=summary)
        r = run_cairn("--dir", str(root), "checkpoint", wid, "--agent", "orchestrator",
                      python=(sys.executable, "-S"), env={"CAIRN_SITE": ""})
        if "pending" not in json.dumps(mgr.load(wid).artifacts["manifest.json"].check):
            pytest.skip("jsonschema is importable without site-packages here")
        assert r.returncode == 0, r.stderr
    code, out, _ = doctor(root)
    assert code == 1
    results = {p["workflow_id"]: p for p in out["pending_checks"]}  # type: ignore[union-attr,index]
    assert results["wf-ok"]["result"] == "ok" and results["wf-bad"]["result"] == "failed"
    assert any("summary" in p for p in results["wf-bad"]["problems"])
    assert mgr.load("wf-ok").artifacts["manifest.json"].check == "ok"
    assert mgr.load("wf-bad").artifacts["manifest.json"].check == "failed"
    assert any("wf-bad/manifest.json: schema check failed" in u for u in out["unrecovered"])  # type: ignore[union-attr]
    code, out, _ = doctor(root)
    assert out["pending_checks"] == []  # settled: nothing pending any more
