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
from typing import TypedDict

from cairn.accounting import CostJSON, cost_json, render_cost
from cairn.breakpoints import waiting
from cairn.humanize import ago, clock, duration
from cairn.manager import CheckpointManager
from cairn.model import Summary, Workflow, parse_iso, utcnow
from cairn.status import ACTIVE, FINISHED, Status
from cairn.store import Reader

RECENT_COMPLETED = 5
SECTIONS: list[tuple[str, str, frozenset[Status]]] = [
    ("running", "Running", frozenset({Status.RUNNING, Status.PENDING})),
    ("interrupted", "Interrupted / paused", frozenset({Status.PAUSED})),
    ("failed", "Failed", frozenset({Status.FAILED})),
    ("stale", "Stale", frozenset({Status.STALE})),
    ("recently_completed", "Recently completed", frozenset({Status.COMPLETED})),
]
_COLORS = {"running": "36", "pending": "36", "paused": "33", "failed": "31", "stale": "35",
           "completed": "32", "cancelled": "90", "skipped": "90", "invalidated": "33",
           "interrupted": "33", "next": "1"}
_CTRL = re.compile(r"[\x00-\x1f\x7f]")


class ProgressJSON(TypedDict):
    completed: int
    total: int
    percent: int


class RowJSON(TypedDict):
    workflow_id: str
    status: str
    request: str
    progress: ProgressJSON
    agent: str | None
    agent_role: str | None
    next_agents: list[str]
    started_at: str | None
    last_activity: str | None
    last_error: str | None
    waiting_for_approval: list[str]  # stages held at a breakpoint, ready to run (cairn.breakpoints)
    host: str | None  # where its latest session ran (on a shared store, any machine)


class OverviewJSON(TypedDict):
    generated_at: str | None
    root: str
    total: int
    counts: dict[str, int]
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


def row(wf: Workflow) -> RowJSON:
    agent, role, error = last_agent(wf)
    done = len([s for s in wf.done if wf.pipeline.has(s)])
    return {
        "workflow_id": wf.workflow_id, "status": wf.status.value, "request": wf.request,
        "progress": progress(done, len(wf.pipeline)), "agent": agent, "agent_role": role,
        "next_agents": ready(wf), "started_at": iso(wf.created_at), "last_activity": iso(wf.last_activity),
        "last_error": short(error, 300) if error else None, "waiting_for_approval": waiting(wf),
        "host": max(wf.sessions, key=lambda x: x.last_seen).host if wf.sessions else None,
    }


def load_rows(r: Reader, summaries: Iterable[Summary]) -> list[Workflow]:
    """The workflows of `summaries`, in that order (one read transaction; no projection
    is rewritten: a dashboard only reads)."""
    out = []
    for s in summaries:
        wf = r.workflow(s.workflow_id, audit=False)
        if wf is not None:
            out.append(wf)
    return out


def overview(m: CheckpointManager, *, now: datetime | None = None) -> OverviewJSON:
    now = now or utcnow()
    counts = {s.value: 0 for s in Status}
    shown: list[Workflow] = []
    average: float | None = None
    if m.exists():
        with m.store.read() as r:
            for status, n in r.counts().items():
                counts[status.value] = n
            active = sorted(r.summaries(ACTIVE), key=lambda s: s.last_activity, reverse=True)
            newest = r.recent(Status.COMPLETED, RECENT_COMPLETED)
            recent = sorted(r.summaries(ids=newest), key=lambda s: s.last_activity, reverse=True) if newest else []
            shown = load_rows(r, [*active, *recent])
            average = r.average_duration(Status.COMPLETED)[1]
    sections = {key: [row(wf) for wf in shown if wf.status in statuses] for key, _, statuses in SECTIONS}
    decided = counts[Status.COMPLETED.value] + counts[Status.FAILED.value]
    return {
        "generated_at": iso(now), "root": str(m.root), "total": sum(counts.values()), "counts": counts,
        "sections": sections,
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
    base = row(wf)
    return {
        "workflow_id": wf.workflow_id, "status": wf.status.value, "status_reason": wf.status_reason,
        "request": wf.request, "started_at": base["started_at"], "last_activity": base["last_activity"],
        "progress": base["progress"], "agent": base["agent"], "agent_role": base["agent_role"],
        "last_error": base["last_error"], "next_agents": next_up, "parameters": dict(wf.parameters),
        "stages": stages, "history": history[-history_limit:], "history_total": len(wf.marks),
        "cost": cost_json(wf),
        "hosts": list(dict.fromkeys(s.host for s in wf.sessions if s.host)),
    }


# ---------------------------------------------------------------------- text
def row_lines(r: RowJSON, now: datetime, color: bool) -> list[str]:
    p = r["progress"]
    agent = f"{r['agent_role']}: {r['agent']}" if r["agent"] else "not started"
    lines = [
        f"  {r['workflow_id']}  {paint(r['status'], r['status'], color)}",
        f"    {short(r['request'], 68)}",
        f"    {bar(p['percent'])} {p['percent']:>3}%  {p['completed']}/{p['total']}  {short(agent, 40)}",
        f"    started {clock(parse_ts(r['started_at']))}  last activity {ago(parse_ts(r['last_activity']), now)}"
        + (f"  on {short(r['host'], 30)}" if r["host"] else ""),
    ]
    if r["last_error"]:
        lines.append(f"    last error: {short(r['last_error'], 80)}")
    if r["waiting_for_approval"]:
        lines.append(f"    waiting for approval: {', '.join(r['waiting_for_approval'])} (`cairn approve ID`)")
    return lines


def render_overview(data: OverviewJSON, *, color: bool = False) -> str:
    now = parse_ts(data["generated_at"]) or utcnow()
    counts = data["counts"]
    shown = [f"{paint(k, k, color)} {v}" for k, v in counts.items() if v]
    out = [f"Cairn workflows in {data['root']}",
           f"{data['total']} total: " + (", ".join(shown) if shown else "none")]
    for key, title, _ in SECTIONS:
        rows = data["sections"][key]
        if rows:
            out += ["", f"{title} ({len(rows)})"]
            for r in rows:
                out += row_lines(r, now, color)
    rate = data["success_rate"]
    done, failed, cancelled = counts["completed"], counts["failed"], counts["cancelled"]
    out += ["", "Success rate: " + (f"{round(100 * rate)}% ({done} completed, {failed} failed; "
                                     f"{cancelled} cancelled, not counted)" if rate is not None
                                     else "- (nothing completed or failed yet)"),
            f"Average completion time: {duration(data['average_completion_seconds'])}"]
    return "\n".join(out) + "\n"


def render_detail(data: DetailJSON, *, color: bool = False) -> str:
    now = utcnow()
    p = data["progress"]
    reason = f" ({short(data['status_reason'], 80)})" if data["status_reason"] else ""
    out = [f"Workflow {data['workflow_id']}",
           f"  Request:   {short(data['request'], 90)}",
           f"  Status:    {paint(data['status'], data['status'], color)}{reason}",
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
    out += render_cost(data["cost"])
    shown, total = len(data["history"]), data["history_total"]
    out += ["", f"  Checkpoint history ({total}" + (f", last {shown} shown)" if shown < total else ")")]
    for h in data["history"]:
        out.append(f"  {h['seq']:>5}  {clock(parse_ts(h['at']))}  {short(h['checkpoint_type'], 20):<20} "
                   f"{h['status']}")
    return "\n".join(out) + "\n"
