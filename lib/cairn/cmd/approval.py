"""`cairn approve ID` / `cairn reject ID` and `cairn pause ID --before STAGE`: a person
in the loop (`cairn.breakpoints`). One function per command, each returning an exit code."""

from __future__ import annotations

import argparse

from cairn.breakpoints import waiting
from cairn.cmd.common import Subparsers, claude_session, emit_json, manager
from cairn.errors import EXIT_OK, UsageError
from cairn.model import Workflow


def _report(args: argparse.Namespace, wf: Workflow, what: str) -> int:
    held = [b.stage for b in wf.breakpoints if b.holding]
    if args.json:
        emit_json({"workflow_id": wf.workflow_id, "status": wf.status.value, "seq": wf.seq,
                   "held": held, "waiting_for_approval": waiting(wf),
                   "next_agents": wf.pipeline.ready(wf.done), "message": what})
    else:
        print(f"{wf.workflow_id}: {what} (checkpoint {wf.seq})")
        if held:
            print(f"  held at a breakpoint: {', '.join(held)}")
        print(f"  continue in Claude Code: /cairn:resume {wf.workflow_id}")
    return EXIT_OK


def cmd_hold(args: argparse.Namespace) -> int:
    """`cairn pause ID --before STAGE`."""
    wf = manager(args).hold(args.workflow_id, args.before, "cli")
    return _report(args, wf, f"{wf.pipeline.stage(args.before).name} will wait for approval before it runs")


def a_person(verb: str) -> None:
    """A decision at a breakpoint is a person's: refused from inside a Claude Code session
    (its Bash tool sets CLAUDE_CODE_SESSION_ID), so the model waiting at the breakpoint does
    not release itself."""
    if claude_session() is not None:
        raise UsageError(f"`cairn {verb}` is for the person, not for the Claude session waiting at the breakpoint",
                         hint="ask the user to run it in a terminal, or to press the button in `cairn ui`")


def cmd_approve(args: argparse.Namespace) -> int:
    a_person("approve")
    m = manager(args)
    wf = m.approve(args.workflow_id, args.feedback, args.stage)
    decided = max((b for b in wf.breakpoints if b.decision == "approved"), key=lambda b: b.decided_seq or 0)
    return _report(args, wf, f"{decided.stage} approved" + (" with feedback" if decided.feedback else ""))


def cmd_reject(args: argparse.Namespace) -> int:
    a_person("reject")
    m = manager(args)
    wf = m.reject(args.workflow_id, args.feedback, args.stage)
    decided = max((b for b in wf.breakpoints if b.decision == "rejected"), key=lambda b: b.decided_seq or 0)
    return _report(args, wf, f"{decided.stage} rejected; {decided.rerun} re-runs with the feedback")


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "approve", help="release a stage held at a breakpoint",
        description="Release the stage held at a breakpoint (by default the one waiting for approval). "
        "The feedback reaches that stage's brief as quoted data and is kept in the audit trail.",
        epilog="Exit codes: 0 approved, 1 unknown or finished workflow, 2 no breakpoint holds a stage, or "
        "usage error.")
    p.add_argument("workflow_id", metavar="ID")
    p.add_argument("--feedback", metavar="TEXT", help="what the stage should take into account")
    p.add_argument("--stage", metavar="STAGE", help="which held stage (default: the one waiting)")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_approve)

    p = sub.add_parser(
        "reject", help="re-run the stage before a held one, with feedback",
        description="Do not release the stage held at a breakpoint: the stage before it re-runs with the "
        "feedback in its brief (it and what follows are invalidated, kept on record), and the held stage "
        "waits for approval again.",
        epilog="Exit codes: 0 rejected, 1 unknown or finished workflow, 2 no breakpoint, no feedback, or the "
        "held stage is the first one.")
    p.add_argument("workflow_id", metavar="ID")
    p.add_argument("--feedback", metavar="TEXT", required=True, help="what the stage before must do differently")
    p.add_argument("--stage", metavar="STAGE", help="which held stage (default: the one waiting)")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_reject)
