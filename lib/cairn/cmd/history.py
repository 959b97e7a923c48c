"""`cairn history`: analytics over every workflow of the project, computed from the
database (`.claude/artifacts/cairn.db`), the one source: success rate with its counts,
average completion time, resumes and pauses, and per stage its attempts, failures,
interruptions and average duration."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import TypedDict

from cairn.cmd.common import Subparsers, emit_json, manager
from cairn.errors import EXIT_OK
from cairn.humanize import duration
from cairn.model import Workflow
from cairn.status import Status

# Checkpoint types `cairn resume` writes (`Operation.name()`).
RESUME_MARKS = frozenset({"resume", "rollback", "rerun_from", "retry", "skip", "set_params"})
RESUMED_FROM = ("paused", "failed", "stale")


class StageStatsJSON(TypedDict):
    stage: str
    attempts: int
    completed: int
    failed: int
    interrupted: int
    skipped: int
    invalidated: int
    runs: int
    average_seconds: float | None


class CountJSON(TypedDict):
    stage: str
    count: int


class DurationJSON(TypedDict):
    stage: str
    runs: int
    average_seconds: float | None


class DayJSON(TypedDict):
    day: str
    count: int


class HostJSON(TypedDict):
    host: str
    workflows: int


class HistoryJSON(TypedDict):
    database: str
    hosts: list[HostJSON]
    workflows: int
    checkpoints: int
    by_status: dict[str, int]
    finished: dict[str, int]
    success_rate: float | None
    average_completion_seconds: float | None
    resumes: int
    pauses: int
    resumed_workflows: int
    resume_success_rate: float | None
    stages: list[StageStatsJSON]
    stages_interrupted: list[CountJSON]
    stages_failed: list[CountJSON]
    stage_durations: list[DurationJSON]
    workflows_per_day: list[DayJSON]
    rebuilt: bool


def resumes_of(wf: Workflow) -> int:
    """Resumes: checkpoints `cairn resume` made, plus moves back to running from paused,
    failed or stale at other checkpoints (a hook continuing a workflow)."""
    seqs = {m.seq for m in wf.marks if m.type in RESUME_MARKS}
    seqs |= {e.seq for e in wf.audit
             if e.action.startswith("status:") and e.action.endswith("->running")
             and e.action[len("status:"):].split("->")[0] in RESUMED_FROM}
    return len(seqs)


def _average(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def analytics(workflows: list[Workflow], database: str) -> HistoryJSON:
    by_status = Counter(wf.status.value for wf in workflows)
    order: dict[str, tuple[int, str]] = {}
    outcomes: dict[str, Counter[str]] = {}
    timed: dict[str, list[float]] = {}
    spans: list[float] = []
    resumes = pauses = resumed = resumed_done = 0
    days: Counter[str] = Counter()
    hosts: Counter[str] = Counter()  # on a shared store: the machines the workflows ran on
    for wf in workflows:
        days[wf.created_at.strftime("%Y-%m-%d")] += 1
        hosts.update({s.host or "unknown host" for s in wf.sessions})
        n = resumes_of(wf)
        resumes += n
        resumed += n > 0
        resumed_done += n > 0 and wf.status == Status.COMPLETED
        pauses += sum(1 for e in wf.audit if e.action.startswith("status:") and e.action.endswith("->paused"))
        if wf.status == Status.COMPLETED:
            spans.append((wf.updated_at - wf.created_at).total_seconds())
        for i, name in enumerate(wf.pipeline.names):
            order[name] = min(order.get(name, (i, name)), (i, name))
        for a in wf.attempts:
            c = outcomes.setdefault(a.stage, Counter())
            c["attempts"] += 1
            c[a.outcome_end or "running"] += 1
            c["invalidated"] += a.invalidated_seq is not None
            # a duration counts only when the attempt was seen to start and end apart
            if a.outcome_end == "completed" and a.ended_at is not None and a.ended_seq != a.started_seq:
                timed.setdefault(a.stage, []).append((a.ended_at - a.started_at).total_seconds())
    names = sorted(outcomes, key=lambda s: order.get(s, (len(order), s)))
    stages: list[StageStatsJSON] = [{
        "stage": s, "attempts": outcomes[s]["attempts"], "completed": outcomes[s]["completed"],
        "failed": outcomes[s]["failed"], "interrupted": outcomes[s]["interrupted"],
        "skipped": outcomes[s]["skipped"], "invalidated": outcomes[s]["invalidated"],
        "runs": len(timed.get(s, [])), "average_seconds": _average(timed.get(s, [])),
    } for s in names]
    finished = {k: by_status.get(k, 0) for k in ("completed", "failed", "cancelled")}

    def most(key: str) -> list[CountJSON]:
        found = [(-outcomes[s][key], s) for s in names if outcomes[s][key]]
        return [{"stage": s, "count": -n} for n, s in sorted(found)]

    return {
        "database": database, "hosts": [{"host": h, "workflows": n} for h, n in sorted(hosts.items())],
        "workflows": len(workflows), "checkpoints": sum(len(wf.marks) for wf in workflows),
        "by_status": {s.value: by_status[s.value] for s in Status if by_status.get(s.value)},
        "finished": finished,
        "success_rate": _rate(finished["completed"], finished["completed"] + finished["failed"]),
        "average_completion_seconds": _average(spans),
        "resumes": resumes, "pauses": pauses, "resumed_workflows": resumed,
        "resume_success_rate": _rate(resumed_done, resumed),
        "stages": stages, "stages_interrupted": most("interrupted"), "stages_failed": most("failed"),
        "stage_durations": [{"stage": s["stage"], "runs": s["runs"], "average_seconds": s["average_seconds"]}
                            for s in stages if s["runs"]],
        "workflows_per_day": [{"day": d, "count": days[d]} for d in sorted(days, reverse=True)],
        "rebuilt": False,
    }


def _pct(rate: float | None) -> str:
    return f"{round(100 * rate)}%" if rate is not None else "-"


def render(data: HistoryJSON) -> str:
    f = data["finished"]
    out = [f"Cairn history ({data['database']})",
           f"  {data['workflows']} workflows, {data['checkpoints']} checkpoints"
           + ("; " + ", ".join(f"{k} {v}" for k, v in data["by_status"].items()) if data["by_status"] else ""),
           f"  Success rate: {_pct(data['success_rate'])} ({f['completed']} completed, {f['failed']} failed; "
           f"{f['cancelled']} cancelled, not counted)",
           f"  Average completion time: {duration(data['average_completion_seconds'])}",
           "  Hosts: " + (", ".join(f"{h['host']} ({h['workflows']} workflows)" for h in data["hosts"]) or "none"),
           f"  Resumes {data['resumes']}, pauses {data['pauses']}; resume success rate "
           + (f"{_pct(data['resume_success_rate'])} ({data['resumed_workflows']} resumed workflows)"
              if data["resume_success_rate"] is not None else "- (nothing resumed yet)")]
    for title, rows in (("Most often interrupted", data["stages_interrupted"]),
                        ("Most often failed", data["stages_failed"])):
        out.append(f"  {title}: " + (", ".join(f"{r['stage']} ({r['count']})" for r in rows) if rows else "none"))
    if data["stages"]:
        out += ["", f"  {'Stage':<20} {'Attempts':>8} {'Failed':>6} {'Interrupted':>11} {'Average':>9}"]
        out += [f"  {s['stage'][:20]:<20} {s['attempts']:>8} {s['failed']:>6} {s['interrupted']:>11} "
                f"{duration(s['average_seconds']):>9}" for s in data["stages"]]
    if data["workflows_per_day"]:
        out += ["", "  Workflows per day"]
        out += [f"    {r['day']}  {'#' * min(r['count'], 50)} {r['count']}" for r in data["workflows_per_day"]]
    return "\n".join(out) + "\n"


def cmd_history(args: argparse.Namespace) -> int:
    m = manager(args)
    if args.rebuild:
        print("cairn: the database is the source: there is nothing to rebuild (`cairn doctor` repairs a "
              "damaged one)", file=sys.stderr)
    workflows: list[Workflow] = []
    if m.exists():
        with m.store.read() as r:
            workflows = [wf for wf in (r.workflow(i) for i in r.ids()) if wf is not None]
    data = analytics(workflows, m.store.describe() if m.exists() else str(m.root / "cairn.db"))
    if args.json:
        emit_json(data)
    else:
        sys.stdout.write(render(data))
    return EXIT_OK


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "history", help="analytics over every workflow run (from the project's database)",
        description="Success rate (completed / (completed + failed); cancelled ones are not counted), "
        "average completion time, resumes and pauses, and per stage its attempts, failures, "
        "interruptions and average duration, computed from .claude/artifacts/cairn.db.",
        epilog="Exit codes: 0 ok, 2 usage error, 3 internal error.")
    p.add_argument("--rebuild", action="store_true",
                   help="kept for compatibility: the database is the source, there is nothing to rebuild")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_history)
