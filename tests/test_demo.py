"""`cairn demo`, the README's second set-up command, run as a new user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_interrupts_and_resumes_through_the_real_hooks(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "cairn", "demo", "--keep"], env=env,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # The blocked stop names the missing file; the kill leaves the 5th stage open.
    assert "SubagentStop blocked it" in out and "tests.json does not exist" in out
    assert "Cairn: workflow wf-demo is 4/8 done, next: implementer" in out
    assert "The last attempt of implementer" in out and "did not finish" in out
    assert out.count("</cairn-resume-context>") == 1
    assert "wf-demo: valid (8 artifacts checked)" in out
    kept = Path(out.rsplit("Kept the demo project: ", 1)[1].strip())
    assert kept.parent == tmp_path
    checkpoint = (kept / ".claude" / "artifacts" / "wf-demo" / "checkpoint.json").read_text()
    assert '"status": "completed"' in checkpoint
    history = list((kept / ".claude" / "artifacts" / "wf-demo" / "checkpoints").iterdir())
    assert len(history) >= 17  # created + a start and a completion per stage, at least
