"""`cairn watch [ID]`: the dashboard, redrawn when the database changes, until Ctrl+C.

No file watcher: a connection held open on `.claude/artifacts/cairn.db` asks SQLite
`PRAGMA data_version` a few times a second, which changes only when another connection
commits (a hook, another command); on a shared store, a small read asks which workflow
the store changed last and at which checkpoint (any machine's commit changes it). A
change redraws one frame, and only if the dashboard reads differently (a burst of
commits within --debounce is one frame). `--interval` redraws anyway now and then so
that "5 minutes ago" stays true. On a terminal the screen
is cleared before each frame; into a pipe, frames follow each other, each under a header
line. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import time
from pathlib import Path
from urllib.parse import quote

from cairn.cmd.common import Subparsers, artifacts_root
from cairn.cmd.status import render_status
from cairn.errors import EXIT_OK, CairnError
from cairn.humanize import clock
from cairn.model import utcnow
from cairn.status import Status

TYPE_CHECKING = False
if TYPE_CHECKING:
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


def body(args: argparse.Namespace) -> str:
    try:
        return render_status(args)[1]
    except CairnError as exc:
        return f"cairn: {exc}\n"


def frame(text: str, n: int, tty: bool) -> str:
    header = f"cairn watch: frame {n} at {clock(utcnow())} UTC (Ctrl+C to stop)\n"
    return (CLEAR if tty else "\n") + header + text


def cmd_watch(args: argparse.Namespace) -> int:
    from cairn.cmd.common import manager

    m = manager(args)
    poller: Poller | SharedPoller = SharedPoller(m) if m.shared else Poller(artifacts_root(args) / DB_FILE)
    tty = sys.stdout.isatty() and not args.no_color
    n = 0
    seen = poller.token()
    shown = body(args)
    last_draw = time.monotonic()
    try:
        while True:
            n += 1
            sys.stdout.write(frame(shown, n, tty))
            sys.stdout.flush()
            if args.max_frames and n >= args.max_frames:
                break
            while True:
                time.sleep(args.poll)
                current = poller.token()
                due = args.interval > 0 and time.monotonic() - last_draw >= args.interval
                if current == seen and not due:
                    continue
                if current != seen:  # let a burst of commits settle into one frame
                    time.sleep(args.debounce)
                    current = poller.token()
                seen = current
                text = body(args)
                if due:
                    last_draw = time.monotonic()
                if text != shown:
                    shown = text
                    last_draw = time.monotonic()
                    break
    except KeyboardInterrupt:
        pass
    finally:
        poller.close()
    return EXIT_OK


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "watch", help="the dashboard, redrawn on every change, until Ctrl+C",
        description="Show `cairn status [ID]` and redraw it when the project's database changes (and "
        "every --interval seconds, to keep relative times fresh); a frame is drawn only when the "
        "dashboard reads differently.",
        epilog="Exit codes: 0 stopped with Ctrl+C, 2 usage error.")
    p.add_argument("workflow_id", metavar="ID", nargs="?")
    p.add_argument("--interval", type=float, default=30.0, metavar="SECONDS",
                   help="look again at least this often, for relative times (default 30; 0: only on changes)")
    p.add_argument("--poll", type=float, default=0.25, help=argparse.SUPPRESS)
    p.add_argument("--debounce", type=float, default=0.1, help=argparse.SUPPRESS)
    p.add_argument("--max-frames", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--no-color", action="store_true", help="plain ASCII, no screen clearing")
    p.set_defaults(handler=cmd_watch, json=False)
