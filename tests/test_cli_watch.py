"""`cairn watch`: a real watcher process redraws after another process writes a
checkpoint, and stops cleanly on Ctrl+C (SIGINT)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from cairn.cmd.watch import relevant
from cairn.manager import CheckpointManager
from test_cli_support import LIB, run_cairn, write_artifact


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

    def wait_for(self, needle: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if needle in self.text:
                    return self.text
            time.sleep(0.05)
        raise AssertionError(f"{needle!r} did not appear within {timeout}s; output:\n{self.text}")


def test_watch_redraws_after_another_process_writes(root: Path, mgr: CheckpointManager) -> None:
    mgr.create("watch me", workflow_id="wf-w")
    env = {**os.environ, "PYTHONPATH": str(LIB) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "cairn", "--dir", str(root), "watch", "wf-w",
                             "--interval", "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        out = Reader(proc)
        first = out.wait_for("Checkpoint history (1)")
        assert "cairn watch: frame 1" in first and "frame 2" not in first
        time.sleep(0.5)  # let the observer settle before the write
        write_artifact(mgr, "wf-w", "orchestrator")
        done = run_cairn("--dir", str(root), "checkpoint", "wf-w", "--agent", "orchestrator")
        assert done.returncode == 0, done.stderr
        text = out.wait_for("Checkpoint history (2)")
        assert "cairn watch: frame 2" in text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_irrelevant_files_do_not_redraw(tmp_path: Path) -> None:
    assert relevant(str(tmp_path / "wf" / "checkpoint.json"), tmp_path)
    assert not relevant(str(tmp_path / "history.db-wal"), tmp_path)
    assert not relevant(str(tmp_path / "wf" / ".lock"), tmp_path)
    assert not relevant(str(tmp_path / ".logs" / "cairn.log"), tmp_path)
    assert not relevant("/elsewhere/file", tmp_path)
