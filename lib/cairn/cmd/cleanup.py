"""`cairn cleanup`: remove finished workflows older than a cutoff: their rows in the
database (so `cairn history` no longer counts them) and their folders. A running
workflow is never touched, whatever the options say."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import TypedDict

from cairn.cmd.common import Subparsers, emit_json, manager
from cairn.dashboard import iso
from cairn.errors import EXIT_OK, EXIT_PROBLEM, CairnError, UsageError, WorkflowNotFound
from cairn.model import utcnow
from cairn.status import Status

_AGE_RE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
NEVER = frozenset({Status.RUNNING.value})


class RemovedJSON(TypedDict):
    workflow_id: str
    status: str
    last_activity: str | None
    bytes: int


class FailedJSON(RemovedJSON):
    error: str


def parse_age(text: str) -> timedelta:
    m = _AGE_RE.match(text.strip().lower())
    if not m:
        raise UsageError(f"--older-than {text!r} is not an age",
                         hint="use a number and a unit: 30m, 12h, 7d, 2w (0d means any age)")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def parse_statuses(text: str) -> list[str]:
    wanted = [s.strip() for s in text.split(",") if s.strip()]
    known = {s.value for s in Status}
    bad = [s for s in wanted if s not in known]
    if bad or not wanted:
        raise UsageError(f"--status {text!r}: unknown status {', '.join(bad) or '(none)'}",
                         hint="choose from " + ", ".join(sorted(known - NEVER)))
    if NEVER & set(wanted):
        raise UsageError("cleanup never removes running workflows",
                         hint="pause or cancel it first (`cairn cancel ID`)")
    return wanted


def folder_size(path: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def cmd_cleanup(args: argparse.Namespace) -> int:
    statuses = parse_statuses(args.status)
    m = manager(args)
    if args.older_than is None:  # the project's retention (settings.retention_days in cairn.yaml)
        args.older_than = f"{m.settings.retention_days:g}d"
        age = timedelta(days=m.settings.retention_days)
    else:
        age = parse_age(args.older_than)
    cutoff = utcnow() - age
    named = set(args.ids or ())
    if named:  # the workflows named are removed whatever their age (still never a running one)
        cutoff = utcnow()
        known = {s.workflow_id for s in m.list_workflows(include_finished=True)}
        for wid in sorted(named - known):
            raise WorkflowNotFound(wid, str(m.root))
    picked = [s for s in m.list_workflows(include_finished=True)
              if s.status.value in statuses and s.status.value not in NEVER and s.last_activity <= cutoff
              and (not named or s.workflow_id in named)]
    removed: list[RemovedJSON] = []
    failed: list[FailedJSON] = []
    for s in picked:
        wid = s.workflow_id
        entry: RemovedJSON = {"workflow_id": wid, "status": s.status.value,
                              "last_activity": iso(s.last_activity), "bytes": folder_size(m.workflow_dir(wid))}
        if not args.dry_run:
            try:
                current = m.load(wid).status.value
                if current in NEVER or current not in statuses:
                    continue  # it changed since the listing was read
                m.delete(wid)
            except (CairnError, OSError) as exc:
                failed.append({**entry, "error": str(exc).splitlines()[0][:300]})
                continue
        removed.append(entry)
    freed = sum(e["bytes"] for e in removed)
    if args.json:
        emit_json({"dry_run": bool(args.dry_run), "older_than": args.older_than,
                   "statuses": statuses, "removed": removed, "failed": failed,
                   "bytes_freed": freed})
        return EXIT_OK
    verb = "would remove" if args.dry_run else "removed"
    for e in removed:
        print(f"{verb} {e['workflow_id']}  {e['status']}  last activity {e['last_activity']}  "
              f"{human_bytes(int(e['bytes']))}")
    for e in failed:
        print(f"could not remove {e['workflow_id']}: {e['error']}")
    print(f"{'Would remove' if args.dry_run else 'Removed'} {len(removed)} workflow(s), "
          f"{human_bytes(freed)} {'would be freed' if args.dry_run else 'freed'}"
          + ("" if removed else f" (none is {' or '.join(statuses)} with no activity for "
             f"{args.older_than})"))
    return EXIT_OK if not failed else EXIT_PROBLEM


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "cleanup", help="remove finished workflows older than a cutoff",
        description="Remove finished workflows (their rows in the database, their folders and "
        "artifacts) whose last activity is older than --older-than. Running workflows are never "
        "removed. `cairn history` no longer counts what was removed.",
        epilog="Exit codes: 0 ok, 1 some workflow could not be removed, 2 usage error.")
    p.add_argument("ids", nargs="*", metavar="ID",
                   help="remove only these workflows, whatever their age (they must be completed or cancelled)")
    p.add_argument("--older-than", default=None, metavar="AGE",
                   help="minimum age since last activity: 30m, 12h, 7d, 2w (default: settings.retention_days "
                   "of .claude/cairn.yaml, 7d)")
    p.add_argument("--status", default="completed,cancelled", metavar="S[,S...]",
                   help="statuses to remove (default completed,cancelled; never running)")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed; remove nothing")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_cleanup)
