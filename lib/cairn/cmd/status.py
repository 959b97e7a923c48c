"""`cairn status [ID]` (the dashboard), `cairn list` and `cairn show ID`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TypedDict

from cairn import boardtext, dashboard, humanize, liveness
from cairn.cmd.common import Subparsers, emit_json, manager, use_color, warn
from cairn.dashboard import DetailJSON, OverviewJSON, ProgressJSON
from cairn.errors import EXIT_OK, UsageError
from cairn.manager import CheckpointManager
from cairn.model import Workflow, utcnow
from cairn.status import Status

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console


class ListRowJSON(TypedDict):
    workflow_id: str
    status: str
    state: str
    request: str
    completed_agents: list[str]
    skipped_agents: list[str]
    next_agent: str | None
    progress: ProgressJSON
    current_agent: str | None
    agent: str | None
    agent_role: str | None
    created_at: str | None
    updated_at: str | None
    last_activity: str | None


def render_status(args: argparse.Namespace) -> tuple[OverviewJSON | DetailJSON, str]:
    """The data and its plain text (coloured on request)."""
    m = manager(args)
    color = use_color(args)
    if getattr(args, "workflow_id", None):
        detail = dashboard.detail(m, args.workflow_id)
        return detail, dashboard.render_detail(detail, color=color)
    data = dashboard.overview(m)
    return data, boardtext.render_overview(data, color=color)


def rich_console() -> Console | None:
    """rich's console for stdout, or None when rich is not installed (the plugin's bare
    python3 before its virtualenv is set up): the plain text is shown then."""
    try:
        from rich.console import Console
    except ImportError:
        return None
    return Console(highlight=False, emoji=False)


def cmd_status(args: argparse.Namespace) -> int:
    console = rich_console() if use_color(args) and not args.json and not args.workflow_id else None
    if console is not None:  # a person at a terminal: the tables drawn with rich
        from cairn.cmd.board import renderable

        console.print(renderable(dashboard.overview(manager(args)), console.width))
        return EXIT_OK
    if args.json:  # the data alone: its text is not drawn
        m = manager(args)
        emit_json(dashboard.detail(m, args.workflow_id) if args.workflow_id else dashboard.overview(m))
        return EXIT_OK
    sys.stdout.write(render_status(args)[1])
    return EXIT_OK


# `--status` takes a stored status or one of the display states a person sees
# (`cairn.liveness`: executing, interrupted), which are judged per workflow.
DISPLAY_ONLY = (liveness.EXECUTING, liveness.INTERRUPTED)


def parse_statuses(text: str | None) -> list[str]:
    """`--status S[,S...]`: each must be a status or a display state (exit 2 listing them)."""
    if text is None:
        return []
    known = [*(s.value for s in Status), *DISPLAY_ONLY]
    wanted = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in wanted if s not in known]
    if bad or not wanted:
        raise UsageError(f"--status {text!r}: unknown status {', '.join(bad) or '(none given)'}",
                         hint="choose from " + ", ".join(known))
    return wanted


def list_row(r: dashboard.RowJSON, wf: Workflow) -> ListRowJSON:
    return {
        "workflow_id": wf.workflow_id, "status": wf.status.value, "state": r["state"], "request": wf.request,
        "completed_agents": wf.completed_agents, "skipped_agents": wf.skipped_agents,
        "next_agent": r["next_agents"][0] if r["next_agents"] else None, "progress": r["progress"],
        "current_agent": wf.current_agent, "agent": r["agent"], "agent_role": r["agent_role"],
        "created_at": dashboard.iso(wf.created_at), "updated_at": dashboard.iso(wf.updated_at),
        "last_activity": r["last_activity"],
    }


def list_rows(m: CheckpointManager, wanted: list[str], include_all: bool) -> list[ListRowJSON]:
    include_finished = include_all or any(s in (Status.COMPLETED.value, Status.CANCELLED.value) for s in wanted)
    summaries = m.list_workflows(include_finished=include_finished)
    if not summaries:
        return []
    now = utcnow()
    out: list[ListRowJSON] = []
    with m.store.read() as reader:
        for wf in dashboard.load_rows(reader, summaries):
            r = dashboard.row(wf, liveness.of(reader, m.root, wf, now))
            if not wanted or wf.status.value in wanted or r["state"] in wanted:
                out.append(list_row(r, wf))
    return out


def render_list(rows: list[ListRowJSON], *, now: datetime, color: bool = False) -> str:
    cells = [[r["workflow_id"], r["state"], f"{dashboard.bar(r['progress']['percent'], 10)} "
              f"{r['progress']['percent']:>3}%", dashboard.short(boardtext.stage(r["agent"], r["agent_role"]), 28),
              humanize.ago(dashboard.parse_ts(r["last_activity"]), now), dashboard.short(r["request"], 50)]
             for r in rows]
    return "\n".join(boardtext.table(["WORKFLOW", "STATE", "PROGRESS", "STAGE", "LAST ACTIVITY", "REQUEST"],
                                     cells, color=color, paint_col=1)) + "\n"


def cmd_list(args: argparse.Namespace) -> int:
    wanted = parse_statuses(args.status)
    rows = list_rows(manager(args), wanted, args.all)
    if args.json:
        emit_json(rows)
        return EXIT_OK
    if not rows:
        print("no workflows" + ("" if args.all or wanted else " in progress (--all shows finished ones)"))
        return EXIT_OK
    sys.stdout.write(render_list(rows, now=utcnow(), color=use_color(args)))
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
        description="Without ID: the overall line (executing, interrupted, paused, failed, stale, completed "
        "today), a table per group (active, interrupted, paused, failed, stale, recently completed) with "
        "progress, stage, last checkpoint, last activity and the error or how it was interrupted; completed "
        "today, success rate with its counts, average completion time. A workflow whose session is gone "
        "is shown interrupted, never running. With ID: every stage (state, duration, attempts, artifacts) "
        "and the checkpoint history.",
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
                       "terminal; checkpoint.json (format 3.2) otherwise, or with --json.",
                       epilog="Exit codes: 0 ok, 1 workflow not found, 2 usage error.")
    p.add_argument("workflow_id", metavar="ID")
    p.add_argument("--json", action="store_true", help="checkpoint.json as the database has it now")
    p.add_argument("--no-color", action="store_true", help="plain ASCII even on a terminal")
    p.set_defaults(handler=cmd_show)
