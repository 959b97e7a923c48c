"""The status dashboard: data (the stable `--json` shapes, as TypedDicts) and its text.

`overview()` reads the store's indexes (counts, the open workflows, the last completed
ones) and loads only the workflows it shows; `detail()` loads one workflow. `render_*`
turn the data into text: ASCII only; colour (ANSI) only when asked, so a pipe, a log
file or `--no-color` gets plain ASCII. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from cairn import liveness
from cairn.breakpoints import waiting
from cairn.humanize import ago, clock, duration
from cairn.liveness import Liveness
from cairn.manager import CheckpointManager
from cairn.model import Summary, Workflow, parse_iso, utcnow
from cairn.status import ACTIVE, FINISHED, Status
from cairn.store import Reader

if TYPE_CHECKING:  # accounting (~2 ms to import) serves only the one-workflow view, not the overview
    from cairn.accounting import CostJSON

RECENT_COMPLETED = 5
# (JSON key, title, display states of `cairn.liveness`): the dashboard's groups, in order.
SECTIONS: list[tuple[str, str, frozenset[str]]] = [
    ("running", "Active", frozenset({liveness.EXECUTING, liveness.PENDING})),
    ("interrupted", "Interrupted", frozenset({liveness.INTERRUPTED})),
    ("paused", "Paused", frozenset({liveness.PAUSED})),
    ("failed", "Failed", frozenset({liveness.FAILED})),
    ("stale", "Stale", frozenset({liveness.STALE})),
    ("recently_completed", "Recently completed", frozenset({liveness.COMPLETED})),
]
_COLORS = {"running": "36", "pending": "36", "executing": "32", "paused": "33", "failed": "31", "stale": "35",
           "completed": "32", "cancelled": "90", "skipped": "90", "invalidated": "33",
           "interrupted": "33", "next": "1"}
_CTRL = re.compile(r"[\x00-\x1f\x7f]")


class ProgressJSON(TypedDict):
    completed: int
    total: int
    percent: int


class CheckpointJSON(TypedDict):
    seq: int
    checkpoint_type: str
    at: str | None
    label: str


class RowJSON(TypedDict):
    workflow_id: str
    status: str
    state: str
    state_reason: str | None
    session_id: str | None
    request: str
    progress: ProgressJSON
    agent: str | None
    agent_role: str | None
    next_agents: list[str]
    started_at: str | None
    last_checkpoint: CheckpointJSON
    last_activity: str | None
    last_error: str | None
    waiting_for_approval: list[str]  # stages held at a breakpoint, ready to run (cairn.breakpoints)
    host: str | None  # where its latest session ran (on a shared store, any machine)


class OverviewJSON(TypedDict):
    generated_at: str | None
    root: str
    total: int
    counts: dict[str, int]
    states: dict[str, int]
    completed_today: int
    sections: dict[str, list[RowJSON]]
    success_rate: float | None
    average_completion_seconds: float | None


class StageJSON(TypedDict):
    stage: str
    state: str
    attempts: int
    duration_seconds: float | None
    artifacts: list[str]
    last_error: str | None


class MarkJSON(TypedDict):
    seq: int
    checkpoint_type: str
    at: str | None
    status: str


class DetailJSON(TypedDict):
    workflow_id: str
    status: str
    status_reason: str | None
    state: str
    state_reason: str | None
    session_id: str | None
    request: str
    started_at: str | None
    last_activity: str | None
    progress: ProgressJSON
    agent: str | None
    agent_role: str | None
    last_error: str | None
    next_agents: list[str]
    parameters: dict[str, str]
    stages: list[StageJSON]
    history: list[MarkJSON]
    history_total: int
    cost: CostJSON
    hosts: list[str]  # the machines its sessions ran on, first seen first (every machine's on a shared store)


# ---------------------------------------------------------------------- formatting
def parse_ts(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parse_iso(value)
    except ValueError:
        return None


def iso(dt: datetime | None) -> str | None:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if dt is not None else None


def short(text: object, limit: int) -> str:
    """One line of text, control characters removed, cut to `limit`."""
    s = _CTRL.sub(" ", str(text or "")).strip()
    return s if len(s) <= limit else s[: max(limit - 3, 0)] + "..."


def bar(percent: int, width: int = 20) -> str:
    filled = max(0, min(width, round(width * percent / 100)))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def paint(text: str, key: str, color: bool) -> str:
    code = _COLORS.get(key)
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def progress(done: int, total: int) -> ProgressJSON:
    return {"completed": done, "total": total, "percent": round(100 * done / total) if total else 100}


# ---------------------------------------------------------------------- data
def last_agent(wf: Workflow) -> tuple[str | None, str | None, str | None]:
    """(agent, "current" | "last" | None, the error of the latest attempt if it failed
    or was interrupted)."""
    latest: tuple[datetime, str, str | None] | None = None
    for a in wf.attempts:
        when = a.ended_at or a.started_at
        if latest is None or when >= latest[0]:
            latest = (when, a.stage, a.error if a.outcome in ("failed", "interrupted") else None)
    if wf.current_agent:
        return wf.current_agent, "current", latest[2] if latest else None
    if latest:
        return latest[1], "last", latest[2]
    return None, None, None


def ready(wf: Workflow) -> list[str]:
    return [] if wf.status in FINISHED else wf.pipeline.ready(wf.done)


def checkpoint_label(wf: Workflow) -> str:
    """What the workflow's last checkpoint recorded, in words: "planner completed",
    "implementer started", "pause"."""
    seq = wf.seq
    for a in reversed(wf.attempts):
        if a.ended_seq == seq or a.invalidated_seq == seq:
            return f"{a.stage} {a.outcome}"
        if a.started_seq == seq:
            return f"{a.stage} started"
    return wf.checkpoint_type.replace("_", " ")


def row(wf: Workflow, live: Liveness) -> RowJSON:
    agent, role, error = last_agent(wf)
    if role == "current" and live.state not in (liveness.EXECUTING, liveness.PENDING):
        role = "last"  # its session is gone: nothing runs it now
    done = len([s for s in wf.done if wf.pipeline.has(s)])
    mark = wf.marks[-1] if wf.marks else None
    return {
        "workflow_id": wf.workflow_id, "status": wf.status.value, "state": live.state,
        "state_reason": short(live.reason, 300) if live.reason else None, "session_id": live.session_id,
        "request": wf.request, "progress": progress(done, len(wf.pipeline)), "agent": agent, "agent_role": role,
        "next_agents": ready(wf), "started_at": iso(wf.created_at),
        "last_checkpoint": {"seq": wf.seq, "checkpoint_type": wf.checkpoint_type,
                            "at": iso(mark.at if mark else wf.created_at), "label": checkpoint_label(wf)},
        "last_activity": iso(wf.last_activity), "last_error": short(error, 300) if error else None,
        "waiting_for_approval": waiting(wf),
        "host": max(wf.sessions, key=lambda x: x.last_seen).host if wf.sessions else None,
    }


def load_rows(r: Reader, summaries: Iterable[Summary]) -> list[Workflow]:
    """The workflows of `summaries`, in that order (one read transaction; no projection
    is rewritten: a dashboard only reads)."""
    out = []
    for s in summaries:
        wf = r.workflow(s.workflow_id, audit=False)
        if wf is not None:
            if s.last_seen is not None and (wf.last_seen is None or s.last_seen > wf.last_seen):
                wf.last_seen = s.last_seen  # the summary may carry a liveness file's time
            out.append(wf)
    return out


def rows_of(r: Reader, root: Path | None, summaries: Iterable[Summary], now: datetime) -> list[RowJSON]:
    """Dashboard rows (with the live-or-dead state of each) of `summaries`, in order."""
    return [row(wf, liveness.of(r, root, wf, now)) for wf in load_rows(r, summaries)]


def completed_since(r: Reader, since: datetime) -> int:
    """How many workflows completed at or after `since` (their last checkpoint is the
    completion)."""
    return sum(1 for _, status, _, _ in r.finished_since(since) if status == Status.COMPLETED)


def overview(m: CheckpointManager, *, now: datetime | None = None) -> OverviewJSON:
    now = now or utcnow()
    counts = {s.value: 0 for s in Status}
    rows: list[RowJSON] = []
    average: float | None = None
    today = 0
    if m.exists():
        with m.store.read() as r:
            for status, n in r.counts().items():
                counts[status.value] = n
            active = [m.heard_from(r, s) for s in r.summaries(ACTIVE)]
            active.sort(key=lambda s: s.last_activity, reverse=True)
            newest = r.recent(Status.COMPLETED, RECENT_COMPLETED)
            recent = sorted(r.summaries(ids=newest), key=lambda s: s.last_activity, reverse=True) if newest else []
            rows = rows_of(r, m.root, [*active, *recent], now)
            average = r.average_duration(Status.COMPLETED)[1]
            today = completed_since(r, now.replace(hour=0, minute=0, second=0, microsecond=0))
    sections = {key: [x for x in rows if x["state"] in states] for key, _, states in SECTIONS}
    states_count = {st: 0 for st in liveness.STATES if st not in (liveness.COMPLETED, liveness.CANCELLED)}
    for x in rows:
        if x["state"] in states_count:
            states_count[x["state"]] += 1
    decided = counts[Status.COMPLETED.value] + counts[Status.FAILED.value]
    return {
        "generated_at": iso(now), "root": str(m.root), "total": sum(counts.values()), "counts": counts,
        "states": states_count, "completed_today": today, "sections": sections,
        "success_rate": round(counts[Status.COMPLETED.value] / decided, 4) if decided else None,
        "average_completion_seconds": round(average, 1) if average is not None else None,
    }


def stage_state(wf: Workflow, name: str, next_up: list[str]) -> str:
    if name in wf.completed_agents:
        return "completed"
    if name in wf.skipped_agents:
        return "skipped"
    state = wf.agents.get(name)
    if state is not None and state.last is not None:
        return state.last.outcome
    return "next" if name in next_up else "pending"


def status_at_marks(wf: Workflow) -> list[str]:
    """The workflow's status after each checkpoint of its history (from the audit trail)."""
    changes = [(e.seq, e.action.split("->")[-1]) for e in wf.audit if e.action.startswith("status:")]
    out, status, i = [], Status.PENDING.value, 0
    for mark in wf.marks:
        while i < len(changes) and changes[i][0] <= mark.seq:
            status = changes[i][1]
            i += 1
        out.append(status)
    return out


def detail(m: CheckpointManager, wid: str, *, now: datetime | None = None,
           history_limit: int = 30) -> DetailJSON:
    from cairn import accounting

    now = now or utcnow()
    wf = m.load(wid)
    next_up = ready(wf)
    stages: list[StageJSON] = []
    for name in wf.pipeline.names:
        state = wf.agents.get(name)
        att = state.last if state else None
        secs = ((att.ended_at or now) - att.started_at).total_seconds() if att is not None else None
        stages.append({
            "stage": name, "state": stage_state(wf, name, next_up),
            "attempts": len(state.attempts) if state else 0,
            "duration_seconds": round(secs, 1) if secs is not None else None,
            "artifacts": sorted(rel for rel, rec in wf.artifacts.items() if rec.agent == name),
            "last_error": short(att.error, 300) if att is not None and att.error else None,
        })
    history: list[MarkJSON] = []
    for mk, st in zip(wf.marks, status_at_marks(wf), strict=True):
        history.append({"seq": mk.seq, "checkpoint_type": mk.type, "at": iso(mk.at), "status": st})
    with m.store.read() as r:
        base = row(wf, liveness.of(r, m.root, wf, now))
    return {
        "workflow_id": wf.workflow_id, "status": wf.status.value, "status_reason": wf.status_reason,
        "state": base["state"], "state_reason": base["state_reason"], "session_id": base["session_id"],
        "request": wf.request, "started_at": base["started_at"], "last_activity": base["last_activity"],
        "progress": base["progress"], "agent": base["agent"], "agent_role": base["agent_role"],
        "last_error": base["last_error"], "next_agents": next_up, "parameters": dict(wf.parameters),
        "stages": stages, "history": history[-history_limit:], "history_total": len(wf.marks),
        "cost": accounting.cost_json(wf),
        "hosts": list(dict.fromkeys(s.host for s in wf.sessions if s.host)),
    }


# ---------------------------------------------------------------------- text
def render_detail(data: DetailJSON, *, color: bool = False) -> str:
    from cairn import accounting

    now = utcnow()
    p = data["progress"]
    reason = f" ({short(data['status_reason'], 80)})" if data["status_reason"] else ""
    state = f"  State:     {paint(data['state'], data['state'], color)}" + (
        f" ({short(data['state_reason'], 80)})" if data["state_reason"] else "")
    out = [f"Workflow {data['workflow_id']}",
           f"  Request:   {short(data['request'], 90)}",
           f"  Status:    {paint(data['status'], data['status'], color)}{reason}",
           *([state] if data["state"] != data["status"] else []),
           f"  Progress:  {bar(p['percent'])} {p['percent']}%  {p['completed']}/{p['total']}",
           f"  Started:   {clock(parse_ts(data['started_at']))}",
           f"  Activity:  {ago(parse_ts(data['last_activity']), now)}"]
    if data["next_agents"]:
        out.append(f"  Next:      {', '.join(data['next_agents'])}")
    if data["hosts"]:
        out.append(f"  Hosts:     {short(', '.join(data['hosts']), 90)}")
    if data["parameters"]:
        out.append("  Parameters: " + ", ".join(f"{k}={short(v, 40)}" for k, v in sorted(data["parameters"].items())))
    out += ["", "  Stage              State        Duration  Tries  Artifacts"]
    for s in data["stages"]:
        state = f"{s['state']:<12}"
        out.append(f"  {short(s['stage'], 18):<18} {paint(state, s['state'], color)} "
                   f"{duration(s['duration_seconds']):>8}  {s['attempts']:>5}  "
                   f"{short(', '.join(s['artifacts']) or '-', 40)}")
        if s["last_error"] and s["state"] in ("failed", "interrupted", "invalidated", "skipped"):
            out.append(f"  {'':<18} {short(s['last_error'], 70)}")
    out += accounting.render_cost(data["cost"])
    shown, total = len(data["history"]), data["history_total"]
    out += ["", f"  Checkpoint history ({total}" + (f", last {shown} shown)" if shown < total else ")")]
    for h in data["history"]:
        out.append(f"  {h['seq']:>5}  {clock(parse_ts(h['at']))}  {short(h['checkpoint_type'], 20):<20} "
                   f"{h['status']}")
    return "\n".join(out) + "\n"
