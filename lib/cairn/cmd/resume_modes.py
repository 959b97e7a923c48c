"""`cairn resume` with its modes (--fast, --safe, --rollback N, --from AGENT, --retry,
--skip AGENT, --set KEY=VALUE), the interactive pick, and `cairn pause` / `cairn cancel`."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from typing import Any

from cairn.cmd.core import emit_json, manager, print_problems
from cairn.dashboard import bar, parse_ts, row, short
from cairn.errors import EXIT_OK, EXIT_PROBLEM, NotResumable, UsageError
from cairn.humanize import ago
from cairn.manager import CheckpointManager
from cairn.models import Checkpoint, utcnow
from cairn.operations import Operation, apply, commit, parse_params
from cairn.resumer import Problem, WorkflowResumer


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _choices(m: CheckpointManager) -> list[dict[str, Any]]:
    return [row(m, w, s) for w, s in m.resumable()]


def _describe(i: int, r: dict[str, Any]) -> list[str]:
    now = utcnow()
    p = r["progress"]
    agent = f"{r['agent_role']} {r['agent']}" if r["agent"] else "not started"
    lines = [f"{i:>3}) {r['workflow_id']}  {r['status']}  {bar(p['percent'], 10)} {p['percent']}%  "
             f"{short(agent, 30)}",
             f"     {short(r['request'], 70)}",
             f"     last activity {ago(parse_ts(r['last_activity']), now)}"]
    if r["last_error"]:
        lines.append(f"     last error: {short(r['last_error'], 70)}")
    return lines


def pick(m: CheckpointManager) -> str:
    """The workflow to resume when no id was given: the only one, a choice on a TTY,
    or an error listing them."""
    rows = _choices(m)
    if not rows:
        raise NotResumable(f"there is no workflow to resume under {m.root}",
                           hint='start one with `cairn start "REQUEST"`')
    if len(rows) == 1:
        return str(rows[0]["workflow_id"])
    listing = "\n".join(line for i, r in enumerate(rows, 1) for line in _describe(i, r))
    if not _interactive():
        raise UsageError(f"{len(rows)} workflows can be resumed; say which:\n{listing}",
                         hint="run `cairn resume ID` (or `cairn resume latest` for the most recent)")
    print(f"Resumable workflows in {m.root}:\n{listing}", flush=True)
    while True:
        try:
            answer = input(f"Resume which? [1-{len(rows)}, q to quit] ").strip().lower()
        except EOFError:
            answer = "q"
        if answer in ("q", "quit", ""):
            raise UsageError("nothing picked", hint="run `cairn resume ID`")
        if answer.isdigit() and 1 <= int(answer) <= len(rows):
            return str(rows[int(answer) - 1]["workflow_id"])
        ids = [str(r["workflow_id"]) for r in rows]
        if answer in ids:
            return answer
        print(f"  please type a number from 1 to {len(rows)}", flush=True)


def git_problems(m: CheckpointManager, cp: Checkpoint) -> list[Problem]:
    """Git state that makes a resume unsafe: an operation in progress, unmerged files,
    or HEAD moved away from the commit the workflow recorded (metadata.git_head)."""
    project = m.project_dir
    if project is None:
        return []

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(project), *args], capture_output=True, text=True,
                                 timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    gitdir = git("rev-parse", "--absolute-git-dir")
    if not gitdir:
        return []
    problems: list[Problem] = []
    for name, what in (("MERGE_HEAD", "a merge"), ("rebase-merge", "a rebase"),
                       ("rebase-apply", "a rebase"), ("CHERRY_PICK_HEAD", "a cherry-pick"),
                       ("REVERT_HEAD", "a revert")):
        if os.path.exists(os.path.join(gitdir, name)):
            problems.append(Problem("git_in_progress", str(project),
                                    f"{what} is in progress in {project}"))
            break
    status = git("status", "--porcelain") or ""
    unmerged = [ln[3:] for ln in status.splitlines() if ln[:2] in ("UU", "AA", "DD", "AU", "UA")]
    if unmerged:
        problems.append(Problem("git_conflicts", str(project),
                                f"{len(unmerged)} file(s) have merge conflicts: {', '.join(unmerged[:5])}"))
    recorded = cp.metadata.get("git_head")
    head = git("rev-parse", "HEAD")
    if isinstance(recorded, str) and head and recorded != head:
        problems.append(Problem("git_head_moved", str(project),
                                f"HEAD is {head[:12]}, the workflow recorded {recorded[:12]}"))
    return problems


def recovery_options(wid: str, problems: list[Problem]) -> list[str]:
    stages = list(dict.fromkeys(p.stage for p in problems if p.stage))
    opts = [f"cairn resume {wid} --from {s}   # re-run {s} and every stage after it" for s in stages[:3]]
    opts += [f"cairn resume {wid} --rollback N   # go back to checkpoint N (`cairn status {wid}` lists them)",
             f"cairn resume {wid}   # default mode: re-runs the stages whose artifacts are broken",
             f"cairn validate {wid}   # every problem in detail"]
    if any(p.code.startswith("git_") for p in problems):
        opts.insert(0, "finish or abort the git operation / resolve conflicts, then resume again")
    return opts


def _operation(args: argparse.Namespace) -> Operation:
    return Operation(rollback=args.rollback, rerun_from=args.from_agent, retry=args.retry,
                     skip=list(args.skip or []), params=parse_params(list(args.set or [])),
                     reason=args.reason)


def cmd_resume(args: argparse.Namespace) -> int:
    m = manager(args)
    op = _operation(args)
    if args.workflow_id is None:
        wid = pick(m)
    elif args.workflow_id == "latest":
        wid = m.latest_id()
    else:
        wid = args.workflow_id
    loaded = m.load_with_warnings(wid)
    for w in loaded.warnings:
        print(f"cairn: warning: {w}", file=sys.stderr)
    resumer = WorkflowResumer(m)
    preview = loaded.value.model_copy(deep=True)
    note = apply(m, preview, op)  # raises on a bad --rollback/--from/--skip before anything is written
    mode = "fast" if args.fast else "safe" if args.safe else "default"
    report = resumer.validate(wid, cp=preview, hashes=not args.fast, schemas=not args.fast)
    if args.safe:
        report.problems[:0] = [Problem("checkpoint_recovered", str(loaded.source), w)
                               for w in loaded.warnings]
        report.problems += git_problems(m, preview)
    plan = resumer.plan(wid, report=report, cp=preview)
    base = {**plan.to_dict(), "mode": mode, "operation": op.name(), "note": note,
            "dry_run": bool(args.dry_run)}
    if args.safe and report.problems:
        options = recovery_options(wid, report.problems)
        if args.json:
            emit_json({**base, "can_resume": False, "refused": True, "recovery": options,
                       "seq": loaded.value.seq, "context": None})
        else:
            print_problems(f"cairn: refusing to resume {wid} in --safe mode: "
                           f"{len(report.problems)} problem(s)", report.problems, options)
        return EXIT_PROBLEM
    cp = preview
    if plan.can_resume and not args.dry_run:
        from cairn import lease

        lease.acquire_for_cli(m, wid)  # refused while another live session holds it
        cp = commit(m, wid, op)
        plan = resumer.plan(wid, report=report, cp=cp)
    context = resumer.render_context(plan, cp, note=note)
    if args.json:
        emit_json({**base, **plan.to_dict(), "status": cp.status.value, "seq": cp.seq,
                   "refused": False, "recovery": [], "context": context})
    else:
        print(context)
    return EXIT_OK if plan.can_resume else EXIT_PROBLEM


def _simple(verb: str) -> Any:
    def run(args: argparse.Namespace) -> int:
        m = manager(args)
        cp = m.pause(args.workflow_id, args.reason) if verb == "pause" else \
            m.cancel(args.workflow_id, args.reason)
        if args.json:
            emit_json({"workflow_id": cp.workflow_id, "status": cp.status.value, "seq": cp.seq})
        else:
            print(f"{cp.workflow_id}: {cp.status.value}")
        return EXIT_OK
    return run


def register(sub: Any) -> None:
    p = sub.add_parser(
        "resume", help="print the resume context and mark the workflow running",
        description="Resume a workflow: validate it, optionally change it (rollback, re-run, "
        "retry, skip, parameters; all recorded in its audit trail), print the resume context "
        "a session would get, and mark it running. Without ID: the only resumable workflow, "
        "or a choice on a terminal.",
        epilog="Exit codes: 0 resumed, 1 not resumable or refused (--safe), 2 usage error.")
    p.add_argument("workflow_id", metavar="ID|latest", nargs="?", default=None)
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--fast", action="store_true",
                       help="trust the checkpoint: skip artifact hashing and schema checks")
    speed.add_argument("--safe", action="store_true",
                       help="full validation (hashes, schemas, git state); refuse on any problem")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--rollback", type=int, metavar="N",
                      help="resume from checkpoint N of the history; later completions stay in "
                      "the audit trail, marked invalidated")
    what.add_argument("--from", dest="from_agent", metavar="AGENT",
                      help="re-run from this stage (it and everything downstream are invalidated)")
    what.add_argument("--retry", action="store_true", help="re-run the failed stage")
    p.add_argument("--skip", action="append", metavar="AGENT",
                   help="mark a stage skipped (repeatable; the reason is --reason)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="set a workflow parameter (repeatable; secrets are refused)")
    p.add_argument("--reason", help="why (recorded in the audit trail)")
    p.add_argument("--dry-run", action="store_true", help="print only; change nothing")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_resume)

    for verb in ("pause", "cancel"):
        p = sub.add_parser(verb, help=f"{verb} a workflow",
                           description=f"{verb.capitalize()} a workflow; its open attempt is "
                           "marked interrupted.")
        p.add_argument("workflow_id", metavar="ID")
        p.add_argument("--reason", default=f"{verb}{'d' if verb == 'pause' else 'led'} by user")
        p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
        p.set_defaults(handler=_simple(verb))
