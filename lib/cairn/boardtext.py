"""The dashboard as plain text, for pipes, logs and Claude Code's slash commands (and a
terminal when the `rich` package is missing): ASCII only, columns under a header row;
ANSI colour only when asked. Standard library only: `bin/cairn` may run on a bare
python3. `cairn.cmd.board` draws the same data with rich on a terminal."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from cairn import liveness
from cairn.dashboard import SECTIONS, OverviewJSON, RowJSON, bar, paint, parse_ts, short
from cairn.humanize import ago, clock, duration
from cairn.model import utcnow

WIDTH = 100
EMPTY = 'No workflows yet: `/cairn:start "REQUEST"` in Claude Code (or `cairn start "REQUEST"`) creates one.'
# The overall line's counts, in the design's order ("2 executing, 1 interrupted, ...").
OVERALL = (liveness.EXECUTING, liveness.PENDING, liveness.INTERRUPTED, liveness.PAUSED, liveness.FAILED,
           liveness.STALE)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, color: bool = False,
          paint_col: int | None = None, indent: str = "") -> list[str]:
    """Columns padded to their widest cell under a header row; the `paint_col` cell of each
    row is coloured by its own text (a status) after padding, so columns stay aligned."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    out = [indent + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for r in rows:
        cells = [c.ljust(w) for c, w in zip(r, widths, strict=True)]
        if paint_col is not None:
            cells[paint_col] = paint(cells[paint_col], r[paint_col], color)
        out.append(indent + "  ".join(cells).rstrip())
    return out


def overall(data: OverviewJSON, *, color: bool = False) -> str:
    states = data["states"]
    parts = [f"{states[s]} {paint(s, s, color and states[s] > 0)}" for s in OVERALL
             if states[s] or s != liveness.PENDING]
    return ", ".join([*parts, f"{data['completed_today']} completed today"])


def success(data: OverviewJSON) -> str:
    """"50% (1/2 finished; 1 cancelled, not counted)": completed / (completed + failed)."""
    counts, rate = data["counts"], data["success_rate"]
    if rate is None:
        return "- (nothing completed or failed yet)"
    done, failed, cancelled = counts["completed"], counts["failed"], counts["cancelled"]
    return (f"{round(100 * rate)}% ({done}/{done + failed} finished workflows completed; "
            f"{cancelled} cancelled, not counted)")


def stage(agent: str | None, role: str | None) -> str:
    """The stage column of status and list alike: "current: implementer" (running now),
    "last: planner" (its most recent attempt), or "not started"."""
    return f"{role}: {agent}" if agent else "not started"


def checkpoint(r: RowJSON, now_text: str | None = None) -> str:
    cp = r["last_checkpoint"]
    when = parse_ts(cp["at"])
    now = parse_ts(now_text) or utcnow()
    return f"{cp['label']}, {clock(when)} ({ago(when, now)})"


def approval(r: RowJSON) -> str | None:
    """The stages held at a breakpoint (`cairn pause ID --before STAGE`), and what releases them."""
    held = r["waiting_for_approval"]
    return f"{', '.join(held)} (`cairn approve {r['workflow_id']}`)" if held else None


def why(r: RowJSON) -> tuple[str, str] | None:
    """The line a row needs below it: the error, or how it was interrupted or paused."""
    if r["state"] in (liveness.FAILED, liveness.INTERRUPTED) and r["last_error"]:
        return "error", r["last_error"] + (f" ({r['state_reason']})" if r["state"] == liveness.INTERRUPTED
                                           and r["state_reason"] else "")
    if r["state_reason"] and r["state"] != liveness.COMPLETED:
        return ("running in" if r["state"] == liveness.EXECUTING else "reason"), r["state_reason"]
    return None


def wrapped(label: str, text: str, indent: str) -> list[str]:
    return textwrap.wrap(f"{label}: {short(text, 2000)}", WIDTH, initial_indent=indent,
                         subsequent_indent=indent + "  ", break_long_words=True)


def render_overview(data: OverviewJSON, *, color: bool = False) -> str:
    now = parse_ts(data["generated_at"]) or utcnow()
    out = [f"Cairn status: {overall(data, color=color)}", f"Workflows in {data['root']} ({data['total']} in all)"]
    if not data["total"]:
        out += ["", EMPTY]
    for key, title, _ in SECTIONS:
        rows = data["sections"][key]
        if not rows:
            continue
        out += ["", f"{title} ({len(rows)})"]
        cells = [[r["workflow_id"], r["state"], f"{bar(r['progress']['percent'], 10)} {r['progress']['percent']:>3}%",
                  short(stage(r["agent"], r["agent_role"]), 28), ago(parse_ts(r["last_activity"]), now)] for r in rows]
        lines = table(["WORKFLOW", "STATE", "PROGRESS", "STAGE", "LAST ACTIVITY"], cells, color=color,
                      paint_col=1, indent="  ")
        out.append(lines[0])
        for r, line in zip(rows, lines[1:], strict=True):
            out.append(line)
            out += wrapped("request", r["request"], "      ")[:2]
            out.append(f"      last checkpoint: {checkpoint(r, data['generated_at'])}")
            if r["host"]:
                out.append(f"      host: {short(r['host'], 60)}")
            extra = why(r)
            if extra:
                out += wrapped(*extra, "      ")
            if approval(r):
                out += wrapped("waiting for approval", approval(r) or "", "      ")
    out += ["", f"Completed today: {data['completed_today']}",
            f"Success rate: {success(data)}",
            f"Average completion time: {duration(data['average_completion_seconds'])}"]
    return "\n".join(out) + "\n"
