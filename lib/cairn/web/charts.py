"""The history page's charts, drawn on the server as inline SVG (no script, no library):
time per stage, where runs fail, resumes and pauses over time, tokens per stage. The
numbers are `cairn history`'s analytics (tokens: what the client reported per attempt)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from html import escape

from cairn.accounting import resume_seqs
from cairn.cmd.history import HistoryJSON, analytics
from cairn.humanize import duration
from cairn.model import Workflow

WIDTH, ROW, LABEL = 640, 26, 150


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # a class of panel.css: the colour
    values: list[float]


@dataclass(frozen=True)
class Chart:
    title: str
    svg: str  # escaped here: safe to put in the page as it is
    empty: bool


def _text(x: float, y: float, text: str, cls: str = "lbl", anchor: str = "start") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" class="{cls}" text-anchor="{anchor}">{escape(text)}</text>'


def bars(title: str, labels: list[str], series: list[Series], fmt: str = "count") -> Chart:
    """Horizontal bars, one row per label, the series stacked; the total at the end."""
    if not labels:
        return Chart(title, "", True)
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    top = max(totals) or 1.0
    span = WIDTH - LABEL - 90
    height = ROW * len(labels) + (24 if len(series) > 1 else 6)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
             f'height="{height}" role="img" aria-label="{escape(title)}">']
    for i, label in enumerate(labels):
        y = i * ROW + 4
        parts.append(_text(LABEL - 8, y + 14, label[:24], anchor="end"))
        x = float(LABEL)
        for s in series:
            w = span * s.values[i] / top
            if w > 0:
                tip = f"{s.name}: {_fmt(s.values[i], fmt)}"
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{ROW - 8}" class="{s.css}">'
                             f"<title>{escape(label)}: {escape(tip)}</title></rect>")
                x += w
        parts.append(_text(x + 6, y + 14, _fmt(totals[i], fmt), cls="val"))
    if len(series) > 1:
        x = float(LABEL)
        for s in series:
            parts.append(f'<rect x="{x:.1f}" y="{height - 16}" width="10" height="10" class="{s.css}"/>')
            parts.append(_text(x + 14, height - 7, s.name))
            x += 20 + 7 * len(s.name)
    parts.append("</svg>")
    return Chart(title, "".join(parts), False)


def _fmt(value: float, fmt: str) -> str:
    if fmt == "seconds":
        return duration(value)
    if fmt == "tokens":
        return f"{int(value):,}"
    return str(int(value))


def per_day(workflows: list[Workflow]) -> tuple[list[str], list[float], list[float]]:
    """(days, resumes, pauses), the last 14 days with any: resumes as `cairn history` counts
    them (`accounting.resume_seqs`), pauses the moves to paused, each on the day it happened."""
    resumes: Counter[str] = Counter()
    pauses: Counter[str] = Counter()
    for wf in workflows:
        at = {mk.seq: mk.at for mk in wf.marks}
        for seq in resume_seqs(wf):
            if seq in at:
                resumes[at[seq].strftime("%Y-%m-%d")] += 1
        for e in wf.audit:
            if e.action.startswith("status:") and e.action.endswith("->paused"):
                pauses[e.at.strftime("%Y-%m-%d")] += 1
    days = sorted(set(resumes) | set(pauses))[-14:]
    return days, [float(resumes[d]) for d in days], [float(pauses[d]) for d in days]


def history(workflows: list[Workflow], database: str) -> tuple[HistoryJSON, list[Chart]]:
    data = analytics(workflows, database)
    timed = data["stage_durations"]
    fails = [s for s in data["stages"] if s["failed"] or s["interrupted"]]
    days, resumes, pauses = per_day(workflows)
    spent = [s for s in data["stages"] if s["tokens"]]
    charts = [
        bars("Average time per stage", [s["stage"] for s in timed],
             [Series("average", "c-time", [s["average_seconds"] or 0.0 for s in timed])], "seconds"),
        bars("Where runs fail", [s["stage"] for s in fails],
             [Series("failed", "c-fail", [float(s["failed"]) for s in fails]),
              Series("interrupted", "c-int", [float(s["interrupted"]) for s in fails])]),
        bars("Resumes and pauses per day", days,
             [Series("resumes", "c-resume", resumes), Series("pauses", "c-pause", pauses)]),
        bars("Tokens per stage (as the client reported them)", [s["stage"] for s in spent],
             [Series("tokens", "c-tok", [float(s["tokens"]) for s in spent])], "tokens"),
    ]
    return data, charts
