"""A writer for the crash tests, killed at random or armed moments.

    python writer.py ROOT WID REPORT            write until killed (CAIRN_FAULT applies)
    python writer.py ROOT WID REPORT --zygote   fork a writer per `run SEED FAULT` line

The writer loops over real changes of workflow WID (stage `work` of `crash_pipeline()`):
`record_start`, `record_completion` (after rewriting the artifact), `touch`, and a pause
followed by a resume, each one transaction. After a call RETURNS it appends one line to
REPORT (O_APPEND): `SEQ OP AGENT_ID`. A line in REPORT is therefore a committed change:
the test demands that it survives any kill.

The zygote imports Cairn once (without opening the database: a SQLite connection must not
cross a fork) and forks a fresh writer per round, so a round costs a fork, not an
interpreter start. Protocol on stdin/stdout, one line each: `run SEED FAULT|-` ->
`pid N` ... `exit STATUS`.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path

from cairn import faults
from cairn.manager import CheckpointManager
from cairn.operations import Operation
from cairn.pipeline import Pipeline, Settings


def crash_pipeline() -> Pipeline:
    """`work` can complete any number of times without finishing the workflow: `never`
    depends on it and is never run, so the writer can loop forever."""
    return Pipeline.from_dict({"name": "crash", "stages": [
        {"name": "work", "artifacts": [{"path": "work.json"}], "depends_on": []},
        {"name": "never", "artifacts": [{"path": "never.json"}], "depends_on": ["work"]},
    ]})


def manager(root: Path) -> CheckpointManager:
    return CheckpointManager(root, project_dir=None, settings=Settings())


def write_loop(root: Path, wid: str, report: Path, seed: int, limit: int | None = None) -> None:
    rng = random.Random(seed)
    m = manager(root)
    fd = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    artifact = m.workflow_dir(wid) / "work.json"
    n = 0
    while limit is None or n < limit:
        r = rng.random()
        agent = f"{seed}-{n}"
        if r < 0.3:
            wf, op = m.record_start(wid, "work", agent_id=f"s{agent}", session_id="crash-session"), "start"
            agent = f"s{agent}"
        elif r < 0.65:
            artifact.write_text(json.dumps({"n": n, "pad": "x" * rng.randrange(200)}))
            wf = m.record_completion(wid, "work", agent_id=f"c{agent}", session_id="crash-session",
                                     check_schemas=False)
            op, agent = "complete", f"c{agent}"
        elif r < 0.9:
            wf, op, agent = m.touch(wid, session_id=f"s{rng.randrange(3)}"), "touch", "-"
        else:
            wf, op, agent = m.pause(wid, "crash test pause"), "pause", "-"
            os.write(fd, f"{wf.seq} {op} {agent}\n".encode())
            wf, op = m.apply(wid, Operation().change, "resume"), "resume"
        os.write(fd, f"{wf.seq} {op} {agent}\n".encode())  # only now is it committed
        n += 1
    os.close(fd)


def zygote(root: Path, wid: str, report: Path) -> None:
    # every import a writer needs is warm before forking (cairn.manager above brings them)

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
