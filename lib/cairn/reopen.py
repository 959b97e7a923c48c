"""Forking a workflow: a new workflow that shares its parent's completed stages.

`fork` copies the parent's done stages (all of them, or those before `--from STAGE` and
not downstream of it) into a new workflow: their attempt records (the code state each
saw, what each read) and their artifact files, under the same request, pipeline and
pins. An artifact naming its workflow (`workflow_id`, the evidence Cairn checks) is
rewritten to name the fork, and recorded with its new hash; what the shared stages read
is recorded with those hashes too. The fork records its parent; both audit trails say
so. The parent is not changed otherwise (it may be completed, cancelled or still open).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import datetime

from cairn import safefs
from cairn.errors import CairnError, ConfinementError
from cairn.lineage import consumed_of
from cairn.manager import CheckpointManager
from cairn.model import ArtifactRecord, Attempt, Workflow, utcnow
from cairn.paths import new_id
from cairn.pins import recorder
from cairn.store import Tx


def kept_stages(parent: Workflow, upto: str | None) -> list[str]:
    """The parent's done stages a fork shares: all, or those `upto` does not re-run."""
    redo = set(parent.pipeline.downstream(parent.pipeline.stage(upto).name)) if upto else set()
    return [s for s in parent.pipeline.names if s in set(parent.done) and s not in redo]


def _renamed(data: bytes, parent_id: str, child_id: str) -> bytes:
    try:
        doc = json.loads(data)
    except ValueError:
        return data
    if not isinstance(doc, dict) or doc.get("workflow_id") != parent_id:
        return data
    doc["workflow_id"] = child_id
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def fork(m: CheckpointManager, parent_id: str, *, upto: str | None = None, workflow_id: str | None = None,
         session_id: str | None = None) -> Workflow:
    parent = m.load(parent_id)
    child_id = workflow_id or new_id(utcnow())
    keep = kept_stages(parent, upto)
    shared: list[Attempt] = [a for s in keep if (a := parent.effective(s)) is not None]
    src = m.workflow_dir(parent_id)
    files: dict[str, bytes] = {}
    records: dict[int, list[ArtifactRecord]] = {}
    for a in shared:
        for r in a.artifacts:
            try:
                files[r.path] = _renamed(safefs.read_in(src, r.path), parent_id, child_id)
            except (OSError, ConfinementError) as exc:
                raise CairnError(f"{src / r.path} cannot be read ({exc}); nothing was forked",
                                 hint=f"run `cairn validate {parent_id}`, then fork again") from None
            data = files[r.path]
            records.setdefault(a.id, []).append(replace(r, sha256=hashlib.sha256(data).hexdigest(), size=len(data)))
    new_sha = {r.path: r.sha256 for rs in records.values() for r in rs}

    def share(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
        recorder(parent.pins)(tx, wf, seq, now)  # what the shared stages ran with
        tx.set_parent(wf.workflow_id, parent_id)
        for a in shared:
            aid = tx.start_attempt(wf.workflow_id, a.stage, now, seq, agent_id=None, session_id=None,
                                   outcome=a.outcome_end, error=f"shared from {parent_id} (attempt #{a.number})")
            tx.add_artifacts(aid, records.get(a.id, []))
            if a.git:
                tx.set_attempt_git(aid, a.git)
            read = consumed_of(a)
            tx.set_lineage(aid, json.dumps({p: new_sha.get(p, sha) for p, sha in read.items()}, sort_keys=True))
            if a.changed:
                tx.add_changes(aid, [p for p, _ in a.changed], "shared")
        tx.add_audit(wf.workflow_id, seq, now, "forked",
                     f"from {parent_id}" + (f" (re-running from {upto})" if upto else "")
                     + f"; shared: {', '.join(keep) or 'nothing'}")

    dst = m.workflow_dir(child_id)
    child = m.workflows.create(parent.request, parent.pipeline, workflow_id=child_id, session_id=session_id,
                               metadata=parent.metadata, git=parent.git, then=share)
    for rel, data in files.items():  # after the records: a copy that fails shows as artifact_missing
        try:
            safefs.ensure_dir((dst / rel).parent)
            safefs.replace_in((dst / rel).parent, (dst / rel).name, data, durable=True)
        except (OSError, ConfinementError) as exc:
            m.workflows.warnings.append(f"{rel} not copied into {child_id} ({exc}); its stage re-runs")

    def note(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
        tx.add_audit(parent_id, seq, now, "forked_into", f"{child_id}; shared: {', '.join(keep) or 'nothing'}")
    try:
        m.workflows.commit(parent_id, "fork", note)
    except CairnError as exc:  # the fork exists either way; its own audit names its parent
        m.workflows.warnings.append(f"{parent_id}: the fork was not noted in its audit trail ({exc})")
    return m.load(child.workflow_id)
