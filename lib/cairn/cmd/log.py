"""`cairn log ID [--append-to FILE]`: a markdown execution log of one workflow.

With `--append-to`, the file's `## Execution Log` section (up to the next heading of
level 1 or 2, outside code fences) is replaced, or a section is appended; every other
byte of the file stays as it was.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import TypedDict

from cairn.cmd.common import Subparsers, emit_json, manager
from cairn.dashboard import iso, ready, stage_state
from cairn.errors import EXIT_OK, NotResumable, UsageError
from cairn.humanize import duration
from cairn.manager import CheckpointManager

HEADING = "## Execution Log"
CELL = 60
_HEADING_RE = re.compile(r"^##[ \t]+Execution Log[ \t]*#*[ \t]*$", re.IGNORECASE)
_ANY_HEADING_RE = re.compile(r"^ {0,3}#{1,2}(?:[ \t]|$)")
_FENCE_RE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def cell(text: object, limit: int = CELL) -> str:
    """A markdown table cell: one line, `|` and backslashes escaped, shortened."""
    s = re.sub(r"[\x00-\x1f\x7f]+", " ", str(text if text is not None else "")).strip()
    if len(s) > limit:
        s = s[: limit - 3].rstrip() + "..."
    return s.replace("\\", "\\\\").replace("|", "\\|") or "-"


class LogStageJSON(TypedDict):
    stage: str
    status: str
    attempts: int
    started_at: str | None
    duration_seconds: float | None
    artifacts: list[str]


class LogJSON(TypedDict):
    workflow_id: str
    request: str
    started_at: str | None
    duration_seconds: float
    status: str
    status_reason: str | None
    stages: list[LogStageJSON]


def log_data(m: CheckpointManager, wid: str) -> LogJSON:
    wf = m.load(wid)
    pipeline = wf.pipeline
    next_up = ready(wf)
    # Times are measured up to the last checkpoint, never to the clock: the log of a
    # workflow that did not change is the same, byte for byte (`--append-to` twice).
    now = wf.updated_at
    order: list[tuple[int, datetime | None, int, str]] = []
    for i, name in enumerate(pipeline.names):
        state = wf.agents.get(name)
        first = state.attempts[0].started_at if state and state.attempts else None
        order.append((0 if first else 1, first, i, name))
    order.sort(key=lambda t: (t[0], t[1] or now, t[2]))
    stages: list[LogStageJSON] = []
    for _, first, _, name in order:
        state = wf.agents.get(name)
        attempts = state.attempts if state else []
        total = sum(((a.ended_at or now) - a.started_at).total_seconds() for a in attempts)
        stages.append({
            "stage": name, "status": stage_state(wf, name, next_up), "attempts": len(attempts),
            "started_at": iso(first), "duration_seconds": round(total, 1) if attempts else None,
            "artifacts": sorted(rel for rel, rec in wf.artifacts.items() if rec.agent == name),
        })
    end = wf.updated_at
    return {
        "workflow_id": wf.workflow_id, "request": wf.request, "started_at": iso(wf.created_at),
        "duration_seconds": round((end - wf.created_at).total_seconds(), 1),
        "status": wf.status.value, "status_reason": wf.status_reason, "stages": stages,
    }


def render(data: LogJSON) -> str:
    reason = f" ({cell(data['status_reason'], 80)})" if data["status_reason"] else ""
    started = (data["started_at"] or "-").replace("T", " ").replace("Z", " UTC")
    lines = [
        HEADING, "",
        f"- **Run:** `{data['workflow_id']}`",
        f"- **Request:** {cell(data['request'], 200)}",
        f"- **Started:** {started}",
        f"- **Duration:** {duration(data['duration_seconds'])}",
        f"- **Status:** {data['status']}{reason}",
        "",
        "| # | Stage | Status | Attempts | Duration | Artifacts |",
        "|---|-------|--------|----------|----------|-----------|",
    ]
    for i, s in enumerate(data["stages"], 1):
        lines.append(f"| {i} | {cell(s['stage'])} | {cell(s['status'])} | {s['attempts']} | "
                     f"{duration(s['duration_seconds'])} | {cell(', '.join(s['artifacts']))} |")
    return "\n".join(lines) + "\n"


def splice(original: str, section: str) -> tuple[str, bool]:
    """`original` with its Execution Log section replaced by `section`, or `section`
    appended (and whether it replaced one); nothing else changes. The original's line
    endings are kept."""
    lines = original.splitlines(keepends=True)
    fence: str | None = None
    start = end = None
    pos = 0
    for line in lines:
        bare = line.rstrip("\r\n")
        m = _FENCE_RE.match(bare)
        if m and (fence is None or (m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence))):
            fence = m.group(1) if fence is None else None
        elif fence is None:
            if start is None and _HEADING_RE.match(bare):
                start = pos
            elif start is not None and _ANY_HEADING_RE.match(bare):
                end = pos
                break
        pos += len(line)
    newline = "\r\n" if "\r\n" in original else "\n"
    body = section.replace("\n", newline)
    if start is not None:
        if end is None:
            return original[:start] + body, True
        return original[:start] + body + newline + original[end:], True
    if not original:
        return body, False
    sep = "" if original.endswith("\n") else newline
    return original + sep + newline + body, False


def append_to(path: Path, section: str) -> bool:
    """Write `section` into `path` (a temp file beside it, then a rename); returns True when
    an existing section was replaced. A symbolic link is refused, not written through."""
    from cairn import safefs

    if path.is_symlink():
        raise UsageError(f"{path} is a symbolic link", hint="give the file it points to")
    mode: int | None = None
    try:
        raw = path.read_bytes()
        mode = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        raw = b""
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder", hint="give a markdown file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text", hint="give a markdown file") from None
    updated, replaced = splice(text, section)
    safefs.replace_in(path.parent, path.name, updated.encode("utf-8"), durable=True)
    os.chmod(path, mode if mode is not None else 0o644)  # replace_in creates it private
    return replaced


def cmd_log(args: argparse.Namespace) -> int:
    m = manager(args)
    wid = args.workflow_id
    if wid == "latest":
        rows = m.list_workflows(include_finished=True)
        if not rows:
            raise NotResumable(f"there is no workflow under {m.root}",
                               hint='start one with `cairn start "REQUEST"`')
        wid = rows[0].workflow_id
    data = log_data(m, wid)
    text = render(data)
    if args.append_to:
        replaced = append_to(Path(args.append_to), text)
        print(f"{'replaced the' if replaced else 'appended an'} Execution Log section in "
              f"{args.append_to}", file=sys.stderr)
    if args.json:
        emit_json({**data, "markdown": text})
    elif not args.append_to:
        sys.stdout.write(text)
    return EXIT_OK


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "log", help="a markdown execution log of a workflow",
        description="A markdown execution log: run id, request, started, duration, status, and "
        "a table of stages in execution order. --append-to replaces the file's `## Execution "
        "Log` section, or appends one, leaving every other byte of the file as it was.",
        epilog="Exit codes: 0 ok, 1 workflow not found, 2 usage error.")
    p.add_argument("workflow_id", metavar="ID|latest", nargs="?", default="latest")
    p.add_argument("--append-to", metavar="FILE", help="write the log into this markdown file")
    p.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    p.set_defaults(handler=cmd_log)
