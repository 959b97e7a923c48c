"""Plain helpers the test modules import by name (`from support import ...`): a test
module cannot import `conftest`, which names two files once tests/e2e is collected too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
FIXTURES = TESTS / "fixtures"
ARTIFACT_FIXTURES = TESTS.parent / "lib" / "cairn" / "data" / "examples"  # shipped examples
LEGACY_FIXTURES = FIXTURES / "legacy"
LIB = TESTS.parent / "lib"


def run_cairn(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m cairn ARGS` in a real subprocess, with the isolated environment."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(LIB) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "cairn", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=timeout, check=False)


def deps_stamp() -> str:
    """The plugin environment's set-up stamp hooks/run.sh checks (`DEPS_STAMP=deps-N`)."""
    import re

    found = re.search(r"^DEPS_STAMP=(\S+)$", (TESTS.parent / "hooks" / "run.sh").read_text(), re.M)
    assert found is not None, "hooks/run.sh no longer sets DEPS_STAMP"
    return found.group(1)


def sh(command: str, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run like the Bash tool: through a shell, stdout and stderr together; it must succeed
    (Claude Code sends PostToolUse only for exit 0)."""
    proc = subprocess.run(["bash", "-c", command], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=60, env=env)
    assert proc.returncode == 0, proc.stdout
    return proc.stdout


def repo_with_remote(tmp_path: Path, name: str) -> Path:
    """A git repository `tmp_path/name` on branch main, with a bare `origin` beside it and
    a committer set (no signing): what a project pushing to its remote looks like."""
    work, remote = tmp_path / name, tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(work)], check=True)
    for k, v in (("user.email", "t@example.com"), ("user.name", "t"), ("commit.gpgsign", "false")):
        subprocess.run(["git", "-C", str(work), "config", k, v], check=True)
    subprocess.run(["git", "-C", str(work), "remote", "add", "origin", str(remote)], check=True)
    return work

