"""The CLI on a bare interpreter (Claude Code installs no package for a plugin, and
bin/cairn may run on a plain python3): every command works on the standard library
alone when the project has no cairn.yaml; a package a command does need is named in one
line with what to do. Also: a closed output pipe ends a command quietly, and bin/cairn
picks the plugin's virtualenv only when its dependencies stamp (deps-4) is there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.manager import CheckpointManager
from test_cli_support import REPO, cli_env, no_claude_session, run_cairn, write_artifact

__all__ = ["no_claude_session"]  # autouse: every test here runs as in a terminal

BARE = (sys.executable, "-S")  # no site-packages: no pydantic, jsonschema, PyYAML


def bare(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cairn(*args, python=BARE, env={"CAIRN_SITE": ""})


@pytest.fixture(scope="module", autouse=True)
def _bare_has_no_packages() -> None:
    for name in ("yaml", "pydantic", "jsonschema"):
        probe = subprocess.run([*BARE, "-c", f"import {name}"], capture_output=True, check=False)
        if probe.returncode == 0:
            pytest.skip(f"{name} is importable without site-packages here")


def test_every_command_runs_on_the_standard_library(root: Path, project: Path) -> None:
    d = ["--dir", str(root)]

    def ok(*args: str, code: int = 0) -> str:
        r = bare(*d, *args)
        assert r.returncode == code, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr, args
        return r.stdout

    wid = json.loads(ok("start", "bare interpreter", "--json"))["workflow_id"]
    mgr = CheckpointManager(root)
    write_artifact(mgr, wid, "orchestrator")
    assert "orchestrator completed" in ok("checkpoint", wid, "--agent", "orchestrator")
    assert wid in ok("list") and wid in ok("list", "--all", "--json")
    assert "Active (1)" in ok("status") and "Checkpoint history (2)" in ok("status", wid)
    assert json.loads(ok("show", wid))["seq"] == 2
    r = bare(*d, "validate", wid)
    assert r.returncode == 0 and f"{wid}: valid (1 artifacts checked)" in r.stdout
    assert r.stderr.strip() == ("note: checkpoint.json format not checked: the Python package jsonschema is "
                                "not installed here")
    assert json.loads(ok("validate", wid, "--json"))["checkpoint_format"] == "not checked"
    ok("pause", wid)
    assert "</cairn-resume-context>" in ok("resume", wid, "--dry-run")
    assert json.loads(ok("resume", wid, "--from", "orchestrator", "--json"))["next_agent"] == "orchestrator"
    assert "## Execution Log" in ok("log", wid)
    assert "Cairn history" in ok("history")
    assert "Everything is in order." in ok("doctor")
    assert "cairn watch: frame 1" in ok("watch", "--max-frames", "1")
    assert "researcher will wait for approval" in ok("pause", wid, "--before", "researcher")
    assert "researcher approved" in ok("approve", wid, "--feedback", "fine")
    ok("cancel", wid)
    assert "Would remove 1 workflow(s)" in ok("cleanup", "--older-than", "0d", "--dry-run")
    assert "Removed 1 workflow(s)" in ok("cleanup", "--older-than", "0d")
    assert ok("--version").startswith("cairn ")


def test_a_missing_package_is_one_line(root: Path, project: Path) -> None:
    (project / ".claude" / "cairn.yaml").write_text("settings:\n  expiry_days: 3\n")
    r = bare("--dir", str(root), "start", "needs yaml")
    assert r.returncode == 3 and r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "pyyaml" in lines[0] and ".claude/cairn.yaml" in lines[0] and "pip install pyyaml" in lines[0]
    assert "bin/cairn" in lines[0]
    assert not (root / "cairn.db").exists() or CheckpointManager(root).list_workflows() == []


def test_the_panel_names_its_missing_package(root: Path) -> None:
    r = bare("--dir", str(root), "ui")
    assert r.returncode == 3 and r.stdout == "", r
    [line] = r.stderr.strip().splitlines()
    assert "for `cairn ui`" in line and "pip install uvicorn" in line, line


def test_a_project_schema_is_pending_on_a_bare_interpreter_then_settled(root: Path, project: Path) -> None:
    """Recorded where no validator exists: the check is pending; the next command that
    has jsonschema (here `cairn validate`) checks it and records the outcome."""
    schemas = project / ".claude" / "schemas"
    schemas.mkdir()
    (schemas / "manifest.schema.json").write_text(
        (REPO / "lib" / "cairn" / "data" / "schemas" / "manifest.schema.json").read_text())
    mgr = CheckpointManager(root)
    mgr.create("pending", workflow_id="wf-p")
    write_artifact(mgr, "wf-p", "orchestrator")
    r = bare("--dir", str(root), "checkpoint", "wf-p", "--agent", "orchestrator", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["schema_pending"] == ["manifest.json"]
    assert mgr.load("wf-p").artifacts["manifest.json"].check == "pending"
    r = run_cairn("--dir", str(root), "validate", "wf-p", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["schema_pending"] == [] and out["checkpoint_format"] == "ok"
    wf = mgr.load("wf-p")
    assert wf.artifacts["manifest.json"].check == "ok" and wf.audit[-1].action == "schema_check"


def test_a_closed_pipe_ends_quietly(root: Path) -> None:
    mgr = CheckpointManager(root)
    mgr.create("pipe", workflow_id="wf-pipe")
    write_artifact(mgr, "wf-pipe", "orchestrator")
    mgr.record_completion("wf-pipe", "orchestrator")
    (root / "wf-pipe" / "manifest.json").write_text("{}")  # a problem to print
    for args in (["validate", "wf-pipe"], ["status", "wf-pipe"], ["list", "--json"], ["show", "wf-pipe"]):
        proc = subprocess.Popen([sys.executable, "-m", "cairn", "--dir", str(root), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=cli_env())
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # the reader is gone before the first byte (`| head -0`)
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 0, (args, err)
        assert err == "", (args, err)
    r = subprocess.run(["sh", "-c", f'"{sys.executable}" -m cairn --dir "{root}" validate wf-pipe | head -1'],
                       capture_output=True, text=True, env=cli_env(), timeout=60, check=False)
    assert r.stdout == "wf-pipe: 1 problem(s)\n" and r.stderr == ""


def fake_venv(data: Path) -> None:
    """A `venv/bin/python` under CLAUDE_PLUGIN_DATA that says it was used."""
    py = data / "venv" / "bin" / "python"
    py.parent.mkdir(parents=True)
    py.write_text('#!/bin/sh\necho "venv python: $*"\n')
    py.chmod(0o755)


def test_bin_cairn_uses_the_venv_only_with_its_deps_stamp(tmp_path: Path, root: Path) -> None:
    data = tmp_path / "plugin-data"
    fake_venv(data)
    env = {k: v for k, v in cli_env().items() if k != "PYTHONPATH"}
    env["CLAUDE_PLUGIN_DATA"] = str(data)
    cmd = ["sh", str(REPO / "bin" / "cairn"), "--dir", str(root), "list", "--json"]
    (data / "deps-1.ok").touch()  # an older stamp: the venv may lack what this version needs
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert r.returncode == 0 and json.loads(r.stdout) == [], r.stderr  # python3 ran the real CLI
    (data / "deps-4.ok").touch()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert r.returncode == 0 and r.stdout.startswith("venv python: -m cairn --dir"), r.stderr


def test_requirements_and_dependencies_have_no_watchdog() -> None:
    req = (REPO / "hooks" / "requirements.txt").read_text()
    pyproject = (REPO / "pyproject.toml").read_text()
    assert "watchdog" not in req and "watchdog" not in pyproject
    assert os.access(REPO / "bin" / "cairn", os.R_OK)
