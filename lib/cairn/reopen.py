"""Forking a workflow: a new workflow that shares its parent's completed stages.

`fork` copies the parent's done stages (all of them, or those before `--from STAGE` and
not downstream of it) into a new workflow: their attempt records (artifact hashes, the
code state each saw, what each read) and their artifact files, under the same request,
pipeline and pins. The fork records its parent; both audit trails say so. The parent is
not changed otherwise (it may be completed, cancelled or still open).
"""

from __future__ import annotations

from datetime import datetime

from cairn import safefs
from cairn.errors import CairnError, ConfinementError
from cairn.manager import CheckpointManager
from cairn.model import Attempt, Workflow
from cairn.store import Tx


def kept_stages(parent: Workflow, upto: str | None) -> list[str]:
    """The parent's done stages a fork shares: all, or those `upto` does not re-run."""
    redo = set(parent.pipeline.downstream(parent.pipeline.stage(upto).name)) if upto else set()
    return [s for s in parent.pipeline.names if s in set(parent.done) and s not in redo]


def fork(m: CheckpointManager, parent_id: str, *, upto: str | None = None, workflow_id: str | None = None,
         session_id: str | None = None) -> Workflow:
    parent = m.load(parent_id)
    keep = kept_stages(parent, upto)
    shared: list[Attempt] = [a for s in keep if (a := parent.effective(s)) is not None]

    def share(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
        tx.set_parent(wf.workflow_id, parent_id)
        for a in shared:
            aid = tx.start_attempt(wf.workflow_id, a.stage, now, seq, agent_id=None, session_id=None,
                                   outcome=a.outcome_end, error=f"shared from {parent_id} (attempt #{a.number})")
            tx.add_artifacts(aid, list(a.artifacts))
            if a.git:
                tx.set_attempt_git(aid, a.git)
            if a.consumed:
                tx.set_lineage(aid, a.consumed)
            if a.changed:
                tx.add_changes(aid, [p for p, _ in a.changed], "shared")
        tx.add_audit(wf.workflow_id, seq, now, "forked",
                     f"from {parent_id}" + (f" (re-running from {upto})" if upto else "")
                     + f"; shared: {', '.join(keep) or 'nothing'}")

    child = m.workflows.create(parent.request, parent.pipeline, workflow_id=workflow_id, session_id=session_id,
                               metadata=parent.metadata, git=parent.git, pins=parent.pins, then=share)
    src, dst = m.workflow_dir(parent_id), m.workflow_dir(child.workflow_id)
    for a in shared:  # the files, after the records: a copy that fails shows as artifact_missing
        for r in a.artifacts:
            try:
                safefs.ensure_dir((dst / r.path).parent)
                safefs.replace_in((dst / r.path).parent, (dst / r.path).name, safefs.read_in(src, r.path),
                                  durable=True)
            except (OSError, ConfinementError) as exc:
                m.workflows.warnings.append(f"{r.path} not copied into {child.workflow_id} ({exc}); "
                                            f"{a.stage} re-runs")

    def note(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
        tx.add_audit(parent_id, seq, now, "forked_into", f"{child.workflow_id}; shared: {', '.join(keep) or 'nothing'}")
    try:
        m.workflows.commit(parent_id, "fork", note)
    except CairnError as exc:  # the fork exists either way; its own audit names its parent
        m.workflows.warnings.append(f"{parent_id}: the fork was not noted in its audit trail ({exc})")
    return m.load(child.workflow_id)
