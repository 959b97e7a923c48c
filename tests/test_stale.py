"""Stale state (`cairn.checks.stale`): each reason is distinct and typed, in the resumer's
validation and at SessionStart, with recovery options. Git reasons use real repositories
in tmp_path."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from freezegun import freeze_time

from cairn.checks import stale
from cairn.checks.gitstate import git_state
from cairn.config import load_project_config
from cairn.manager import CheckpointManager
from cairn.model import utcnow
from cairn.pipeline import Settings, default_pipeline
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


def started(m: CheckpointManager, complete: Callable[..., Path], stages: int = 2) -> None:
    m.create("make it stale", workflow_id=WID)
    for name in m.load(WID).pipeline.names[:stages]:
        complete(m, WID, name)


def test_git_state_recorded_at_create_and_completion(repo: Path, complete: Callable[..., Path]) -> None:
    m = CheckpointManager(repo / ".claude" / "artifacts")
    m.create("x", workflow_id=WID)
    wf = m.load(WID)
    assert stale.last_git(wf) is None  # no stage completed: no work the code could have outdated
    created = json.loads(wf.git or "")
    assert created["head"] == git(repo, "rev-parse", "HEAD") and created["branch"] == "main"
    assert Path(str(created["worktree"])).resolve() == repo.resolve()
    head = commit(repo, "more")
    complete(m, WID, "orchestrator")
    wf = m.load(WID)
    rec = stale.last_git(wf)
    assert rec is not None and rec["head"] == head and rec["stage"] == "orchestrator" and "dirty" in rec
    assert json.loads(wf.agents["orchestrator"].attempts[0].git or "")["head"] == head
    assert json.loads((m.root / WID / "checkpoint.json").read_text())["git"]["head"] != head  # creation's
    assert codes(m) == []


def test_no_git_state_outside_a_repository(mgr: CheckpointManager, tmp_path: Path) -> None:
    wf = mgr.create("x", workflow_id=WID)
    assert wf.git is None and stale.last_git(wf) is None and stale.git_problems(wf) == []
    assert git_state(None) is None and git_state(tmp_path / "nowhere") is None
    plain = tmp_path / "plain"
    plain.mkdir()
    assert git_state(plain) is None  # no repository: not even a git process


def test_detached_head_has_no_branch(repo: Path) -> None:
    git(repo, "checkout", "-q", "--detach")
    rec = json.loads(git_state(repo) or "")
    assert rec["branch"] is None and rec["head"] == git(repo, "rev-parse", "HEAD")


def test_head_moved_after_stages_that_do_not_read_the_code(repo: Path, complete: Callable[..., Path],
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Reported, but nothing re-runs (orchestrator and researcher do not read the code):
    accepting it, or going on with a resume, records the new baseline."""
    m = CheckpointManager(repo / ".claude" / "artifacts")
    started(m, complete)
    commit(repo, "outside")
    problems = WorkflowResumer(m).validate(WID).problems
    assert [(p.code, p.stage) for p in problems] == [(stale.GIT_HEAD_MOVED, "researcher")]
    opts = stale.recovery(WID, problems, m.load(WID).pipeline)
    assert not any("re-run what the changes affect" in o for o in opts)
    assert opts[0] == f"accept the changes and continue (they become the new baseline): cairn resume {WID} --accept"
    from cairn.cli import main

    monkeypatch.delenv("CLAUDE_CODE_SESSION_ID", raising=False)  # a terminal: no lease
    assert main(["--dir", str(m.root), "resume", WID]) == 0  # going on: the code as it is is the baseline
    capsys.readouterr()
    wf = m.load(WID)
    assert codes(m) == [] and wf.done == ["orchestrator", "researcher"]
    assert any(e.action == "baseline" for e in wf.audit)


def test_head_moved_on_a_record_without_a_code_state(repo: Path, complete: Callable[..., Path]) -> None:
    """Completions recorded before lineage carry HEAD only: a moved HEAD is all that can be said."""
    m = CheckpointManager(repo / ".claude" / "artifacts")
    started(m, complete)
    attempts = m.load(WID).attempts
    with m.store.write() as tx:
        for a in attempts:
            tx.set_attempt_git(a.id, git_state(repo) or "")
    commit(repo, "outside")
    problems = WorkflowResumer(m).validate(WID).problems
    assert [(p.code, p.stage) for p in problems] == [(stale.GIT_HEAD_MOVED, "researcher")]
    opts = stale.recovery(WID, problems, m.load(WID).pipeline)
    assert opts[0] == f"accept the changes and continue (they become the new baseline): cairn resume {WID} --accept"
    assert any(o.startswith("clean up") for o in opts)


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
    rec = stale.last_git(m.load(WID))
    assert rec is not None and Path(str(rec["worktree"])).resolve() == wt.resolve()
    git(repo, "worktree", "remove", "--force", str(wt))
    assert codes(m) == [stale.GIT_WORKTREE_DELETED]


def test_expired(project: Path, complete: Callable[..., Path]) -> None:
    (project / ".claude" / "cairn.yaml").write_text("settings:\n  expiry_days: 3\n")
    m = CheckpointManager(project / ".claude" / "artifacts")
    assert m.settings.expiry_days == 3
    started(m, complete, 1)
    wf = m.load(WID)
    assert stale.expired(wf, m.settings, utcnow() + timedelta(days=2)) == []
    [p] = stale.expired(wf, m.settings, utcnow() + timedelta(days=4))
    assert p.code == stale.EXPIRED and "expiry_days" in p.message
    with freeze_time(utcnow() + timedelta(days=5)):
        assert codes(m) == [stale.EXPIRED]
    m.workflows.bind("sess", WID, "cairn resume")
    m.record_start(WID, "researcher", session_id="sess")
    with freeze_time(utcnow() + timedelta(days=2, hours=23)):
        m.workflows.heartbeat("sess")  # a heartbeat is activity
    with freeze_time(utcnow() + timedelta(days=5)):
        assert codes(m) == []


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
    opts = stale.recovery(WID, problems, m.load(WID).pipeline)
    assert opts[0].endswith(f"cairn resume {WID} --latest")
    # the API the resumer uses, directly
    wf = m.load(WID)
    assert [p.code for p in stale.check(wf, Settings(), load_project_config(project)[0])] == [
        stale.PIPELINE_CHANGED]
    assert stale.check(wf, Settings(), None) == []  # an unreadable cairn.yaml is reported where it is loaded


def test_custom_pipeline_is_not_reported_as_changed(mgr: CheckpointManager, tiny: Any) -> None:
    mgr.create("x", workflow_id=WID, pipeline=tiny)
    assert codes(mgr) == []


def test_artifact_modified_and_deleted(mgr: CheckpointManager, complete: Callable[..., Path]) -> None:
    started(mgr, complete, 3)
    wf = mgr.load(WID)
    first, second = (mgr.workflow_dir(WID) / rel for rel in list(wf.artifacts)[:2])
    first.write_text(first.read_text() + " ")
    second.unlink()
    problems = WorkflowResumer(mgr).validate(WID).problems
    assert [p.code for p in problems] == [stale.ARTIFACT_MODIFIED, stale.ARTIFACT_DELETED]
    assert stale.recovery(WID, problems, wf.pipeline)[0].endswith(f"and what follows): cairn resume {WID}")


def test_every_reason_is_distinct() -> None:
    assert len(set(stale.CODES)) == len(stale.CODES) == 10
    assert stale.recovery(WID, [], default_pipeline()) == []


def test_session_start_shows_reasons_and_options(repo: Path, tmp_path: Path,
                                                 complete: Callable[..., Path]) -> None:
    m = CheckpointManager(repo / ".claude" / "artifacts")
    started(m, complete, 6)  # through the reviewer, which reads the code
    m.pause(WID)
    (repo / "README").write_text("changed outside the workflow")
    env = hookrun.hook_env(repo, tmp_path / "home" / "data")
    answer = hookrun.run("session-start", hookrun.payload("session-start", repo, source="startup"), env, repo)
    assert answer is not None
    context = answer["hookSpecificOutput"]["additionalContext"]
    assert "[code_changed] the code changed after reviewer read it: README" in context
    assert "Must re-run because of those problems: reviewer" in context
    assert f"Option: re-run what the changes affect (reviewer and what follows): cairn resume {WID}" in context
    assert "clean up" in context
    assert m.load(WID).status.value == "stale"  # the check that found it says so
