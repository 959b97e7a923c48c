"""The dashboard on a terminal, drawn with rich: the overall line, one boxed table per
group (progress bar, request, stage, last checkpoint, last activity, and the error or
how it was interrupted), then completed today, the success rate with its counts and the
average completion time. The same data as the plain text of `cairn.boardtext`; used by
`cairn status` and, as a live display, by `cairn watch`. CLI only (rich is not a hook
dependency)."""

from __future__ import annotations

import io
from typing import Literal

from rich import box
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from cairn import boardtext, liveness
from cairn.dashboard import SECTIONS, OverviewJSON, RowJSON, parse_ts, short
from cairn.humanize import ago, clock, duration
from cairn.model import utcnow

STYLE = {liveness.EXECUTING: "bold green", liveness.PENDING: "cyan", liveness.INTERRUPTED: "bold yellow",
         liveness.PAUSED: "yellow", liveness.FAILED: "bold red", liveness.STALE: "magenta",
         liveness.COMPLETED: "green", liveness.CANCELLED: "dim"}
MARK = {"running": "[green]●[/]", "interrupted": "[yellow]●[/]", "paused": "[yellow]○[/]", "failed": "[red]●[/]",
        "stale": "[magenta]●[/]", "recently_completed": "[green]✓[/]"}


def progress_bar(percent: int, state: str, width: int = 12) -> Text:
    filled = max(0, min(width, round(width * percent / 100)))
    return Text.assemble(("█" * filled, STYLE.get(state, "")), ("░" * (width - filled), "dim"), f" {percent:>3}%")


def _why(r: RowJSON) -> Text:
    found, held = boardtext.why(r), boardtext.approval(r)
    out = Text("")
    if found is not None:
        label, text = found
        out.append(text, style="red" if label == "error" else "yellow" if label == "reason" else "dim")
    if held:
        out.append(("\n" if found else "") + "waiting for approval: ", style="bold magenta")
        out.append(held)
    return out


def group_table(title: str, key: str, rows: list[RowJSON], now_text: str | None, *, compact: bool) -> Table:
    """One group's table. `compact` (a narrow terminal): a shorter bar and no details
    column (`details_below` prints them under the table instead)."""
    now = parse_ts(now_text) or utcnow()
    t = Table(title=f"{MARK.get(key, '')} {title} ({len(rows)})", title_justify="left", box=box.ROUNDED,
              header_style="bold", expand=False, show_lines=len(rows) > 1)
    t.add_column("Workflow", overflow="fold", min_width=12, max_width=34)
    t.add_column("Progress", no_wrap=True)
    t.add_column("Stage", overflow="fold", min_width=10, max_width=24)
    t.add_column("Last checkpoint", overflow="fold", min_width=10 if compact else 16, max_width=26)
    t.add_column("Last activity", no_wrap=not compact)
    details = not compact and any(boardtext.why(r) or boardtext.approval(r) for r in rows)
    if details:
        t.add_column("Details" if key == "running" else "Why / error", overflow="fold", min_width=12, max_width=44)
    for r in rows:
        cp = r["last_checkpoint"]
        who = Text.assemble((r["workflow_id"], "bold"), "\n", (short(r["request"], 200), "italic"))  # no control codes
        state = Text(r["state"], style=STYLE.get(r["state"], ""))
        bar = progress_bar(r["progress"]["percent"], r["state"], 6 if compact else 12)
        t.add_row(who, Text.assemble(bar, "\n", state),
                  boardtext.stage(r["agent"], r["agent_role"]),
                  Text.assemble(cp["label"], "\n", (clock(parse_ts(cp["at"])), "dim")),
                  Text.assemble(ago(parse_ts(r["last_activity"]), now),
                                (f"\non {short(r['host'], 30)}" if r["host"] else "", "dim")),
                  *([_why(r)] if details else []))
    return t


def details_below(rows: list[RowJSON]) -> list[RenderableType]:
    out: list[RenderableType] = []
    for r in rows:
        found = boardtext.why(r)
        if found is not None or boardtext.approval(r):
            label = f"{found[0]}: " if found is not None else ""
            line = Text.assemble((f"{r['workflow_id']} ", "bold"), (label, "dim"), _why(r))
            out.append(Padding(line, (0, 0, 0, 2)))
    return out


def renderable(data: OverviewJSON, width: int = 120) -> RenderableType:
    """The dashboard for a console `width` columns wide (under 110: compact tables)."""
    compact = width < 110
    parts: list[RenderableType] = [
        Text.from_markup(f"[bold]Cairn status[/]: {_overall(data)}"),
        Text(f"Workflows in {data['root']} ({data['total']} in all)", style="dim"),
    ]
    if not data["total"]:
        parts += [Text(""), Text(boardtext.EMPTY)]
    for key, title, _ in SECTIONS:
        rows = data["sections"][key]
        if rows:
            parts += [Text(""), group_table(title, key, rows, data["generated_at"], compact=compact)]
            if compact:
                parts += details_below(rows)
    parts += [Text(""),
              Text.from_markup(f"[green]Completed today:[/] {data['completed_today']}"),
              Text.from_markup(f"[cyan]Success rate:[/] {boardtext.success(data)}"),
              Text.from_markup(f"[cyan]Average completion time:[/] {duration(data['average_completion_seconds'])}")]
    return Group(*parts)


def _overall(data: OverviewJSON) -> str:
    states = data["states"]
    parts = [f"[{STYLE[s]}]{states[s]} {s}[/]" if states[s] else f"0 {s}" for s in boardtext.OVERALL
             if states[s] or s != liveness.PENDING]
    return ", ".join([*parts, f"[green]{data['completed_today']} completed today[/]"])


def render(data: OverviewJSON, *, width: int | None = None,
           color_system: Literal["auto", "standard", "256", "truecolor"] | None = "auto") -> str:
    """The dashboard as the terminal would get it (ANSI included), e.g. for a golden file."""
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=width or 120, color_system=color_system,
                      legacy_windows=False, emoji=False, highlight=False)
    console.print(renderable(data, console.width))
    return buf.getvalue()
