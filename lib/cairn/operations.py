"""Changes a person makes to a workflow on resume: rollback, re-run from a stage,
retry, skip, set parameters. `Operation.change` is run by `Workflows.apply` inside its
transaction, together with the move back to running, as one checkpoint.

Nothing is deleted: a stage that is undone keeps its attempts, the last one marked
"invalidated" with the reason, and an audit entry names it, when it completed and the
artifacts (with hash prefixes) it had recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from cairn.baseline import World
from cairn.errors import NotResumable, UsageError
from cairn.model import Workflow
from cairn.redact import has_secret, redact
from cairn.store import Tx
from cairn.transitions import close_running

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
    accept: World | None = None    # --accept: the world as it is becomes the baseline
    pinned: World | None = None    # --pinned: keep the completed stages, record the changed prompts
    latest: World | None = None    # --latest: re-run what changed agents and pipeline entries affect
    # what lineage says must re-run (stage, why), found by the command's validation
    invalidate: list[tuple[str, str]] = field(default_factory=list)
    # the code as it is now (cairn.codestate), recorded as the baseline when the resume goes
    # on after the code changed (the stages that read it re-run; the others do not read it)
    code_baseline: str | None = None

    @property
    def empty(self) -> bool:
        return (self.rollback is None and self.rerun_from is None and not self.retry
                and not self.skip and not self.params and self.accept is None and self.pinned is None
                and self.latest is None)

    def change(self, tx: Tx, wf: Workflow, seq: int, now: datetime) -> str | None:
        """Apply this operation inside `Workflows.apply`'s transaction; a note for the context."""
        if self.reason:
            self.reason = redact(self.reason)[:500]  # it is written into the audit trail
        notes: list[str] = []
        if self.rollback is not None:
            rollback(tx, wf, seq, now, self.rollback, self.reason)
            notes.append(f"rolled back to checkpoint {self.rollback}")
        if self.rerun_from:
            rerun_from(tx, wf, seq, now, self.rerun_from, self.reason)
            notes.append(f"re-running from {self.rerun_from}")
        if self.retry:
            notes.append(f"retrying {retry(tx, wf, seq, now, self.reason)}")
        for agent in self.skip:
            skip(tx, wf, seq, now, agent, self.reason)
            notes.append(f"skipped {agent}")
        from cairn import baseline

        if self.latest is not None:
            notes.append(baseline.latest(tx, wf, seq, now, self.latest, invalidate))
        if self.accept is not None:
            notes.append(baseline.accept(tx, wf, seq, now, self.accept))
        if self.pinned is not None:
            notes.append(baseline.keep_pinned(tx, wf, seq, now, self.pinned))
        redo = [(s, why) for s, why in self.invalidate if s in wf.done]
        for stage, why in redo:
            invalidate(tx, wf, seq, now, stage, why)
        if redo:
            notes.append("re-running " + ", ".join(s for s, _ in redo) + " (what changed affects them)")
        if self.code_baseline is not None:
            baseline.code(tx, wf, seq, now, self.code_baseline)
        if self.params:
            for key, value in sorted(self.params.items()):
                old = wf.parameters.get(key)
                tx.set_parameter(wf.workflow_id, key, value, seq)
                tx.add_audit(wf.workflow_id, seq, now, "set_param", f"{key}: {old!r} -> {value!r}")
            notes.append("parameters set: " + ", ".join(sorted(self.params)))
        return "; ".join(notes) or None

    def name(self) -> str:
        for attr, label in (("rollback", "rollback"), ("rerun_from", "rerun_from"),
                            ("retry", "retry"), ("skip", "skip"), ("latest", "latest"), ("accept", "accept"),
                            ("pinned", "pinned"), ("params", "set_params"), ("invalidate", "rerun_affected")):
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
        if _SECRET_KEY.search(key) or _SECRET_VALUE.match(value.strip()) or has_secret(item) or has_secret(value):
            raise UsageError(f"refusing to store parameter {key!r}: it looks like a secret",
                             hint="checkpoints are plain files; pass secrets through the "
                             "environment, never through --set")
        if len(value) > MAX_VALUE or "\x00" in value:
            raise UsageError(f"the value of {key!r} is too long or has a NUL byte",
                             hint=f"values are at most {MAX_VALUE} characters")
        out[key] = value
    return out


def invalidate(tx: Tx, wf: Workflow, seq: int, now: datetime, stage: str, reason: str) -> None:
    """Undo a completion or skip, keeping it on record (attempt and audit)."""
    eff = wf.effective(stage)
    if eff is None:
        return
    files = ", ".join(f"{r.path} sha256:{r.sha256[:12]}" for r in eff.artifacts)
    when = f" ({eff.outcome} {eff.ended_at:%Y-%m-%dT%H:%M:%SZ})" if eff.ended_at else ""
    tx.invalidate_attempt(eff.id, seq)
    eff.invalidated_seq = seq
    tx.add_audit(wf.workflow_id, seq, now, "invalidated",
                 f"{stage}{when}; artifacts: {files or 'none'}; reason: {reason}"[:2000])


def rollback(tx: Tx, wf: Workflow, seq: int, now: datetime, target: int, reason: str | None) -> None:
    seqs = [m.seq for m in wf.marks]
    if target not in seqs:
        raise UsageError(f"workflow {wf.workflow_id!r} has no checkpoint {target}",
                         hint=f"checkpoints are {seqs[0]}..{seqs[-1]}; see `cairn status {wf.workflow_id}`")
    if target >= wf.seq:
        raise UsageError(f"checkpoint {target} is the latest one; nothing to roll back",
                         hint="give an earlier checkpoint number")
    then = wf.as_of(target)
    kind = next(m.type for m in wf.marks if m.seq == target)
    why = f"rolled back to checkpoint {target} ({kind})" + (f": {reason}" if reason else "")
    close_running(tx, wf, why, seq, now)
    keep = set(then.done)
    for stage in wf.done:
        if stage not in keep:
            invalidate(tx, wf, seq, now, stage, why)
    restored = []
    current = set(wf.done)
    for stage in then.done:
        old = then.effective(stage)
        if stage in current or old is None:
            continue
        # done at checkpoint N, undone since: a new attempt restores N's record
        aid = tx.start_attempt(wf.workflow_id, stage, now, seq, agent_id=None, session_id=None,
                               outcome=old.outcome_end, error=f"restored from checkpoint {target}")
        tx.add_artifacts(aid, list(old.artifacts))
        restored.append(stage)
    tx.add_audit(wf.workflow_id, seq, now, "rollback",
                 why + (f"; restored {', '.join(restored)}" if restored else ""))


def rerun_from(tx: Tx, wf: Workflow, seq: int, now: datetime, agent: str, reason: str | None) -> None:
    stage = wf.pipeline.stage(agent).name
    why = f"re-run from {stage} requested" + (f": {reason}" if reason else "")
    close_running(tx, wf, why, seq, now)
    done = set(wf.done)
    hit = [s for s in wf.pipeline.downstream(stage) if s in done]
    for s in hit:
        invalidate(tx, wf, seq, now, s, why)
    tx.add_audit(wf.workflow_id, seq, now, "rerun_from", f"{stage}; invalidated: {', '.join(hit) or 'nothing'}")


def retry(tx: Tx, wf: Workflow, seq: int, now: datetime, reason: str | None) -> str:
    done = set(wf.done)
    failed = [(a.ended_at or a.started_at, a.stage) for a in wf.attempts
              if a.outcome in ("failed", "interrupted", "running") and a.stage not in done]
    if not failed:
        raise NotResumable(f"workflow {wf.workflow_id!r} has no failed stage to retry",
                           hint="use --from AGENT to re-run a completed stage")
    stage = max(failed)[1]
    close_running(tx, wf, "retried", seq, now, stage=stage)
    tx.add_audit(wf.workflow_id, seq, now, "retry", stage + (f": {reason}" if reason else ""))
    return stage


def skip(tx: Tx, wf: Workflow, seq: int, now: datetime, agent: str, reason: str | None) -> None:
    stage = wf.pipeline.stage(agent).name
    if stage in wf.completed_agents:
        raise UsageError(f"{stage} already completed; there is nothing to skip",
                         hint=f"use --from {stage} to re-run it instead")
    if stage in wf.skipped_agents:
        return
    why = redact(reason or "skipped by user")[:500]
    close_running(tx, wf, why, seq, now, stage=stage)
    tx.start_attempt(wf.workflow_id, stage, now, seq, agent_id=None, session_id=None,
                     outcome="skipped", error=why)
    tx.add_audit(wf.workflow_id, seq, now, "skip", f"{stage}: {why}")
