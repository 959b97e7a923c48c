"""The slash commands (commands/*.md): every instruction to dispatch a stage with the
Agent tool carries the `cairn-workflow: <id>` line PreToolUse reads; `allowed-tools`
grants what each command uses; every `cairn` they run exists, with --exit-zero on the
lines Claude Code runs before the prompt."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cairn.cli import build_parser
from cairn.context import MARKER_RE, workflow_marker
from test_cli_support import REPO

COMMANDS = sorted((REPO / "commands").glob("*.md"))
SUBCOMMANDS = set(build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def parts(path: Path) -> tuple[dict[str, str], str]:
    text = path.read_text(encoding="utf-8")
    m = re.match(r"^---\n(.*?)\n---\n(.*)$", text, re.S)
    assert m, f"{path.name} has no frontmatter"
    front = dict(line.split(": ", 1) for line in m.group(1).splitlines())
    return front, m.group(2)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: p.name)
def test_agent_dispatches_carry_the_workflow_marker(path: Path) -> None:
    front, body = parts(path)
    tools = [t.strip() for t in front["allowed-tools"].split(",")]
    assert "Bash(cairn:*)" in tools
    dispatches = "Agent tool" in body
    assert ("Agent" in tools) == dispatches, "Agent is allowed exactly where stages are dispatched"
    if dispatches:
        marker = re.search(r"exactly\s+`(cairn-workflow: [^`]+)`", body)
        assert marker, f"{path.name} must tell the model the exact `cairn-workflow: <id>` line"
        assert MARKER_RE.match(marker.group(1).replace("<workflow_id>", "wf-x").replace("$0", "wf-x"))
        assert workflow_marker("wf-x") == marker.group(1).replace("<workflow_id>", "wf-x").replace("$0", "wf-x")
        assert "Read" in tools


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: p.name)
def test_every_cairn_command_they_run_exists(path: Path) -> None:
    _, body = parts(path)
    for line in re.findall(r"!`([^`]*)`", body):  # run by Claude Code before the prompt
        assert line.startswith("cairn --exit-zero "), line
    used = re.findall(r"`cairn (?:--exit-zero )?([a-z]+)\b", body)
    assert used, path.name
    assert set(used) <= SUBCOMMANDS, set(used) - SUBCOMMANDS


def test_each_command_is_found_in_its_own_module() -> None:
    """`cairn X` imports only X's module: the map must name the module that defines X."""
    from cairn.cli import MODULES

    assert set(MODULES) == SUBCOMMANDS
    for command in SUBCOMMANDS:
        parser = build_parser([command])
        only = set(parser._subparsers._group_actions[0].choices)  # type: ignore[union-attr]
        assert command in only
