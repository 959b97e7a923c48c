"""A checkpoint writer for the crash tests, killed at random or armed moments.

    python writer.py ROOT WID REPORT            write until killed (CAIRN_FAULT applies)
    python writer.py ROOT WID REPORT --zygote   fork a writer per `run SEED FAULT` line

The writer loops over `record_start`, `record_completion` and `touch` on workflow WID
(stage `work` of the pipeline `crash_pipeline()`), and after each call RETURNS appends
the committed seq to REPORT (O_APPEND, one line). A seq in REPORT is therefore a
checkpoint that was committed: the test may demand it survives any kill.

The zygote imports Cairn once and forks a fresh writer per round, so a round costs a
fork, not an interpreter start: that is what makes 100 kills fit in seconds. Its
protocol on stdin/stdout, one line each: `run SEED FAULT|-` -> `pid N` ... `exit STATUS`.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

from cairn import faults
from cairn.manager import CheckpointManager
from cairn.pipeline import Pipeline, Settings


def crash_pipeline() -> Pipeline:
    """`work` can complete any number of times without finishing the workflow: `never`
    depends on it and is never run, so the writer can loop forever."""
    return Pipeline.from_dict({"name": "crash", "stages": [
        {"name": "work", "artifacts": [{"path": "work.json"}], "depends_on": []},
        {"name": "never", "artifacts": [{"path": "never.json"}], "depends_on": ["work"]},
    ]})


def manager(root: Path) -> CheckpointManager:
    return CheckpointManager(root, project_dir=None, settings=Settings(lock_timeout=30.0))


def write_loop(root: Path, wid: str, report: Path, seed: int, limit: int | None = None) -> None:
    rng = random.Random(seed)
    m = manager(root)
    fd = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    artifact = m.workflow_dir(wid) / "work.json"
    n = 0
    while limit is None or n < limit:
        r = rng.random()
        if r < 0.35:
            cp = m.record_start(wid, "work", agent_id=f"a{seed}-{n}", session_id="crash-session")
        elif r < 0.7:
            artifact.write_text(json.dumps({"n": n, "pad": "x" * rng.randrange(200)}))
            cp = m.record_completion(wid, "work", check_schemas=False, session_id="crash-session")
        else:
            cp = m.touch(wid, session_id=f"s{rng.randrange(3)}")
        os.write(fd, f"{cp.seq}\n".encode())  # only now is it committed
        n += 1
    os.close(fd)


def zygote(root: Path, wid: str, report: Path) -> None:
    manager(root).load(wid)  # warm every import and pydantic's validators before forking
    for line in sys.stdin:
        parts = line.split()
        if not parts or parts[0] != "run":
            continue
        seed, spec = int(parts[1]), parts[2]
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            try:
                faults.arm(None if spec == "-" else spec)
                write_loop(root, wid, report, seed)
            finally:
                os._exit(0)
        print(f"pid {pid}", flush=True)
        _, status = os.waitpid(pid, 0)
        print(f"exit {status}", flush=True)


def main(argv: list[str]) -> int:
    root, wid, report = Path(argv[0]), argv[1], Path(argv[2])
    if "--zygote" in argv:
        zygote(root, wid, report)
    else:
        limit = int(os.environ.get("CAIRN_WRITER_LIMIT", "0")) or None
        write_loop(root, wid, report, int(os.environ.get("CAIRN_WRITER_SEED", "0")), limit)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
