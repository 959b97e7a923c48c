"""`cairn history`: analytics over every workflow of the project, computed from the
database (`.claude/artifacts/cairn.db`), the one source: success rate with its counts,
average completion time, resumes and pauses, per stage its attempts, failures,
interruptions, average duration, tokens and minutes, and what resuming saved, per
workflow and in total (`cairn.accounting`)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import TypedDict

from cairn import accounting
from cairn.accounting import NOTHING, SavingJSON
from cairn.cmd.common import Subparsers, emit_json, manager
from cairn.errors import EXIT_OK
from cairn.humanize import duration
from cairn.model import Workflow
from cairn.status import Status

SAVINGS_SHOWN = 20


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
    tokens: int
    seconds: float


class WorkflowCostJSON(TypedDict):
    workflow_id: str
    tokens: int
    seconds: float
    saved: SavingJSON


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
    tokens: int
    seconds: float
    saved: SavingJSON
    workflow_costs: list[WorkflowCostJSON]
    rebuilt: bool


def resumes_of(wf: Workflow) -> int:
    return len(accounting.resume_seqs(wf))


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
    spent: dict[str, list[float]] = {}  # stage -> [tokens, seconds]
    per_workflow: list[WorkflowCostJSON] = []
    total_saved = NOTHING
    for wf in workflows:
        costs = accounting.stage_costs(wf)
        for cost in costs:
            acc = spent.setdefault(cost.stage, [0, 0.0])
            acc[0] += cost.tokens
            acc[1] += cost.seconds
        wf_saved = accounting.saved(wf)
        total_saved += wf_saved
        per_workflow.append({"workflow_id": wf.workflow_id, "tokens": sum(x.tokens for x in costs),
                             "seconds": round(sum(x.seconds for x in costs), 1),
                             "saved": accounting.saving_json(wf_saved)})
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
        "tokens": int(spent.get(s, [0, 0.0])[0]), "seconds": round(spent.get(s, [0, 0.0])[1], 1),
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
        "tokens": sum(w["tokens"] for w in per_workflow),
        "seconds": round(sum(w["seconds"] for w in per_workflow), 1),
        "saved": accounting.saving_json(total_saved),
        "workflow_costs": [w for w in reversed(per_workflow) if w["tokens"] or w["seconds"] or w["saved"]["resumes"]],
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
    out.append(f"  Spent: {accounting.tokens_text(data['tokens'])} tokens, "
               f"{accounting.minutes_text(data['seconds'])}; saved by resuming: "
               f"{accounting.saving_text(data['saved'])}")
    if data["stages"]:
        out += ["", f"  {'Stage':<20} {'Attempts':>8} {'Failed':>6} {'Interrupted':>11} {'Average':>9} {'Tokens':>8} "
                f"{'Minutes':>8}"]
        out += [f"  {s['stage'][:20]:<20} {s['attempts']:>8} {s['failed']:>6} {s['interrupted']:>11} "
                f"{duration(s['average_seconds']):>9} {accounting.tokens_text(s['tokens']) if s['tokens'] else '-':>8} "
                f"{s['seconds'] / 60:>8.1f}" for s in data["stages"]]
    if data["workflow_costs"]:
        shown = data["workflow_costs"][:SAVINGS_SHOWN]
        out += ["", f"  {'Workflow':<30} {'Tokens':>8} {'Minutes':>8}  Saved by resuming"]
        out += [f"  {w['workflow_id'][:30]:<30} {accounting.tokens_text(w['tokens']):>8} {w['seconds'] / 60:>8.1f}  "
                f"{accounting.saving_text(w['saved'])}" for w in shown]
        if len(data["workflow_costs"]) > len(shown):
            out.append(f"  ... {len(data['workflow_costs']) - len(shown)} more (--json lists them all)")
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
