"""A worker of the concurrency case of benchmarks/run.py: N completions of one stage.

    python completer.py ROOT WID STAGE N TAG GO_FILE

Opens the project's database, prints "ready" (imports warm, database open), waits for
GO_FILE, then records N completions of STAGE through `CheckpointManager.record_completion`
(the library call a completion goes through), each with agent id TAG-i: one durable
transaction each, then the checkpoint.json projection and the markers. Prints the seqs
it got, on one line.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cairn.manager import CheckpointManager


def main(argv: list[str]) -> int:
    root, wid, stage, n, tag, go = Path(argv[0]), argv[1], argv[2], int(argv[3]), argv[4], Path(argv[5])
    m = CheckpointManager(root)
    m.load(wid)
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.002)
    seqs = []
    for i in range(n):
        wf = m.record_completion(wid, stage, artifacts=[], agent_id=f"{tag}-{i}", session_id=f"session-{tag}",
                                 check_schemas=False)
        seqs.append(wf.seq)
    print(" ".join(map(str, seqs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
