"""The git state read from `.git` directly agrees with `git rev-parse` (real repositories)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cairn.checks import gitstate

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@x", "PATH": "/usr/bin:/bin", "HOME": str(cwd)}).stdout


def by_git(directory: Path) -> dict[str, object]:
    top, head, ref = gitstate.run_git(directory, "rev-parse", "--show-toplevel", "HEAD",
                                      "--symbolic-full-name", "HEAD") or ["", "", ""]
    return {"head": head, "branch": ref[11:] if ref.startswith("refs/heads/") else None, "worktree": top}


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    (r / "a.txt").write_text("a")
    git(r, "add", "a.txt")
    git(r, "commit", "-q", "-m", "one")
    return r


def test_branch_packed_detached_and_worktree_agree_with_git(repo: Path, tmp_path: Path) -> None:
    sub = repo / "sub" / "dir"
    sub.mkdir(parents=True)
    for where in (repo, sub):
        state = gitstate.git_state(where)
        assert state is not None and json.loads(state) == by_git(where)
    git(repo, "pack-refs", "--all")  # the ref now lives in packed-refs only
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert json.loads(gitstate.git_state(repo) or "{}") == by_git(repo)
    git(repo, "checkout", "-q", "--detach")
    assert json.loads(gitstate.git_state(repo) or "{}") == by_git(repo)
    git(repo, "checkout", "-q", "main")
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(wt))
    assert json.loads(gitstate.git_state(wt) or "{}") == by_git(wt)


def test_not_a_repository_or_no_commit(tmp_path: Path) -> None:
    assert gitstate.git_state(tmp_path) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    git(empty, "init", "-q")
    assert gitstate.git_state(empty) is None
