"""`cairn fork ID [--from STAGE]`: a new workflow sharing ID's completed stages."""

from __future__ import annotations

import argparse

from cairn.cmd.common import Subparsers, claude_session, emit_json, manager, resolve_id, warn
from cairn.errors import EXIT_OK


def cmd_fork(args: argparse.Namespace) -> int:
    from cairn.reopen import fork

    m = manager(args)
    parent = resolve_id(m, args.workflow_id)
    session = claude_session()
    wf = fork(m, parent, upto=args.from_agent, workflow_id=args.id,
              session_id=session.session_id if session else None)
    for w in m.workflows.warnings:
        warn(w)
    nxt = wf.pipeline.ready(wf.done)
    if args.json:
        emit_json({"workflow_id": wf.workflow_id, "parent": parent, "status": wf.status.value,
                   "shared": wf.done, "next_agents": nxt})
    else:
        print(f"{wf.workflow_id}: forked from {parent}; shared {', '.join(wf.done) or 'nothing'}; "
              f"next: {', '.join(nxt) or 'nothing'} (cairn resume {wf.workflow_id})")
    return EXIT_OK


def register(sub: Subparsers) -> None:
    p = sub.add_parser("fork", help="start a new workflow that shares a workflow's completed stages",
                       description="Create a new workflow with ID's request, pipeline and pinned agents, "
                       "sharing its completed stages (records and artifact files); with --from, only the "
                       "stages that do not re-run from STAGE. The fork records its parent; both audit trails "
                       "say so. ID may be completed, cancelled or open.",
                       epilog="Exit codes: 0 forked, 1 unknown workflow, 2 usage error.")
    p.add_argument("workflow_id", metavar="ID|latest")
    p.add_argument("--from", dest="from_agent", metavar="STAGE",
                   help="re-run from this stage in the fork (it and what follows are not shared)")
    p.add_argument("--id", help="choose the new workflow's id (default: generated)")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_fork)
