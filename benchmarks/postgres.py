#!/usr/bin/env python3
"""The shared store's benchmarks, beside the SQLite ones (benchmarks/run.py), against a
PostgreSQL server this script starts on loopback (tests/pgcluster.py: the system's
PostgreSQL, `initdb` into a temporary folder, fsync on).

    python benchmarks/postgres.py            # the figures of docs/benchmarks.md
    python benchmarks/postgres.py --quick    # small N (CI: keeps it from rotting)

Cases, each on both backends with the same library calls:
  * checkpoint write + read: `Workflows.touch` (one durable transaction and its
    checkpoint.json projection) then `CheckpointManager.load`, in one process;
  * SessionStart injecting a context: the whole hook process as hooks/hooks.json starts
    it, on the plugin's environment (a venv that sees psycopg), for a paused workflow;
  * 8 processes × N completions on one workflow (benchmarks/completer.py), each process
    with its own connection: every completion recorded, none lost, seqs 1..8N+1.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LIB = REPO / "lib"
sys.path[:0] = [str(LIB), str(REPO / "tests")]
PAYLOAD = REPO / "tests" / "fixtures" / "hooks" / "SessionStart-startup.json"

import pgcluster  # noqa: E402  (tests/pgcluster.py: the throwaway server)
from cairn.manager import CheckpointManager  # noqa: E402
from cairn.pipeline import Pipeline  # noqa: E402


def git_clone(tmp: Path, name: str) -> Path:
    """A project folder with an `origin` (the shared store's scope)."""
    project = tmp / name
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    subprocess.run(["git", "-C", str(project), "remote", "add", "origin", f"https://example.com/bench/{name}.git"],
                   check=True)
    (project / ".claude" / "artifacts").mkdir(parents=True)
    return project


def median_ms(samples: list[float]) -> str:
    s = sorted(samples)
    p95 = s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)]
    return f"{1000 * statistics.median(s):.2f} ms (p95 {1000 * p95:.2f} ms, n={len(s)})"


def write_read(project: Path, repeats: int) -> list[float]:
    m = CheckpointManager(project / ".claude" / "artifacts", project_dir=project)
    wid = "wf-rw"
    m.create("write + read", workflow_id=wid)
    times = []
    for _ in range(repeats + 3):
        t0 = time.perf_counter()
        m.workflows.touch(wid, "activity", session_id="bench-session")
        m.load(wid)
        times.append(time.perf_counter() - t0)
    m.store.close()
    return times[3:]


def session_start(project: Path, env: dict[str, str], repeats: int) -> list[float]:
    m = CheckpointManager(project / ".claude" / "artifacts", project_dir=project)
    m.create("a workflow to resume", workflow_id="wf-ss", session_id="other-session")
    m.pause("wf-ss", "bench")
    m.store.close()
    stdin = json.loads(PAYLOAD.read_text())["stdin"]
    times = []
    for i in range(repeats + 2):
        # a new session each time, and `resume` (no cache of the answer on either backend)
        body = json.dumps({**stdin, "session_id": f"bench-{i}", "cwd": str(project), "source": "resume"}).encode()
        t0 = time.perf_counter()
        out = subprocess.run(["/bin/sh", str(REPO / "hooks" / "run.sh"), "session-start"], input=body,
                             capture_output=True, env={**env, "CLAUDE_PROJECT_DIR": str(project)}, cwd=project,
                             timeout=60)
        times.append(time.perf_counter() - t0)
        if b"additionalContext" not in out.stdout:
            raise RuntimeError(f"SessionStart injected nothing: {out.stdout[:300]!r} {out.stderr[-500:]!r}")
    return times[2:]


def concurrent(project: Path, env: dict[str, str], procs: int, per: int) -> tuple[float, str]:
    root = project / ".claude" / "artifacts"
    stages: list[dict[str, object]] = [{"name": f"w{i}", "artifacts": [], "depends_on": []} for i in range(procs)]
    stages.append({"name": "final", "artifacts": [], "depends_on": [f"w{i}" for i in range(procs)]})  # never done
    m = CheckpointManager(root, project_dir=project)
    m.workflows.create("concurrency", Pipeline.from_dict({"name": "parallel", "stages": stages}), workflow_id="wf-c")
    m.store.close()
    go = project / "go"
    workers = [subprocess.Popen([sys.executable, str(REPO / "benchmarks" / "completer.py"), str(root), "wf-c",
                                 f"w{i}", str(per), f"p{i}", str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={**env, "PYTHONPATH": str(LIB)}, cwd=project) for i in range(procs)]
    for w in workers:
        assert w.stdout is not None
        if w.stdout.readline().strip() != "ready":
            raise RuntimeError(f"a worker failed to start: {w.communicate()[1][-2000:]}")
    t0 = time.perf_counter()
    go.touch()
    seqs: list[int] = []
    for w in workers:
        out, err = w.communicate(timeout=3600)
        if w.returncode != 0:
            raise RuntimeError(f"a worker failed: {err[-3000:]}")
        seqs += [int(x) for x in out.split()]
    elapsed = time.perf_counter() - t0
    wf = CheckpointManager(root, project_dir=project).load("wf-c")
    total = procs * per
    recorded = sum(1 for a in wf.attempts if a.outcome == "completed")
    ok = sorted(seqs) == list(range(2, total + 2)) and [mk.seq for mk in wf.marks] == list(range(1, total + 2))
    return elapsed, f"{recorded:,} of {total:,} recorded, " + ("none lost" if ok and recorded == total else "LOST")


def plugin_env(tmp: Path) -> dict[str, str]:
    """The plugin's environment as hooks/bootstrap.py leaves it, its venv seeing this
    interpreter's packages (psycopg)."""
    data = tmp / "plugin-data"
    data.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(data / "venv")],
                   check=True)
    stamp = re.search(r"^DEPS_STAMP=(\S+)$", (REPO / "hooks" / "run.sh").read_text(), re.M)
    assert stamp is not None, "hooks/run.sh no longer sets DEPS_STAMP"
    (data / f"{stamp.group(1)}.ok").touch()
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp), "CLAUDE_PLUGIN_ROOT": str(REPO),
            "CLAUDE_PLUGIN_DATA": str(data), "CLAUDECODE": "1"}


def run_cases(tmp: Path, name: str, extra: dict[str, str], base: dict[str, str], repeats: int, ss_repeats: int,
              procs: int, per: int) -> dict[str, str]:
    """The three cases on one backend (`extra`: the environment that selects it)."""
    saved = {k: os.environ.get(k) for k in extra}
    os.environ.update(extra)
    tag = name.lower()
    try:
        rw = median_ms(write_read(git_clone(tmp, f"rw-{tag}"), repeats))
        ss = median_ms(session_start(git_clone(tmp, f"ss-{tag}"), {**base, **extra}, ss_repeats))
        elapsed, verdict = concurrent(git_clone(tmp, f"cc-{tag}"), {**os.environ, **extra}, procs, per)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return {"checkpoint write + read": rw, "SessionStart injecting a context": ss,
            f"{procs} processes × {per} completions on one workflow": f"{elapsed:.2f} s, {verdict}"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small N: checks the cases run, measures little")
    args = ap.parse_args(argv)
    repeats, ss_repeats, per = (5, 2, 5) if args.quick else (200, 20, 100)
    procs = 8
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="cairn-pgbench-") as tmp_name, pgcluster.cluster() as server:
        tmp = Path(tmp_name)
        base = plugin_env(tmp)
        backends: dict[str, dict[str, str]] = {"SQLite": {}, "PostgreSQL": {"CAIRN_STORE": server.url}}
        results = {name: run_cases(tmp, name, extra, base, repeats, ss_repeats, procs, per)
                   for name, extra in backends.items()}
        for case in results["SQLite"]:
            rows.append((case, results["SQLite"][case], results["PostgreSQL"][case]))
    print(f"Cairn shared store benchmarks ({'quick' if args.quick else 'full'}), PostgreSQL "
          f"{pgcluster.binaries()} on loopback, fsync on")
    print("| case | SQLite (project file) | PostgreSQL (server) |\n|---|---|---|")
    for case, sqlite_fig, pg_fig in rows:
        print(f"| {case} | {sqlite_fig} | {pg_fig} |")
    return 0 if all("LOST" not in r[1] + r[2] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
