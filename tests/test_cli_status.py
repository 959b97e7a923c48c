"""`cairn status`, `cairn list`, `cairn show`: golden dashboards, the --json shapes,
plain ASCII off a terminal."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from freezegun import freeze_time

from cairn.manager import CheckpointManager
from test_cli_support import NOW, build_fleet, golden, no_claude_session, run, run_json

__all__ = ["no_claude_session"]  # autouse: every test here runs as in a terminal

Sub = Callable[..., "subprocess.CompletedProcess[str]"]
ROW_KEYS = {"workflow_id", "status", "state", "state_reason", "session_id", "request", "progress", "agent",
            "agent_role", "next_agents", "started_at", "last_checkpoint", "last_activity", "last_error",
            "waiting_for_approval", "host"}


@pytest.fixture
def fleet(mgr: CheckpointManager) -> dict[str, str]:
    return build_fleet(mgr)


def test_dashboard_golden(capsys: pytest.CaptureFixture[str], root: Path, fleet: dict[str, str]) -> None:
    with freeze_time(NOW):
        code, out, _ = run(capsys, "--dir", str(root), "status")
    assert code == 0
    golden("dashboard.txt", out.replace(str(root), "<root>"))
    assert out.isascii() and "\x1b" not in out


def test_dashboard_detail_golden(capsys: pytest.CaptureFixture[str], root: Path,
                                 fleet: dict[str, str]) -> None:
    with freeze_time(NOW):
        code, out, _ = run(capsys, "--dir", str(root), "status", "wf-failed", "--no-color")
    assert code == 0
    golden("status-detail.txt", out)
    assert out.isascii()


def test_status_json_shape(capsys: pytest.CaptureFixture[str], root: Path, fleet: dict[str, str]) -> None:
    with freeze_time(NOW):
        code, data = run_json(capsys, "--dir", str(root), "status", "--json")
    assert code == 0
    assert set(data) == {"generated_at", "root", "total", "counts", "states", "completed_today", "sections",
                         "success_rate", "average_completion_seconds"}
    assert data["generated_at"] == "2025-03-03T12:00:00Z"
    assert data["counts"] == {"pending": 0, "running": 1, "paused": 1, "completed": 1, "failed": 1,
                              "cancelled": 1, "stale": 1}
    assert list(data["sections"]) == ["running", "interrupted", "paused", "failed", "stale", "recently_completed"]
    assert [r["workflow_id"] for r in data["sections"]["paused"]] == ["wf-paused"]
    for rows in data["sections"].values():
        for r in rows:
            assert set(r) == ROW_KEYS
    # marked running, but no session has touched it for 11 hours: interrupted, not running
    assert data["sections"]["running"] == []
    running = data["sections"]["interrupted"][0]
    assert running["status"] == "running" and running["state"] == "interrupted"
    assert running["state_reason"] == "no Claude session has worked on it since 11 hours ago"
    assert running["agent"] == "implementer" and running["agent_role"] == "last"
    assert running["progress"] == {"completed": 4, "total": 8, "percent": 50}
    assert running["last_checkpoint"] == {"seq": 10, "checkpoint_type": "agent_start",
                                          "at": "2025-03-03T00:50:00Z", "label": "implementer started"}
    assert data["states"] == {"executing": 0, "pending": 0, "interrupted": 1, "paused": 1, "failed": 1,
                              "stale": 1}
    assert data["completed_today"] == 0
    failed = data["sections"]["failed"][0]
    assert failed["agent_role"] == "last" and "rate limit" in failed["last_error"]
    assert data["success_rate"] == 0.5  # completed / (completed + failed): cancelled is no failure
    assert data["average_completion_seconds"] == 8 * (5 * 60 + 30) - 30  # created -> last completion


def test_status_detail_json(capsys: pytest.CaptureFixture[str], root: Path, fleet: dict[str, str]) -> None:
    code, data = run_json(capsys, "--dir", str(root), "status", "wf-paused", "--json")
    assert code == 0
    assert {"workflow_id", "status", "status_reason", "request", "started_at", "last_activity",
            "progress", "agent", "agent_role", "last_error", "next_agents", "parameters", "stages",
            "history", "history_total", "cost", "hosts", "state", "state_reason", "session_id"} == set(data)
    assert data["state"] == "paused" and data["state_reason"] == "user closed the terminal"
    states = {s["stage"]: s["state"] for s in data["stages"]}
    assert states["orchestrator"] == "completed" and states["test-master"] == "interrupted"
    assert data["stages"][0] == {"stage": "orchestrator", "state": "completed", "attempts": 1,
                                 "duration_seconds": 240.0, "artifacts": ["manifest.json"],
                                 "last_error": None}
    assert [h["seq"] for h in data["history"]] == list(range(1, data["history_total"] + 1))
    assert data["history"][-1]["checkpoint_type"] == "pause"
    assert [h["status"] for h in data["history"][:3]] == ["pending", "running", "running"]
    assert data["history"][-1]["status"] == "paused"
    assert data["history_total"] == 1 + 2 * 3 + 1 + 1  # created, 3 stages, a start, the pause


def test_empty_dashboard(capsys: pytest.CaptureFixture[str], root: Path) -> None:
    code, out, _ = run(capsys, "--dir", str(root), "status")
    assert code == 0 and "0 executing," in out and "(0 in all)" in out
    assert 'No workflows yet: `/cairn:start "REQUEST"` in Claude Code' in out


def test_unknown_workflow_exits_1(capsys: pytest.CaptureFixture[str], root: Path) -> None:
    code, _, err = run(capsys, "--dir", str(root), "status", "wf-nope")
    assert code == 1 and "fix:" in err


def test_list_filters(capsys: pytest.CaptureFixture[str], root: Path, fleet: dict[str, str],
                      mgr: CheckpointManager) -> None:
    d = ["--dir", str(root)]
    _, rows = run_json(capsys, *d, "list", "--json")
    assert {r["workflow_id"] for r in rows} == {"wf-running", "wf-paused", "wf-stale", "wf-failed"}
    _, rows = run_json(capsys, *d, "list", "--all", "--json")
    assert len(rows) == 6
    _, rows = run_json(capsys, *d, "list", "--status", "completed,failed", "--json")
    assert {r["workflow_id"] for r in rows} == {"wf-done", "wf-failed"}
    code, out, _ = run(capsys, *d, "list", "--all")
    assert code == 0 and len(out.splitlines()) == 7 and "wf-done" in out and "100%" in out
    assert out.startswith("WORKFLOW ")
    _, rows = run_json(capsys, *d, "list", "--all", "--json")
    done = next(r for r in rows if r["workflow_id"] == "wf-done")
    assert done["completed_agents"] == mgr.project_pipeline().names and done["skipped_agents"] == []
    assert rows[0]["workflow_id"] == "wf-running"  # most recently active first


def test_show_json_when_piped_and_text_on_request(capsys: pytest.CaptureFixture[str], root: Path,
                                                  fleet: dict[str, str]) -> None:
    code, data = run_json(capsys, "--dir", str(root), "show", "wf-paused")
    assert code == 0 and data["workflow_id"] == "wf-paused" and data["version"] == "3.2"
    assert data["history"][0] == {"seq": 1, "type": "created", "at": "2025-03-02T21:08:30.000000Z",
                                  "session_id": None}
    assert any(a["action"] == "status:running->paused" for a in data["audit"])
    assert data == json.loads((root / "wf-paused" / "checkpoint.json").read_text())


def test_show_repairs_a_projection_that_is_behind(capsys: pytest.CaptureFixture[str], root: Path,
                                                  fleet: dict[str, str]) -> None:
    path = root / "wf-paused" / "checkpoint.json"
    path.write_text("{ damaged")
    code, out, err = run(capsys, "--dir", str(root), "show", "wf-paused", "--json")
    assert code == 0 and json.loads(out)["seq"] == 9
    assert "cairn: warning:" in err and "rewritten from the database" in err
    assert json.loads(path.read_text())["seq"] == 9


def test_subprocess_status_is_plain_ascii(cairn_sub: Sub, root: Path, fleet: dict[str, str]) -> None:
    proc = cairn_sub("--dir", str(root), "status")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and proc.stdout.isascii()
    assert "Paused (1)" in proc.stdout and "Interrupted (1)" in proc.stdout
    proc = cairn_sub("--dir", str(root), "status", "--json")
    assert json.loads(proc.stdout)["total"] == 6


def test_help_everywhere(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "Exit codes: 0 ok, 1" in out
    for cmd in ("status", "list", "show", "resume", "pause", "cancel", "log", "history",
                "cleanup", "watch"):
        code, out, _ = run(capsys, cmd, "--help")
        assert code == 0 and "usage: cairn " + cmd in out, cmd


def test_terminal_gets_rich_tables_and_show_gets_text(capsys: pytest.CaptureFixture[str], root: Path,
                                                      fleet: dict[str, str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    pytest.importorskip("rich", reason="rich draws the terminal dashboard (pip install -e '.[dev]')")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "120")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    with freeze_time(NOW):
        code, colored, _ = run(capsys, "--dir", str(root), "status")
        _, plain, _ = run(capsys, "--dir", str(root), "status", "--no-color")
    assert code == 0 and "\x1b[" in colored and "╭" in colored and "Interrupted (1)" in colored
    assert "\x1b" not in plain and plain.isascii() and plain.startswith("Cairn status: 0 executing, 1 interrupted")
    code, out, _ = run(capsys, "--dir", str(root), "show", "wf-paused", "--no-color")
    assert code == 0 and "Audit trail (" in out and "status:running->paused" in out
    assert "Checkpoint history" in out and not out.lstrip().startswith("{")
