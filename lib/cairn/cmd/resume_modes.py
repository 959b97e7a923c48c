"""`cairn resume` with its modes (--fast, --safe, --rollback N, --from AGENT, --retry,
--skip AGENT, --set KEY=VALUE, --dry-run), the interactive pick, and `cairn pause` /
`cairn cancel`.

Run inside Claude Code (its Bash tool sets CLAUDE_CODE_SESSION_ID), `cairn resume` binds
the workflow to that session and takes its lease for the session's process
(CLAUDE_PID). Typed in a terminal it takes no lease and binds nothing: a person looking
at a workflow must not lock Claude out of it.
"""

from __future__ import annotations

import argparse
import os

from cairn.cmd.common import (
    ClaudeSession,
    Subparsers,
    claude_session,
    emit_json,
    manager,
    print_problems,
    resolve_id,
    settle_pending,
    use_color,
    warn,
)
from cairn.cmd.picker import for_person, pick, summary
from cairn.errors import EXIT_OK, EXIT_PROBLEM, CairnError, WorkflowNotFound
from cairn.manager import CheckpointManager
from cairn.model import ArtifactRecord, Problem, Workflow, utcnow
from cairn.operations import Operation, parse_params
from cairn.resumer import WorkflowResumer
from cairn.status import FINISHED, Status


def git_problems(m: CheckpointManager) -> list[Problem]:
    """Git state that makes a resume unsafe now: an operation in progress, or unmerged
    files. (HEAD moved, branch or worktree gone: `cairn.checks.stale`.)"""
    from cairn.checks.gitstate import run_git

    project = m.project_dir
    if project is None:
        return []
    gitdir = run_git(project, "rev-parse", "--absolute-git-dir")
    if not gitdir:
        return []
    problems: list[Problem] = []
    for name, what in (("MERGE_HEAD", "a merge"), ("rebase-merge", "a rebase"), ("rebase-apply", "a rebase"),
                       ("CHERRY_PICK_HEAD", "a cherry-pick"), ("REVERT_HEAD", "a revert")):
        if os.path.exists(os.path.join(gitdir[0], name)):
            problems.append(Problem("git_in_progress", str(project), f"{what} is in progress in {project}"))
            break
    status = run_git(project, "status", "--porcelain") or []
    unmerged = [ln[3:] for ln in status if ln[:2] in ("UU", "AA", "DD", "AU", "UA", "DU", "UD")]
    if unmerged:
        problems.append(Problem("git_conflicts", str(project),
                                f"{len(unmerged)} file(s) have merge conflicts: {', '.join(unmerged[:5])}"))
    return problems


class _Discard(Exception):
    """Ends a preview's transaction: what it wrote is rolled back."""


def preview(m: CheckpointManager, wid: str, op: Operation) -> tuple[Workflow, str | None]:
    """The workflow as `op` and the move back to running would leave it, and the
    operation's note, computed by the real operation inside a transaction that is then
    rolled back: nothing is written. A bad --rollback/--from/--skip raises here."""
    from cairn.transitions import transition

    found: list[tuple[Workflow, str | None]] = []
    now = utcnow()
    try:
        with m.store.write() as tx:
            wf = tx.workflow(wid, audit=False)
            if wf is None:
                raise WorkflowNotFound(wid, str(m.root))
            seq = wf.seq + 1
            note = op.change(tx, wf, seq, now)
            if wf.status not in FINISHED and wf.status != Status.RUNNING:
                transition(tx, wf, Status.RUNNING, "resumed (preview)", seq, now)
            tx.add_mark(wid, op.name(), now, None, seq)
            after = tx.workflow(wid)
            assert after is not None
            found.append((after, note))
            raise _Discard
    except _Discard:
        pass
    return found[0]


def operation(args: argparse.Namespace) -> Operation:
    return Operation(rollback=args.rollback, rerun_from=args.from_agent, retry=args.retry,
                     skip=list(args.skip or []), params=parse_params(list(args.set or [])), reason=args.reason)


def read_world(op: Operation, args: argparse.Namespace, m: CheckpointManager, wf: Workflow) -> Operation:
    """--accept, --pinned, --latest: what they record, read from the world before the transaction."""
    if args.accept or args.pinned or args.latest:
        from cairn.baseline import World
        from cairn.codestate import snapshot
        from cairn.pins import current

        pipeline = m.project_pipeline() if (args.accept or args.latest) else wf.pipeline
        world = World(code=snapshot(m.project_dir), pins=current(pipeline, m.project_dir),
                      pipeline=pipeline if m.pipeline_of(wf).source in ("<builtin>", pipeline.source) else None,
                      artifacts=modified_artifacts(m, wf) if args.accept else [])
        op.accept = world if args.accept else None
        op.pinned = world if args.pinned else None
        op.latest = world if args.latest else None
    return op


def modified_artifacts(m: CheckpointManager, wf: Workflow) -> list[ArtifactRecord]:
    """The artifacts whose file no longer matches its record, re-hashed (for --accept)."""
    from dataclasses import replace

    from cairn.checks.artifacts import rehash

    folder = m.workflow_dir(wf.workflow_id)
    out = []
    for rel, rec in wf.artifacts.items():
        try:
            sha = rehash(folder, rel)
        except (OSError, CairnError):
            continue  # missing or unreadable: nothing to accept, the stage re-runs
        if sha != rec.sha256:
            st = os.stat(folder / rel)
            out.append(replace(rec, sha256=sha, size=st.st_size, mtime=st.st_mtime, recorded_at=utcnow()))
    return out


def rerun_reasons(report_problems: list[Problem], stages: list[str]) -> list[tuple[str, str]]:
    """(stage, why) for each stage lineage makes re-run: its own problem, else the one upstream."""
    from cairn.resumer import RERUN_CODES

    own = {p.stage: p.message for p in report_problems if p.stage and p.code in RERUN_CODES}
    first = next(iter(own.values()), "a change upstream")
    return [(s, own.get(s) or f"downstream of a stage that re-runs ({first[:200]})") for s in stages]


def take_lease(m: CheckpointManager, wid: str, session: ClaudeSession | None, take_over: bool = False) -> bool:
    """In a Claude session: the lease (refused while another live session holds it,
    unless `take_over`); True when this session did not hold it before. In a terminal:
    none, with a warning when a live session holds it; `take_over` frees it for the next
    session. A lease taken over is on the audit trail, and said here."""
    from cairn import lease
    from cairn.live import live_seen

    with m.store.read() as r:
        held = r.lease(wid)
    if session is not None or take_over:
        taken = m.workflows.acquire(wid, session.session_id if session else None,
                                    session.pid if session else os.getpid(), ttl=m.settings.lease_ttl,
                                    take_over=take_over)
        if taken is not None:
            warn(f"took over the lease of {taken.describe()} on {wid}" + ("" if session else
                 "; the next session that resumes it takes it"))
        return session is not None and (held is None or held.session_id != session.session_id)
    if held is not None and lease.alive(held, utcnow(), m.settings.lease_ttl, live_seen(m.root, held.session_id)):
        warn(f"{wid} is held by {held.describe()}; resuming it here as well (`--take-over` takes its lease)")
    return False


def cmd_resume(args: argparse.Namespace) -> int:
    m = manager(args)
    op = operation(args)
    wid = pick(m, color=use_color(args)) if args.workflow_id is None else resolve_id(m, args.workflow_id)
    wf, warnings = m.load_with_warnings(wid)
    for w in warnings:
        warn(w)
    settle_pending(m, wf)
    op = read_world(op, args, m, wf)
    resumer = WorkflowResumer(m)
    after, note = preview(m, wid, op)
    mode = "fast" if args.fast else "safe" if args.safe else "default"
    report = resumer.validate(wid, cp=after, hashes=not args.fast, schemas=not args.fast)
    if args.safe:
        report.problems[:0] = [Problem("checkpoint_recovered", str(m.workflow_dir(wid)), w) for w in warnings]
        report.problems += git_problems(m)
    plan = resumer.plan(wid, report=report, cp=after, reopen=not op.empty)
    op.invalidate = rerun_reasons(report.problems, plan.invalidated_agents)
    if not args.dry_run and any(p.code in ("code_changed", "git_head_moved") for p in report.problems):
        from cairn.codestate import snapshot

        op.code_baseline = snapshot(m.project_dir)
    base = {**plan.to_dict(), "mode": mode, "operation": op.name(), "note": note, "dry_run": bool(args.dry_run)}
    if args.safe and report.problems:
        from cairn.checks.stale import recovery

        options = [*recovery(wid, report.problems, after.pipeline, status=wf.status.value),
                   f"go back to an earlier checkpoint: cairn resume {wid} --rollback N (`cairn status {wid}` "
                   "lists them)"]
        if any(p.code in ("git_in_progress", "git_conflicts") for p in report.problems):
            options.insert(0, "finish or abort the git operation / resolve the conflicts, then resume again")
        if args.json:
            emit_json({**base, "can_resume": False, "refused": True, "recovery": options, "seq": after.seq - 1,
                       "context": None})
        else:
            print_problems(f"cairn: refusing to resume {wid} in --safe mode: {len(report.problems)} problem(s)",
                           report.problems, options)
        return EXIT_PROBLEM
    wf, seq = after, -1  # the preview's extra checkpoint was never written
    if plan.can_resume and not args.dry_run:
        session = claude_session()
        taken = take_lease(m, wid, session, take_over=args.take_over)
        try:
            wf = m.apply(wid, op.change, op.name(), session_id=session.session_id if session else None,
                         running=True)
        except CairnError:
            if session is not None and taken:  # not resumed after all: do not keep it from others
                m.workflows.release(wid, session.session_id)
            raise
        seq = wf.seq
        plan = resumer.plan(wid, report=report, cp=wf, reopen=True)
        plan.invalidated_agents = [s for s, _ in op.invalidate]  # undone just now, for what it says
    elif (op.accept or op.pinned) and not args.dry_run and after.status != Status.CANCELLED:
        wf = recorded(m, wid, op)  # nothing left to run: the new baseline is recorded all the same
        seq = wf.seq
    context = resumer.render_context(plan, wf, note=note)
    if args.json:
        from cairn.accounting import saving_json, would_save

        emit_json({**base, **plan.to_dict(), "status": wf.status.value, "seq": seq if seq >= 0 else after.seq - 1,
                   "refused": False, "recovery": [], "context": context, "saves": saving_json(would_save(wf))})
    elif for_person():  # the context is for the model; a person is told what happened and what next
        print(summary(plan, m, dry_run=bool(args.dry_run), note=note), end="")
    else:
        print(context)
    return EXIT_OK if plan.can_resume or seq == wf.seq else EXIT_PROBLEM


def recorded(m: CheckpointManager, wid: str, op: Operation) -> Workflow:
    """--accept / --pinned on a workflow with nothing left to run: record it; a stale one
    whose stages all stand is completed again."""
    wf = m.apply(wid, op.change, op.name(), running=False)
    if wf.status == Status.STALE and not wf.remaining_agents:
        wf = m.workflows.set_status(wid, Status.COMPLETED, "every stage stands (changes accepted)", op.name())
    return wf


def _stopped(args: argparse.Namespace, wf: Workflow) -> int:
    if args.json:
        emit_json({"workflow_id": wf.workflow_id, "status": wf.status.value, "seq": wf.seq})
    else:
        print(f"{wf.workflow_id}: {wf.status.value}")
    return EXIT_OK


def cmd_pause(args: argparse.Namespace) -> int:
    if args.before:  # a breakpoint: the workflow runs on until that stage's dispatch
        from cairn.cmd.approval import cmd_hold

        return cmd_hold(args)
    return _stopped(args, manager(args).pause(args.workflow_id, args.reason))


def cmd_cancel(args: argparse.Namespace) -> int:
    return _stopped(args, manager(args).cancel(args.workflow_id, args.reason))


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "resume", help="print the resume context and mark the workflow running",
        description="Resume a workflow: validate it, optionally change it (rollback, re-run, retry, skip, "
        "parameters; all recorded in its audit trail), print the resume context a session would get "
        "(at a terminal: a summary and the slash command to continue with in Claude Code), and mark it "
        "running. Without ID: the only resumable workflow, or a numbered choice on a terminal. "
        "Inside Claude Code (CLAUDE_CODE_SESSION_ID set) it binds the workflow to the session and "
        "takes its lease; in a terminal it takes none.",
        epilog="Exit codes: 0 resumed, 1 not resumable, refused (--safe) or held by another live "
        "session, 2 usage error.")
    p.add_argument("workflow_id", metavar="ID|latest", nargs="?", default=None)
    speed = p.add_mutually_exclusive_group()
    speed.add_argument("--fast", action="store_true",
                       help="trust the checkpoint: artifacts with the recorded size and mtime are not "
                       "hashed, no schema checks")
    speed.add_argument("--safe", action="store_true",
                       help="full validation (hashes, schemas, git state); refuse on any problem")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--rollback", type=int, metavar="N",
                      help="resume from checkpoint N of the history; later completions stay in "
                      "the audit trail, marked invalidated")
    what.add_argument("--from", dest="from_agent", metavar="AGENT",
                      help="re-run from this stage (it and everything downstream are invalidated)")
    what.add_argument("--retry", action="store_true", help="re-run the failed stage")
    what.add_argument("--accept", action="store_true",
                      help="accept what changed (code, artifacts, agent prompts, pipeline) as the new "
                      "baseline and continue: nothing re-runs because of it")
    what.add_argument("--pinned", action="store_true",
                      help="an agent prompt changed: keep the completed stages (the change is recorded)")
    what.add_argument("--latest", action="store_true",
                      help="re-run the stages whose agent prompt or pipeline entry changed, and what follows")
    p.add_argument("--skip", action="append", metavar="AGENT",
                   help="mark a stage skipped (repeatable; the reason is --reason)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="set a workflow parameter (repeatable; secrets are refused)")
    p.add_argument("--reason", help="why (recorded in the audit trail)")
    p.add_argument("--dry-run", action="store_true", help="print only; change nothing")
    p.add_argument("--take-over", action="store_true",
                   help="take the workflow's lease even from a live session (audited; in a terminal: free it "
                   "for the next session)")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_resume)

    for verb, handler in (("pause", cmd_pause), ("cancel", cmd_cancel)):
        p = sub.add_parser(verb, help=f"{verb} a workflow",
                           description=f"{verb.capitalize()} a workflow; its open attempt is marked interrupted.",
                           epilog="Exit codes: 0 ok, 1 unknown workflow or not allowed from its state, "
                           "2 usage error.")
        p.add_argument("workflow_id", metavar="ID")
        p.add_argument("--reason", default=f"{verb}{'d' if verb == 'pause' else 'led'} by user")
        if verb == "pause":
            p.add_argument("--before", metavar="STAGE", help="do not pause now: hold STAGE's dispatch until "
                           "`cairn approve ID` (a breakpoint)")
        p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
        p.set_defaults(handler=handler)
