"""Changes a person makes to a workflow on resume: rollback, re-run from a stage,
retry, skip, set parameters. Each is a pure change of a `Checkpoint` (so `--dry-run`
can apply it to a copy) and is committed through `CheckpointManager.mutate`, together
with the move back to running, as one checkpoint.

Nothing is deleted: a stage that is undone keeps its attempts, the last one marked
"invalidated" with the reason, and an audit entry names it, when it completed and the
artifacts (with hash prefixes) it had recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from cairn.errors import NotResumable, UsageError
from cairn.manager import CheckpointManager
from cairn.models import AgentState, Attempt, AuditEntry, Checkpoint, utcnow
from cairn.status import Status, check_transition

Change = Callable[[Checkpoint], None]

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
_SECRET_KEY = re.compile(r"(token|secret|passw(or)?d|passphrase|api[_.-]?key|private[_.-]?key|"
                         r"credential|auth(?!or)|cookie|session[_.-]?key|^key$|[_.-]key$)", re.I)
_SECRET_VALUE = re.compile(r"^(sk-|sk_live_|ghp_|gho_|github_pat_|xox[abprs]-|AKIA|ASIA|glpat-|"
                           r"-----BEGIN )")
MAX_VALUE = 500


@dataclass
class Operation:
    """What to do on resume; applied in this order: rollback, from, retry, skip, set."""

    rollback: int | None = None
    rerun_from: str | None = None
    retry: bool = False
    skip: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    reason: str | None = None

    @property
    def empty(self) -> bool:
        return (self.rollback is None and self.rerun_from is None and not self.retry
                and not self.skip and not self.params)

    def name(self) -> str:
        for attr, label in (("rollback", "rollback"), ("rerun_from", "rerun_from"),
                            ("retry", "retry"), ("skip", "skip"), ("params", "set_params")):
            if getattr(self, attr) not in (None, False, [], {}):
                return label
        return "resume"


def parse_params(items: list[str]) -> dict[str, str]:
    """`KEY=VALUE` strings into a dict, refusing secrets (they must never be stored)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not _KEY_RE.match(key):
            raise UsageError(f"--set {item.split('=')[0]!r}... is not KEY=VALUE",
                             hint="keys are letters, digits, '_', '.', '-'; e.g. --set target=py311")
        if _SECRET_KEY.search(key) or _SECRET_VALUE.match(value.strip()):
            raise UsageError(f"refusing to store parameter {key!r}: it looks like a secret",
                             hint="checkpoints are plain files; pass secrets through the "
                             "environment, never through --set")
        if len(value) > MAX_VALUE or "\x00" in value:
            raise UsageError(f"the value of {key!r} is too long or has a NUL byte",
                             hint=f"values are at most {MAX_VALUE} characters")
        out[key] = value
    return out


def _audit(cp: Checkpoint, action: str, detail: str) -> None:
    cp.audit.append(AuditEntry(at=utcnow(), action=action, detail=detail[:2000]))


def _invalidate(cp: Checkpoint, stage: str, reason: str) -> None:
    """Undo a completion or skip, keeping it on record."""
    arts = {rel: rec for rel, rec in cp.artifacts.items() if rec.agent == stage}
    state = cp.agents.setdefault(stage, AgentState())
    last = state.last
    when = ""
    if last is not None and last.outcome in ("completed", "skipped"):
        when = f" ({last.outcome} {last.ended_at:%Y-%m-%dT%H:%M:%SZ})" if last.ended_at else ""
        last.outcome = "invalidated"
        last.error = reason[:500]
    files = ", ".join(f"{rel} sha256:{rec.sha256[:12]}" for rel, rec in sorted(arts.items()))
    _audit(cp, "invalidated", f"{stage}{when}; artifacts: {files or 'none'}; reason: {reason}")
    for rel in arts:
        del cp.artifacts[rel]
        if rel in cp.artifacts_created:
            cp.artifacts_created.remove(rel)
    if stage in cp.completed_agents:
        cp.completed_agents.remove(stage)
    if stage in cp.skipped_agents:
        cp.skipped_agents.remove(stage)


def _close_running(cp: Checkpoint, reason: str) -> None:
    for state in cp.agents.values():
        last = state.last
        if last is not None and last.outcome == "running":
            last.outcome, last.ended_at, last.error = "interrupted", utcnow(), reason[:500]
    cp.current_agent = None


def rollback(m: CheckpointManager, cp: Checkpoint, seq: int, reason: str | None = None) -> None:
    entries = {e.seq: e for e in m.store.history(cp.workflow_id)}
    if seq not in entries:
        have = sorted(entries)
        raise UsageError(f"workflow {cp.workflow_id!r} has no checkpoint {seq}",
                         hint=f"checkpoints are {have[0]}..{have[-1]}; see `cairn status "
                         f"{cp.workflow_id}`" if have else "it has no checkpoint history")
    if seq >= cp.seq:
        raise UsageError(f"checkpoint {seq} is the latest one; nothing to roll back",
                         hint="give an earlier checkpoint number")
    target = Checkpoint.model_validate(m.store.load_seq(cp.workflow_id, seq))
    why = f"rolled back to checkpoint {seq} ({entries[seq].checkpoint_type})" + (
        f": {reason}" if reason else "")
    _close_running(cp, why)
    keep = set(target.completed_agents) | set(target.skipped_agents)
    for stage in [*cp.completed_agents, *cp.skipped_agents]:
        if stage not in keep:
            _invalidate(cp, stage, why)
    restored = [s for s in target.completed_agents if s not in cp.completed_agents]
    for stage in restored:  # completed at checkpoint N, undone since: trust N's record again
        cp.completed_agents.append(stage)
        for rel, rec in target.artifacts.items():
            if rec.agent == stage:
                cp.artifacts[rel] = rec
    for stage in target.skipped_agents:
        if stage not in cp.skipped_agents and stage not in cp.completed_agents:
            cp.skipped_agents.append(stage)
    _audit(cp, "rollback", why + (f"; restored {', '.join(restored)}" if restored else ""))


def rerun_from(m: CheckpointManager, cp: Checkpoint, agent: str, reason: str | None = None) -> None:
    pipeline = m.pipeline_of(cp)
    stage = pipeline.stage(agent).name
    why = f"re-run from {stage} requested" + (f": {reason}" if reason else "")
    _close_running(cp, why)
    hit = [s for s in pipeline.downstream(stage) if s in cp.completed_agents or s in cp.skipped_agents]
    for s in hit:
        _invalidate(cp, s, why)
    _audit(cp, "rerun_from", f"{stage}; invalidated: {', '.join(hit) or 'nothing'}")


def retry(m: CheckpointManager, cp: Checkpoint, reason: str | None = None) -> str:
    failed = [(st.last.ended_at or st.last.started_at, name) for name, st in cp.agents.items()
              if st.last is not None and st.last.outcome in ("failed", "interrupted")
              and name not in cp.completed_agents]
    if not failed:
        raise NotResumable(f"workflow {cp.workflow_id!r} has no failed stage to retry",
                           hint="use --from AGENT to re-run a completed stage")
    stage = max(failed)[1]
    _audit(cp, "retry", f"{stage} (attempt {len(cp.agents[stage].attempts) + 1})"
           + (f": {reason}" if reason else ""))
    return stage


def skip(m: CheckpointManager, cp: Checkpoint, agent: str, reason: str | None = None) -> None:
    stage = m.pipeline_of(cp).stage(agent).name
    if stage in cp.completed_agents:
        raise UsageError(f"{stage} already completed; there is nothing to skip",
                         hint=f"use --from {stage} to re-run it instead")
    if stage in cp.skipped_agents:
        return
    why = reason or "skipped by user"
    state = cp.agents.setdefault(stage, AgentState())
    last = state.last
    if last is not None and last.outcome == "running":
        last.outcome, last.ended_at, last.error = "interrupted", utcnow(), why[:500]
    now = utcnow()
    state.attempts.append(Attempt(number=len(state.attempts) + 1, started_at=now, ended_at=now,
                                  outcome="skipped", error=why[:500]))
    cp.skipped_agents.append(stage)
    if cp.current_agent == stage:
        cp.current_agent = None
    _audit(cp, "skip", f"{stage}: {why}")


def set_params(cp: Checkpoint, params: dict[str, str]) -> None:
    for key, value in sorted(params.items()):
        old = cp.parameters.get(key)
        cp.parameters[key] = value
        _audit(cp, "set_param", f"{key}: {old!r} -> {value!r}")


def apply(m: CheckpointManager, cp: Checkpoint, op: Operation) -> str | None:
    """Apply `op` to `cp` in place; returns a note for the resume context."""
    notes: list[str] = []
    if op.rollback is not None:
        rollback(m, cp, op.rollback, op.reason)
        notes.append(f"rolled back to checkpoint {op.rollback}")
    if op.rerun_from:
        rerun_from(m, cp, op.rerun_from, op.reason)
        notes.append(f"re-running from {op.rerun_from}")
    if op.retry:
        notes.append(f"retrying {retry(m, cp, op.reason)}")
    for agent in op.skip:
        skip(m, cp, agent, op.reason)
        notes.append(f"skipped {agent}")
    if op.params:
        set_params(cp, op.params)
        notes.append("parameters set: " + ", ".join(sorted(op.params)))
    return "; ".join(notes) or None


def mark_running(cp: Checkpoint, reason: str) -> None:
    """Move a resumable workflow back to running (a no-op if it is running)."""
    if cp.status == Status.RUNNING:
        return
    if cp.status in (Status.COMPLETED, Status.CANCELLED):
        raise NotResumable(f"workflow {cp.workflow_id!r} is {cp.status.value}",
                           hint='start a new workflow with `cairn start "REQUEST"`')
    check_transition(cp.status, Status.RUNNING, cp.workflow_id)
    _audit(cp, f"status:{cp.status.value}->running", reason[:500])
    cp.status = Status.RUNNING
    cp.status_reason = None


def commit(m: CheckpointManager, workflow_id: str, op: Operation, *, running: bool = True) -> Checkpoint:
    """Apply `op` under the workflow lock, mark it running, and write one checkpoint."""
    def change(cp: Checkpoint) -> None:
        if cp.status in (Status.COMPLETED, Status.CANCELLED) and not op.empty:
            raise NotResumable(f"workflow {workflow_id!r} is {cp.status.value}; it cannot be changed",
                               hint='start a new workflow with `cairn start "REQUEST"`')
        note = apply(m, cp, op)
        if running:
            mark_running(cp, f"resumed ({note})" if note else "resumed")
    return m.mutate(workflow_id, change, op.name())
