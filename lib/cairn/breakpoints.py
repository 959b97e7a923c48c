"""A person in the loop: breakpoints, approval and rejection.

A breakpoint stops a workflow before a chosen stage (`cairn.yaml`'s `breakpoints:`, set
when the workflow is created, or `cairn pause ID --before STAGE`). While it holds, the
Agent dispatch of that stage is denied by PreToolUse with a reason telling the model to
wait for the person; the stage is "waiting for approval" once its upstream stages are
done. `approve` releases it (the person's feedback reaches the stage's brief as quoted
data); `reject` re-runs the stage before it with the feedback instead, and holds the
stage again for the next look. Every decision stays on record (the breakpoint row and
the audit trail).

The changes here are operations run by `Workflows.apply` inside its one transaction
(`running=False`: deciding does not move the workflow's status). Standard library only:
the hooks read `holding`, `waiting` and `feedback_for`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from cairn.errors import NotResumable, UsageError
from cairn.model import Breakpoint, Workflow
from cairn.pipeline import Pipeline
from cairn.redact import redact
from cairn.status import FINISHED
from cairn.store import Tx

MAX_FEEDBACK = 2000
SOURCES = ("cairn.yaml", "cli", "panel", "reject")
Op = Callable[[Tx, Workflow, int, datetime], "str | None"]


# ---------------------------------------------------------------------- reading
def holding(breakpoints: tuple[Breakpoint, ...] | list[Breakpoint], stage: str) -> Breakpoint | None:
    """The breakpoint that holds `stage`'s dispatch, if any."""
    return next((b for b in breakpoints if b.stage == stage and b.holding), None)


def waiting(wf: Workflow) -> list[str]:
    """Stages waiting for a person's approval: held by a breakpoint, their upstream stages
    done, not running. Pipeline order."""
    if wf.status in FINISHED:
        return []
    held = {b.stage for b in wf.breakpoints if b.holding}
    running = set(wf.running_agents)
    return [s for s in wf.pipeline.ready(wf.done) if s in held and s not in running]


def feedback_for(wf: Workflow, stage: str) -> Breakpoint | None:
    """The decision that speaks to `stage`'s next run: an approval of it, or a rejection
    that re-ran it, with feedback, decided after its last attempt ended (a later run has
    already had its say)."""
    ended = max((a.ended_seq or a.started_seq for a in wf.attempts if a.stage == stage
                 and a.outcome not in ("running", "invalidated")), default=0)
    found = [b for b in wf.breakpoints if b.feedback and b.decided_seq is not None and b.decided_seq > ended
             and ((b.decision == "approved" and b.stage == stage) or (b.decision == "rejected" and b.rerun == stage))]
    return found[-1] if found else None


def deny_reason(workflow_id: str, bp: Breakpoint) -> str:
    """What PreToolUse tells the model when it dispatches a held stage (the stage name comes
    from a pipeline snapshot: framed like every name the model reads)."""
    from cairn.context import safe

    stage = safe(bp.stage, 80)
    return (f"{stage} of workflow {workflow_id} is held at a breakpoint: a person must approve it before it "
            f"runs, and only they can. Do not dispatch {stage} again and do not do its work yourself. Tell the "
            f"user that {stage} is waiting for their approval (`cairn approve {workflow_id}`, optionally with "
            f"--feedback, or the Approve button of `cairn ui`; `cairn reject {workflow_id} --feedback TEXT` "
            "re-runs the stage before it instead), then stop and wait. Once they say it is approved, dispatch "
            "it again with the same cairn-workflow line.")


# ---------------------------------------------------------------------- changes
def _clean_feedback(text: str | None, *, required: bool) -> str | None:
    value = redact(text or "").strip()
    if required and not value:
        raise UsageError("a rejection needs feedback: what the stage before must do differently",
                         hint='e.g. cairn reject ID --feedback "the plan misses the migration"')
    if "\x00" in value:
        raise UsageError("the feedback has a NUL byte", hint="pass plain text")
    return value[:MAX_FEEDBACK] or None


def _open(wf: Workflow) -> None:
    if wf.status in FINISHED:
        raise NotResumable(f"workflow {wf.workflow_id!r} is {wf.status.value}; it has no stage left to hold",
                           hint='start a new workflow with `cairn start "REQUEST"`')


def pick(wf: Workflow, stage: str | None) -> Breakpoint:
    """The breakpoint a decision is about: the named stage's, else the stage waiting for
    approval, else the only one that holds."""
    held = [b for b in wf.breakpoints if b.holding]
    if stage is not None:
        name = wf.pipeline.stage(stage).name  # UnknownAgent names the stages
        found = holding(held, name)
        if found is None:
            raise UsageError(f"no breakpoint holds {name} in workflow {wf.workflow_id}",
                             hint=_held_hint(wf, held))
        return found
    if not held:
        raise UsageError(f"no breakpoint holds a stage of workflow {wf.workflow_id}", hint=_held_hint(wf, held))
    ready = waiting(wf)
    if ready:
        return next(b for b in held if b.stage == ready[0])
    if len({b.stage for b in held}) == 1:
        return held[0]
    raise UsageError(f"several stages of {wf.workflow_id} are held and none is waiting yet: "
                     + ", ".join(b.stage for b in held), hint="name one with --stage STAGE")


def _held_hint(wf: Workflow, held: list[Breakpoint]) -> str:
    if held:
        return "held stages: " + ", ".join(b.stage for b in held) + " (--stage STAGE)"
    return f"set one with `cairn pause {wf.workflow_id} --before STAGE`"


def set_before(stage: str, source: str) -> Op:
    """Hold `stage`: its dispatch waits for a person. Setting it twice is one breakpoint."""
    from cairn.transitions import Unchanged

    if source not in SOURCES:
        raise UsageError(f"unknown breakpoint source {source!r}", hint="one of: " + ", ".join(SOURCES))

    def change(tx: Tx, wf: Workflow, seq: int, now: datetime) -> str | None:
        _open(wf)
        name = wf.pipeline.stage(stage).name
        if name in wf.done:
            raise UsageError(f"{name} is already {'completed' if name in wf.completed_agents else 'skipped'} in "
                             f"{wf.workflow_id}; a breakpoint holds a stage before it runs",
                             hint=f"to look at it again, re-run it: cairn resume {wf.workflow_id} --from {name}, "
                             "after setting the breakpoint")
        if holding(wf.breakpoints, name) is not None:
            raise Unchanged
        tx.add_breakpoint(wf.workflow_id, name, seq, now, source)
        tx.add_audit(wf.workflow_id, seq, now, "breakpoint", f"{name} held until approved (set by {source})")
        return f"breakpoint before {name}"
    return change


def hold_from_start(tx: Tx, workflow_id: str, pipeline: Pipeline, stages: Sequence[str], now: datetime) -> None:
    """Inside `Workflows.create`'s transaction: the stages `cairn.yaml` holds in every new workflow."""
    for stage in stages:
        name = pipeline.stage(stage).name
        tx.add_breakpoint(workflow_id, name, 1, now, "cairn.yaml")
        tx.add_audit(workflow_id, 1, now, "breakpoint", f"{name} held until approved (set by cairn.yaml)")


def approve(stage: str | None, feedback: str | None) -> Op:
    text = _clean_feedback(feedback, required=False)

    def change(tx: Tx, wf: Workflow, seq: int, now: datetime) -> str | None:
        _open(wf)
        bp = pick(wf, stage)
        tx.decide_breakpoint(bp.id, "approved", seq, now, text, None)
        tx.add_audit(wf.workflow_id, seq, now, "approved",
                     f"{bp.stage} released" + (f"; feedback: {text}" if text else "; no feedback"))
        return f"{bp.stage} approved"
    return change


def reject(stage: str | None, feedback: str) -> Op:
    text = _clean_feedback(feedback, required=True)

    def change(tx: Tx, wf: Workflow, seq: int, now: datetime) -> str | None:
        from cairn.operations import rerun_from

        _open(wf)
        bp = pick(wf, stage)
        before = previous(wf, bp.stage)
        tx.decide_breakpoint(bp.id, "rejected", seq, now, text, before)
        tx.add_audit(wf.workflow_id, seq, now, "rejected", f"{bp.stage} not released; {before} re-runs with "
                     f"the feedback: {text}")
        rerun_from(tx, wf, seq, now, before, f"rejected at the breakpoint before {bp.stage}")
        tx.add_breakpoint(wf.workflow_id, bp.stage, seq, now, "reject")  # the next look is the person's too
        return f"{bp.stage} rejected; re-running {before}"
    return change


def previous(wf: Workflow, stage: str) -> str:
    """The stage a rejection of `stage` re-runs: the last of its upstream stages."""
    deps = wf.pipeline.stage(stage).depends_on
    if not deps:
        raise UsageError(f"{stage} is the first stage of {wf.workflow_id}; there is no stage before it to re-run",
                         hint=f"approve it with feedback (cairn approve {wf.workflow_id} --feedback TEXT), or "
                         f"cancel the workflow")
    order = {name: i for i, name in enumerate(wf.pipeline.names)}
    return max(deps, key=lambda d: order.get(d, -1))
