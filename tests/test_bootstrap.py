"""The plugin sets up the CLI's Python packages in CLAUDE_PLUGIN_DATA in the background,
never blocking a session; the hooks never need them, so offline nothing is lost and
nothing is said at every session start."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

from cairn.manager import CheckpointManager

REPO = Path(__file__).resolve().parents[1]
RUN_SH = REPO / "hooks" / "run.sh"
STAMP = "deps-4"
EXAMPLES = REPO / "lib" / "cairn" / "data" / "examples"


def _offline_env(tmp_path: Path, data: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"),
        "CLAUDE_PROJECT_DIR": str(tmp_path / "project"), "CLAUDE_PLUGIN_DATA": str(data),
        # No index reachable: pip fails at once, as on a machine without network.
        "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_NO_CACHE_DIR": "1", "PIP_RETRIES": "0", "PIP_TIMEOUT": "2",
    }


def _hook(event: str, env: dict[str, str], **fields: object) -> subprocess.CompletedProcess[str]:
    payload = json.dumps({"session_id": "s-1", "cwd": env["CLAUDE_PROJECT_DIR"], **fields})
    return subprocess.run(["/bin/sh", str(RUN_SH), event], input=payload, env=env,
                          capture_output=True, text=True, timeout=60)


def _wait_for(path: Path, seconds: float = 120) -> bool:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a condition with a deadline
    return path.exists()


def test_offline_the_set_up_fails_quietly_and_stages_are_still_recorded(tmp_path: Path) -> None:
    data = tmp_path / "plugin-data"
    project = tmp_path / "project"
    project.mkdir()
    env = _offline_env(tmp_path, data)
    m = CheckpointManager(project / ".claude" / "artifacts", project_dir=project)
    wid = m.create("offline work", session_id="s-1").workflow_id
    started = time.monotonic()
    first = _hook("session-start", env, source="startup")
    assert time.monotonic() - started < 10, "SessionStart must not wait for the set-up"
    assert first.returncode == 0 and "Traceback" not in first.stdout
    assert json.loads(first.stdout)["hookSpecificOutput"]["additionalContext"].startswith("<cairn-resume")
    # the set-up runs in the background and fails offline, while a stage completes meanwhile
    dest = m.workflow_dir(wid) / "manifest.json"
    manifest = json.loads((EXAMPLES / "manifest.json").read_text())
    dest.write_text(json.dumps({**manifest, "workflow_id": wid}))
    agent = {"agent_id": "agent-offline", "agent_type": "cairn:orchestrator"}
    assert _hook("subagent-start", env, **agent).returncode == 0
    stop = _hook("subagent-stop", env, stop_hook_active=False, **agent)
    assert stop.returncode == 0 and stop.stdout == "", stop.stdout
    assert m.load(wid).completed_agents == ["orchestrator"]
    assert _wait_for(data / f"{STAMP}.failed"), (data / "bootstrap.log").read_text()
    assert not (data / f"{STAMP}.ok").exists()
    # the next session retries, still without a word and without waiting
    again = _hook("session-start", env, source="startup", session_id="s-2")
    assert again.returncode == 0 and "Cairn" in again.stdout and "install" not in again.stdout


def test_ready_packages_skip_the_set_up(tmp_path: Path) -> None:
    data = tmp_path / "plugin-data"
    data.mkdir()
    (data / f"{STAMP}.ok").write_text("ok\n")
    (tmp_path / "project").mkdir()
    proc = _hook("session-start", _offline_env(tmp_path, data), source="startup")
    assert proc.returncode == 0 and proc.stdout == ""
    assert not (data / "bootstrap.log").exists() and not (data / "bootstrap.lock").exists()


def test_the_set_up_installs_what_the_cli_imports() -> None:
    """hooks/requirements.txt (what bootstrap.py installs) equals pyproject's dependencies,
    and both stamps (run.sh, bin/cairn) name the same set-up."""
    import re

    import pytest

    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python 3.11+")
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    listed = [line.strip() for line in (REPO / "hooks" / "requirements.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert sorted(listed) == sorted(deps)
    stamps = {re.search(r"deps-\d+", (REPO / path).read_text()).group(0)  # type: ignore[union-attr]
              for path in ("hooks/run.sh", "bin/cairn", "hooks/hooks.json")}
    assert stamps == {STAMP}
