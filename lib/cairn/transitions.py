"""The rules a change follows, used inside `cairn.workflow`'s transactions: legal status
transitions (recorded in the audit trail), closing running attempts, which attempt an
event closes, and when a re-run's artifact counts. Standard library only."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from cairn.errors import CairnError
from cairn.model import ArtifactRecord, Attempt, Workflow
from cairn.redact import redact
from cairn.status import Status, check_transition
from cairn.store import Tx

MTIME_SLACK = 0.05  # seconds: the kernel's file-time granularity (one tick), with margin


class Unchanged(Exception):
    """Raised inside a change: nothing to record (a repeated delivery). Not an error."""


def transition(tx: Tx, wf: Workflow, target: Status, reason: str, seq: int, now: datetime) -> None:
    if wf.status == target:
        return
    check_transition(wf.status, target, wf.workflow_id)
    reason = redact(reason)  # reasons come from people and hook payloads
    tx.add_audit(wf.workflow_id, seq, now, f"status:{wf.status.value}->{target.value}", reason[:500])
    tx.set_status(wf.workflow_id, target, None if target == Status.RUNNING else reason[:500])
    wf.status = target


def reopening(wf: Workflow, before: set[str], kind: str) -> str:
    """How a resume operation takes `wf` back to running: "resumed", or "reopened" for a
    completed or cancelled workflow, which only going back reopens (a rollback, a re-run
    from a stage, a stage undone by a change); else NotResumable."""
    if wf.status not in (Status.COMPLETED, Status.CANCELLED):
        return "resumed"
    if before - set(wf.done) or kind in ("rollback", "rerun_from"):
        return "reopened"
    from cairn.errors import NotResumable

    raise NotResumable(f"workflow {wf.workflow_id!r} is {wf.status.value}",
                       hint=f"re-run a stage: `cairn resume {wf.workflow_id} --from STAGE`, or "
                       f"`cairn fork {wf.workflow_id}`")


def close_running(tx: Tx, wf: Workflow, reason: str, seq: int, now: datetime,
                  stage: str | None = None) -> list[str]:
    closed = []
    for a in wf.attempts:
        if a.outcome == "running" and (stage is None or a.stage == stage):
            tx.end_attempt(a.id, "interrupted", now, seq, reason[:500])
            a.outcome_end = "interrupted"
            closed.append(a.stage)
    return closed


def attempt_for(tx: Tx, wf: Workflow, stage: str, agent_id: str | None) -> Attempt | None:
    """The attempt an event closes: the subagent's own, else the stage's running one."""
    if agent_id:
        found = tx.attempt_of_agent(agent_id)
        if found is not None:
            if found[0] != wf.workflow_id or found[1].stage != stage:
                raise CairnError(f"agent {agent_id} is recorded on {found[0]}/{found[1].stage}, not "
                                 f"{wf.workflow_id}/{stage}; nothing recorded",
                                 hint="the evidence conflicts; record the stage by hand with `cairn checkpoint`")
            return found[1]
    running = [a for a in wf.attempts if a.stage == stage and a.outcome == "running"
               and (a.agent_id is None or agent_id is None)]
    return running[-1] if running else None


def restage(r: ArtifactRecord, stage: str) -> ArtifactRecord:
    return ArtifactRecord(r.path, stage, r.sha256, r.size, r.mtime, r.inode, r.schema, r.check,
                          r.recorded_at)


def check_rewritten(wf: Workflow, stage: str, records: Sequence[ArtifactRecord],
                     attempt: Attempt | None) -> None:
    """A re-run counts only with artifacts written after it started: a file still equal to
    what an undone attempt recorded, and not touched since, is the old output."""
    undone = {r.path: r for a in wf.attempts if a.stage == stage and a.outcome == "invalidated"
              for r in a.artifacts}
    if not undone:
        return
    started = attempt.started_at.timestamp() if attempt is not None else None
    for r in records:
        old = undone.get(r.path)
        if old is None or old.sha256 != r.sha256:
            continue
        # file times come from the kernel's coarse clock (up to a tick behind the wall clock
        # the start was read from): a file rewritten right after the start may look older
        if started is None or r.mtime < started - MTIME_SLACK:
            from cairn.errors import ArtifactError

            raise ArtifactError(f"{r.path} was not rewritten by this run of {stage} (same content as the "
                                "undone attempt, not modified since)", path=r.path,
                                hint=f"the {stage} agent must write {r.path} again before it stops")
