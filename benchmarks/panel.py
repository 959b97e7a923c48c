"""The web panel's page times: `cairn ui` as a real process over a project with N paused
workflows (3 stages done each, a real git repository), each page fetched over HTTP.

    python benchmarks/panel.py [--workflows 50] [--repeats 5]

Prints the median (and min/max) of each page: the panel (a card per workflow, with its
readiness checks), the history page, one workflow's details, the stamp poll.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "lib"
sys.path.insert(0, str(LIB))

from cairn.manager import CheckpointManager  # noqa: E402
from cairn.paths import DATA_DIR  # noqa: E402

URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/([A-Za-z0-9_-]+)/")
STAGES = ("orchestrator", "researcher", "planner")


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True)


def build(project: Path, n: int) -> CheckpointManager:
    (project / ".claude" / "artifacts").mkdir(parents=True)
    git(project, "init", "-q", "-b", "main")
    git(project, "-c", "user.email=b@example.com", "-c", "user.name=b", "commit", "-q", "--allow-empty", "-m", "init")
    m = CheckpointManager(project / ".claude" / "artifacts", project_dir=project)
    for i in range(n):
        wid = f"wf-{i:03d}"
        m.create(f"benchmark workflow {i}", workflow_id=wid)
        for stage in STAGES:
            rel = m.load(wid).pipeline.stage(stage).artifacts[0].path
            data = json.loads((DATA_DIR / "examples" / Path(rel).name).read_text(encoding="utf-8"))
            data["workflow_id"] = wid
            (m.workflow_dir(wid) / rel).write_text(json.dumps(data, indent=2), encoding="utf-8")
            m.record_start(wid, stage, agent_id=f"ag-{wid}-{stage}")
            m.record_completion(wid, stage, agent_id=f"ag-{wid}-{stage}")
        m.pause(wid)
    return m


def get(port: int, path: str) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    t0 = time.perf_counter()
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    took = time.perf_counter() - t0
    conn.close()
    if resp.status != 200:
        raise SystemExit(f"GET {path}: HTTP {resp.status}")
    return took * 1000


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workflows", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cairn-panel-bench-") as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        m = build(project, args.workflows)
        env = {k: v for k, v in os.environ.items() if k not in ("CLAUDE_CODE_SESSION_ID", "CLAUDE_PID")}
        env["PYTHONPATH"] = str(LIB)
        proc = subprocess.Popen([sys.executable, "-m", "cairn", "--dir", str(m.root), "ui"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            assert proc.stdout is not None
            found = None
            while found is None:
                line = proc.stdout.readline()
                if not line:
                    raise SystemExit("cairn ui printed no URL")
                found = URL_RE.search(line)
            port, token = int(found.group(1)), found.group(2)
            pages = {"panel": f"/{token}/", "history": f"/{token}/history", "details": f"/{token}/w/wf-000",
                     "stamp": f"/{token}/api/stamp"}
            print(f"{args.workflows} paused workflows, median of {args.repeats} (ms):")
            for name, path in pages.items():
                get(port, path)  # warm: imports, templates, the database's pages
                times = [get(port, path) for _ in range(args.repeats)]
                print(f"  {name:8s} {statistics.median(times):8.1f}  (min {min(times):.1f}, max {max(times):.1f})")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=15)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
