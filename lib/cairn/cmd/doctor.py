"""`cairn doctor`: repair what can be repaired, and say what cannot.

1. The database: a damaged one is moved aside (kept) and rebuilt from the checkpoint.json
   projections (`cairn.project.rebuild`); a missing one is rebuilt the same way; a
   workflow folder whose projection the database does not know is imported.
2. Projections: every workflow's checkpoint.json that is missing, damaged, behind,
   foreign or in an older format is rewritten from the database; the `.open`/`.running`
   markers too.
3. Leftovers: temp files of killed writers, folders of interrupted removals.
4. Artifacts whose schema check is "pending" (recorded where no validator was available)
   are checked again here and the outcome reported.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
from pathlib import Path
from typing import TypedDict
from urllib.parse import quote

from cairn.cmd.common import Subparsers, artifacts_root, emit_json, manager
from cairn.errors import EXIT_OK, EXIT_PROBLEM, CairnError
from cairn.manager import CheckpointManager
from cairn.model import Workflow

DB_FILE = "cairn.db"


class PendingJSON(TypedDict):
    workflow_id: str
    path: str
    stage: str
    result: str  # ok | failed | pending | modified | missing | unreadable
    problems: list[str]


class DoctorJSON(TypedDict):
    root: str
    database: str  # ok | none | rebuilt | newer | link | shared
    imported: list[str]
    not_imported: list[str]
    notes: list[str]
    projections_rewritten: list[str]
    temp_files_removed: int
    pending_checks: list[PendingJSON]
    unrecovered: list[str]
    ok: bool


def probe(path: Path) -> str:
    """"ok", "missing", "link", "newer" (a later Cairn's schema) or "damaged". A disk that
    refuses (full, read-only, another user's folder) is not damage: DiskError, and the
    database is left alone (moving it aside there would lose it)."""
    from cairn import disk
    from cairn.store.schema import MIGRATIONS
    from cairn.store.sqlite import harden

    if os.path.islink(path):
        return "link"
    if not os.path.exists(path):
        return "missing"
    db: sqlite3.Connection | None = None
    try:
        db = sqlite3.connect(f"file:{quote(str(path))}?mode=rw&nofollow=1", uri=True, timeout=30)
        harden(db)
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            return "newer"
        check = db.execute("PRAGMA quick_check").fetchall()
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.Error as exc:
        failure = disk.error(exc, str(path), "nothing was repaired")
        if failure is not None and failure.kind != disk.IO:  # full, read-only, not ours: leave it be
            raise failure from None
        return "damaged"  # an I/O error on a disk with room that we may write: the files are at fault
    finally:
        if db is not None:
            db.close()
    if check != [("ok",)] or (version and "workflows" not in tables):
        return "damaged"
    return "ok"


def has_projections(root: Path) -> bool:
    try:
        return any(e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
                   and os.path.isfile(os.path.join(e.path, "checkpoint.json")) for e in os.scandir(root))
    except OSError:
        return False


def repair_database(root: Path, out: DoctorJSON) -> bool:
    """Step 1; False when the database must not be touched further."""
    from cairn.project import rebuild

    state = probe(root / DB_FILE)
    if state == "link":
        out["database"] = "link"
        out["unrecovered"].append(f"{root / DB_FILE} is a symbolic link; Cairn does not follow it (remove it, "
                                  "then run `cairn doctor` again to rebuild the database)")
        return False
    if state == "newer":
        out["database"] = "newer"
        out["unrecovered"].append(f"{root / DB_FILE} was written by a newer Cairn; update the plugin")
        return False
    if state == "missing" and not has_projections(root):
        out["database"] = "none"
        return True
    if state in ("missing", "damaged"):
        report = rebuild(root)
        out["database"] = "rebuilt"
        out["imported"] += report.imported
        out["not_imported"] += report.skipped
        out["notes"] += report.notes
        if state == "damaged":
            kept = sorted(p.name for p in root.glob(f"{DB_FILE}.damaged-*") if not p.name.endswith(("-wal", "-shm")))
            out["notes"].append(f"the damaged database is kept as {root / kept[-1]}" if kept else
                                "the damaged database was moved aside")
    return True


def import_lost(m: CheckpointManager, out: DoctorJSON) -> None:
    """Workflow folders the database does not know (a database restored from an older
    copy, say) are imported from their projections."""
    from cairn.pipeline import default_pipeline
    from cairn.store.importer import import_folders

    with m.store.read() as r:
        known = set(r.ids())
    try:
        lost = {e.name for e in os.scandir(m.root) if e.is_dir(follow_symlinks=False) and not e.name.startswith(".")
                and e.name not in known and os.path.isfile(os.path.join(e.path, "checkpoint.json"))}
    except OSError:
        return
    if not lost:
        return
    with m.store.write() as tx:
        report = import_folders(tx, m.root, default_pipeline(), only=lost)
    out["imported"] += report.imported
    out["not_imported"] += report.skipped
    out["notes"] += report.notes


def sweep_deliveries(root: Path, older_than: float = 86400.0, name: str | None = None) -> int:
    """SessionStart's once-per-delivery marks (`.delivered/`) older than a day: a delivery
    is repeated within seconds, never a day later. With `name`, that folder's files (the
    edit logs of `.edits/`, left by subagents whose stop never came, untouched for a day)."""
    import time

    from cairn.offer import DELIVERED_DIR

    folder = root / (name or DELIVERED_DIR)
    if not folder.is_dir() or folder.is_symlink():
        return 0
    removed = 0
    for entry in os.scandir(folder):
        try:
            age = time.time() - entry.stat(follow_symlinks=False).st_mtime
            if entry.is_file(follow_symlinks=False) and age > older_than:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue
    return removed


def sweep(root: Path, ids: list[str]) -> int:
    """Temp files of killed writers, and folders of removals that did not finish."""
    from cairn import safefs
    from cairn.lease import pid_alive

    removed = safefs.sweep_temps(root) + sum(safefs.sweep_temps(root / wid) for wid in ids)
    removed += sweep_deliveries(root)
    from cairn.edits import EDITS_DIR

    removed += sweep_deliveries(root, name=EDITS_DIR)
    for entry in os.scandir(root):
        if entry.name.startswith(".deleting-") and entry.is_dir(follow_symlinks=False):
            pid = entry.name.rsplit("-", 1)[-1]
            if not (pid.isdigit() and pid_alive(int(pid))):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed += 1
    return removed


def recheck(m: CheckpointManager, wf: Workflow) -> list[PendingJSON]:
    """Artifacts recorded with check "pending", checked again here; the outcome is
    recorded (`CheckpointManager.recheck_pending`) and reported per file."""
    from cairn.checks.artifacts import rehash

    pending = sorted((rel, rec) for rel, rec in wf.artifacts.items() if rec.check == "pending")
    if not pending:
        return []
    folder = m.workflow_dir(wf.workflow_id)
    out: list[PendingJSON] = []
    for rel, rec in pending:
        entry: PendingJSON = {"workflow_id": wf.workflow_id, "path": rel, "stage": rec.agent,
                              "result": "pending", "problems": []}
        try:
            if rehash(folder, rel) != rec.sha256:
                entry["result"] = "modified"
                entry["problems"] = [f"{rel} changed since {rec.agent} recorded it; the stage must re-run"]
        except FileNotFoundError:
            entry["result"] = "missing"
        except (OSError, CairnError) as exc:
            entry["result"], entry["problems"] = "unreadable", [str(exc).splitlines()[0][:300]]
        out.append(entry)
    problems = m.recheck_pending(wf.workflow_id)
    after = m.load(wf.workflow_id).artifacts
    for entry in out:
        now = after.get(entry["path"])
        if entry["result"] == "pending" and now is not None:
            entry["result"] = now.check
            entry["problems"] = [p for p in problems if p.startswith(f"{entry['path']}:")]
    return out


def cmd_doctor(args: argparse.Namespace) -> int:
    root = artifacts_root(args)
    out: DoctorJSON = {"root": str(root), "database": "ok", "imported": [], "not_imported": [], "notes": [],
                       "projections_rewritten": [], "temp_files_removed": 0, "pending_checks": [],
                       "unrecovered": [], "ok": True}
    shared = manager(args).shared  # a server: no local file to repair, folders restored from it
    if shared:
        out["database"] = "shared"
    if root.is_dir() and (shared or repair_database(root, out)) and out["database"] != "none":
        m = manager(args)
        if out["database"] == "ok":
            import_lost(m, out)
        with m.store.read() as r:
            ids = r.ids()
        for wid in ids:
            try:
                wf, warnings = m.load_with_warnings(wid)
            except CairnError as exc:
                out["unrecovered"].append(f"{wid}: {exc.message}")
                continue
            out["projections_rewritten"] += [f"{wid}: {w}" for w in warnings]
            out["pending_checks"] += recheck(m, wf)
        m.workflows.update_marks()
        out["temp_files_removed"] = sweep(root, ids)
    elif root.is_dir():
        out["temp_files_removed"] = sweep(root, [])
    else:
        out["database"] = "none"
    out["unrecovered"] += out["not_imported"]
    out["unrecovered"] += [f"{p['workflow_id']}/{p['path']}: schema check {p['result']}"
                           + (f": {p['problems'][0]}" if p["problems"] else "")
                           for p in out["pending_checks"] if p["result"] not in ("ok", "pending")]
    out["ok"] = not out["unrecovered"]
    if args.json:
        emit_json(out)
    else:
        print(render(out))
    return EXIT_OK if out["ok"] else EXIT_PROBLEM


def render(out: DoctorJSON) -> str:
    said = {"ok": "ok", "none": "none yet (nothing recorded)", "rebuilt": "rebuilt from the checkpoint.json files",
            "newer": "written by a newer Cairn (left alone)", "link": "a symbolic link (left alone)"}
    lines = [f"Cairn doctor: {out['root']}", f"  database: {said[out['database']]}"]
    if out["imported"]:
        lines.append(f"  imported: {', '.join(out['imported'])}")
    lines += [f"  note: {n}" for n in out["notes"]]
    lines += [f"  rewrote {p}" for p in out["projections_rewritten"]]
    if out["temp_files_removed"]:
        lines.append(f"  removed {out['temp_files_removed']} leftover temp file(s) or folder(s)")
    for p in out["pending_checks"]:
        lines.append(f"  pending schema check of {p['workflow_id']}/{p['path']} ({p['stage']}): {p['result']}"
                     + (" (no validator here either: install jsonschema)" if p["result"] == "pending" else ""))
    if out["unrecovered"]:
        lines.append(f"Could not recover ({len(out['unrecovered'])}):")
        lines += [f"  - {u}" for u in out["unrecovered"]]
    else:
        lines.append("Everything is in order." if not (out["imported"] or out["projections_rewritten"]
                                                       or out["database"] == "rebuilt") else "Repaired.")
    return "\n".join(lines)


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "doctor", help="repair the database and projections, say what cannot be recovered",
        description="Rebuild a lost or damaged database from the checkpoint.json files (the damaged file "
        "is kept), import workflow folders the database does not know, rewrite projections that are "
        "missing or behind, remove leftover temp files, re-check artifacts whose schema check is "
        "pending, and list what could not be recovered.",
        epilog="Exit codes: 0 everything in order or repaired, 1 something could not be recovered, "
        "2 usage error.")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_doctor)
