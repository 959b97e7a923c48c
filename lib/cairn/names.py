"""Stage and agent names: ASCII, and no two stage names that look alike.

A pipeline may come from a cloned repository (`.claude/cairn.yaml`) or from a snapshot
in the database or an imported checkpoint. A stage name written with a Cyrillic or Greek
look-alike letter ("plаnner" beside "planner"), an invisible character or a trailing
newline would let two stages pass for one in everything a person or the model reads. So
names are ASCII (checked with `fullmatch`: `$` would accept a final newline), and two
names whose skeletons match (case, 0/o, 1/l/I, rn/m, vv/w, _/-) are refused as confusable.
Standard library only.
"""

from __future__ import annotations

import re

STAGE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
AGENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_:.-]{0,99}")
_LOOK_ALIKE = (("rn", "m"), ("vv", "w"), ("cl", "d"), ("0", "o"), ("1", "l"), ("i", "l"), ("_", "-"))


def bad_stage_name(name: object) -> str | None:
    """Why `name` cannot name a stage, or None."""
    if not isinstance(name, str):
        return "it is not text"
    if not name.isascii():
        odd = next(c for c in name if not c.isascii())
        return f"it has the non-ASCII character {odd!r} (U+{ord(odd):04X}), which can pass for another"
    if not STAGE_RE.fullmatch(name):
        return "use 1-64 ASCII letters, digits, '-' or '_', starting with a letter or digit"
    return None


def bad_agent_name(agent: object) -> str | None:
    if not isinstance(agent, str) or not AGENT_RE.fullmatch(agent):
        return "use 1-100 ASCII letters, digits, '-', '_', ':' or '.'"
    return None


def skeleton(name: str) -> str:
    """What `name` looks like: names with one skeleton are told apart by nobody."""
    s = name.replace("I", "l").lower()
    for a, b in _LOOK_ALIKE:
        s = s.replace(a, b)
    return s


def confusable(names: list[str]) -> tuple[str, str] | None:
    """Two different names of `names` that look alike, if any."""
    seen: dict[str, str] = {}
    for name in names:
        other = seen.setdefault(skeleton(name), name)
        if other != name:
            return other, name
    return None
