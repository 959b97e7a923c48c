"""`cairn status [ID]` (the dashboard), `cairn list` and `cairn show ID`."""

from __future__ import annotations

import argparse
import sys
from typing import TypedDict

from cairn import dashboard, humanize
from cairn.cmd.common import Subparsers, emit_json, manager, use_color, warn
from cairn.dashboard import DetailJSON, OverviewJSON, ProgressJSON
from cairn.errors import EXIT_OK, UsageError
from cairn.model import Workflow, utcnow
from cairn.status import FINISHED, Status


class ListRowJSON(TypedDict):
    workflow_id: str
    status: str
    request: str
    completed_agents: list[str]
    skipped_agents: list[str]
    next_agent: str | None
    progress: ProgressJSON
    current_agent: str | None
    created_at: str | None
    updated_at: str | None
    last_activity: str | None


def render_status(args: argparse.Namespace) -> tuple[OverviewJSON | DetailJSON, str]:
    m = manager(args)
    color = use_color(args)
    if getattr(args, "workflow_id", None):
        detail = dashboard.detail(m, args.workflow_id)
        return detail, dashboard.render_detail(detail, color=color)
    data = dashboard.overview(m)
    return data, dashboard.render_overview(data, color=color)


def cmd_status(args: argparse.Namespace) -> int:
    data, text = render_status(args)
    if args.json:
        emit_json(data)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def parse_statuses(text: str | None) -> list[Status]:
    """`--status S[,S...]`: each must be a status (exit 2 listing them otherwise)."""
    if text is None:
        return []
    known = {s.value: s for s in Status}
    wanted = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in wanted if s not in known]
    if bad or not wanted:
        raise UsageError(f"--status {text!r}: unknown status {', '.join(bad) or '(none given)'}",
                         hint="choose from " + ", ".join(known))
    return [known[s] for s in wanted]


def list_row(wf: Workflow) -> ListRowJSON:
    next_up = dashboard.ready(wf)
    done = len([s for s in wf.done if wf.pipeline.has(s)])
    return {
        "workflow_id": wf.workflow_id, "status": wf.status.value, "request": wf.request,
        "completed_agents": wf.completed_agents, "skipped_agents": wf.skipped_agents,
        "next_agent": next_up[0] if next_up else None, "progress": dashboard.progress(done, len(wf.pipeline)),
        "current_agent": wf.current_agent, "created_at": dashboard.iso(wf.created_at),
        "updated_at": dashboard.iso(wf.updated_at), "last_activity": dashboard.iso(wf.last_activity),
    }


def cmd_list(args: argparse.Namespace) -> int:
    statuses = parse_statuses(args.status)
    m = manager(args)
    include_finished = args.all or any(s in FINISHED for s in statuses)
    summaries = [s for s in m.list_workflows(include_finished=include_finished)
                 if not statuses or s.status in statuses]
    rows: list[ListRowJSON] = []
    if summaries:
        with m.store.read() as reader:
            rows = [list_row(wf) for wf in dashboard.load_rows(reader, summaries)]
    if args.json:
        emit_json(rows)
        return EXIT_OK
    if not rows:
        print("no workflows" + ("" if args.all or statuses else " in progress (--all shows finished ones)"))
        return EXIT_OK
    now = utcnow()
    print(f"{'WORKFLOW':<30} {'STATUS':<9} {'PROGRESS':<17}  {'AGENT':<16} {'LAST ACTIVITY':<15} REQUEST")
    for r in rows:
        p = r["progress"]
        agent = r["current_agent"] or r["next_agent"] or "-"
        print(f"{r['workflow_id']:<30} {r['status']:<9} {dashboard.bar(p['percent'], 10)} {p['percent']:>3}%  "
              f"{dashboard.short(agent, 16):<16} "
              f"{humanize.ago(dashboard.parse_ts(r['last_activity']), now):<15} {dashboard.short(r['request'], 40)}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from cairn.store.projection import encode

    m = manager(args)
    wf, warnings = m.load_with_warnings(args.workflow_id)
    for w in warnings:
        warn(w)
    if args.json or not sys.stdout.isatty():
        sys.stdout.write(encode(wf).decode("utf-8"))
        return EXIT_OK
    detail = dashboard.detail(m, args.workflow_id, history_limit=len(wf.marks) or 1)
    out = [dashboard.render_detail(detail, color=use_color(args)).rstrip("\n"), "",
           f"  Audit trail ({len(wf.audit)})"]
    for a in wf.audit:
        out.append(f"  {humanize.clock(a.at)}  {dashboard.short(a.action, 28):<28} {dashboard.short(a.detail, 90)}")
    with m.store.read() as r:
        effects = r.effects(wf.workflow_id)
    if effects:
        from cairn.ledger import describe

        out += ["", f"  Side-effect ledger ({len(effects)})"]
        out += [f"  {humanize.clock(e.at)}  {dashboard.short(e.stage, 18):<18} {dashboard.short(describe(e), 100)}"
                for e in effects]
    if wf.sessions:
        out += ["", "  Sessions"]
        out += [f"  {dashboard.short(s.session_id, 40):<40} last seen {humanize.clock(s.last_seen)}"
                + (f" on {s.host}" if s.host else "") for s in wf.sessions]
    print("\n".join(out))
    return EXIT_OK


def register(sub: Subparsers) -> None:
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
                       description="One line per workflow under a header row, most recently active first.",
                       epilog="Exit codes: 0 ok, 2 usage error (e.g. an unknown --status).")
    p.add_argument("--all", action="store_true", help="include completed and cancelled ones")
    p.add_argument("--status", metavar="S[,S...]", help="only these statuses (comma-separated)")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_list)

    p = sub.add_parser("show", help="the full checkpoint, its history and audit trail",
                       description="The full checkpoint with its history and audit trail: readable on a "
                       "terminal; checkpoint.json (format 3.1) otherwise, or with --json.",
                       epilog="Exit codes: 0 ok, 1 workflow not found, 2 usage error.")
    p.add_argument("workflow_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="checkpoint.json as the database has it now")
    p.add_argument("--no-color", action="store_true", help="plain ASCII even on a terminal")
    p.set_defaults(handler=cmd_show)
