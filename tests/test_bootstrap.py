"""The plugin sets up its own Python dependencies in CLAUDE_PLUGIN_DATA, never blocking
a session; offline, the person gets one clear line and the next session retries."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RUN_SH = REPO / "hooks" / "run.sh"


def _offline_env(tmp_path: Path, data: Path) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"),
        "CLAUDE_PROJECT_DIR": str(tmp_path / "project"), "CLAUDE_PLUGIN_DATA": str(data),
        # No index reachable: pip fails at once, as on a machine without network.
        "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_NO_CACHE_DIR": "1", "PIP_RETRIES": "0", "PIP_TIMEOUT": "2",
    }


def _session_start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    payload = json.dumps({"session_id": "s-1", "hook_event_name": "SessionStart",
                          "source": "startup", "cwd": env["CLAUDE_PROJECT_DIR"]})
    return subprocess.run(["sh", str(RUN_SH), "session-start"], input=payload, env=env,
                          capture_output=True, text=True, timeout=30)


def test_offline_bootstrap_reports_once_and_retries(tmp_path: Path) -> None:
    data = tmp_path / "plugin-data"
    (tmp_path / "project").mkdir()
    env = _offline_env(tmp_path, data)
    started = time.monotonic()
    first = _session_start(env)
    assert time.monotonic() - started < 5, "SessionStart must not wait for the install"
    assert first.returncode == 0 and first.stdout == ""
    deadline = time.monotonic() + 120
    while not (data / "deps-1.failed").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert (data / "deps-1.failed").exists(), (data / "bootstrap.log").read_text()
    assert not (data / "deps-1.ok").exists()

    second = _session_start(env)
    assert second.returncode == 0
    message = json.loads(second.stdout)["systemMessage"]
    assert "could not install its Python dependencies" in message
    assert str(data / "bootstrap.log") in message
    assert "\n" not in message
    # The report consumed the failure mark, and the session retried in the background:
    # the retry fails again, so the failure is reported again, once per attempt.
    assert (data / "deps-1.reported").exists()
    deadline = time.monotonic() + 120
    while not (data / "deps-1.failed").exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert (data / "bootstrap.log").read_text().count("bootstrap deps-1") == 2


def test_ready_dependencies_skip_the_bootstrap(tmp_path: Path) -> None:
    data = tmp_path / "plugin-data"
    data.mkdir()
    (data / "deps-1.ok").write_text("ok\n")
    (tmp_path / "project").mkdir()
    proc = _session_start(_offline_env(tmp_path, data))
    assert proc.returncode == 0 and proc.stdout == ""
    time.sleep(0.3)
    assert not (data / "bootstrap.log").exists()
    assert not (data / "venv").exists()
