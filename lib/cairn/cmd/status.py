"""`cairn status [ID]` (the dashboard), `cairn list` and `cairn show ID`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from cairn import dashboard, humanize
from cairn.cmd.core import emit_json, manager, summary_row
from cairn.errors import EXIT_OK
from cairn.models import utcnow
from cairn.status import FINISHED


def use_color(args: argparse.Namespace, stream: Any = None) -> bool:
    stream = stream or sys.stdout
    if getattr(args, "no_color", False) or os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


def render_status(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    m = manager(args)
    color = use_color(args)
    if getattr(args, "workflow_id", None):
        data = dashboard.detail(m, args.workflow_id)
        return data, dashboard.render_detail(data, color=color)
    data = dashboard.overview(m)
    return data, dashboard.render_overview(data, color=color)


def cmd_status(args: argparse.Namespace) -> int:
    data, text = render_status(args)
    if args.json:
        emit_json(data)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    statuses = [s.strip() for s in args.status.split(",") if s.strip()] if args.status else []
    include_finished = args.all or any(s in {f.value for f in FINISHED} for s in statuses)
    rows = [summary_row(w, s) for w, s in manager(args).list_workflows(include_finished=include_finished)]
    if statuses:
        rows = [r for r in rows if r["status"] in statuses]
    if args.json:
        emit_json(rows)
        return EXIT_OK
    if not rows:
        print("no workflows" + ("" if args.all or statuses else
                                " in progress (--all shows finished ones)"))
        return EXIT_OK
    now = utcnow()
    for r in rows:
        p = r["progress"]
        agent = r["current_agent"] or r["next_agent"] or "-"
        print(f"{r['workflow_id']:<30} {r['status']:<9} {dashboard.bar(p['percent'], 10)} "
              f"{p['percent']:>3}%  {dashboard.short(agent, 16):<16} "
              f"{humanize.ago(dashboard.parse_ts(r['last_activity']), now):<15} "
              f"{dashboard.short(r['request'], 40)}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    m = manager(args)
    loaded = m.load_with_warnings(args.workflow_id)
    for w in loaded.warnings:
        print(f"cairn: warning: {w}", file=sys.stderr)
    history = m.store.history(args.workflow_id)
    if args.json or not sys.stdout.isatty():
        data = loaded.value.model_dump(mode="json", by_alias=True)
        data["history"] = [{"seq": h.seq, "checkpoint_type": h.checkpoint_type, "file": h.path.name}
                           for h in history]
        emit_json(data)
        return EXIT_OK
    cp = loaded.value
    detail = dashboard.detail(m, args.workflow_id, history_limit=len(history) or 1)
    out = [dashboard.render_detail(detail, color=use_color(args)).rstrip("\n"), "",
           f"  Audit trail ({len(cp.audit)})"]
    for a in cp.audit:
        out.append(f"  {humanize.clock(a.at)}  {dashboard.short(a.action, 28):<28} "
                   f"{dashboard.short(a.detail, 90)}")
    if cp.sessions:
        out += ["", "  Sessions"]
        out += [f"  {dashboard.short(s.session_id, 40):<40} last seen {humanize.clock(s.last_seen)}"
                for s in cp.sessions]
    print("\n".join(out))
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser(
        "status", help="the dashboard: every workflow, or one in detail",
        description="Without ID: counts by state; running, interrupted/paused, failed, stale and "
        "recently completed workflows; success rate and average completion time. With ID: "
        "every stage (state, duration, attempts, artifacts) and the checkpoint history.",
        epilog="Exit codes: 0 ok, 1 workflow not found or unreadable, 2 usage error.")
    p.add_argument("workflow_id", metavar="ID", nargs="?")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.add_argument("--no-color", action="store_true", help="plain ASCII even on a terminal")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("list", help="one line per workflow",
                       description="One line per workflow, most recently active first.")
    p.add_argument("--all", action="store_true", help="include completed and cancelled ones")
    p.add_argument("--status", metavar="S[,S...]", help="only these statuses (comma-separated)")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("show", help="the full checkpoint, its history and audit trail",
                       description="The full checkpoint with its history and audit trail: "
                       "readable on a terminal, the raw JSON otherwise (or with --json).")
    p.add_argument("workflow_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="the raw checkpoint plus its history")
    p.add_argument("--no-color", action="store_true", help="plain ASCII even on a terminal")
    p.set_defaults(handler=cmd_show)
