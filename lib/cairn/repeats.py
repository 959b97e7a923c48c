"""Before a Bash command runs: would it create, a second time in one workflow, what the
side-effect ledger already has? `planned(command, cwd)` names the creations a command
would make (`Planned`: a pull request for a branch, an issue with a title, a release of
a tag, a package version, read from the command and the project's manifests);
`repeats(plans, ledger)` pairs each with what is on record. Standard library only.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cairn.ledger import (
    JS_PUBLISHERS,
    PLAN_TRIGGERS,
    PY_PUBLISHERS,
    clean,
    current_branch,
    dist_version,
    option,
    pep503,
    positionals,
    tool_of,
    walk,
    worth_parsing,
)
from cairn.model import Effect


@dataclass(frozen=True)
class Planned:
    """A command about to run that would repeat something when the ledger has it."""

    kind: str     # pr | issue | release | publish
    target: str   # the branch, the title, the tag, name@version
    command: str  # the simple command, for the message


def planned(command: str, cwd: str) -> list[Planned]:
    """What the command would create that must not be created twice in one workflow."""
    if not worth_parsing(command, PLAN_TRIGGERS):
        return []
    out: list[Planned] = []
    for argv, here in walk(command, cwd):
        tool, shown = tool_of(argv), " ".join(argv)[:200]
        noun, verb, args = (argv[1:2] or [""])[0], (argv[2:3] or [""])[0], argv[3:]
        if tool == "gh" and (noun, verb) == ("pr", "create"):
            branch = option(args, "--head", "-H") or current_branch(here)
            if branch:
                out.append(Planned("pr", branch, shown))
        elif tool == "gh" and (noun, verb) == ("issue", "create"):
            title = option(args, "--title", "-t")
            if title:
                out.append(Planned("issue", clean(title), shown))
        elif tool == "gh" and (noun, verb) == ("release", "create"):
            tags = positionals(args, ("--title", "-t", "--notes", "-n", "--target", "--notes-file", "-F",
                                       "--repo", "-R", "--discussion-category"))
            if tags:
                out.append(Planned("release", tags[0], shown))
        else:
            out += [Planned("publish", t, shown) for t in _would_publish(argv, here)]
    return out


def _would_publish(argv: list[str], here: str) -> list[str]:
    """name@version of what a publish command would upload, from the files it names or the
    project's manifest."""
    tool, sub = tool_of(argv), (argv[1] if len(argv) > 1 else "")
    if tool in JS_PUBLISHERS and "publish" in argv[1:3]:
        data = _read_json(os.path.join(here, *(positionals(argv[2:])[:1] or ["."]), "package.json"))
        name, version = data.get("name"), data.get("version")
        return [f"{name}@{version}"] if isinstance(name, str) and isinstance(version, str) else []
    if tool == "cargo" and sub == "publish":
        found = _toml_fields(os.path.join(here, "Cargo.toml"), "package")
        return [f"{found[0]}@{found[1]}"] if found else []
    if (tool, sub) in PY_PUBLISHERS:
        files = [f for a in positionals(argv[2:]) for f in _expand(a, here)]
        dists = [d for d in (dist_version(f) for f in files) if d]
        if not dists and not files:
            found = _toml_fields(os.path.join(here, "pyproject.toml"), "project") or \
                _toml_fields(os.path.join(here, "pyproject.toml"), "tool.poetry")
            dists = [found] if found else []
        return [f"{pep503(n)}@{v}" for n, v in dict.fromkeys(dists)]
    return []


def _expand(pattern: str, here: str) -> list[str]:
    import glob

    path = os.path.join(here, pattern)
    return sorted(glob.glob(path)) if any(c in pattern for c in "*?[") else [path]


def _read_json(path: str) -> dict[str, object]:
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read(1 << 20))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _toml_fields(path: str, table: str) -> tuple[str, str] | None:
    """(name, version) of `[table]` in a TOML file, read line by line (tomllib is not in
    Python 3.10, and only two plain strings are wanted)."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read(1 << 20)
    except (OSError, UnicodeDecodeError):
        return None
    fields: dict[str, str] = {}
    inside = False
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("["):
            inside = s == f"[{table}]"
            continue
        m = re.match(r"^(name|version)\s*=\s*[\"']([^\"']+)[\"']", s) if inside else None
        if m:
            fields.setdefault(m[1], m[2])
    return (fields["name"], fields["version"]) if "name" in fields and "version" in fields else None


def repeats(plans: Sequence[Planned], ledger: Sequence[Effect]) -> list[tuple[Planned, Effect]]:
    """The planned creations the workflow's ledger already has."""
    have = {(e.kind, e.target if e.kind != "publish" else e.target.lower()): e for e in ledger}
    out = []
    for p in plans:
        key = (p.kind, p.target if p.kind != "publish" else p.target.lower())
        if key in have:
            out.append((p, have[key]))
    return out
