"""`cairn resume` for a person at a terminal: the numbered pick when no id is given, and
what the person is told after a resume.

The pick is grouped as the design has it (Active, Interrupted, Paused / failed), each
entry with its live-or-dead state (`cairn.liveness`) and percent, the request, the last
checkpoint and when, the start, the last activity and the error in full (wrapped); then
"Select workflow to resume [1-N]". After a resume a person gets a summary and the exact
next step (the slash command to run in Claude Code), never the model's resume context,
which the slash command asks for as JSON. Standard library only.
"""

from __future__ import annotations

import os
import sys
import textwrap
from dataclasses import dataclass

from cairn import dashboard, liveness
from cairn.boardtext import approval, checkpoint, stage
from cairn.cmd.common import SESSION_ENV
from cairn.dashboard import RowJSON, paint, parse_ts, short
from cairn.errors import NotResumable, UsageError
from cairn.humanize import ago, clock
from cairn.manager import CheckpointManager
from cairn.model import utcnow
from cairn.resumer import ResumePlan

WIDTH = 100
GROUPS: list[tuple[str, frozenset[str]]] = [
    ("Active", frozenset({liveness.EXECUTING, liveness.PENDING})),
    ("Interrupted", frozenset({liveness.INTERRUPTED})),
    ("Paused / failed", frozenset({liveness.PAUSED, liveness.FAILED, liveness.STALE})),
]


@dataclass(frozen=True)
class Choice:
    """One entry of the pick: its dashboard row and the full error of its latest attempt."""

    row: RowJSON
    error: str | None


def for_person() -> bool:
    """A person at a terminal (not Claude Code's Bash tool, not a pipe)."""
    return sys.stdin.isatty() and sys.stdout.isatty() and not os.environ.get(SESSION_ENV)


def choices(m: CheckpointManager) -> list[Choice]:
    """The resumable workflows in the order they are numbered: by group, and within a
    group as `CheckpointManager.resumable` orders them (the one changed last first)."""
    summaries = m.resumable()
    if not summaries:
        return []
    now = utcnow()
    found: list[Choice] = []
    with m.store.read() as r:
        for wf in dashboard.load_rows(r, summaries):
            row = dashboard.row(wf, liveness.of(r, m.root, wf, now))
            found.append(Choice(row, dashboard.last_agent(wf)[2]))
    order = {state: i for i, (_, states) in enumerate(GROUPS) for state in states}
    return sorted(found, key=lambda c: order.get(c.row["state"], len(GROUPS)))  # stable: that order kept


def entry(i: int, c: Choice, now_text: str, *, color: bool = False) -> list[str]:
    r = c.row
    now = parse_ts(now_text) or utcnow()
    head = f"{r['state'].upper()} - {r['progress']['percent']}% complete"
    lines = [f"{i:>2}. {r['workflow_id']} [{paint(head, r['state'], color)}]",
             *textwrap.wrap(f'Request: "{short(r["request"], 400)}"', WIDTH, initial_indent="    ",
                            subsequent_indent="      "),
             f"    Stage: {stage(r['agent'], r['agent_role'])}",
             f"    Last checkpoint: {checkpoint(r, now_text)}",
             f"    Started: {clock(parse_ts(r['started_at']))}",
             f"    Last activity: {ago(parse_ts(r['last_activity']), now)}"
             + (f" on {short(r['host'], 60)}" if r["host"] else "")]
    error = c.error if r["state"] in (liveness.FAILED, liveness.INTERRUPTED) else None
    reason = r["state_reason"]
    if reason and not (error and (error in reason or reason in error)):
        label = "Running in" if r["state"] == liveness.EXECUTING else "Why"
        lines += textwrap.wrap(f"{label}: {reason}", WIDTH, initial_indent="    ", subsequent_indent="      ")
    held = approval(r)
    if held:
        lines += textwrap.wrap(f"Waiting for approval: {held}", WIDTH, initial_indent="    ",
                               subsequent_indent="      ")
    if error:
        text = dashboard.short(error, 10_000)  # control characters out; the whole of it
        lines += textwrap.wrap(f"Error: {text}", WIDTH, initial_indent="    ", subsequent_indent="      ",
                               break_long_words=True)
    return lines


def render(found: list[Choice], root: str, now_text: str, *, color: bool = False) -> str:
    out = [f"Workflows to resume in {root}:"]
    i = 0
    for title, states in GROUPS:
        members = [c for c in found if c.row["state"] in states]
        if not members:
            continue
        out += ["", f"{title}:"]
        for c in members:
            i += 1
            out += entry(i, c, now_text, color=color)
    return "\n".join(out) + "\n"


def prompt(n: int) -> str:
    return f"Select workflow to resume [1-{n}]: "


def pick(m: CheckpointManager, *, color: bool = False) -> str:
    """The workflow to resume when no id was given: the only one, a choice on a
    terminal, or an error listing them."""
    found = choices(m)
    if not found:
        raise NotResumable(f"there is no workflow to resume under {m.root}",
                           hint='start one with `cairn start "REQUEST"`')
    if len(found) == 1:
        return found[0].row["workflow_id"]
    now = dashboard.iso(utcnow()) or ""
    listing = render(found, str(m.root), now, color=color and sys.stdout.isatty())
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError(f"{len(found)} workflows can be resumed; say which:\n{listing}",
                         hint="run `cairn resume ID` (or `cairn resume latest` for the most recent)")
    ids = [c.row["workflow_id"] for c in found]
    print(listing + "\nType a number (or q to quit).", flush=True)
    while True:
        try:
            answer = input(prompt(len(found))).strip()
        except EOFError:
            answer = "q"
        if answer.lower() in ("q", "quit", ""):
            raise UsageError("nothing picked", hint="run `cairn resume ID`")
        if answer.isdigit() and 1 <= int(answer) <= len(found):
            return ids[int(answer) - 1]
        if answer in ids:
            return answer
        print(f"  please type a number from 1 to {len(found)}", flush=True)


def summary(plan: ResumePlan, m: CheckpointManager, *, dry_run: bool, note: str | None) -> str:
    """What a person is told after `cairn resume` at a terminal, ending with the next step."""
    wid = plan.workflow_id
    p = plan.progress
    done = ", ".join(plan.completed_agents) or "none yet"
    out = [f"{'Would resume' if dry_run else 'Resumed' if plan.can_resume else 'Cannot resume'} {wid}",
           *textwrap.wrap(f'Request: "{short(plan.request, 400)}"', WIDTH, initial_indent="  ",
                          subsequent_indent="    "),
           f"  Progress: {p.completed}/{p.total} stages done ({p.percent}%): {done}"]
    if note:
        out.append(f"  Change: {note}")
    if plan.skipped_agents:
        out.append(f"  Skipped: {', '.join(plan.skipped_agents)}")
    for name in plan.interrupted:
        out.append(f"  Interrupted: {name} did not finish; it runs again from the start")
    for prob in plan.problems:
        out += textwrap.wrap(f"[{prob.code}] {prob.message}", WIDTH, initial_indent="  Problem: ",
                             subsequent_indent="    ")
    if plan.invalidated_agents:  # lineage: what those problems make run again (cairn.lineage)
        out.append(f"  Re-runs: {', '.join(plan.invalidated_agents)} (the problems above affect them)")
    if not plan.can_resume:
        out += [f"  Why: {plan.reason}", "", f"Next step: `cairn validate {wid}` says what to repair."]
        return "\n".join(out) + "\n"
    out.append(f"  Next stage: {', '.join(plan.next_agents) or 'none (every stage is done)'}")
    where = f" (in {m.project_dir})" if m.project_dir is not None else ""
    state = "Nothing was changed (--dry-run)." if dry_run else "It is marked running."
    out += ["", f"{state} To continue, run this in Claude Code{where}:", f"  /cairn:resume {wid}"]
    return "\n".join(out) + "\n"
