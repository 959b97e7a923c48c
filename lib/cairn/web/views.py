"""What the panel shows, computed from the library (no web framework here): one card per
resumable workflow with its readiness checks, a workflow's details, and the panel's
actions, each the same library call as the CLI command it mirrors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cairn import breakpoints, liveness
from cairn.checks.stale import last_git
from cairn.dashboard import stage_state
from cairn.errors import CairnError, NotResumable, UsageError
from cairn.humanize import ago, clock
from cairn.manager import CheckpointManager
from cairn.model import Problem, Workflow, utcnow
from cairn.operations import Operation
from cairn.resumer import WorkflowResumer
from cairn.status import FINISHED, Status

GREEN, YELLOW, RED, GREY = "green", "yellow", "red", "grey"
RANK = {GREY: 0, GREEN: 1, YELLOW: 2, RED: 3}
LEGEND = [(GREEN, "Ready to resume (every check passes)"),
          (YELLOW, "Can resume with a person's look first (code moved on, checkpoint old, "
                   "pipeline changed, waiting for approval)"),
          (RED, "Cannot resume as it is (artifacts missing or modified, branch or worktree gone)")]
ARTIFACT_CODES = ("artifact_missing", "artifact_modified", "artifact_invalid", "artifact_unreadable")


@dataclass(frozen=True)
class Check:
    name: str
    level: str
    text: str


@dataclass(frozen=True)
class StageCell:
    name: str
    state: str  # completed, skipped, running, failed, interrupted, invalidated, next, pending, waiting


@dataclass
class Card:
    workflow_id: str
    request: str
    status: str
    status_reason: str | None
    done: int
    total: int
    percent: int
    stages: list[StageCell]
    paused_at: str
    paused_when: str
    resume_from: str
    resume_when: str
    checks: list[Check]
    waiting: list[str]
    held: list[str]
    holdable: list[str]  # stages a breakpoint can still hold: not done, not held yet
    stop_label: str
    can_resume: bool
    reason: str
    command: str
    options: list[str] = field(default_factory=list)
    # live or dead at a glance (cairn.liveness, as `cairn status` shows it): a workflow
    # marked running whose session is gone reads "interrupted", with how it ended
    state: str = ""
    state_reason: str | None = None
    hosts: list[str] = field(default_factory=list)  # the machines its sessions ran on (a shared store: any)

    @property
    def level(self) -> str:
        worst = max((c.level for c in self.checks), key=RANK.__getitem__, default=GREEN)
        if not self.can_resume:
            return RED
        return YELLOW if self.waiting and worst == GREEN else worst


def resume_command(workflow_id: str) -> str:
    """What a person types in Claude Code to continue (the plugin's slash command)."""
    return f"/cairn:resume {workflow_id}"


def when(dt: datetime | None, now: datetime) -> str:
    return f"{clock(dt)} UTC ({ago(dt, now)})" if dt is not None else "-"


def _stages(wf: Workflow, invalid: list[str]) -> list[StageCell]:
    """Each stage's state; `invalid`: done stages a resume must re-run (their artifacts are
    missing or modified, or an upstream one's are)."""
    ready = [] if wf.status in FINISHED else wf.pipeline.ready(wf.done)
    waiting = set(breakpoints.waiting(wf))
    return [StageCell(name, "waiting" if name in waiting else "invalidated" if name in invalid
                      else stage_state(wf, name, ready)) for name in wf.pipeline.names]


STOP_LABELS = {Status.PAUSED: "Paused at", Status.FAILED: "Failed after", Status.STALE: "Stale after"}


def checks(wf: Workflow, problems: list[Problem], artifacts_checked: int, now: datetime) -> list[Check]:
    """The readiness checks of a card: artifacts, git branch, worktree, freshness, pipeline."""
    codes = {p.code: p for p in problems}
    bad = [p for p in problems if p.code in ARTIFACT_CODES]
    out = [Check("Artifacts", RED, "; ".join(p.message for p in bad[:3])) if bad else
           Check("Artifacts", YELLOW, codes["checkpoint_recovered"].message) if "checkpoint_recovered" in codes else
           Check("Artifacts", GREEN, f"{artifacts_checked} artifact(s) intact")]
    rec = last_git(wf)
    tree = rec.get("worktree") if rec else None
    branch = rec.get("branch") if rec else None
    if not isinstance(tree, str) or not tree:
        out += [Check("Git branch", GREY, "no git state recorded (not a repository)"),
                Check("Worktree", GREY, "no worktree recorded")]
    else:
        if "git_branch_deleted" in codes:
            out.append(Check("Git branch", RED, codes["git_branch_deleted"].message))
        elif "git_head_moved" in codes:
            out.append(Check("Git branch", YELLOW, codes["git_head_moved"].message))
        else:
            out.append(Check("Git branch", GREEN, f"branch {branch} exists" if isinstance(branch, str) and branch
                             else "HEAD as recorded (detached)"))
        out.append(Check("Worktree", RED, codes["git_worktree_deleted"].message) if "git_worktree_deleted" in codes
                   else Check("Worktree", GREEN, f"{tree} exists"))
    out.append(Check("Freshness", YELLOW, codes["checkpoint_expired"].message) if "checkpoint_expired" in codes
               else Check("Freshness", GREEN, f"last activity {ago(wf.last_activity, now)}"))
    if "pipeline_changed" in codes:
        out.append(Check("Pipeline", YELLOW, codes["pipeline_changed"].message))
    return out


def card(m: CheckpointManager, wid: str, now: datetime | None = None) -> Card:
    from cairn.checks.stale import recovery

    now = now or utcnow()
    resumer = WorkflowResumer(m)
    wf = m.load(wid)
    report = resumer.validate(wid, cp=wf, hashes=False, schemas=False)
    plan = resumer.plan(wid, report=report, cp=wf)
    done = plan.completed_agents + plan.skipped_agents
    last = max((a for a in wf.attempts if a.stage in done and a.ended_at), key=lambda a: a.ended_seq or 0,
               default=None)
    nxt = plan.next_agents[0] if plan.next_agents else None
    tried = wf.agents.get(nxt) if nxt else None
    attempt = tried.last if tried else None
    resume_when = ("not started yet" if attempt is None else
                   f"attempt {attempt.number} {attempt.outcome} {when(attempt.ended_at or attempt.started_at, now)}")
    if nxt in plan.invalidated_agents:
        resume_when = f"re-run: {resume_when}, its artifacts changed since"
    with m.store.read() as r:
        live = liveness.of(r, m.root, wf, now)
    return Card(
        workflow_id=wid, request=wf.request, status=wf.status.value, status_reason=wf.status_reason,
        done=plan.progress.completed, total=plan.progress.total, percent=plan.progress.percent,
        stages=_stages(wf, plan.invalidated_agents), stop_label=STOP_LABELS.get(wf.status, "Last checkpoint"),
        paused_at=(f"{last.stage} ({plan.progress.completed}/{plan.progress.total})" if last
                   else "before the first stage"),
        paused_when=when(wf.updated_at, now), resume_from=", ".join(plan.next_agents) or "-",
        resume_when=resume_when if nxt else "-",
        checks=checks(wf, report.problems, report.artifacts_checked, now),
        waiting=breakpoints.waiting(wf), held=[b.stage for b in wf.breakpoints if b.holding],
        holdable=[n for n in wf.remaining_agents if breakpoints.holding(wf.breakpoints, n) is None],
        can_resume=plan.can_resume, reason=plan.reason, command=resume_command(wid),
        options=recovery(wid, report.problems, wf.pipeline), state=live.state, state_reason=live.reason,
        hosts=list(dict.fromkeys(x.host for x in wf.sessions if x.host)))


def cards(m: CheckpointManager) -> list[Card]:
    """A card per resumable workflow, most recently active first. One that cannot be read
    gets a red card saying why, instead of hiding the others."""
    now = utcnow()
    out = []
    for s in m.resumable():
        try:
            out.append(card(m, s.workflow_id, now))
        except CairnError as exc:
            out.append(Card(workflow_id=s.workflow_id, request=s.request, status=s.status.value,
                            status_reason=exc.message, done=s.completed, total=s.total, percent=0, stages=[],
                            paused_at="-", paused_when="-", resume_from="-", resume_when="-",
                            checks=[Check("Checkpoint", RED, exc.message)], waiting=[], held=[], holdable=[],
                            stop_label="Stopped at", can_resume=False, reason=exc.message,
                            command=resume_command(s.workflow_id)))
    return out


# ---------------------------------------------------------------------- actions
@dataclass(frozen=True)
class Done:
    """What an action did, for the person: one sentence, and the command to continue."""

    message: str
    command: str | None = None


def held_by(m: CheckpointManager, wid: str) -> str | None:
    """The live Claude session holding the workflow's lease, described, if any (as `cairn
    resume` in a terminal warns: the panel takes no lease)."""
    from cairn import lease
    from cairn.live import live_seen

    with m.store.read() as r:
        held = r.lease(wid)
    if held is None or not lease.alive(held, utcnow(), m.settings.lease_ttl, live_seen(m.root, held.session_id)):
        return None
    return held.describe()


def act(m: CheckpointManager, wid: str, action: str, *, stage: str | None = None,
        feedback: str | None = None) -> Done:
    """Run a panel action through the same library calls as the CLI command it mirrors."""
    if action == "resume":  # `cairn resume ID` typed in a terminal: validate, then mark it running
        resumer = WorkflowResumer(m)
        plan = resumer.plan(wid, report=resumer.validate(wid))
        if not plan.can_resume:
            raise NotResumable(f"{wid} cannot be resumed: {plan.reason}",
                               hint="see View details; restart from a stage or clean it up")
        wf = m.apply(wid, Operation().change, "resume", running=True)
        busy = held_by(m, wid)
        return Done(f"{wid} is marked to resume at checkpoint {wf.seq}; next: "
                    f"{', '.join(wf.pipeline.ready(wf.done)) or '-'}."
                    + (f" Note: {busy} is working on it; continue it there, or:" if busy
                       else " Continue it in Claude Code:"), resume_command(wid))
    if action == "restart":  # `cairn resume ID --from STAGE`
        if not stage:
            raise UsageError("choose the stage to restart from", hint="pick one of the workflow's stages")
        wf = m.apply(wid, Operation(rerun_from=stage, reason="restarted from the panel").change, "rerun_from")
        return Done(f"{wid} re-runs from {wf.pipeline.stage(stage).name} (checkpoint {wf.seq}). Continue it in "
                    "Claude Code:", resume_command(wid))
    if action == "approve":  # `cairn approve ID [--feedback TEXT]`
        wf = m.approve(wid, feedback or None, stage or None)
        return Done(f"{wid}: approved" + (" with feedback" if feedback and feedback.strip() else "")
                    + f" (checkpoint {wf.seq}). Tell the session to dispatch it again, or continue with:",
                    resume_command(wid))
    if action == "reject":  # `cairn reject ID --feedback TEXT`
        wf = m.reject(wid, feedback or "", stage or None)
        return Done(f"{wid}: rejected (checkpoint {wf.seq}); next: {', '.join(wf.pipeline.ready(wf.done))} "
                    "re-runs with your feedback. Continue with:", resume_command(wid))
    if action == "hold":  # `cairn pause ID --before STAGE`
        if not stage:
            raise UsageError("choose the stage to hold", hint="pick one of the stages not done yet")
        wf = m.hold(wid, stage, "panel")
        return Done(f"{wid}: {wf.pipeline.stage(stage).name} will wait for approval before it runs "
                    f"(checkpoint {wf.seq}).")
    if action == "cleanup":  # `cairn cancel ID`, then `cairn cleanup`: the rows and the folder go
        wf = m.load(wid)
        if wf.status not in FINISHED:
            m.cancel(wid, "cancelled from the panel (cleanup)")
        m.delete(wid)
        return Done(f"{wid} was cancelled and removed (its folder and its rows in the database).")
    raise UsageError(f"unknown action {action!r}", hint="one of: resume, restart, hold, approve, reject, cleanup")


def is_open(wf: Workflow) -> bool:
    return wf.status not in (Status.COMPLETED, Status.CANCELLED)
