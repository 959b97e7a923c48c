"""A worker of the concurrency test: records N real completions of one stage.

    python completer.py ROOT WID STAGE N TAG

Imports Cairn and opens the database, prints `ready`, then blocks on a line of stdin
(the start signal the test sends to every worker at once). It then records N
completions through `CheckpointManager.record_completion`, each with agent id `TAG-i`
(one attempt each), and prints the seqs it got, space-separated.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cairn.manager import CheckpointManager


def main(argv: list[str]) -> int:
    root, wid, stage, n, tag = Path(argv[0]), argv[1], argv[2], int(argv[3]), argv[4]
    m = CheckpointManager(root)
    m.load(wid)  # warm imports and the connection before the start line
    print("ready", flush=True)
    sys.stdin.readline()
    seqs = []
    for i in range(n):
        wf = m.record_completion(wid, stage, artifacts=[], agent_id=f"{tag}-{i}", session_id=f"session-{tag}",
                                 check_schemas=False)
        seqs.append(wf.seq)
    print(" ".join(map(str, seqs)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
