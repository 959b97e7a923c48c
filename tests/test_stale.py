"""Stale state: each reason is distinct and typed in `cairn validate` and at
SessionStart, with recovery options. Git reasons use real repositories in tmp_path."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from cairn import stale
from cairn.cli import main
from cairn.manager import CheckpointManager
from cairn.models import utcnow
from cairn.resumer import WorkflowResumer
from faults import hookrun

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
WID = "wf-stale"


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(cwd), "-c", "user.email=t@example.com", "-c", "user.name=T",
                          *args], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def commit(repo: Path, name: str) -> str:
    (repo / name).write_text(name)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", name)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(project: Path) -> Path:
    git(project, "init", "-q", "-b", "main")
    (project / ".gitignore").write_text(".claude/artifacts/\n")
    commit(project, "README")
    return project


def codes(m: CheckpointManager, wid: str = WID, **kw: Any) -> list[str]:
    return [p.code for p in WorkflowResumer(m).validate(wid, **kw).problems]


def validate_cli(root: Path, wid: str = WID) -> tuple[int, dict[str, Any]]:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["--dir", str(root), "validate", wid, "--json"])
    return code, json.loads(buf.getvalue())


def started(m: CheckpointManager, complete: Callable[..., Path], stages: int = 2) -> None:
    m.create("make it stale", workflow_id=WID)
    for name in m.pipeline_of(m.load(WID)).names[:stages]:
        complete(m, WID, name)


def test_git_state_recorded_at_create_and_completion(repo: Path, complete: Callable[..., Path]) -> None:
    m = CheckpointManager(repo / ".claude" / "artifacts")
    m.create("x", workflow_id=WID)
    rec = m.load(WID).metadata["git"]
    assert rec["head"] == git(repo, "rev-parse", "HEAD") and rec["branch"] == "main"
    assert Path(rec["worktree"]).resolve() == repo.resolve() and rec["stage"] is None
    head = commit(repo, "more")
    complete(m, WID, "orchestrator")
    rec = m.load(WID).metadata["git"]
    assert rec["head"] == head and rec["stage"] == "orchestrator"
    assert codes(m) == []


def test_no_git_state_outside_a_repository(mgr: CheckpointManager) -> None:
    cp = mgr.create("x", workflow_id=WID)
    assert "git" not in cp.metadata
    assert stale.git_state(None) is None


def test_head_moved(repo: Path, complete: Callable[..., Path]) -> None:
    m = CheckpointManager(repo / ".claude" / "artifacts")
    started(m, complete)
    commit(repo, "outside")
    assert codes(m) == [stale.GIT_HEAD_MOVED]
    code, out = validate_cli(m.root)
    assert code == 1 and out["problems"][0]["code"] == "git_head_moved"
    assert out["problems"][0]["stage"] == "researcher"
    assert any("--from researcher" in o for o in out["recovery"])
    assert any(o.startswith("clean up") for o in out["recovery"])


def test_branch_deleted(repo: Path, complete: Callable[..., Path]) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    m = CheckpointManager(repo / ".claude" / "artifacts")
    started(m, complete)
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "feature")
    assert codes(m) == [stale.GIT_BRANCH_DELETED]  # HEAD is the same commit


def test_worktree_deleted(repo: Path, tmp_path: Path, complete: Callable[..., Path]) -> None:
    """The code lives in a linked worktree; the artifacts in the main checkout."""
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "side", str(wt))
    m = CheckpointManager(repo / ".claude" / "artifacts", project_dir=wt)
    started(m, complete)
    assert Path(m.load(WID).metadata["git"]["worktree"]).resolve() == wt.resolve()
    git(repo, "worktree", "remove", "--force", str(wt))
    assert codes(m) == [stale.GIT_WORKTREE_DELETED]


def test_expired(mgr: CheckpointManager, complete: Callable[..., Path], project: Path) -> None:
    (project / ".claude" / "cairn.yaml").write_text("settings:\n  expiry_days: 3\n")
    m = CheckpointManager(project / ".claude" / "artifacts")
    assert m.settings.expiry_days == 3
    started(m, complete, 1)
    cp = m.load(WID)
    assert stale.expired(cp, m.settings, utcnow() + timedelta(days=2)) == []
    [p] = stale.expired(cp, m.settings, utcnow() + timedelta(days=4))
    assert p.code == stale.EXPIRED and "expiry_days" in p.message

    def age(c: Any) -> None:
        c.metadata["aged"] = True
    m.mutate(WID, age, "test")
    old = utcnow() - timedelta(days=5)
    raw = json.loads((m.root / WID / "checkpoint.json").read_text())
    raw["last_activity"] = old.isoformat()
    (m.root / WID / "checkpoint.json").write_text(json.dumps(raw))
    assert codes(m) == [stale.EXPIRED]


def test_pipeline_changed(project: Path, complete: Callable[..., Path]) -> None:
    m = CheckpointManager(project / ".claude" / "artifacts")
    started(m, complete)
    assert codes(m) == []
    (project / ".claude" / "cairn.yaml").write_text(
        "pipeline:\n  stages:\n    - name: planner\n      description: plans differently now\n")
    m = CheckpointManager(project / ".claude" / "artifacts")
    problems = WorkflowResumer(m).validate(WID).problems
    assert [p.code for p in problems] == [stale.PIPELINE_CHANGED]
    assert problems[0].stage == "planner"
    opts = stale.recovery(WID, problems, m.pipeline_of(m.load(WID)))
    assert opts[0].endswith("--from planner")


def test_custom_pipeline_is_not_reported_as_changed(mgr: CheckpointManager, tiny: Any) -> None:
    mgr.create("x", workflow_id=WID, pipeline=tiny)
    assert codes(mgr) == []


def test_artifact_modified_and_deleted(mgr: CheckpointManager, complete: Callable[..., Path]) -> None:
    started(mgr, complete, 3)
    names = mgr.pipeline_of(mgr.load(WID)).names
    cp = mgr.load(WID)
    first, second = (mgr.workflow_dir(WID) / rel for rel in list(cp.artifacts)[:2])
    first.write_text(first.read_text() + " ")
    second.unlink()
    assert codes(mgr) == [stale.ARTIFACT_MODIFIED, stale.ARTIFACT_DELETED]
    code, out = validate_cli(mgr.root)
    assert code == 1
    assert out["recovery"][0].endswith(f"--from {names[0]}")


def test_every_reason_is_distinct() -> None:
    assert len(set(stale.CODES)) == len(stale.CODES) == 7


def test_session_start_shows_reasons_and_options(repo: Path, tmp_path: Path,
                                                 complete: Callable[..., Path]) -> None:
    m = CheckpointManager(repo / ".claude" / "artifacts")
    started(m, complete)
    m.pause(WID)
    commit(repo, "outside")
    git(repo, "checkout", "-q", "-b", "elsewhere")
    env = hookrun.hook_env(repo, tmp_path / "home" / "data")
    answer = hookrun.run("session-start", hookrun.payload("session-start", repo, source="startup"),
                         env, repo)
    assert answer is not None
    context = answer["hookSpecificOutput"]["additionalContext"]
    assert "[git_head_moved]" in context
    assert "Option: re-run from the first affected stage" in context and "clean up" in context
