"""Reading back the facts format 3.2 added to `checkpoint.json`, so a rebuilt database
keeps them. Standard library only.

- the side-effect ledger (each attempt's `effects`): without it a re-run would open a
  second pull request or publish twice;
- breakpoints (`breakpoints`): without them a held stage would run without the person's
  approval;
- the code state an attempt started from (`code_start`), each session's `host`, and the
  checkpoint that recorded each pin (`pins_seq`).

Damaged entries are left out with a note (or, for a breakpoint whose decision is
unreadable, kept holding: a hold is never dropped in silence).
"""

from __future__ import annotations

import json
from datetime import datetime

from cairn.model import Effect
from cairn.store import Tx
from cairn.store.legacy import JSON, _dict, _i, _list, _s, _ts

DECISIONS = ("approved", "rejected")

# What a format 3.1 projection (written before 3.2) did not hold, said when one is imported.
BEFORE_32 = ("its checkpoint.json is in format 3.1, which did not hold the side-effect ledger (its entries stay in "
             "the audit trail), breakpoints (their decisions stay in the audit trail; set a hold again with "
             "`cairn pause ID --before STAGE`), the code state each attempt started from, nor each session's host")


def attempt_facts(tx: Tx, workflow_id: str, attempt_id: int, a: JSON, now: datetime) -> None:
    """An attempt's code state at its start and its side effects."""
    code = a.get("code_start")
    if isinstance(code, dict):
        tx.set_code_start(attempt_id, json.dumps(code, sort_keys=True))
    for e in map(_dict, _list(a.get("effects"))):
        kind, target, tool = _s(e.get("kind")), _s(e.get("target")), _s(e.get("tool_use_id"))
        if not kind or target is None or tool is None:
            continue
        detail = {str(k): str(v) for k, v in _dict(e.get("detail")).items()}
        at = _ts(e.get("at"), now)
        tx.add_effect(workflow_id, attempt_id, Effect(kind, target, _s(e.get("url")), detail, at, tool), at)


def breakpoints(tx: Tx, workflow_id: str, raw: JSON, final: int, now: datetime, notes: list[str]) -> None:
    """The workflow's holds, in the order they were set, with their decisions."""
    for b in map(_dict, _list(raw.get("breakpoints"))):
        stage = _s(b.get("stage"))
        if not stage:
            notes.append(f"{workflow_id}: a breakpoint without a stage; dropped")
            continue
        set_at = _ts(b.get("set_at"), now)
        bid = tx.add_breakpoint(workflow_id, stage[:200], _i(b.get("set_seq")) or final, set_at,
                                (_s(b.get("source")) or "cli")[:40])
        decision = _s(b.get("decision"))
        if decision is None:
            continue
        if decision not in DECISIONS:
            notes.append(f"{workflow_id}: the breakpoint before {stage} has an unknown decision "
                         f"{decision[:40]!r}; it holds again (approve it with `cairn approve`)")
            continue
        tx.decide_breakpoint(bid, decision, _i(b.get("decided_seq")) or final, _ts(b.get("decided_at"), set_at),
                             _s(b.get("feedback")), _s(b.get("rerun")))


def pins(tx: Tx, workflow_id: str, raw: JSON) -> None:
    """What the workflow runs with, each at the checkpoint that recorded it (1 when the
    record does not say: format 3.1)."""
    seqs = _dict(raw.get("pins_seq"))
    for name, value in _dict(raw.get("pins")).items():
        tx.put_pin(workflow_id, str(name)[:200], str(value), _i(seqs.get(name)) or 1)
