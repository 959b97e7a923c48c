"""`cairn watch`: a real watcher process redraws once after another process commits, not
after reads, and stops cleanly on Ctrl+C (SIGINT); its poller sees commits of other
connections through `PRAGMA data_version`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from cairn.cmd.watch import Poller
from cairn.manager import CheckpointManager
from test_cli_support import cli_env, no_claude_session, run_cairn, write_artifact

__all__ = ["no_claude_session"]  # autouse: every test here runs as in a terminal


class Reader:
    """Collects a process's stdout on a thread so the test can wait with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.text = ""
        self._lock = threading.Lock()
        assert proc.stdout is not None
        self._stream = proc.stdout
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self._stream:
            with self._lock:
                self.text += line

    def now(self) -> str:
        with self._lock:
            return self.text

    def wait_for(self, needle: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.now():
                return self.now()
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} did not appear within {timeout}s; output:\n{self.now()}")


def frames(text: str) -> int:
    return text.count("cairn watch: frame ")


def test_watch_redraws_once_per_change(root: Path, mgr: CheckpointManager) -> None:
    mgr.create("watch me", workflow_id="wf-w")
    proc = subprocess.Popen([sys.executable, "-m", "cairn", "--dir", str(root), "watch", "wf-w",
                             "--interval", "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=cli_env())
    try:
        out = Reader(proc)
        first = out.wait_for("Checkpoint history (1)")
        assert "cairn watch: frame 1 " in first and frames(first) == 1
        # reads by other processes change nothing: no frame
        assert run_cairn("--dir", str(root), "status", "wf-w").returncode == 0
        assert run_cairn("--dir", str(root), "list", "--json").returncode == 0
        time.sleep(1.5)
        assert frames(out.now()) == 1
        write_artifact(mgr, "wf-w", "orchestrator")
        done = run_cairn("--dir", str(root), "checkpoint", "wf-w", "--agent", "orchestrator")
        assert done.returncode == 0, done.stderr
        text = out.wait_for("Checkpoint history (2)")
        assert "cairn watch: frame 2 " in text
        time.sleep(1.5)  # one change, one frame
        assert frames(out.now()) == 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert proc.stderr is not None and proc.stderr.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_watch_starts_before_the_database_exists(root: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cairn", "--dir", str(root), "watch", "--interval", "600"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        out = Reader(proc)
        out.wait_for("(0 in all)")
        assert not (root / "cairn.db").exists()  # watching creates nothing
        assert run_cairn("--dir", str(root), "start", "late", "--id", "wf-late").returncode == 0
        text = out.wait_for("wf-late")
        assert "cairn watch: frame 2 " in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_poller_sees_commits_of_others_only(root: Path, mgr: CheckpointManager) -> None:
    poller = Poller(root / "cairn.db")
    try:
        assert poller.token() is None  # no database yet
        mgr.create("x", workflow_id="wf-p")
        first = poller.token()
        assert first is not None and poller.token() == first
        mgr.load("wf-p")
        mgr.list_workflows()
        assert poller.token() == first  # reads are no change
        mgr.pause("wf-p")
        second = poller.token()
        assert second is not None and second != first
        assert poller.token() == second
        # a database replaced (cairn doctor) is a new file: reopened, a change
        mgr.store.close()
        shutil.copy(root / "cairn.db", root / "copy.db")
        os.replace(root / "copy.db", root / "cairn.db")
        third = poller.token()
        assert third is not None and third[0] != second[0]
    finally:
        poller.close()


def test_watch_sees_a_session_die_without_any_commit(root: Path, mgr: CheckpointManager) -> None:
    """A killed client commits nothing; looking again every --interval finds its workflow
    interrupted and draws one frame for it; the looks in between draw nothing."""
    from board_support import put_lease

    mgr.create("watched while its session dies", workflow_id="wf-d")
    mgr.record_start("wf-d", "orchestrator")
    session = subprocess.Popen(["sleep", "120"])  # stands for the Claude Code process
    put_lease(mgr, "wf-d", "sess-dying", session.pid)
    proc = subprocess.Popen([sys.executable, "-m", "cairn", "--dir", str(root), "watch", "--interval", "0.3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env())
    try:
        out = Reader(proc)
        out.wait_for("executing")
        time.sleep(1.5)  # five looks, nothing changed: still one frame
        assert frames(out.now()) == 1
        session.kill()
        session.wait(timeout=10)
        text = out.wait_for("cairn watch: frame 2 ")
        assert "Interrupted (1)" in text.split("cairn watch: frame 2 ")[1]
        assert "ended without a clean stop: its process" in text
        time.sleep(1)
        assert frames(out.now()) == 2
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        for p in (proc, session):
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)


def test_the_clock_alone_changes_no_frame() -> None:
    from cairn.cmd.watch import signature

    a = {"generated_at": "2025-03-03T12:00:00Z", "sections": {"running": [
        {"workflow_id": "wf", "state": "executing", "last_activity": "2025-03-03T11:59:00Z",
         "state_reason": "session s, heard from 1 minute ago"}]}}
    b = {"generated_at": "2025-03-03T12:05:00Z", "sections": {"running": [
        {"workflow_id": "wf", "state": "executing", "last_activity": "2025-03-03T12:04:00Z",
         "state_reason": "session s, heard from 1 minute ago"}]}}
    c = {**b, "sections": {"interrupted": b["sections"]["running"]}}
    assert signature(a) == signature(b) and signature(b) != signature(c)
