"""What a workflow cost, and what resuming it saved: tokens and time per stage, computed
from the facts (each attempt's `usage`: the client's `totalTokens`, `totalDurationMs`
and `usage` from PostToolUse on the Agent tool; its start and end otherwise).

A resume saves the completed stages it does not run again: at each resume (a checkpoint
`cairn resume` wrote, or a move back to running from paused, failed or stale), every
stage that was complete then and whose attempt was never undone afterwards counts with
that attempt's tokens and time — what starting over would have spent again. Two resumes
past one stage count it twice: each would have re-run it. Standard library only (the
resume context uses it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TypedDict

from cairn.model import Attempt, Workflow, parse_iso
from cairn.safefs import open_regular

# Checkpoint types `cairn resume` writes (`Operation.name()`).
RESUME_MARKS = frozenset({"resume", "rollback", "rerun_from", "retry", "skip", "set_params"})
RESUMED_FROM = ("paused", "failed", "stale")


@dataclass(frozen=True)
class Usage:
    """What the client reported about one attempt (None: not reported)."""

    tokens: int | None
    seconds: float | None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class StageCost:
    stage: str
    attempts: int
    tokens: int          # reported tokens, summed over its attempts
    seconds: float       # time, summed over its attempts (reported, else start to end)
    reported: int        # attempts the client reported tokens for


@dataclass(frozen=True)
class Saving:
    resumes: int
    stages: int          # completed stages not re-run, counted per resume
    tokens: int
    seconds: float

    def __add__(self, other: Saving) -> Saving:
        return Saving(self.resumes + other.resumes, self.stages + other.stages, self.tokens + other.tokens,
                      self.seconds + other.seconds)


NOTHING = Saving(0, 0, 0, 0.0)
TRANSCRIPT_TAIL = 256 << 10  # the last request's usage is near the end of the transcript
_COUNTED = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")


def transcript_usage(path: str | None) -> str | None:
    """What the client reports on PostToolUse for a foreground agent, rebuilt from the
    agent's transcript (SubagentStop's `agent_transcript_path`): a background agent's
    PostToolUse comes at its launch, with no usage. As Claude Code 2.1.328 counts it,
    `totalTokens` is the last request's input + cache + output tokens and `usage` that
    request's usage; `totalDurationMs` here runs from the first entry to the last. None
    when the file is missing, a link, or has no request with usage."""
    fh = open_regular(path)
    if fh is None:
        return None
    with fh:
        head = fh.readline(64 << 10)
        size = os.fstat(fh.fileno()).st_size
        fh.seek(max(0, size - TRANSCRIPT_TAIL))
        tail = fh.read(TRANSCRIPT_TAIL).splitlines()
    last: dict[str, object] | None = None
    ended: str | None = None
    for line in reversed(tail):
        entry = _entry(line)
        if entry is None:
            continue
        if ended is None and isinstance(entry.get("timestamp"), str):
            ended = str(entry["timestamp"])
        message = entry.get("message")
        if entry.get("type") == "assistant" and isinstance(message, dict) and isinstance(message.get("usage"), dict):
            last = message["usage"]
            break
    if last is None:
        return None
    report: dict[str, object] = {"totalTokens": sum(_int(last.get(k)) or 0 for k in _COUNTED), "usage": last,
                                 "source": "transcript"}
    first = _entry(head)
    try:
        start = parse_iso(str(first["timestamp"])) if first and isinstance(first.get("timestamp"), str) else None
        if start is not None and ended is not None:
            report["totalDurationMs"] = max(0, round((parse_iso(ended) - start).total_seconds() * 1000))
    except ValueError:
        pass
    return json.dumps(report)


def _entry(line: bytes) -> dict[str, object] | None:
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return entry if isinstance(entry, dict) else None


def _int(value: object) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else None


def usage(a: Attempt) -> Usage:
    """The attempt's reported usage; an unreadable report is no report."""
    try:
        data = json.loads(a.usage) if a.usage else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    inner = data.get("usage")
    inner = inner if isinstance(inner, dict) else {}
    ms = _int(data.get("totalDurationMs"))
    return Usage(_int(data.get("totalTokens")), ms / 1000 if ms is not None else None,
                 _int(inner.get("input_tokens")), _int(inner.get("output_tokens")))


def seconds(a: Attempt) -> float | None:
    """The attempt's time: as the client reported it, else from its start to its end when
    both were seen apart (an attempt recorded in one step has no duration)."""
    reported = usage(a).seconds
    if reported is not None:
        return reported
    if a.ended_at is not None and a.ended_seq != a.started_seq:
        return max(0.0, (a.ended_at - a.started_at).total_seconds())
    return None


def stage_costs(wf: Workflow) -> list[StageCost]:
    """Per stage (pipeline order, then stages no longer in it), every attempt counted."""
    order = {n: i for i, n in enumerate(wf.pipeline.names)}
    out = []
    for stage, state in sorted(wf.agents.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])):
        reports = [usage(a) for a in state.attempts]
        out.append(StageCost(stage, len(state.attempts), sum(u.tokens or 0 for u in reports),
                             round(sum(seconds(a) or 0.0 for a in state.attempts), 1),
                             sum(1 for u in reports if u.tokens is not None)))
    return out


def resume_seqs(wf: Workflow) -> list[int]:
    """Checkpoints that resumed the workflow: those `cairn resume` made, and moves back to
    running from paused, failed or stale at other checkpoints (a hook continuing it)."""
    seqs = {m.seq for m in wf.marks if m.type in RESUME_MARKS}
    seqs |= {e.seq for e in wf.audit
             if e.action.startswith("status:") and e.action.endswith("->running")
             and e.action[len("status:"):].split("->")[0] in RESUMED_FROM}
    return sorted(seqs)


def _kept(wf: Workflow, then: Workflow) -> list[Attempt]:
    """The completed attempts of `then` (the workflow at a resume) never undone since."""
    final = {a.id: a for a in wf.attempts}
    return [final[a.id] for a in then._effective().values()
            if a.outcome == "completed" and a.id in final and final[a.id].invalidated_seq is None]


def saved(wf: Workflow) -> Saving:
    """What the workflow's resumes saved."""
    total = NOTHING
    for seq in resume_seqs(wf):
        kept = _kept(wf, wf.as_of(seq))
        total += Saving(1, len(kept), sum(usage(a).tokens or 0 for a in kept),
                        round(sum(seconds(a) or 0.0 for a in kept), 1))
    return total


def would_save(wf: Workflow) -> Saving:
    """What resuming now saves: the completed stages as they stand."""
    kept = _kept(wf, wf)
    return Saving(0, len(kept), sum(usage(a).tokens or 0 for a in kept), round(sum(seconds(a) or 0.0 for a in kept), 1))


# ---------------------------------------------------------------------- JSON and text


class StageCostJSON(TypedDict):
    stage: str
    attempts: int
    tokens: int
    seconds: float
    reported_attempts: int


class SavingJSON(TypedDict):
    resumes: int
    stages_not_rerun: int
    tokens: int
    seconds: float


class CostJSON(TypedDict):
    stages: list[StageCostJSON]
    tokens: int
    seconds: float
    saved: SavingJSON


def saving_json(s: Saving) -> SavingJSON:
    return {"resumes": s.resumes, "stages_not_rerun": s.stages, "tokens": s.tokens, "seconds": round(s.seconds, 1)}


def cost_json(wf: Workflow) -> CostJSON:
    stages = stage_costs(wf)
    return {"stages": [{"stage": c.stage, "attempts": c.attempts, "tokens": c.tokens, "seconds": c.seconds,
                        "reported_attempts": c.reported} for c in stages],
            "tokens": sum(c.tokens for c in stages), "seconds": round(sum(c.seconds for c in stages), 1),
            "saved": saving_json(saved(wf))}


def tokens_text(n: int) -> str:
    return f"{n / 1_000_000:.1f}M" if n >= 1_000_000 else f"{n / 1000:.1f}k" if n >= 1000 else str(n)


def minutes_text(secs: float) -> str:
    return f"{secs / 60:.1f} min"


def saving_text(s: SavingJSON) -> str:
    if not s["resumes"]:
        return "nothing yet (never resumed)"
    return (f"{tokens_text(s['tokens'])} tokens, {minutes_text(s['seconds'])} ({s['stages_not_rerun']} completed "
            f"stage{'s' if s['stages_not_rerun'] != 1 else ''} not re-run over {s['resumes']} "
            f"resume{'s' if s['resumes'] != 1 else ''})")


def render_cost(cost: CostJSON) -> list[str]:
    """The cost block of `cairn status ID`."""
    out = ["", "  Cost               Attempts    Tokens    Minutes"]
    for c in cost["stages"]:
        tokens = tokens_text(c["tokens"]) if c["reported_attempts"] else "-"
        out.append(f"  {c['stage'][:18]:<18} {c['attempts']:>8} {tokens:>9} {c['seconds'] / 60:>10.1f}")
    out.append(f"  {'total':<18} {sum(c['attempts'] for c in cost['stages']):>8} {tokens_text(cost['tokens']):>9} "
               f"{cost['seconds'] / 60:>10.1f}")
    out.append(f"  Saved by resuming: {saving_text(cost['saved'])}")
    return out
