"""Stale state: why a checkpoint may no longer describe the world, each a typed reason.

| code | meaning |
|---|---|
| `artifact_modified` | an artifact's sha256 differs from the one recorded (resumer.py) |
| `artifact_missing` | an artifact was deleted (resumer.py) |
| `git_head_moved` | HEAD is not the commit recorded at the last checkpoint |
| `git_branch_deleted` | the branch the workflow worked on no longer exists |
| `git_worktree_deleted` | the worktree the workflow worked in is gone |
| `checkpoint_expired` | no activity for longer than `settings.expiry_days` |
| `pipeline_changed` | the project's pipeline definition changed since the workflow started |
| `upstream_changed` | an artifact a completed stage read has another content now (lineage.py) |
| `code_changed` | the code changed after a completed stage that reads it (lineage.py) |
| `agent_changed` | the prompt of a completed stage's agent changed since the workflow started (pins.py) |

A check that finds one of these sets the workflow `stale` (`mark`), unless it runs.

Git state (HEAD, branch, worktree, and the code state of `cairn.codestate`) is recorded
with each completed attempt; the newest one (or a newer accepted baseline) is compared.
A moved HEAD is reported here; `cairn.lineage` names the changed files and the stages
that read them (`code_changed`). A resume that goes on (re-running those stages) or
`--accept` records the code as it is as the new baseline, which clears both.
`recovery` turns problems into the options a person has, each a command that removes
the problem it is offered for.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from cairn.checks.gitstate import GitLook
from cairn.model import Problem, Workflow, utcnow
from cairn.pipeline import Pipeline, Settings

GIT_HEAD_MOVED = "git_head_moved"
GIT_BRANCH_DELETED = "git_branch_deleted"
GIT_WORKTREE_DELETED = "git_worktree_deleted"
EXPIRED = "checkpoint_expired"
PIPELINE_CHANGED = "pipeline_changed"
ARTIFACT_MODIFIED = "artifact_modified"
ARTIFACT_DELETED = "artifact_missing"
UPSTREAM_CHANGED = "upstream_changed"  # cairn.lineage
CODE_CHANGED = "code_changed"          # cairn.lineage
AGENT_CHANGED = "agent_changed"        # cairn.pins
CODES = (ARTIFACT_MODIFIED, ARTIFACT_DELETED, GIT_HEAD_MOVED, GIT_BRANCH_DELETED,
         GIT_WORKTREE_DELETED, EXPIRED, PIPELINE_CHANGED, UPSTREAM_CHANGED, CODE_CHANGED, AGENT_CHANGED)


def _problem(code: str, path: str, message: str, stage: str | None = None) -> Problem:
    return Problem(code, path, message, stage)


def last_git(wf: Workflow) -> dict[str, object] | None:
    """The newest git state a completed stage saw, or the newer baseline a person accepted
    (`cairn resume --accept`); None when no stage completed (no work can be outdated)."""
    found: list[tuple[int, str | None, str | None]] = [
        (a.ended_seq or 0, a.git, a.stage) for s in wf.completed_agents if (a := wf.effective(s)) is not None and a.git]
    accepted = wf.pins.get("code")
    if accepted:
        try:
            seq = json.loads(accepted).get("accepted_seq")
        except (ValueError, AttributeError):
            seq = None
        if isinstance(seq, int):
            found.append((seq, accepted, None))
    if not found:
        return None
    _, text, stage = max(found, key=lambda x: x[0])
    try:
        rec = json.loads(text) if text else None
    except ValueError:
        return None
    if not isinstance(rec, dict):
        return None
    rec["stage"] = stage
    return rec


def git_problems(cp: Workflow, look: GitLook | None = None) -> list[Problem]:
    """`look`: answers shared by the workflows checked in one pass (a panel page)."""
    rec = last_git(cp)
    if rec is None:
        return []
    git = look or GitLook()
    wt, branch, head = rec.get("worktree"), rec.get("branch"), rec.get("head")
    named = rec.get("stage")
    stage = named if isinstance(named, str) else None
    if not isinstance(wt, str) or not wt:
        return []
    if not git.alive(wt):
        return [_problem(GIT_WORKTREE_DELETED, wt, f"the worktree {wt} the workflow worked in is gone",
                         stage)]
    out = []
    if isinstance(branch, str) and branch and not git.has_branch(wt, branch):
        out.append(_problem(GIT_BRANCH_DELETED, wt, f"branch {branch!r} the workflow worked on was deleted",
                            stage))
    now = git.head(wt)
    if isinstance(head, str) and now and now != head:
        out.append(_problem(GIT_HEAD_MOVED, wt, f"HEAD is {now[:12]}, the last checkpoint recorded "
                            f"{head[:12]}: the code changed outside the workflow", stage))
    return out


def expired(cp: Workflow, settings: Settings, now: datetime | None = None) -> list[Problem]:
    age = (now or utcnow()) - cp.last_activity
    if age <= timedelta(days=settings.expiry_days):
        return []
    return [_problem(EXPIRED, cp.workflow_id, f"no activity for {age.days} days (expiry: "
                     f"{settings.expiry_days:g} days, settings.expiry_days)")]


def first_changed_stage(old: Pipeline, new: Pipeline) -> str | None:
    """The first stage, in the workflow's order, whose definition differs in `new`."""
    current = {s.name: s.to_dict() for s in new.stages}
    for s in old.stages:
        if current.get(s.name) != s.to_dict():
            return s.name
    added = [s.name for s in new.stages if not old.has(s.name)]
    return added[0] if added else None


def pipeline_problems(cp: Workflow, snapshot: Pipeline, project: Pipeline) -> list[Problem]:
    """Compared only when the workflow's pipeline came from the project (its builtin
    default or its `.claude/cairn.yaml`), not when a caller passed its own."""
    if cp.pipeline.source not in ("<builtin>", project.source) or cp.pipeline.digest == project.digest:
        return []
    stage = first_changed_stage(snapshot, project)
    where = f"; first affected stage: {stage}" if stage else ""
    return [_problem(PIPELINE_CHANGED, project.source,
                     f"the pipeline definition changed since the workflow started (digest "
                     f"{cp.pipeline.digest} is now {project.digest}){where}",
                     stage if stage and snapshot.has(stage) else None)]


def check(cp: Workflow, settings: Settings, project: Pipeline | None,
          now: datetime | None = None, look: GitLook | None = None) -> list[Problem]:
    """Every stale reason of `cp` but the artifact ones (the resumer checks those).
    `project` is the project's current pipeline (None when it cannot be read)."""
    out = git_problems(cp, look) + expired(cp, settings, now)
    if project is None:
        return out
    return out + pipeline_problems(cp, cp.pipeline, project)


RERUN = ("artifact_modified", "artifact_missing", "artifact_unreadable", "artifact_invalid",
         "upstream_changed", "code_changed")
ACCEPTABLE = ("artifact_modified", "upstream_changed", "code_changed", "agent_changed", GIT_HEAD_MOVED,
              GIT_BRANCH_DELETED, GIT_WORKTREE_DELETED, EXPIRED, PIPELINE_CHANGED)


def recovery(workflow_id: str, problems: list[Problem], pipeline: Pipeline, *, status: str | None = None) -> list[str]:
    """What a person can do, most targeted first: each a command that, run as printed,
    removes the problems it is offered for (tests/test_recovery.py runs each). `status`
    is the workflow's: a cancelled one is only taken back by going back (`--from`), and
    a finished one needs no cancel before its cleanup."""
    if not problems:
        return []
    codes = {p.code for p in problems}
    order = {name: i for i, name in enumerate(pipeline.names)}
    rerun = sorted({p.stage for p in problems if p.code in RERUN and p.stage in order}, key=order.__getitem__)
    cancelled = status == "cancelled"
    opts = []
    if rerun:
        how = f"cairn resume {workflow_id} --from {rerun[0]}" if cancelled else f"cairn resume {workflow_id}"
        opts.append(f"re-run what the changes affect ({', '.join(rerun)} and what follows): {how}")
    if codes & {"agent_changed", PIPELINE_CHANGED}:
        opts.append(f"re-run the stages whose agent or pipeline entry changed: cairn resume {workflow_id} --latest")
    if "agent_changed" in codes and not cancelled:
        opts.append(f"keep the completed stages, record the changed prompts: cairn resume {workflow_id} --pinned")
    if codes & set(ACCEPTABLE) and not cancelled:
        opts.append(f"accept the changes and continue (they become the new baseline): "
                    f"cairn resume {workflow_id} --accept")
    if pipeline.names:
        opts.append(f"restart: cairn resume {workflow_id} --from {pipeline.names[0]}")
    opts.append(f"clean up: cairn cleanup {workflow_id}" if status in ("completed", "cancelled") else
                f"clean up: cairn cancel {workflow_id} && cairn cleanup {workflow_id}")
    return opts


def reasons(wf: Workflow, problems: list[Problem]) -> list[Problem]:
    """The problems that make a workflow `stale` (finished work does not expire)."""
    from cairn.status import Status

    return [p for p in problems if p.code in CODES and not (p.code == EXPIRED and wf.status == Status.COMPLETED)]
