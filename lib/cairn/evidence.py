"""Which workflow and stage a hook event belongs to, from evidence, or why none.

Evidence, strongest first: the subagent's own attempt (recorded at its start), the Agent
dispatch that named the workflow (PreToolUse saw the prompt), the subagent's transcript
(its first prompt names the workflow), and a `cairn start` / `cairn resume` run inside
the session (a binding). Never "the most recently active workflow": when the evidence is
missing or disagrees the answer is `Unattributed`, with one line telling the session
what to do. Standard library only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cairn.context import MARKER_RE
from cairn.model import Summary
from cairn.pipeline import Pipeline
from cairn.safefs import open_regular
from cairn.store import Reader

MAX_TRANSCRIPT_PREFIX = 256 << 10  # the first prompt is at the top of the file


@dataclass(frozen=True)
class Attributed:
    workflow_id: str
    stage: str
    how: str  # which evidence decided, for the audit trail and messages


@dataclass(frozen=True)
class Unattributed:
    reason: str  # one line for the session; "" when the event is simply not Cairn's
    # workflow id -> stage when several dispatches could have started this agent (parallel
    # Agent calls in one turn): its SubagentStop decides from its transcript
    candidates: tuple[tuple[str, str], ...] = ()


def stage_of(pipeline: Pipeline, agent_type: str) -> str | None:
    """The stage an agent type runs: the stage's `agent` (`cairn:planner`) or its name."""
    for stage in pipeline.stages:
        if agent_type in (stage.agent, stage.name):
            return stage.name
    return None


def named_workflows(text: str, known: set[str]) -> list[str]:
    """Workflow ids a prompt names: `cairn-workflow: <id>` lines, else known ids quoted
    anywhere in it. Distinct, in order of appearance."""
    found = [m.group(1) for m in MARKER_RE.finditer(text)]
    if not found:
        found = [wid for wid in known if wid in text]
    out: list[str] = []
    for wid in found:
        if wid not in out:
            out.append(wid)
    return out


def first_prompt(transcript: str | None) -> str | None:
    """The first user message of a subagent's transcript (JSON lines), read without
    following links and only from the file's head."""
    fh = open_regular(transcript)
    if fh is None:
        return None
    with fh:
        head = fh.read(MAX_TRANSCRIPT_PREFIX)
    for line in head.splitlines():
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if not isinstance(entry, dict) or entry.get("type") != "user":
            continue
        message = entry.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            return "\n".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return None


def candidates(open_rows: list[Summary], agent_type: str) -> dict[str, str]:
    """Open workflows whose pipeline has a stage for `agent_type`: id -> stage."""
    out = {}
    for row in open_rows:
        stage = stage_of(row.pipeline, agent_type)
        if stage is not None:
            out[row.workflow_id] = stage
    return out


def for_dispatch(r: Reader, open_rows: list[Summary], session_id: str, agent_type: str,
                 prompt: str) -> Attributed | Unattributed:
    """PreToolUse on the Agent tool: which workflow the dispatched stage is for."""
    cands = candidates(open_rows, agent_type)
    if not cands:
        return Unattributed("")
    named = named_workflows(prompt, set(cands))
    if len(named) > 1:
        return Unattributed(f"the prompt names several workflows ({', '.join(named[:4])}); name exactly one "
                            "with a line 'cairn-workflow: <id>'")
    if named:
        wid = named[0]
        if wid not in cands:
            return Unattributed(f"workflow {wid} is not open or has no stage run by {agent_type}; "
                                "check `cairn list`")
        return Attributed(wid, cands[wid], "dispatch prompt")
    bound = r.binding(session_id) if session_id else None
    if bound in cands:
        return Attributed(bound, cands[bound], "session binding")
    ids = ", ".join(sorted(cands)[:5])
    return Unattributed(f"the prompt does not name its Cairn workflow; add the line 'cairn-workflow: <id>' "
                        f"to the Agent prompt (open workflows with a {agent_type} stage: {ids})")


def for_subagent(r: Reader, open_rows: list[Summary], session_id: str, agent_id: str, agent_type: str,
                 transcript: str | None) -> Attributed | Unattributed:
    """SubagentStart/SubagentStop: which workflow and stage this subagent works for."""
    if not agent_type:
        return Unattributed("")  # compaction fires SubagentStop with agent_type ""
    if agent_id:
        mine = r.attempt_of_agent(agent_id)
        if mine is not None:
            return Attributed(mine[0], mine[1].stage, "its attempt")
        claimed = r.dispatch_of_agent(agent_id)
        if claimed is not None:
            return Attributed(claimed[0], claimed[1], "its dispatch")
    cands = candidates(open_rows, agent_type)
    if not cands:
        return Unattributed("")
    pending: dict[str, str] = {}
    for wid, stage in cands.items():
        for _tool_use, dwid, claimed_by in r.dispatches(session_id, stage):
            if claimed_by is None and dwid == wid:
                pending[wid] = stage
    prompt = first_prompt(transcript)
    named = named_workflows(prompt, set(cands)) if prompt else []
    if len(named) == 1 and named[0] in cands:
        if pending and named[0] not in pending:
            return Unattributed(f"its transcript names {named[0]} but the session dispatched "
                                f"{agent_type} for {', '.join(pending)}; nothing recorded")
        return Attributed(named[0], cands[named[0]], "transcript")
    if len(named) > 1:
        return Unattributed(f"its prompt names several workflows ({', '.join(named[:4])}); nothing recorded")
    if len(pending) == 1:
        wid = next(iter(pending))
        return Attributed(wid, pending[wid], "dispatch")
    if len(pending) > 1:
        return Unattributed(f"{agent_type} was dispatched for several workflows ({', '.join(sorted(pending))})"
                            " and this agent's prompt names none; nothing recorded",
                            tuple(sorted(pending.items())))
    bound = r.binding(session_id) if session_id else None
    if bound in cands:
        return Attributed(bound, cands[bound], "session binding")
    return Unattributed(f"no evidence ties this {agent_type} agent to a workflow; nothing recorded. Put "
                        "'cairn-workflow: <id>' in the Agent prompt, or record it with `cairn checkpoint ID "
                        f"--agent {agent_type.split(':')[-1]}`")


def claimable(r: Reader, session_id: str, workflow_id: str, stage: str) -> str | None:
    """The oldest unclaimed dispatch of `stage` for `workflow_id` in the session."""
    for tool_use, wid, claimed_by in r.dispatches(session_id, stage):
        if wid == workflow_id and claimed_by is None:
            return tool_use
    return None
