"""What a resume records when the world changed: a new baseline, new pins, the latest
pipeline and agents. Run inside `Workflows.apply`'s transaction by `cairn.operations`;
everything read from the world (the code state, agent digests, re-hashed artifacts, the
project's pipeline) is read before, by the command, and handed in as a `World`.

- `accept` ("accept the changes and continue"): the code as it is now becomes what every
  completed stage is judged against, changed agent prompts and the project's pipeline
  are adopted as they are, modified artifacts are re-recorded with their new hashes and
  the stages that read them are told they read these: nothing re-runs.
- `keep_pinned` (`--pinned`): changed agent prompts are recorded as the new pins;
  completed stages stand.
- `latest` (`--latest`): the stages whose agent (or pipeline entry) changed, and what
  follows them, re-run; the project's pipeline and the agents are pinned.
Everything lands in the audit trail with the old and new values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cairn.model import ArtifactRecord, Workflow
from cairn.pipeline import Pipeline
from cairn.store import Tx

Invalidate = Callable[[Tx, Workflow, int, datetime, str, str], None]


@dataclass
class World:
    """The world as the command read it before the transaction."""

    code: str | None = None                      # codestate.snapshot of the project
    pins: dict[str, str] = field(default_factory=dict)   # cairn.pins.current of the pipeline below
    pipeline: Pipeline | None = None             # the project's pipeline now
    artifacts: list[ArtifactRecord] = field(default_factory=list)  # modified artifacts, re-hashed


def _pin_changes(tx: Tx, wf: Workflow, seq: int, pins: dict[str, str], names: list[str] | None = None) -> list[str]:
    changed = []
    for name, value in sorted(pins.items()):
        if (names is None or name in names) and wf.pins.get(name) != value:
            tx.put_pin(wf.workflow_id, name, value, seq)
            changed.append(f"{name}: {wf.pins.get(name, 'none')[:12]} -> {value[:12]}")
            wf.pins[name] = value
    return changed


def _adopt(tx: Tx, wf: Workflow, pipeline: Pipeline) -> bool:
    if pipeline.digest == wf.pipeline.digest:
        return False
    tx.set_pipeline(wf.workflow_id, pipeline)
    wf.pipeline = pipeline
    return True


def _code_pin(tx: Tx, wf: Workflow, seq: int, text: str | None) -> str:
    code = json.loads(text) if text else {}
    code["accepted_seq"] = seq
    tx.put_pin(wf.workflow_id, "code", json.dumps(code, sort_keys=True), seq)
    wf.pins["code"] = json.dumps(code, sort_keys=True)
    return (f"code at HEAD {str(code.get('head', 'none'))[:12]} with {len(code.get('dirty') or {})} "
            "uncommitted file(s)")


def code(tx: Tx, wf: Workflow, seq: int, now: datetime, text: str) -> None:
    """A resume going on after the code changed: the code as it is is what completed stages
    are judged against from now on (those that read the code were just undone)."""
    tx.add_audit(wf.workflow_id, seq, now, "baseline", _code_pin(tx, wf, seq, text))


def accept(tx: Tx, wf: Workflow, seq: int, now: datetime, world: World) -> str:
    notes = [_code_pin(tx, wf, seq, world.code)]
    if world.pipeline is not None and _adopt(tx, wf, world.pipeline):
        notes.append(f"pipeline {world.pipeline.digest}")
    pinned = _pin_changes(tx, wf, seq, world.pins)
    if pinned:
        notes.append("pins " + "; ".join(pinned))
    shas: dict[str, str] = {p: r.sha256 for p, r in wf.artifacts.items()}
    for rec in world.artifacts:
        eff = wf.effective(rec.agent)
        if eff is None:
            continue
        old = shas.get(rec.path, "none")
        tx.add_artifacts(eff.id, [rec])
        shas[rec.path] = rec.sha256
        notes.append(f"{rec.path} sha256 {old[:12]} -> {rec.sha256[:12]}")
    from cairn.lineage import consumed_of

    for stage in wf.completed_agents:  # what each stage read is, from now on, what is recorded
        eff = wf.effective(stage)
        if eff is None:
            continue
        read = consumed_of(eff)
        now_read = {p: shas.get(p, sha) for p, sha in read.items()}
        if now_read != read:
            tx.set_lineage(eff.id, json.dumps(now_read, sort_keys=True))
    detail = "; ".join(notes)
    tx.add_audit(wf.workflow_id, seq, now, "accept", f"new baseline: {detail}"[:2000])
    return "accepted the changes as the new baseline"


def keep_pinned(tx: Tx, wf: Workflow, seq: int, now: datetime, world: World) -> str:
    changed = _pin_changes(tx, wf, seq, world.pins, [k for k in world.pins if k.startswith("agent:")])
    tx.add_audit(wf.workflow_id, seq, now, "pinned",
                 ("kept going with the completed stages; changed prompts recorded: " + "; ".join(changed)
                  if changed else "no agent prompt changed")[:2000])
    return "kept the completed stages (--pinned)"


def latest(tx: Tx, wf: Workflow, seq: int, now: datetime, world: World,
           invalidate: Invalidate) -> str:
    from cairn.checks.stale import first_changed_stage
    from cairn.pins import changed_stages

    rerun: list[str] = []
    why: dict[str, str] = {}
    if world.pipeline is not None and world.pipeline.digest != wf.pipeline.digest:
        first = first_changed_stage(wf.pipeline, world.pipeline)
        _adopt(tx, wf, world.pipeline)
        if first and wf.pipeline.has(first):
            rerun.append(first)
            why[first] = f"its pipeline entry changed (now {world.pipeline.digest})"
    for name in changed_stages(wf, world.pins):
        rerun.append(name)
        why.setdefault(name, "its agent prompt changed (--latest)")
    done = set(wf.done)
    hit = [s for s in wf.pipeline.names if any(s in wf.pipeline.downstream(r) for r in rerun)]
    for stage in hit:
        if stage in done:
            source = next((r for r in rerun if stage in wf.pipeline.downstream(r)), stage)
            invalidate(tx, wf, seq, now, stage, why.get(stage) or f"downstream of {source}, which re-runs")
    _pin_changes(tx, wf, seq, world.pins)
    tx.add_audit(wf.workflow_id, seq, now, "latest",
                 f"re-run: {', '.join(s for s in hit if s in done) or 'nothing'}")
    return "re-running " + (", ".join(s for s in hit if s in done) or "nothing") + " with the latest agents"
