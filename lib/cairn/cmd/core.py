"""`cairn start`, `cairn checkpoint`, `cairn validate`. One function per command, each
returning an exit code."""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path
from typing import TypedDict

from cairn.cmd.common import (
    Subparsers,
    artifacts_root,
    claude_session,
    emit_json,
    manager,
    print_problems,
    resolve_id,
    settle_pending,
)
from cairn.errors import EXIT_OK, EXIT_PROBLEM, ConfinementError
from cairn.model import FORMAT, Problem


class FormatCheck(TypedDict):
    """How checkpoint.json compares with the shipped JSON Schema of its format."""

    state: str  # "ok", "invalid" or "not checked"
    note: str | None


def cmd_start(args: argparse.Namespace) -> int:
    session = claude_session()
    m = manager(args)
    wf = m.create(args.request, workflow_id=args.id, session_id=session.session_id if session else None)
    if session is not None:  # this session works on it: a killed client then shows as interrupted at once
        m.workflows.acquire(wf.workflow_id, session.session_id, session.pid, ttl=m.settings.lease_ttl)
    if args.json:
        emit_json({"workflow_id": wf.workflow_id, "status": wf.status.value,
                   "stages": wf.pipeline.names, "agents": {s.name: s.agent for s in wf.pipeline.stages},
                   "folder": str(artifacts_root(args) / wf.workflow_id),
                   "session_bound": session is not None})
    else:
        print(wf.workflow_id)
    return EXIT_OK


def cmd_checkpoint(args: argparse.Namespace) -> int:
    m = manager(args)
    session = claude_session()
    wf = m.record_completion(args.workflow_id, args.agent, artifacts=args.artifact or None,
                             check_schemas=not args.no_schema,
                             session_id=session.session_id if session else None)
    nxt = wf.pipeline.ready(wf.done)
    pending = sorted(p for p, r in wf.artifacts.items() if r.agent == args.agent and r.check == "pending")
    if args.json:
        emit_json({"workflow_id": wf.workflow_id, "seq": wf.seq, "status": wf.status.value,
                   "completed_agents": wf.completed_agents, "next_agent": nxt[0] if nxt else None,
                   "artifacts": {k: v.sha256 for k, v in wf.artifacts.items()},
                   "schema_pending": pending})
    else:
        print(f"{wf.workflow_id}: {args.agent} completed (checkpoint {wf.seq}); "
              f"{len(wf.done)}/{len(wf.pipeline)} done; next: {', '.join(nxt) or 'nothing'}")
        if pending:
            print(f"  schema check pending for {', '.join(pending)} (no validator here); "
                  "`cairn doctor` checks it where jsonschema is installed")
    return EXIT_OK


def check_format(folder: Path) -> tuple[FormatCheck, list[Problem]]:
    """checkpoint.json against data/checkpoint.schema.json, with jsonschema when it is
    installed; without it the check is skipped with a one-line note."""
    from cairn.checks.schema import check_with_jsonschema
    from cairn.store.projection import CHECKPOINT_FILE, read_raw

    shown = f"{folder.name}/{CHECKPOINT_FILE}"
    try:
        data = read_raw(folder)
    except (OSError, ValueError, ConfinementError) as exc:
        problem = Problem("checkpoint_unreadable", shown, f"{shown} cannot be read: {str(exc)[:200]}")
        return FormatCheck(state="invalid", note=None), [problem]
    schema = Path(str(resources.files("cairn").joinpath("data").joinpath("checkpoint.schema.json")))
    found = check_with_jsonschema(schema, data)
    if found is None:
        return FormatCheck(state="not checked", note="checkpoint.json format not checked: the Python package "
                           "jsonschema is not installed here"), []
    problems = [Problem("checkpoint_invalid", shown, f"{shown} does not match format {FORMAT}: {p}") for p in found]
    return FormatCheck(state="invalid" if problems else "ok", note=None), problems


def cmd_validate(args: argparse.Namespace) -> int:
    from cairn.checks.stale import recovery
    from cairn.project import projection_edits
    from cairn.resumer import WorkflowResumer

    m = manager(args)
    wid = resolve_id(m, args.workflow_id)
    wf, warnings = m.load_with_warnings(wid)  # WorkflowNotFound says what to do
    wf = settle_pending(m, wf)
    report = WorkflowResumer(m).validate(wid, hashes=not args.fast, cp=wf)
    report.problems[:0] = [Problem("checkpoint_recovered", str(m.workflow_dir(wid)), w) for w in warnings]
    edited = projection_edits(m.root, wf)
    if edited:  # the database is the truth: the file is rewritten, and the edit reported
        m.workflows.project(wf, force=True)
        report.problems.insert(0, Problem("checkpoint_edited", str(m.workflow_dir(wid) / "checkpoint.json"),
                                          "checkpoint.json said something else than the database in "
                                          f"{', '.join(edited[:8])} (edited by hand or by a tool); edits there "
                                          "are ignored, and it was rewritten from the database"))
    fmt, bad = check_format(m.workflow_dir(wid))
    report.problems += bad
    pending = sorted(p for p, r in wf.artifacts.items() if r.check == "pending")
    if not args.fast:  # a full check decides whether the workflow is stale
        wf = m.mark_stale(wf, report.problems)
    options = recovery(wid, report.problems, wf.pipeline, status=wf.status.value)
    if args.json:
        emit_json({**report.to_dict(), "recovery": options, "checkpoint_format": fmt["state"],
                   "schema_pending": pending, "notes": [n for n in (fmt["note"],) if n]})
    else:
        if report.valid:
            print(f"{wid}: valid ({report.artifacts_checked} artifacts checked)")
        else:
            print_problems(f"{wid}: {len(report.problems)} problem(s)", report.problems, options)
        if pending:
            print(f"  schema check pending for {', '.join(pending)}: run `cairn doctor` where jsonschema "
                  "is installed")
        if fmt["note"]:
            print(f"  note: {fmt['note']}", file=sys.stderr)
    return EXIT_OK if report.valid else EXIT_PROBLEM


def register(sub: Subparsers) -> None:
    p = sub.add_parser("start", help="create a workflow and print its id",
                       description="Create a workflow for REQUEST and print its id. Run inside Claude "
                       "Code (CLAUDE_CODE_SESSION_ID set), it also binds the workflow to that session and takes "
                       "its lease.")
    p.add_argument("request", help="what the pipeline should do")
    p.add_argument("--id", help="choose the workflow id (default: generated)")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_start)

    p = sub.add_parser("checkpoint", help="record that an agent completed",
                       description="Record a completed stage by hand: hash its artifacts and check "
                       "their schemas and evidence (workflow_id, agent).",
                       epilog="Exit codes: 0 recorded, 1 invalid artifacts or unknown workflow, 2 usage error.")
    p.add_argument("workflow_id", metavar="ID")
    p.add_argument("--agent", required=True, help="the pipeline stage that completed")
    p.add_argument("--artifact", action="append", metavar="PATH",
                   help="artifact it wrote, relative to the workflow folder (repeatable; "
                   "default: the stage's artifacts)")
    p.add_argument("--no-schema", action="store_true", help="skip the schema check")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_checkpoint)

    p = sub.add_parser("validate", help="check a workflow's checkpoint and artifacts",
                       description="Check a workflow: its artifacts (sha256, schemas), stale state "
                       "(git, expiry, pipeline changes) and checkpoint.json's format.",
                       epilog="Exit codes: 0 valid, 1 problems found or unknown workflow, 2 usage error.")
    p.add_argument("workflow_id", metavar="ID|latest", nargs="?", default="latest")
    p.add_argument("--fast", action="store_true", help="trust size+mtime, skip hashing")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_validate)

