"""A worker of the concurrency test: records N completions of one stage of a workflow.

    python completer.py ROOT WID STAGE N TAG GO_FILE [MODE]

Waits until GO_FILE exists (so that every worker starts at once), then records N
completions, each with agent id `TAG-i`, and prints the seqs it got. MODE `attempts`
(default) calls `record_completion` (one Attempt each, so the checkpoint grows by an
attempt per completion); MODE `ledger` records each completion through the same
`CheckpointManager.mutate` path as an entry of `metadata["completions"]` (a small
checkpoint: the fast default-run variant).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from cairn.manager import CheckpointManager
from cairn.models import Checkpoint
from cairn.pipeline import Settings


def _ledger(cp: Checkpoint, stage: str, agent_id: str) -> None:
    cp.metadata.setdefault("completions", {}).setdefault(stage, []).append(agent_id)


def main(argv: list[str]) -> int:
    root, wid, stage, n, tag, go = Path(argv[0]), argv[1], argv[2], int(argv[3]), argv[4], Path(argv[5])
    mode = argv[6] if len(argv) > 6 else "attempts"
    m = CheckpointManager(root, settings=Settings(lock_timeout=120.0))
    m.load(wid)  # warm imports before the start line
    while not go.exists():
        time.sleep(0.002)
    seqs = []
    for i in range(n):
        agent_id = f"{tag}-{i}"
        if mode == "ledger":
            cp = m.mutate(wid, lambda cp, a=agent_id: _ledger(cp, stage, a), "agent_completion")
        else:
            cp = m.record_completion(wid, stage, artifacts=[], agent_id=agent_id,
                                     session_id=f"session-{tag}", check_schemas=False)
        seqs.append(cp.seq)
    print(" ".join(map(str, seqs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
