"""A project's own JSON Schema checked within a time budget.

The project's schemas come with its repository, and a `pattern` can backtrack
catastrophically: "^(a+)+$" against "aaaa…ab" takes longer than the universe's age. Python's
regular expressions cannot be given a deadline, and a thread running one cannot be killed,
but the matcher checks for signals: on the main thread (hooks, the CLI, the panel's event
loop) an interval timer stops the check when the budget is spent. Elsewhere, a schema
with patterns is checked in a child process that is killed at the budget.

A stopped check fails with one line naming the schema file and its suspect pattern and
saying what to do. The budget is `CAIRN_SCHEMA_BUDGET` seconds (default 5): a hook's
own timeout is 60 s.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TypeVar

BUDGET_ENV = "CAIRN_SCHEMA_BUDGET"
DEFAULT_BUDGET = 5.0
LIB = Path(__file__).resolve().parents[2]  # the folder holding the `cairn` package
T = TypeVar("T")

# A group holding a quantifier, itself quantified: "(a+)+", "(\w*)*", "(?:x|y+){2,}". Not
# every such pattern backtracks badly; it is the usual cause, so it is named first.
NESTED = re.compile(r"\((?:[^()\\]|\\.)*(?:[+*]|\{\d*,\d*\})(?:[^()\\]|\\.)*\)(?:[+*]|\{\d*,\d*\})")


class Overrun(BaseException):
    """The budget was spent. A BaseException, so that no `except Exception` on the way
    (in jsonschema, referencing) swallows it."""


def budget() -> float:
    raw = os.environ.get(BUDGET_ENV, "")
    try:
        seconds = float(raw) if raw else DEFAULT_BUDGET
    except ValueError:
        return DEFAULT_BUDGET
    return seconds if 0 < seconds < 3600 else DEFAULT_BUDGET


def interruptible() -> bool:
    """Whether a timer signal can stop a check running here (main thread, POSIX)."""
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


def within(seconds: float, work: Callable[[], T]) -> T:
    """work(), or Overrun once `seconds` have passed (main thread only: `interruptible`).
    The previous SIGALRM handler and timer are put back."""
    def stop(signum: int, frame: FrameType | None) -> None:
        raise Overrun

    previous = signal.signal(signal.SIGALRM, stop)
    pending, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return work()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        if pending > 0:  # someone else's timer was running: let it still fire (at least as late as it would)
            signal.setitimer(signal.ITIMER_REAL, max(pending - seconds, 0.001))


def patterns(schema: object, where: str = "$") -> list[tuple[str, str]]:
    """(JSON path in the schema, regex) of every `pattern` and `patternProperties` key."""
    out: list[tuple[str, str]] = []
    if isinstance(schema, dict):
        for key, value in schema.items():
            here = f"{where}.{key}"
            if key == "pattern" and isinstance(value, str):
                out.append((here, value))
            elif key == "patternProperties" and isinstance(value, dict):
                out += [(f"{here}[{json.dumps(k)}]", k) for k in value]
            out += patterns(value, here)
    elif isinstance(schema, list):
        for i, item in enumerate(schema):
            out += patterns(item, f"{where}[{i}]")
    return out


def shown(schema_file: Path) -> str:
    """`.claude/schemas/NAME` for a project's schema, else the file's name."""
    parent = schema_file.parent
    return f".claude/schemas/{schema_file.name}" if (parent.name, parent.parent.name) == ("schemas", ".claude") \
        else schema_file.name


def overrun_message(schema_file: Path, schema: object, seconds: float) -> str:
    """What a stopped check says, in one line: the schema, its suspect pattern, what to do."""
    found = patterns(schema)
    suspects = [p for p in found if NESTED.search(p[1])] or found
    if suspects:
        where, regex = suspects[0]
        culprit = (f"pattern {json.dumps(regex[:60])} at {where[:80]} backtracks catastrophically (a repeated "
                   "group that repeats, like (a+)+); rewrite it so a text matches one way (e.g. ^a+$)")
    else:
        culprit = "simplify it"
    return f"$: schema {shown(schema_file)} stopped after {seconds:g} s: {culprit} or raise {BUDGET_ENV}"


def in_child(schema_file: Path, data: object, limit: int, schema: object) -> list[str]:
    """The check run in a child process killed at the budget (off the main thread)."""
    seconds = budget()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(LIB), os.environ.get("PYTHONPATH"))))}
    request = json.dumps({"schema": str(schema_file), "data": data, "limit": limit})
    try:
        # the child has its own (main-thread) timer at the budget; the kill is a backstop
        run = subprocess.run([sys.executable, "-m", "cairn.checks.schema_child"],
                             input=request, capture_output=True, text=True, timeout=seconds + 10, env=env,
                             check=False)
    except subprocess.TimeoutExpired:
        return [overrun_message(schema_file, schema, seconds)]
    except OSError as exc:
        return [f"$: schema {schema_file.name} could not be checked in a child process: {exc}"]
    try:
        found = json.loads(run.stdout)
    except ValueError:
        found = None
    if run.returncode != 0 or not isinstance(found, list):
        tail = (run.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return [f"$: schema {schema_file.name} could not be checked in a child process: {tail}"]
    return [str(p) for p in found]
