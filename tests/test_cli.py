"""The `cairn` command line, in-process through `cli.main(argv)` and as real
subprocesses (one process creates and advances a workflow, another resumes it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn.manager import CheckpointManager
from test_cli_support import no_claude_session, run, run_json

__all__ = ["no_claude_session"]  # autouse: every test here runs as in a terminal

ARTIFACTS = Path(__file__).parents[1] / "lib" / "cairn" / "data" / "examples"
Sub = Callable[..., "subprocess.CompletedProcess[str]"]


def place(root: Path, wid: str, name: str, **overrides: object) -> Path:
    data = json.loads((ARTIFACTS / name).read_text())
    data["workflow_id"] = wid
    data.update(overrides)
    dest = root / wid / name
    dest.write_text(json.dumps(data))
    return dest


@pytest.fixture
def d(root: Path) -> list[str]:
    return ["--dir", str(root)]


def test_start_checkpoint_list_resume(capsys: pytest.CaptureFixture[str], root: Path,
                                      d: list[str]) -> None:
    code, out = run_json(capsys, *d, "start", "add a dry-run flag", "--id", "wf-cli", "--json")
    assert code == 0 and out["workflow_id"] == "wf-cli" and out["status"] == "pending"
    assert out["stages"][0] == "orchestrator" and len(out["stages"]) == 8
    assert out["agents"]["orchestrator"] == "cairn:orchestrator" and list(out["agents"]) == out["stages"]
    assert out["folder"] == str(root / "wf-cli")
    place(root, "wf-cli", "manifest.json")
    code, out = run_json(capsys, *d, "checkpoint", "wf-cli", "--agent", "orchestrator", "--json")
    assert code == 0 and out["completed_agents"] == ["orchestrator"]
    assert out["next_agent"] == "researcher" and out["seq"] == 2
    assert set(out["artifacts"]) == {"manifest.json"}

    code, rows = run_json(capsys, *d, "list", "--json")
    assert code == 0 and len(rows) == 1
    row = rows[0]
    for key in ("workflow_id", "status", "completed_agents", "next_agent", "progress", "updated_at"):
        assert key in row
    assert row["workflow_id"] == "wf-cli" and row["status"] == "running"
    assert row["next_agent"] == "researcher" and row["completed_agents"] == ["orchestrator"]
    assert row["progress"] == {"completed": 1, "total": 8, "percent": 12}

    code, out = run_json(capsys, *d, "validate", "wf-cli", "--json")
    assert code == 0 and out["valid"] is True and out["problems"] == []

    run(capsys, *d, "pause", "wf-cli")
    code, out = run_json(capsys, *d, "resume", "wf-cli", "--json")
    assert code == 0
    assert out["workflow_id"] == "wf-cli" and out["next_agent"] == "researcher"
    assert out["completed_agents"] == ["orchestrator"] and out["can_resume"] is True
    assert out["remaining_agents"][0] == "researcher" and len(out["remaining_agents"]) == 7
    assert "cairn:researcher" in out["context"] and out["status"] == "running"

    code, out = run_json(capsys, *d, "resume", "latest", "--json")
    assert code == 0 and out["workflow_id"] == "wf-cli"


def test_plain_output(capsys: pytest.CaptureFixture[str], root: Path, d: list[str]) -> None:
    code, out, _ = run(capsys, *d, "start", "plain")
    wid = out.strip()
    assert code == 0 and (root / wid / "checkpoint.json").is_file()
    code, out, _ = run(capsys, *d, "list")
    assert code == 0 and wid in out and "pending" in out
    code, out, _ = run(capsys, *d, "resume", wid, "--dry-run")
    assert code == 0 and out.rstrip().endswith("</cairn-resume-context>")
    assert CheckpointManager(root).load(wid).status.value == "pending"
    code, out, _ = run(capsys, *d, "show", wid, "--json")
    shown = json.loads(out)
    assert code == 0 and shown["history"][0] == {"seq": 1, "type": "created", "at": shown["created_at"],
                                                        "session_id": None}
    assert shown == json.loads((root / wid / "checkpoint.json").read_text())  # the projection itself
    code, out, _ = run(capsys, *d, "cancel", wid)
    assert code == 0 and "cancelled" in out
    code, out, _ = run(capsys, *d, "list")
    assert wid not in out
    code, out, _ = run(capsys, *d, "list", "--all", "--status", "cancelled")
    assert wid in out


def test_validate_reports_problems_with_exit_1(capsys: pytest.CaptureFixture[str], root: Path,
                                               d: list[str]) -> None:
    run(capsys, *d, "start", "x", "--id", "wf-v")
    place(root, "wf-v", "manifest.json")
    run(capsys, *d, "checkpoint", "wf-v", "--agent", "orchestrator")
    (root / "wf-v" / "manifest.json").write_text("{}")
    code, out = run_json(capsys, *d, "validate", "wf-v", "--json")
    assert code == 1 and out["valid"] is False
    assert out["problems"][0]["code"] == "artifact_modified"
    assert set(out["problems"][0]) >= {"code", "path", "message"}
    assert out["problems"][0]["path"] == "wf-v/manifest.json"
    code, text, _ = run(capsys, *d, "validate", "wf-v")
    assert code == 1 and "[artifact_modified]" in text


def test_checkpoint_with_invalid_artifact_exits_1(capsys: pytest.CaptureFixture[str], root: Path,
                                                  d: list[str]) -> None:
    run(capsys, *d, "start", "x", "--id", "wf-bad")
    place(root, "wf-bad", "manifest.json", agent="someone-else")
    code, out, err = run(capsys, *d, "checkpoint", "wf-bad", "--agent", "orchestrator")
    assert code == 1 and out == ""
    assert "manifest.json" in err and "agent" in err and "fix:" in err
    code, _, err = run(capsys, *d, "checkpoint", "wf-bad", "--agent", "orchestrator", "--no-schema")
    assert code == 0


@pytest.mark.parametrize("argv", [
    ["--bogus"], ["start"], ["checkpoint", "wf-x"], ["list", "--nope"], ["frobnicate"], [],
    ["start", "x", "--id"], ["list", "--status", "finished"], ["list", "--status", ","],
])
def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str], d: list[str], argv: list[str]) -> None:
    code, _out, err = run(capsys, *d, *argv)
    assert code == 2
    assert err.strip()


def test_bad_flag_message_has_a_fix(capsys: pytest.CaptureFixture[str], d: list[str]) -> None:
    code, _, err = run(capsys, *d, "list", "--nope")
    assert code == 2 and "--nope" in err and "fix:" in err


def test_list_status_is_checked_and_listed(capsys: pytest.CaptureFixture[str], d: list[str]) -> None:
    code, out, err = run(capsys, *d, "list", "--status", "running,done")
    assert code == 2 and out == ""
    assert "unknown status done" in err
    assert "fix: choose from pending, running, paused, completed, failed, cancelled, stale" in err


def test_list_has_a_header_row(capsys: pytest.CaptureFixture[str], root: Path, d: list[str]) -> None:
    run(capsys, *d, "start", "first", "--id", "wf-1")
    run(capsys, *d, "start", "second", "--id", "wf-2")
    code, out, _ = run(capsys, *d, "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert lines[0].split() == ["WORKFLOW", "STATE", "PROGRESS", "STAGE", "LAST", "ACTIVITY", "REQUEST"]
    for line in lines[1:]:  # the columns line up under the header
        assert line.index("pending") == lines[0].index("STATE")
        assert line.index("not started") == lines[0].index("STAGE")
    assert {lines[1].split()[0], lines[2].split()[0]} == {"wf-1", "wf-2"}


@pytest.mark.parametrize("cmd", [["resume", "wf-ghost"], ["validate", "wf-ghost"], ["show", "wf-ghost"],
                                 ["pause", "wf-ghost"],
                                 ["checkpoint", "wf-ghost", "--agent", "orchestrator"]])
def test_unknown_id_exits_1_with_hint(capsys: pytest.CaptureFixture[str], d: list[str],
                                      cmd: list[str]) -> None:
    code, out, err = run(capsys, *d, *cmd)
    assert code == 1 and out == ""
    assert "wf-ghost" in err and "fix:" in err and "cairn list" in err


def test_invalid_id_is_usage_error(capsys: pytest.CaptureFixture[str], d: list[str]) -> None:
    code, _, err = run(capsys, *d, "start", "x", "--id", "../escape")
    assert code == 2 and "invalid workflow id" in err


def test_resume_latest_with_nothing(capsys: pytest.CaptureFixture[str], d: list[str]) -> None:
    code, _, err = run(capsys, *d, "resume", "latest")
    assert code == 1 and "fix:" in err


def test_resume_finished_workflow_exits_1(capsys: pytest.CaptureFixture[str], d: list[str]) -> None:
    run(capsys, *d, "start", "x", "--id", "wf-f")
    run(capsys, *d, "cancel", "wf-f")
    code, out = run_json(capsys, *d, "resume", "wf-f", "--json")
    assert code == 1 and out["can_resume"] is False


def test_default_dir_comes_from_project_env(capsys: pytest.CaptureFixture[str],
                                            _isolated_env: Path) -> None:
    code, _out, _ = run(capsys, "start", "env dir", "--id", "wf-env")
    assert code == 0
    assert (_isolated_env / ".claude" / "artifacts" / "wf-env" / "checkpoint.json").is_file()


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("cairn ")
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "Exit codes" in out


# ---------------------------------------------------------------- subprocesses


def test_one_process_advances_another_resumes(cairn_sub: Sub, root: Path) -> None:
    d = ["--dir", str(root)]
    r = cairn_sub(*d, "start", "cross-process work", "--json")
    assert r.returncode == 0, r.stderr
    wid = json.loads(r.stdout)["workflow_id"]
    for name, stage in (("manifest.json", "orchestrator"), ("research.json", "researcher")):
        place(root, wid, name)
        r = cairn_sub(*d, "checkpoint", wid, "--agent", stage)
        assert r.returncode == 0, r.stderr
    r = cairn_sub(*d, "resume", wid, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["next_agent"] == "planner"
    assert out["completed_agents"] == ["orchestrator", "researcher"]
    assert out["remaining_agents"][0] == "planner" and out["can_resume"] is True
    assert out["context"].endswith("</cairn-resume-context>")
    r = cairn_sub(*d, "list", "--json")
    assert json.loads(r.stdout)[0]["progress"] == {"completed": 2, "total": 8, "percent": 25}


def test_subprocess_exit_codes(cairn_sub: Sub, root: Path) -> None:
    d = ["--dir", str(root)]
    r = cairn_sub(*d, "resume", "wf-nowhere")
    assert r.returncode == 1 and "fix:" in r.stderr and r.stdout == ""
    r = cairn_sub(*d, "checkpoint")
    assert r.returncode == 2 and "fix:" in r.stderr
    r = cairn_sub(*d, "list", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []


@pytest.mark.skipif(shutil.which("cairn") is None, reason="console script not on PATH")
def test_console_script(root: Path) -> None:
    exe = shutil.which("cairn")
    assert exe is not None
    r = subprocess.run([exe, "--dir", str(root), "list", "--json"], capture_output=True, text=True,
                       check=False, timeout=60)
    assert r.returncode == 0 and json.loads(r.stdout) == []
