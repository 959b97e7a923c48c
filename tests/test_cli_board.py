"""What a person sees: the dashboard (plain and drawn with rich), the resume picker and
`cairn list` as golden files at a frozen time, over a fleet with every live-or-dead state
(`board_support.build_board`); the liveness rules themselves; and the defects of issue 12
(list --status, a closed pipe, pause of a pending workflow, a byte-stable log)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta, timezone
from pathlib import Path

import pytest
from freezegun import freeze_time

from board_support import DEAD_PID, LONG_ERROR, build_board
from cairn import boardtext, dashboard, liveness
from cairn.cmd import picker
from cairn.cmd.status import list_rows, render_list
from cairn.lease import new_lease
from cairn.manager import CheckpointManager
from cairn.status import INTERRUPTED_PREFIX, Status
from test_cli_support import NOW, cli_env, golden, no_claude_session, run, run_json

__all__ = ["no_claude_session"]  # autouse: every test here runs as in a terminal

UTC_NOW = NOW.replace(tzinfo=timezone.utc)
ANSI = "\x1b["


@pytest.fixture
def board(mgr: CheckpointManager) -> dict[str, str]:
    return build_board(mgr)


def same_host(rows: list[dashboard.RowJSON]) -> None:
    """The machine's name stands in the rows (where a session ran): one name on every machine."""
    for r in rows:
        r["host"] = "ci-host" if r["host"] else None


def overview(mgr: CheckpointManager) -> dashboard.OverviewJSON:
    data = dashboard.overview(mgr, now=UTC_NOW)
    data["root"] = "<root>"
    for rows in data["sections"].values():
        same_host(rows)
    return data


# ---------------------------------------------------------------------- goldens
def test_dashboard_plain_golden(mgr: CheckpointManager, board: dict[str, str]) -> None:
    text = boardtext.render_overview(overview(mgr))
    golden("board-plain.txt", text)
    assert text.isascii() and ANSI not in text
    assert text.startswith("Cairn status: 1 executing, 1 pending, 3 interrupted, 1 paused, 2 failed, 1 stale, "
                           "1 completed today\n")
    assert "Success rate: 50% (2/4 finished workflows completed; 1 cancelled, not counted)" in text


def test_dashboard_plain_coloured_golden(mgr: CheckpointManager, board: dict[str, str]) -> None:
    text = boardtext.render_overview(overview(mgr), color=True)
    golden("board-plain-color.txt", text)
    assert "\x1b[33minterrupted\x1b[0m" in text


def test_dashboard_rich_golden(mgr: CheckpointManager, board: dict[str, str]) -> None:
    pytest.importorskip("rich", reason="rich draws the terminal dashboard (pip install -e '.[dev]')")
    from cairn.cmd.board import render

    data = overview(mgr)
    text = render(data, width=132, color_system="standard")
    golden("board-rich.ansi", text)
    assert ANSI in text and "╭" in text
    assert "Interrupted (3)" in text and "Active (2)" in text and "Paused (1)" in text
    assert "research.json" in text  # a long error is wrapped in its cell, not cut
    narrow = render(data, width=80, color_system="standard")
    golden("board-rich-80.ansi", narrow)
    visible = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in narrow.splitlines()]
    assert max(len(line) for line in visible) <= 80  # compact tables, details under them
    assert any(line.startswith("  wf-broken error: researcher failed") for line in visible)


def test_dashboard_json_states(mgr: CheckpointManager, board: dict[str, str]) -> None:
    data = overview(mgr)
    state = {r["workflow_id"]: (r["state"], r["session_id"]) for rows in data["sections"].values() for r in rows}
    assert state["wf-live"] == ("executing", "sess-live-0003")
    assert state["wf-killed"] == ("interrupted", "sess-killed-0001")
    assert state["wf-ended"] == ("interrupted", "sess-ended-0002")
    assert state["wf-running"] == ("interrupted", None)
    assert state["wf-new"] == ("pending", None)
    assert state["wf-paused"] == ("paused", None)
    killed = next(r for r in data["sections"]["interrupted"] if r["workflow_id"] == "wf-killed")
    assert killed["status"] == "running" and killed["agent_role"] == "last"
    assert killed["state_reason"] == (f"session sess-killed- ended without a clean stop: its process (pid {DEAD_PID}) "
                                      "is gone")
    assert data["completed_today"] == 1 and data["counts"]["completed"] == 2


def test_picker_golden(mgr: CheckpointManager, board: dict[str, str]) -> None:
    with freeze_time(NOW):
        found = picker.choices(mgr)
    same_host([c.row for c in found])
    now = dashboard.iso(UTC_NOW) or ""
    text = picker.render(found, "<root>", now)
    golden("picker.txt", text)
    colored = picker.render(found, "<root>", now, color=True)
    golden("picker-color.txt", colored)
    assert text.isascii() and ANSI not in text and ANSI in colored
    heads = [line for line in text.splitlines() if line.endswith(":") and not line.startswith(" ")]
    assert heads == ["Workflows to resume in <root>:", "Active:", "Interrupted:", "Paused / failed:"]
    numbered = [line.split()[1] for line in text.splitlines() if line[:3].strip().rstrip(".").isdigit()]
    # by group, then as `resumable()` orders them (the one the store changed last first)
    assert numbered == ["wf-new", "wf-live", "wf-ended", "wf-killed", "wf-running", "wf-broken", "wf-paused",
                        "wf-stale", "wf-failed"]
    flat = " ".join(line.strip() for line in text.splitlines())
    assert f"Error: {LONG_ERROR}" in flat  # in full, over several lines
    assert max(len(line) for line in text.splitlines()) <= picker.WIDTH
    assert picker.prompt(len(found)) == "Select workflow to resume [1-9]: "


def test_list_golden(mgr: CheckpointManager, board: dict[str, str]) -> None:
    with freeze_time(NOW):
        rows = list_rows(mgr, [], True)
    golden("list.txt", render_list(rows, now=UTC_NOW))
    colored = render_list(rows, now=UTC_NOW, color=True)
    golden("list-color.txt", colored)
    lines = render_list(rows, now=UTC_NOW).splitlines()
    assert lines[0].split() == ["WORKFLOW", "STATE", "PROGRESS", "STAGE", "LAST", "ACTIVITY", "REQUEST"]
    stage_col = lines[0].index("STAGE")
    killed = next(line for line in lines if line.startswith("wf-killed "))
    assert killed[stage_col:].startswith("last: planner")  # the same stage column as status


# ---------------------------------------------------------------------- liveness rules
def test_a_running_workflow_is_judged_by_its_lease_then_its_heartbeats() -> None:
    now = UTC_NOW
    live = new_lease("s-live", 1, now)
    gone = new_lease("s-gone", DEAD_PID, now)
    judge = liveness.judge
    assert judge(Status.RUNNING, None, lease=live, session=None, last_activity=now, now=now).state == "executing"
    dead = judge(Status.RUNNING, None, lease=gone, session=("s-gone", now), last_activity=now, now=now)
    assert dead.state == "interrupted" and "without a clean stop" in (dead.reason or "")
    heard = judge(Status.RUNNING, None, lease=None, session=("s1", now - timedelta(minutes=5)),
                  last_activity=now - timedelta(minutes=5), now=now)
    assert heard.state == "executing" and heard.session_id == "s1"
    silent = judge(Status.RUNNING, None, lease=None, session=("s1", now - timedelta(hours=2)),
                   last_activity=now - timedelta(hours=2), now=now)
    assert silent.state == "interrupted" and "not heard from since 2 hours ago" in (silent.reason or "")
    unclaimed = judge(Status.RUNNING, None, lease=None, session=None, last_activity=now, now=now)
    assert unclaimed.state == "pending"
    ended = judge(Status.PAUSED, INTERRUPTED_PREFIX + "the Claude session ended (reason: clear)",
                  lease=None, session=("s1", now), last_activity=now, now=now)
    assert (ended.state, ended.reason) == ("interrupted", "the Claude session ended (reason: clear)")
    assert judge(Status.PAUSED, "paused by user", lease=None, session=None, last_activity=now,
                 now=now).state == "paused"


def test_session_end_pauses_in_the_words_the_dashboard_reads(mgr: CheckpointManager, root: Path) -> None:
    from cairn import hooks

    mgr.create("ended", workflow_id="wf-end")
    mgr.record_start("wf-end", "orchestrator", session_id="sess-end")
    hooks.run("session-end", b'{"session_id": "sess-end", "reason": "logout"}',
              {"CLAUDE_PROJECT_DIR": str(root.parent.parent)})
    wf = mgr.load("wf-end")
    assert wf.status == Status.PAUSED
    with mgr.store.read() as r:
        judged = liveness.of(r, root, wf, UTC_NOW)
    assert judged.state == "interrupted" and judged.reason == "the Claude session ended (reason: logout)"


# ---------------------------------------------------------------------- issue 12's defects
def test_list_status_accepts_display_states_and_refuses_unknown_ones(
        capsys: pytest.CaptureFixture[str], root: Path, mgr: CheckpointManager, board: dict[str, str]) -> None:
    d = ["--dir", str(root)]
    with freeze_time(NOW):
        code, rows = run_json(capsys, *d, "list", "--status", "interrupted", "--json")
    assert code == 0 and {r["workflow_id"] for r in rows} == {"wf-killed", "wf-ended", "wf-running"}
    assert all(isinstance(r["completed_agents"], list) for r in rows)
    with freeze_time(NOW):
        code, rows = run_json(capsys, *d, "list", "--status", "executing", "--json")
    assert [r["workflow_id"] for r in rows] == ["wf-live"]
    code, out, err = run(capsys, *d, "list", "--status", "bogus")
    assert code == 2 and out == ""
    assert "unknown status bogus" in err and "interrupted" in err and "pending, running" in err


def test_every_command_survives_a_closed_pipe(root: Path, mgr: CheckpointManager, board: dict[str, str]) -> None:
    for args in (["status"], ["list", "--all"], ["resume", "wf-paused", "--dry-run"], ["log", "wf-done"],
                 ["history"], ["validate", "wf-done"]):
        r = subprocess.run(["sh", "-c", f'"{sys.executable}" -m cairn --dir "{root}" "$@" | head -1', "sh", *args],
                           capture_output=True, text=True, env=cli_env(), timeout=60, check=False)
        assert r.returncode == 0 and r.stderr == "", (args, r.stderr)
        assert len(r.stdout.splitlines()) == 1, args


def test_pause_accepts_a_pending_workflow(capsys: pytest.CaptureFixture[str], root: Path,
                                          mgr: CheckpointManager) -> None:
    mgr.create("not started", workflow_id="wf-p")
    code, data = run_json(capsys, "--dir", str(root), "pause", "wf-p", "--json")
    assert code == 0 and data["status"] == "paused"


def test_log_append_to_is_byte_stable_while_running(capsys: pytest.CaptureFixture[str], root: Path,
                                                    mgr: CheckpointManager, tmp_path: Path) -> None:
    from test_cli_support import complete_stage

    mgr.create("still running", workflow_id="wf-l")
    complete_stage(mgr, "wf-l", "orchestrator")
    mgr.record_start("wf-l", "researcher")
    target = tmp_path / "NOTES.md"
    target.write_text("# Notes\n")
    with freeze_time(UTC_NOW + timedelta(days=400)):
        assert run(capsys, "--dir", str(root), "log", "wf-l", "--append-to", str(target))[0] == 0
    first = target.read_bytes()
    with freeze_time(UTC_NOW + timedelta(days=401, hours=3)):
        assert run(capsys, "--dir", str(root), "log", "wf-l", "--append-to", str(target))[0] == 0
    assert target.read_bytes() == first


# ---------------------------------------------------------------------- the pick, in a real terminal
class Pane:
    """A tmux server of its own (`-L`), one pane running a command; read with capture-pane."""

    def __init__(self, command: str, *, width: int = 120, height: int = 80) -> None:
        import os

        self.sock = f"cairn-test-{os.getpid()}"
        subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", "new-session", "-d", "-s", "pick", "-x",
                        str(width), "-y", str(height), command], check=True, timeout=10)

    def screen(self) -> str:
        return subprocess.run(["tmux", "-L", self.sock, "capture-pane", "-p", "-J", "-S", "-400", "-t", "pick"],
                              capture_output=True, text=True, check=False, timeout=10).stdout

    def wait_for(self, needle: str, timeout: float = 30) -> str:
        import time

        deadline = time.monotonic() + timeout
        text = ""
        while time.monotonic() < deadline:
            text = self.screen()
            if needle in text:
                return text
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} did not appear within {timeout}s; the pane shows:\n{text}")

    def keys(self, *keys: str) -> None:
        subprocess.run(["tmux", "-L", self.sock, "send-keys", "-t", "pick", *keys], check=True, timeout=10)

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.sock, "kill-server"], capture_output=True, check=False, timeout=10)


@pytest.mark.skipif(__import__("shutil").which("tmux") is None, reason="tmux is not installed")
def test_the_pick_in_a_real_terminal(root: Path, mgr: CheckpointManager, board: dict[str, str]) -> None:
    from test_cli_support import LIB

    script = (f"env -u CLAUDE_CODE_SESSION_ID -u CLAUDE_PID PYTHONPATH={LIB} NO_COLOR=1 "
              f"{sys.executable} -m cairn --dir {root} resume; echo EXIT=$?; sleep 60")
    pane = Pane(script)
    try:
        screen = pane.wait_for("Select workflow to resume [1-9]: ")
        for head in ("Active:", "Interrupted:", "Paused / failed:", " 4. wf-killed [INTERRUPTED - 25% complete]",
                     "Last checkpoint: planner started", "Started: 2025-03-03 07:28", "nothing was written to "
                     "research.json"):
            assert head in screen, head
        pane.keys("12", "Enter")
        pane.wait_for("please type a number from 1 to 9")
        pane.keys("4", "Enter")
        screen = pane.wait_for("EXIT=")
        assert "EXIT=0" in screen
        after = screen[screen.index("please type a number"):]
        assert "Resumed wf-killed" in after and "Next stage: planner" in after
        assert "To continue, run this in Claude Code" in after and "/cairn:resume wf-killed" in after
        assert "<cairn-resume-context" not in screen  # the model's context is not for the person
    finally:
        pane.close()
    assert mgr.load("wf-killed").status == Status.RUNNING
    assert mgr.load("wf-paused").status == Status.PAUSED


@pytest.mark.skipif(__import__("shutil").which("tmux") is None, reason="tmux is not installed")
def test_watch_live_display_redraws_once_per_change(root: Path, mgr: CheckpointManager) -> None:
    pytest.importorskip("rich", reason="rich draws the live display (pip install -e '.[dev]')")
    from test_cli_support import LIB, run_cairn, write_artifact

    mgr.create("watch me live", workflow_id="wf-w")
    pane = Pane(f"env PYTHONPATH={LIB} TERM=xterm-256color COLUMNS=120 {sys.executable} -m cairn --dir {root} watch "
                "--interval 600; echo EXIT=$?; sleep 60", height=60)
    try:
        screen = pane.wait_for("cairn watch: frame 1 ")
        assert "╭" in pane.wait_for("Active (1)") and "wf-w" in screen
        for args in (["status"], ["list", "--json"], ["status", "wf-w"]):  # reads by others: no frame
            assert run_cairn("--dir", str(root), *args).returncode == 0
        write_artifact(mgr, "wf-w", "orchestrator")
        assert run_cairn("--dir", str(root), "checkpoint", "wf-w", "--agent", "orchestrator").returncode == 0
        screen = pane.wait_for("cairn watch: frame 2 ")  # the reads above drew nothing
        assert "12%" in screen and "0%" not in screen
        import time

        deadline = time.monotonic() + 1.5  # no commit since: no frame (the watcher's own reads wake nothing)
        while time.monotonic() < deadline:
            assert "cairn watch: frame 3 " not in pane.screen()
            time.sleep(0.1)
        pane.keys("C-c")
        assert "EXIT=0" in pane.wait_for("EXIT=")
    finally:
        pane.close()


def test_a_terminal_without_rich_gets_the_plain_dashboard(capsys: pytest.CaptureFixture[str], root: Path,
                                                          mgr: CheckpointManager, board: dict[str, str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """bin/cairn may run on a bare python3 before the plugin's virtualenv has rich."""
    import builtins

    real_import = builtins.__import__

    def no_rich(name: str, *args: object, **kwargs: object) -> object:
        if name == "rich" or name.startswith("rich."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_rich)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    with freeze_time(NOW):
        code, out, err = run(capsys, "--dir", str(root), "status")
    assert code == 0 and err == ""
    assert out.startswith("Cairn status: 1 \x1b[32mexecuting\x1b[0m") and "╭" not in out


def test_hostile_text_reaches_no_terminal_as_control_codes(mgr: CheckpointManager) -> None:
    """A request or an error is data: no escape sequence of it reaches the terminal (only
    the colours Cairn asks for), and rich does not read it as markup."""
    pytest.importorskip("rich", reason="rich draws the terminal dashboard (pip install -e '.[dev]')")
    from cairn.cmd.board import render

    mgr.create("clear \x1b[2J\x1b]0;pwned\x07 [bold red]shout[/] now", workflow_id="wf-h")
    mgr.record_start("wf-h", "orchestrator")
    mgr.record_failure("wf-h", "orchestrator", "boom \x1b[31m[link=file:///etc/passwd]x[/link]\r\nsecond line")
    data = overview(mgr)
    shown = {"rich": render(data, width=200, color_system="standard"), "plain": boardtext.render_overview(data),
             "picker": picker.render(picker.choices(mgr), "<root>", data["generated_at"] or "", color=True)}
    for name, text in shown.items():
        own = re.sub(r"\x1b\[[0-9;]*m", "", text)  # the colours and styles Cairn asks for
        assert not any(c in own for c in "\x1b\x07\r"), (name, own)
        assert "red]shout[/]" in own and "[link=file:///etc/passwd]x[/link]" in own, name  # shown, not read
