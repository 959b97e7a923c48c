"""`cairn watch [ID]`: the dashboard, redrawn whenever a file under the artifacts
folder changes (watchdog), until Ctrl+C. On a terminal the screen is cleared before
each frame; into a pipe, frames are separated by a header line."""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cairn.atomic import ensure_dir
from cairn.cmd.core import artifacts_root
from cairn.cmd.status import render_status
from cairn.errors import EXIT_OK, CairnError
from cairn.humanize import clock
from cairn.models import utcnow

IGNORED = ("history.db", ".lock", ".index.lock", ".logs", ".tmp")
CLEAR = "\x1b[H\x1b[2J"


def relevant(path: str, root: Path) -> bool:
    try:
        rel = Path(path).relative_to(root)
    except ValueError:
        return False
    return not any(part.startswith(IGNORED) or part.endswith(".lock") for part in rel.parts)


class _Trigger:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.event = threading.Event()

    def dispatch(self, event: Any) -> None:
        for attr in ("src_path", "dest_path"):
            path = getattr(event, attr, "")
            if isinstance(path, bytes):
                path = path.decode(errors="replace")
            if path and relevant(path, self.root):
                self.event.set()
                return


def frame(args: argparse.Namespace, n: int, tty: bool) -> str:
    try:
        _, text = render_status(args)
    except CairnError as exc:
        text = f"cairn: {exc}\n"
    header = f"cairn watch: frame {n} at {clock(utcnow())} UTC (Ctrl+C to stop)\n"
    return (CLEAR if tty else "\n") + header + text


def cmd_watch(args: argparse.Namespace) -> int:
    from watchdog.events import FileSystemEventHandler
    from watchdog.observers import Observer

    root = artifacts_root(args)
    ensure_dir(root)
    root = root.resolve()
    trigger = _Trigger(root)

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event: Any) -> None:
            trigger.dispatch(event)

    observer = Observer()
    observer.schedule(Handler(), str(root), recursive=True)
    observer.start()
    tty = sys.stdout.isatty() and not args.no_color
    n = 0
    try:
        while True:
            n += 1
            sys.stdout.write(frame(args, n, tty))
            sys.stdout.flush()
            if args.max_frames and n >= args.max_frames:
                break
            trigger.event.wait(args.interval)
            time.sleep(args.debounce)  # let a burst of writes settle into one redraw
            trigger.event.clear()
    except KeyboardInterrupt:
        pass
    finally:
        observer.stop()
        observer.join(timeout=5)
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser(
        "watch", help="the dashboard, redrawn on every change, until Ctrl+C",
        description="Show `cairn status [ID]` and redraw it whenever a file under the artifacts "
        "folder changes (and every --interval seconds, to keep relative times fresh).",
        epilog="Exit codes: 0 stopped with Ctrl+C, 2 usage error.")
    p.add_argument("workflow_id", metavar="ID", nargs="?")
    p.add_argument("--interval", type=float, default=30.0, metavar="SECONDS",
                   help="redraw at least this often (default 30)")
    p.add_argument("--debounce", type=float, default=0.2, help=argparse.SUPPRESS)
    p.add_argument("--max-frames", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--no-color", action="store_true", help="plain ASCII, no screen clearing")
    p.set_defaults(handler=cmd_watch, json=False)
