"""The status dashboard: data (the stable `--json` shapes) and its text rendering.

`overview()` and `detail()` build plain dicts (documented in docs/cli.md); `render_*`
turn them into text. The text is ASCII only; colour (ANSI) is added only when asked,
so a pipe, a log file or `--no-color` gets plain ASCII.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

from cairn.humanize import ago, clock, duration
from cairn.manager import CheckpointManager
from cairn.models import Checkpoint, utcnow
from cairn.status import Status

RECENT_COMPLETED = 5
SECTIONS: list[tuple[str, str, frozenset[str]]] = [
    ("running", "Running", frozenset({"running", "pending"})),
    ("interrupted", "Interrupted / paused", frozenset({"paused"})),
    ("failed", "Failed", frozenset({"failed"})),
    ("stale", "Stale", frozenset({"stale"})),
    ("recently_completed", "Recently completed", frozenset({"completed"})),
]
_COLORS = {"running": "36", "pending": "36", "paused": "33", "failed": "31", "stale": "35",
           "completed": "32", "cancelled": "90", "skipped": "90", "invalidated": "33",
           "interrupted": "33", "next": "1"}
_CTRL = re.compile(r"[\x00-\x1f\x7f]")


# ---------------------------------------------------------------------- formatting
def parse_ts(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str) or not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def iso(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")




def short(text: object, limit: int) -> str:
    """One line of text, ASCII-safe control characters removed, cut to `limit`."""
    s = _CTRL.sub(" ", str(text or "")).strip()
    return s if len(s) <= limit else s[: max(limit - 3, 0)] + "..."


def bar(percent: int, width: int = 20) -> str:
    filled = max(0, min(width, round(width * percent / 100)))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def paint(text: str, key: str, color: bool) -> str:
    code = _COLORS.get(key)
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


# ---------------------------------------------------------------------- data
def _progress(done: int, total: int) -> dict[str, int]:
    return {"completed": done, "total": total, "percent": round(100 * done / total) if total else 100}


def last_agent(cp: Checkpoint) -> tuple[str | None, str | None, str | None]:
    """(agent, "current" | "last", last error) of a checkpoint."""
    latest: tuple[datetime, str, str | None] | None = None
    for name, state in cp.agents.items():
        att = state.last
        if att is None:
            continue
        when = att.ended_at or att.started_at
        if latest is None or when >= latest[0]:
            latest = (when, name, att.error if att.outcome in ("failed", "interrupted") else None)
    if cp.current_agent:
        return cp.current_agent, "current", latest[2] if latest else None
    if latest:
        return latest[1], "last", latest[2]
    return None, None, None


def row(m: CheckpointManager, wid: str, s: dict[str, Any]) -> dict[str, Any]:
    """One dashboard row (loads the checkpoint for the agent and the last error)."""
    done = int(s.get("completed") or 0) + int(s.get("skipped") or 0)
    agent, role, error = s.get("current_agent"), "current" if s.get("current_agent") else None, None
    try:
        cp = m.load(wid)
        agent, role, error = last_agent(cp)
    except Exception:  # a damaged workflow still gets its row, from the index
        pass
    return {
        "workflow_id": wid, "status": s.get("status"), "request": s.get("request") or "",
        "progress": _progress(done, int(s.get("total") or 0)),
        "agent": agent, "agent_role": role, "next_agents": list(s.get("next_agents") or []),
        "started_at": iso(parse_ts(s.get("created_at"))),
        "last_activity": iso(parse_ts(s.get("last_activity"))),
        "last_error": short(error, 300) if error else None,
    }


def overview(m: CheckpointManager, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    rows = m.list_workflows(include_finished=True)
    counts = {s.value: 0 for s in Status}
    for _, s in rows:
        key = str(s.get("status"))
        counts[key] = counts.get(key, 0) + 1
    sections: dict[str, list[dict[str, Any]]] = {}
    for key, _, statuses in SECTIONS:
        picked = [(w, s) for w, s in rows if s.get("status") in statuses]
        if key == "recently_completed":
            picked = picked[:RECENT_COMPLETED]
        sections[key] = [row(m, w, s) for w, s in picked]
    finished = counts["completed"] + counts["failed"] + counts["cancelled"]
    spans = []
    for _, s in rows:
        if s.get("status") == "completed":
            start, end = parse_ts(s.get("created_at")), parse_ts(s.get("updated_at"))
            if start and end:
                spans.append((end - start).total_seconds())
    return {
        "generated_at": iso(now), "root": str(m.root), "total": len(rows), "counts": counts,
        "sections": sections,
        "success_rate": round(counts["completed"] / finished, 4) if finished else None,
        "average_completion_seconds": round(sum(spans) / len(spans), 1) if spans else None,
    }


def stage_state(cp: Checkpoint, name: str, ready: list[str]) -> str:
    if name in cp.completed_agents:
        return "completed"
    if name in cp.skipped_agents:
        return "skipped"
    state = cp.agents.get(name)
    if state is not None and state.last is not None:
        return state.last.outcome
    if name in ready and cp.status not in (Status.COMPLETED, Status.CANCELLED):
        return "next"
    return "pending"


def detail(m: CheckpointManager, wid: str, *, now: datetime | None = None,
           history_limit: int = 30) -> dict[str, Any]:
    now = now or utcnow()
    cp = m.load(wid)
    pipeline = m.pipeline_of(cp)
    ready = pipeline.ready(cp.done)
    stages = []
    for name in pipeline.names:
        state = cp.agents.get(name)
        att = state.last if state else None
        secs = None
        if att is not None:
            secs = ((att.ended_at or now) - att.started_at).total_seconds()
        stages.append({
            "stage": name, "state": stage_state(cp, name, ready),
            "attempts": len(state.attempts) if state else 0,
            "duration_seconds": round(secs, 1) if secs is not None else None,
            "artifacts": sorted(rel for rel, rec in cp.artifacts.items() if rec.agent == name),
            "last_error": short(att.error, 300) if att is not None and att.error else None,
        })
    hist = m.store.history(wid)
    history = []
    for entry in hist[-history_limit:]:
        at: str | None = None
        status: str | None = None
        try:
            raw = json.loads(entry.path.read_bytes())
            at, status = iso(parse_ts(raw.get("updated_at"))), raw.get("status")
        except (OSError, ValueError):
            pass
        history.append({"seq": entry.seq, "checkpoint_type": entry.checkpoint_type,
                        "at": at, "status": status})
    agent, role, error = last_agent(cp)
    return {
        "workflow_id": cp.workflow_id, "status": cp.status.value, "status_reason": cp.status_reason,
        "request": cp.request, "started_at": iso(cp.created_at), "last_activity": iso(cp.last_activity),
        "progress": _progress(len([a for a in cp.done if pipeline.has(a)]), len(pipeline)),
        "agent": agent, "agent_role": role, "last_error": short(error, 300) if error else None,
        "next_agents": ready if cp.status.value not in ("completed", "cancelled") else [],
        "parameters": dict(cp.parameters), "stages": stages,
        "history": history, "history_total": len(hist),
    }


# ---------------------------------------------------------------------- text
def _row_lines(r: dict[str, Any], now: datetime, color: bool) -> list[str]:
    p = r["progress"]
    agent = f"{r['agent_role']}: {r['agent']}" if r["agent"] else "not started"
    started, last = parse_ts(r["started_at"]), parse_ts(r["last_activity"])
    lines = [
        f"  {r['workflow_id']}  {paint(str(r['status']), str(r['status']), color)}",
        f"    {short(r['request'], 68)}",
        f"    {bar(p['percent'])} {p['percent']:>3}%  {p['completed']}/{p['total']}  {short(agent, 40)}",
        f"    started {clock(started)}  last activity {ago(last, now)}",
    ]
    if r.get("last_error"):
        lines.append(f"    last error: {short(r['last_error'], 80)}")
    return lines


def render_overview(data: dict[str, Any], *, color: bool = False) -> str:
    now = parse_ts(data["generated_at"]) or utcnow()
    counts = data["counts"]
    shown = [f"{paint(k, k, color)} {v}" for k, v in counts.items() if v]
    out = [f"Cairn workflows in {data['root']}",
           f"{data['total']} total: " + (", ".join(shown) if shown else "none")]
    for key, title, _ in SECTIONS:
        rows = data["sections"][key]
        if not rows:
            continue
        out += ["", f"{title} ({len(rows)})"]
        for r in rows:
            out += _row_lines(r, now, color)
    rate = data["success_rate"]
    out += ["", "Success rate: " + (f"{round(100 * rate)}% of finished workflows" if rate is not None
                                     else "- (nothing finished yet)"),
            f"Average completion time: {duration(data['average_completion_seconds'])}"]
    return "\n".join(out) + "\n"


def render_detail(data: dict[str, Any], *, color: bool = False) -> str:
    now = utcnow()
    p = data["progress"]
    status = paint(data["status"], data["status"], color)
    reason = f" ({short(data['status_reason'], 80)})" if data.get("status_reason") else ""
    out = [f"Workflow {data['workflow_id']}",
           f"  Request:   {short(data['request'], 90)}",
           f"  Status:    {status}{reason}",
           f"  Progress:  {bar(p['percent'])} {p['percent']}%  {p['completed']}/{p['total']}",
           f"  Started:   {clock(parse_ts(data['started_at']))}",
           f"  Activity:  {ago(parse_ts(data['last_activity']), now)}"]
    if data["next_agents"]:
        out.append(f"  Next:      {', '.join(data['next_agents'])}")
    if data["parameters"]:
        out.append("  Parameters: " + ", ".join(f"{k}={short(v, 40)}"
                                                for k, v in sorted(data["parameters"].items())))
    out += ["", "  Stage              State        Duration  Tries  Artifacts"]
    for s in data["stages"]:
        state = f"{s['state']:<12}"
        out.append(f"  {short(s['stage'], 18):<18} {paint(state, s['state'], color)} "
                   f"{duration(s['duration_seconds']):>8}  {s['attempts']:>5}  "
                   f"{short(', '.join(s['artifacts']) or '-', 40)}")
        if s["last_error"] and s["state"] in ("failed", "interrupted", "invalidated", "skipped"):
            out.append(f"  {'':<18} {short(s['last_error'], 70)}")
    shown, total = len(data["history"]), data["history_total"]
    out += ["", f"  Checkpoint history ({total}" + (f", last {shown} shown)" if shown < total else ")")]
    for h in data["history"]:
        out.append(f"  {h['seq']:>5}  {clock(parse_ts(h['at']))}  {short(h['checkpoint_type'], 20):<20} "
                   f"{h['status'] or '-'}")
    return "\n".join(out) + "\n"
