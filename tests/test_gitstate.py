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


def by_git_look(worktree: Path, branch: str) -> tuple[bool, str | None, bool]:
    alive = worktree.is_dir() and gitstate.run_git(worktree, "rev-parse", "--git-dir") is not None
    head = gitstate.run_git(worktree, "rev-parse", "HEAD") if alive else None
    known = gitstate.run_git(worktree, "rev-parse", "--verify", "-q", f"refs/heads/{branch}") if alive else None
    return alive, head[0] if head else None, known is not None


def looked(worktree: Path, branch: str) -> tuple[bool, str | None, bool]:
    look = gitstate.GitLook()  # a fresh one each time: a look answers once, for one pass
    alive = look.alive(str(worktree))
    return alive, look.head(str(worktree)) if alive else None, look.has_branch(str(worktree), branch) if alive \
        else False


def test_the_shared_look_agrees_with_git(repo: Path, tmp_path: Path) -> None:
    """What the stale checks ask (a repository? its HEAD? does the branch exist?), read from
    the files, as git answers it: loose and packed refs, a detached HEAD, a linked worktree,
    a deleted branch and worktree, a branch name with a slash."""
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "feature/x", str(wt))
    cases = [(repo, "main"), (repo, "feature/x"), (repo, "gone"), (wt, "feature/x"), (wt, "main"),
             (repo / "sub", "main"), (tmp_path / "nowhere", "main")]
    for where, branch in cases:
        assert looked(where, branch) == by_git_look(where, branch), (where, branch)
    git(repo, "pack-refs", "--all")
    git(repo, "checkout", "-q", "--detach")
    for where, branch in cases:
        assert looked(where, branch) == by_git_look(where, branch), ("packed", where, branch)
    git(wt, "checkout", "-q", "--detach")
    git(repo, "branch", "-q", "-D", "feature/x")
    git(repo, "worktree", "remove", "--force", str(wt))
    for where, branch in cases:
        assert looked(where, branch) == by_git_look(where, branch), ("deleted", where, branch)
    assert looked(wt, "feature/x") == (False, None, False)


def test_the_look_asks_once_per_worktree(repo: Path) -> None:
    """A page of cards shares one look: the second question about a worktree reads nothing
    (the files changing in between do not change its answer for this pass)."""
    look = gitstate.GitLook()
    head = look.head(str(repo))
    assert look.alive(str(repo)) and look.has_branch(str(repo), "main") and head
    git(repo, "commit", "-q", "--allow-empty", "-m", "two")
    assert look.head(str(repo)) == head != gitstate.GitLook().head(str(repo))
