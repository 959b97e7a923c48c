"""A clean install: building and testing a clone leaves nothing in the plugin's folder
that Claude Code would copy. The real client installs the plugin by copying its folder
whole (measured with 2.1.328: everything but ``.git``; no ``.gitignore`` is honoured; a
link that leaves the folder is dropped), so ``.ci/env.sh`` puts the CI virtualenv, the
client and every tool cache outside the repository. Here a copy of the checkout gets
the tool runs ``.ci/run`` makes (ruff, mypy, pytest) with that environment, and then
the real ``claude plugin marketplace add`` + ``claude plugin install`` must copy less
than 5 MB of it, with none of those outputs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from harness import PINNED_CLAUDE_VERSION, REPO_ROOT, claude_bin, claude_env_vars

LIMIT = 5 * 1024 * 1024
OUTPUTS = (".ci/venv", ".e2e", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis", "node_modules",
           "build")


def checkout_copy(dest: Path) -> None:
    """What a clone of this checkout holds: the tracked files and the untracked ones git
    does not ignore (so edits not yet committed count too)."""
    listed = subprocess.run(["git", "-C", str(REPO_ROOT), "ls-files", "-co", "--exclude-standard", "-z"],
                            capture_output=True, check=False, timeout=60)
    if listed.returncode != 0:
        pytest.skip(f"{REPO_ROOT} is not a git checkout: {listed.stderr.decode(errors='replace').strip()}")
    for rel in filter(None, listed.stdout.decode().split("\0")):
        src = REPO_ROOT / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def ci_env(clone: Path, cache: Path, home: Path) -> dict[str, str]:
    """The environment `.ci/run` works in: `.ci/env.sh` sourced in the clone."""
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "CAIRN_CI_CACHE": str(cache),
            "PYTHONPATH": str(clone / "lib")}
    out = subprocess.run(["bash", "-c", ". .ci/env.sh && env -0"], cwd=clone, env=base, capture_output=True,
                         check=True, timeout=60).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def folder_bytes(root: Path) -> int:
    return sum(os.lstat(Path(d) / f).st_size for d, _, files in os.walk(root) for f in files)


def test_the_pin_is_the_one_the_install_script_installs() -> None:
    script = (REPO_ROOT / ".ci" / "install-claude.sh").read_text()
    assert re.search(r'^CLAUDE_VERSION="\$\{CAIRN_CLAUDE_VERSION:-(.+)\}"$', script, re.M).group(1) \
        == PINNED_CLAUDE_VERSION  # type: ignore[union-attr]


def test_installing_from_a_built_and_tested_clone_copies_under_5_mb(tmp_path: Path) -> None:
    binary = claude_bin()
    clone, cache, home = tmp_path / "clone", tmp_path / "ci-cache", tmp_path / "home"
    clone.mkdir()
    home.mkdir()
    checkout_copy(clone)
    env = ci_env(clone, cache, home)
    for var in ("CAIRN_CI_VENV", "CAIRN_E2E_PREFIX", "MYPY_CACHE_DIR", "RUFF_CACHE_DIR", "PYTHONPYCACHEPREFIX",
                "CAIRN_HYPOTHESIS_DIR", "CAIRN_TEST_ARTIFACTS"):
        assert Path(env[var]).is_relative_to(cache), (var, env[var])
    assert "cache_dir=" + str(cache) in env["PYTEST_ADDOPTS"]
    steps = [[sys.executable, "-m", "ruff", "check", "lib/cairn/status.py"],
             [sys.executable, "-m", "mypy", "--strict", "lib/cairn/status.py"],
             [sys.executable, "-m", "pytest", "-q", "tests/test_paths.py"]]
    for step in steps:
        proc = subprocess.run(step, cwd=clone, env=env, capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode == 0, (step, proc.stdout[-2000:], proc.stderr[-2000:])
    assert (cache / f"ruff-{Path(env['RUFF_CACHE_DIR']).name[5:]}").is_dir()  # the runs wrote their caches there

    client = claude_env_vars(home=home, api="http://127.0.0.1:9")
    for args in (["plugin", "marketplace", "add", str(clone)], ["plugin", "install", "cairn@cairn-dev"]):
        proc = subprocess.run([str(binary), *args], env=client, capture_output=True, text=True, timeout=120,
                              check=False)
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    installed = json.loads((home / ".claude" / "plugins" / "installed_plugins.json").read_text())
    paths = [Path(rec["installPath"]) for recs in installed["plugins"].values() for rec in recs]
    assert len(paths) == 1 and paths[0].is_dir() and paths[0].is_relative_to(home)
    copied = folder_bytes(paths[0])
    assert copied < LIMIT, f"the install copied {copied} bytes"
    for rel in OUTPUTS:
        assert not (paths[0] / rel).exists(), rel
    assert (paths[0] / "hooks" / "run.sh").is_file() and (paths[0] / "lib" / "cairn" / "cli.py").is_file()


def test_ci_keeps_its_outputs_outside_the_repository() -> None:
    """`.ci/run` works in `.ci/env.sh`'s environment and installs nothing into the tree."""
    run_script = (REPO_ROOT / ".ci" / "run").read_text()
    assert "\n. .ci/env.sh\n" in run_script and 'VENV="$CAIRN_CI_VENV"' in run_script
    assert ".ci/venv" not in run_script and ".e2e" not in run_script
    install = (REPO_ROOT / ".ci" / "install-claude.sh").read_text()
    assert 'PREFIX="${CAIRN_E2E_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/cairn-ci/claude-${CLAUDE_VERSION}}"' in install
