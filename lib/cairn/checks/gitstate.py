"""The state of the project's git repository, read with one `git rev-parse`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path


def run_git(directory: str | Path, *args: str) -> list[str] | None:
    """`git -C directory args` output lines, None when git fails or is missing."""
    try:
        out = subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True,
                             timeout=10, check=False, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return out.stdout.splitlines() if out.returncode == 0 else None


def _maybe_repository(directory: Path) -> bool:
    """Whether git could find a repository from `directory` (a `.git` in it or above, or
    git's environment pointing elsewhere): a few stats instead of starting git, which
    costs ~8 ms on every completion of a project that is not a repository."""
    if os.environ.get("GIT_DIR") or os.environ.get("GIT_WORK_TREE"):
        return True
    try:
        here = directory.resolve()
    except OSError:
        return True
    return any(os.path.lexists(d / ".git") for d in (here, *here.parents))


def git_state(directory: Path | None) -> str | None:
    """JSON text of {head, branch, worktree} of the repository at `directory` (branch null
    when detached), or None when it is not a repository with a commit."""
    if directory is None or not Path(directory).is_dir() or not _maybe_repository(Path(directory)):
        return None
    lines = run_git(directory, "rev-parse", "--show-toplevel", "HEAD", "--symbolic-full-name", "HEAD")
    if not lines or len(lines) != 3:
        return None
    top, head, ref = lines
    branch = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else None
    return json.dumps({"head": head, "branch": branch, "worktree": top}, sort_keys=True)
