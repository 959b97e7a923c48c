"""`cairn demo`, the README's second set-up command, run as a new user runs it."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from test_cli_support import cli_env


def test_demo_interrupts_and_resumes_through_the_real_hooks(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "cairn", "demo", "--keep"], env=cli_env({"TMPDIR": str(tmp_path)}),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    # The blocked stop names the missing file; the kill leaves the 5th stage open.
    assert "SubagentStop blocked it" in out and "tests.json does not exist" in out
    assert "Cairn: workflow wf-demo is 4/8 done, next: implementer" in out
    assert "The last attempt of implementer" in out and "did not finish" in out
    assert 'put the line "cairn-workflow: wf-demo" in its prompt' in out
    assert out.count("</cairn-resume-context>") == 1
    assert "$ cairn resume wf-demo -> running, next: implementer" in out
    assert "wf-demo: valid (8 artifacts checked)" in out
    assert "WORKFLOW " in out and re.search(r"completed +\[##########\] 100%", out)
    kept = Path(out.rsplit("Kept the demo project: ", 1)[1].strip())
    assert kept.parent == tmp_path
    root = kept / ".claude" / "artifacts"
    checkpoint = json.loads((root / "wf-demo" / "checkpoint.json").read_text())
    assert checkpoint["status"] == "completed" and checkpoint["version"] == "3.2"
    assert len(checkpoint["history"]) >= 17  # created + a start and a completion per stage, at least
    # every stage was attributed by its Agent dispatch (the cairn-workflow line), per agent id
    agents = {s: [a["agent_id"] for a in st["attempts"]] for s, st in checkpoint["agents"].items()}
    assert agents["implementer"] == ["agent-k", "agent-r0"] and agents["orchestrator"] == ["agent-0"]
    db = sqlite3.connect(root / "cairn.db")
    try:
        claimed = db.execute("SELECT count(*) FROM dispatches WHERE agent_id IS NOT NULL").fetchone()[0]
        lease = db.execute("SELECT session_id FROM leases WHERE workflow_id = 'wf-demo'").fetchall()
        bound = dict(db.execute("SELECT session_id, how FROM bindings").fetchall())
    finally:
        db.close()
    assert claimed == 9  # 8 stages + the killed implementer
    assert lease == [("session-2",)]
    assert bound == {"session-1": "cairn start", "session-2": "cairn resume"}
    assert os.access(kept, os.W_OK)
