"""`cairn watch [ID]`: the dashboard, redrawn when the database changes, until Ctrl+C.

No file watcher: a connection held open on `.claude/artifacts/cairn.db` asks SQLite
`PRAGMA data_version` a few times a second, which changes only when another connection
commits (a hook, another command); on a shared store, a small read of the server asks
which workflow it changed last and at which checkpoint (any machine's commit changes
it). A change redraws one frame, and only if the dashboard
reads differently (a burst of commits within --debounce is one frame). Every --interval
it looks again for what changes without a commit (a session whose process died is then
interrupted); relative times alone never draw a frame. On a terminal the screen
is cleared before each frame; into a pipe, frames follow each other, each under a header
line. On a terminal with rich installed, rich's live display redraws the dashboard in
place instead, one refresh per frame.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from cairn.cmd.common import Subparsers, artifacts_root, use_color
from cairn.cmd.status import render_status, rich_console
from cairn.dashboard import DetailJSON, OverviewJSON
from cairn.errors import EXIT_OK, CairnError
from cairn.humanize import clock
from cairn.model import utcnow
from cairn.status import Status
from cairn.store.sqlite import harden

if TYPE_CHECKING:
    from rich.console import RenderableType

    from cairn.manager import CheckpointManager

CLEAR = "\x1b[H\x1b[2J"
DB_FILE = "cairn.db"


class Poller:
    """What changed in the database since the last look, cheaply: (inode, data_version)
    of a connection held open, None while there is no database. A database replaced by
    `cairn doctor` (a new inode) is reopened."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.inode: int | None = None

    def token(self) -> tuple[int, int] | None:
        try:
            st = os.lstat(self.path)
        except OSError:  # no database yet (or no folder): nothing to watch yet
            self.close()
            return None
        if self.db is None or st.st_ino != self.inode:
            self.close()
            try:
                self.db = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro&nofollow=1", uri=True,
                                          timeout=5, isolation_level=None, check_same_thread=False)
                harden(self.db)  # a database from a cloned repository is data, never code
            except sqlite3.Error:
                return None
            self.inode = st.st_ino
        try:
            version = int(self.db.execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.Error:
            self.close()
            return None
        return st.st_ino, version

    def close(self) -> None:
        if self.db is not None:
            self.db.close()
        self.db, self.inode = None, None


class SharedPoller:
    """The same question asked of a shared store: which workflow the store changed last,
    at which checkpoint, and how many there are (one small read per look; another
    machine's commit changes it)."""

    def __init__(self, m: CheckpointManager) -> None:
        self.m = m

    def token(self) -> tuple[object, ...] | None:
        try:
            with self.m.store.read() as r:
                latest = r.by_change(list(Status))[:1]
                return (*latest, *(r.seq(w) for w in latest), sum(r.counts().values()))
        except CairnError:  # the server away: nothing to compare; the next look tries again
            return None

    def close(self) -> None:
        """Nothing held open here: the manager's connection ends with the command."""


def body(args: argparse.Namespace) -> tuple[OverviewJSON | DetailJSON | None, str]:
    """The dashboard's data (None when it could not be read) and its plain text."""
    try:
        return render_status(args)
    except CairnError as exc:
        return None, f"cairn: {exc}\n"


def header(n: int) -> str:
    return f"cairn watch: frame {n} at {clock(utcnow())} UTC (Ctrl+C to stop)"


def frame(text: str, n: int, tty: bool) -> str:
    return (CLEAR if tty else "\n") + header(n) + "\n" + text


# What changes with the clock alone, not with a workflow: left out when deciding whether
# to draw ("3 minutes ago" turning into "4 minutes ago" is no change).
VOLATILE = frozenset({"generated_at", "last_activity", "state_reason", "duration_seconds"})


def signature(data: object) -> object:
    """The dashboard's data without what moves with the clock alone."""
    if isinstance(data, dict):
        return {k: signature(v) for k, v in data.items() if k not in VOLATILE}
    if isinstance(data, list):
        return [signature(v) for v in data]
    return data


def frames(args: argparse.Namespace,
           poller: Poller | SharedPoller) -> Iterator[tuple[OverviewJSON | DetailJSON | None, str]]:
    """The first frame, then one each time a workflow has changed: after a commit of
    another connection (a burst within --debounce is one), or, found by looking again
    every --interval, a change no commit makes (a session whose process died is now
    interrupted). The watcher's own reads commit nothing, so they wake nothing; relative
    times alone draw nothing (they are as of the frame's time, in its header)."""
    seen = poller.token()
    data, shown = body(args)
    yield data, shown
    drawn = signature(data) if data is not None else shown
    last_look = time.monotonic()
    while True:
        time.sleep(args.poll)
        current = poller.token()
        due = args.interval > 0 and time.monotonic() - last_look >= args.interval
        if current == seen and not due:
            continue
        if current != seen:  # let a burst of commits settle into one frame
            time.sleep(args.debounce)
            current = poller.token()
        seen = current
        last_look = time.monotonic()
        data, text = body(args)
        now = signature(data) if data is not None else text
        if now != drawn:
            drawn = now
            yield data, text


def live_view(n: int, data: OverviewJSON | DetailJSON | None, text: str, width: int) -> RenderableType:
    from rich.console import Group
    from rich.text import Text

    from cairn.cmd.board import renderable

    shown = renderable(data, width) if data is not None and "sections" in data else Text.from_ansi(text)  # type: ignore[arg-type]
    return Group(Text(header(n), style="dim"), shown)


def cmd_watch(args: argparse.Namespace) -> int:
    from cairn.cmd.common import manager

    m = manager(args)
    poller: Poller | SharedPoller = SharedPoller(m) if m.shared else Poller(artifacts_root(args) / DB_FILE)
    tty = sys.stdout.isatty() and not args.no_color
    console = rich_console() if tty and use_color(args) else None
    try:
        if console is not None:  # rich's live display: redrawn in place, one refresh per frame
            from rich.live import Live

            with Live(console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=False) as live:
                for n, (data, text) in enumerate(frames(args, poller), 1):
                    live.update(live_view(n, data, text, console.width), refresh=True)
                    if args.max_frames and n >= args.max_frames:
                        break
        else:
            for n, (_, text) in enumerate(frames(args, poller), 1):
                sys.stdout.write(frame(text, n, tty))
                sys.stdout.flush()
                if args.max_frames and n >= args.max_frames:
                    break
    except KeyboardInterrupt:
        pass
    finally:
        poller.close()
    return EXIT_OK


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "watch", help="the dashboard, redrawn on every change, until Ctrl+C",
        description="Show `cairn status [ID]` and redraw it when a workflow changes: after a commit to the "
        "project's database, or, looked for every --interval seconds, when a workflow's session is found "
        "gone. Relative times alone draw nothing; they are as of the time in the frame's header.",
        epilog="Exit codes: 0 stopped with Ctrl+C, 2 usage error.")
    p.add_argument("workflow_id", metavar="ID", nargs="?")
    p.add_argument("--interval", type=float, default=30.0, metavar="SECONDS",
                   help="look again this often for sessions that died (default 30; 0: only on commits)")
    p.add_argument("--poll", type=float, default=0.25, help=argparse.SUPPRESS)
    p.add_argument("--debounce", type=float, default=0.1, help=argparse.SUPPRESS)
    p.add_argument("--max-frames", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--no-color", action="store_true", help="plain ASCII, no screen clearing")
    p.set_defaults(handler=cmd_watch, json=False)
