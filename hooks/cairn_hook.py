"""Entry point Claude Code runs for every Cairn hook (through hooks/run.sh).

Thin on purpose: puts the plugin's `lib/` on the path and hands over to
`cairn.hooks.run`, which never raises. A new session's SessionStart is first offered to
`cairn.offer.serve`, which answers from a cache without importing the rest of Cairn;
when it cannot (anything changed), the full hook runs.

A hook is a short process: the cyclic garbage collector is switched off (nothing here
lives long enough to leak), and the process ends with `os._exit` once its answer is
flushed: the interpreter's own shutdown (a final collection over every imported module,
closing the database, which checkpoints and deletes its WAL) costs a hook ~10-15 ms and
does nothing for it. Every write was committed before the answer was printed.
"""

from __future__ import annotations

import gc
import os
import sys

gc.disable()
_LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "lib")
sys.path.insert(0, os.path.normpath(_LIB))
MAX_STDIN = 1 << 20


def _cached(event: str, raw: bytes) -> str | None:
    project = os.environ.get("CLAUDE_PROJECT_DIR")
    if event != "session-start" or not project or len(raw) > MAX_STDIN:
        return None
    try:
        from cairn.offer import serve

        return serve(os.path.join(project, ".claude", "artifacts"), raw.decode("utf-8", "replace"))
    except Exception:  # the cache is an optimisation: any surprise means the full hook runs
        return None


def _edit(raw: bytes) -> bool:
    """A subagent's file edit: one line appended by `cairn.edits` alone (this runs on
    every edit); anything unexpected goes to the full hook, which logs it."""
    try:
        from cairn.edits import fast

        return fast(raw, os.environ)
    except Exception:
        return False


def _main() -> None:
    event = sys.argv[1] if len(sys.argv) > 1 else ""
    try:
        raw = sys.stdin.buffer.read(MAX_STDIN + 1)
    except (OSError, ValueError):
        raw = b""
    out = _cached(event, raw)
    if out is None and event == "post-edit" and _edit(raw):
        out = ""
    if out is None:
        import json

        from cairn.hooks import run

        answer = run(event, raw, os.environ)
        out = json.dumps(answer) if answer is not None else ""
    if out:
        sys.stdout.write(out + "\n")
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    _main()
