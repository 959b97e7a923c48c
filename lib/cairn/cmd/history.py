"""`cairn history [--rebuild]`: analytics from `<artifacts>/history.db`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cairn import history_db
from cairn.cmd.core import artifacts_root, emit_json
from cairn.errors import EXIT_OK
from cairn.humanize import duration


def render(data: dict[str, Any]) -> str:
    rate = data["resume_success_rate"]
    out = [f"Cairn history ({data['database']})",
           f"  {data['workflows']} workflows, {data['checkpoints']} checkpoints"
           + ("; " + ", ".join(f"{k} {v}" for k, v in data["by_status"].items())
              if data["by_status"] else ""),
           f"  resumes {data['resumes']}, pauses {data['pauses']}; resume success rate "
           + (f"{round(100 * rate)}% ({data['resumed_workflows']} resumed workflows)"
              if rate is not None else "- (nothing resumed yet)")]
    for key, title in (("stages_interrupted", "Most often interrupted"),
                       ("stages_failed", "Most often failed")):
        rows = data[key]
        out.append(f"  {title}: " + (", ".join(f"{r['stage']} ({r['count']})" for r in rows)
                                      if rows else "none"))
    if data["stage_durations"]:
        out += ["", "  Average duration per stage (completed attempts)"]
        out += [f"    {r['stage']:<20} {duration(r['average_seconds']):>9}  over {r['runs']} run(s)"
                for r in data["stage_durations"]]
    if data["workflows_per_day"]:
        out += ["", "  Workflows per day"]
        out += [f"    {r['day']}  {'#' * min(r['count'], 50)} {r['count']}"
                for r in data["workflows_per_day"]]
    return "\n".join(out) + "\n"


def cmd_history(args: argparse.Namespace) -> int:
    root = artifacts_root(args)
    if args.rebuild:
        stats = history_db.rebuild(root)
        print(f"rebuilt {history_db.db_path(root)} from {stats['workflows']} workflow(s), "
              f"{stats['checkpoints']} checkpoint(s)", file=sys.stderr)
    else:
        history_db.sync(root)
    data = history_db.analytics(history_db.db_path(root))
    data["rebuilt"] = bool(args.rebuild)
    if args.json:
        emit_json(data)
    else:
        sys.stdout.write(render(data))
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser(
        "history", help="analytics over every workflow run (SQLite history.db)",
        description="Resume and pause counts, resume success rate, the stages most often "
        "interrupted or failed, average duration per stage and workflows per day, from "
        "<artifacts>/history.db. The database is brought up to date from the checkpoint files "
        "(the source of truth) first; --rebuild recreates it from them.",
        epilog="Exit codes: 0 ok, 2 usage error, 3 internal error.")
    p.add_argument("--rebuild", action="store_true", help="recreate the database from the files")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_history)
