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

Git state (HEAD, branch, worktree) is recorded in `metadata["git"]` when a workflow is
created and at each completion, by one `git rev-parse` (nothing when the project is
not a repository). `recovery` turns problems into the options a person has: re-run
from the first affected stage, restart, or clean up.
"""

from __future__ import annotations

import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cairn.models import Checkpoint, utcnow
from cairn.pipeline import Pipeline, Settings

GIT_HEAD_MOVED = "git_head_moved"
GIT_BRANCH_DELETED = "git_branch_deleted"
GIT_WORKTREE_DELETED = "git_worktree_deleted"
EXPIRED = "checkpoint_expired"
PIPELINE_CHANGED = "pipeline_changed"
ARTIFACT_MODIFIED = "artifact_modified"
ARTIFACT_DELETED = "artifact_missing"
CODES = (ARTIFACT_MODIFIED, ARTIFACT_DELETED, GIT_HEAD_MOVED, GIT_BRANCH_DELETED,
         GIT_WORKTREE_DELETED, EXPIRED, PIPELINE_CHANGED)


def _git(directory: str | Path, *args: str) -> list[str] | None:
    try:
        out = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True,
                             timeout=10, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return out.stdout.splitlines() if out.returncode == 0 else None


def git_state(directory: Path | None) -> dict[str, Any] | None:
    """{head, branch, worktree} of the repository at `directory` (branch None when
    detached), or None when it is not a repository with a commit."""
    if directory is None or not Path(directory).is_dir():
        return None
    lines = _git(directory, "rev-parse", "--show-toplevel", "HEAD", "--symbolic-full-name", "HEAD")
    if not lines or len(lines) != 3:
        return None
    top, head, ref = lines
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else None
    return {"head": head, "branch": branch, "worktree": top}


def record_git(cp: Checkpoint, state: dict[str, Any] | None, stage: str | None = None) -> None:
    """Store `state` (from `git_state`, taken outside the workflow lock) in the checkpoint."""
    if state is not None:
        cp.metadata["git"] = {**state, "stage": stage, "at": utcnow().isoformat()}


def _problem(code: str, path: str, message: str, stage: str | None = None) -> Any:
    from cairn.resumer import Problem

    return Problem(code, path, message, stage)


def git_problems(cp: Checkpoint) -> list[Any]:
    rec = cp.metadata.get("git")
    if not isinstance(rec, dict):
        return []
    wt, branch, head = rec.get("worktree"), rec.get("branch"), rec.get("head")
    stage = rec.get("stage") if isinstance(rec.get("stage"), str) else None
    if not isinstance(wt, str) or not wt:
        return []
    if not Path(wt).is_dir() or _git(wt, "rev-parse", "--git-dir") is None:
        return [_problem(GIT_WORKTREE_DELETED, wt, f"the worktree {wt} the workflow worked in is gone",
                         stage)]
    out = []
    if isinstance(branch, str) and branch and \
            _git(wt, "rev-parse", "--verify", "-q", f"refs/heads/{branch}") is None:
        out.append(_problem(GIT_BRANCH_DELETED, wt, f"branch {branch!r} the workflow worked on was deleted",
                            stage))
    now = _git(wt, "rev-parse", "HEAD")
    if isinstance(head, str) and now and now[0] != head:
        out.append(_problem(GIT_HEAD_MOVED, wt, f"HEAD is {now[0][:12]}, the last checkpoint recorded "
                            f"{head[:12]}: the code changed outside the workflow", stage))
    return out


def expired(cp: Checkpoint, settings: Settings, now: datetime | None = None) -> list[Any]:
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


def pipeline_problems(cp: Checkpoint, snapshot: Pipeline, project: Pipeline) -> list[Any]:
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


def check(manager: Any, cp: Checkpoint, now: datetime | None = None) -> list[Any]:
    """Every stale reason of `cp` but the artifact ones (the resumer checks those)."""
    from cairn.errors import CairnError

    out = git_problems(cp) + expired(cp, manager.settings, now)
    try:
        project = manager.project_pipeline()
    except CairnError:  # a broken cairn.yaml is reported where it is loaded
        return out
    return out + pipeline_problems(cp, manager.pipeline_of(cp), project)


def recovery(workflow_id: str, problems: list[Any], pipeline: Pipeline) -> list[str]:
    """What a person can do, most targeted first."""
    if not problems:
        return []
    order = {name: i for i, name in enumerate(pipeline.names)}
    stages = sorted({p.stage for p in problems if p.stage in order}, key=order.__getitem__)
    opts = []
    if stages:
        opts.append(f"re-run from the first affected stage: cairn resume {workflow_id} --from {stages[0]}")
    if pipeline.names:
        opts.append(f"restart: cairn resume {workflow_id} --from {pipeline.names[0]} "
                    "(or start a new workflow with cairn start)")
    opts.append(f"clean up: cairn cancel {workflow_id}, then cairn cleanup")
    if any(p.code.startswith("git_") or p.code == EXPIRED for p in problems):
        opts.append(f"if that change was intended, continue as is: cairn resume {workflow_id}")
    return opts
