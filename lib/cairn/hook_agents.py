"""The Agent tool and its subagents: PreToolUse guards and keeps the dispatch (the
evidence), PostToolUse ties it to the agent id, SubagentStart briefs the stage,
SubagentStop checks its artifacts and records it. Standard library only."""

from __future__ import annotations

import json

from cairn.errors import CairnError
from cairn.hookio import Hook, Output, held_elsewhere, say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cairn.manager import CheckpointManager


def _agent_call(hook: Hook) -> tuple[str, str] | None:
    if hook.text("tool_name") not in ("Agent", "Task"):
        return None
    tool_input = hook.payload.get("tool_input")
    if not isinstance(tool_input, dict):
        return None
    agent_type, prompt = tool_input.get("subagent_type"), tool_input.get("prompt")
    if not isinstance(agent_type, str) or not agent_type or not isinstance(prompt, str):
        return None
    return agent_type, prompt


def _deny(reason: str) -> Output:
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                   "permissionDecisionReason": f"Cairn: {reason[:1500]}"}}


def pre_tool_use(hook: Hook) -> Output:
    """Guard the dispatch of a pipeline stage, and keep it as evidence."""
    call = _agent_call(hook)
    if call is None or not (hook.root / ".open").exists():
        return None
    from cairn.evidence import Unattributed, for_dispatch

    agent_type, prompt = call
    m = hook.manager()
    sid = hook.text("session_id")
    rows = m.list_workflows()
    with m.store.read() as r:
        found = for_dispatch(r, rows, sid, agent_type, prompt)
    if isinstance(found, Unattributed):
        return _deny(found.reason) if found.reason else None
    row = next(s for s in rows if s.workflow_id == found.workflow_id)
    stage = row.pipeline.stage(found.stage)
    held = held_elsewhere(m, row.workflow_id, sid)
    if held:
        return _deny(f"workflow {row.workflow_id}: {held}")
    missing = [d for d in row.pipeline.upstream(stage.name) if d not in row.done]
    if missing:
        return _deny(f"{stage.name} of workflow {row.workflow_id} depends on {', '.join(missing)}, which "
                     f"{'is' if len(missing) == 1 else 'are'} not complete; run "
                     f"{', '.join(row.next_agents) or 'the earlier stages'} first")
    from cairn.breakpoints import deny_reason, holding

    with m.store.read() as r:
        bp = holding(r.breakpoints(row.workflow_id), stage.name)
    if bp is not None:  # a person holds this stage: the model waits for their approval
        return _deny(deny_reason(row.workflow_id, bp))
    tool_use = hook.text("tool_use_id")
    if tool_use and sid:
        m.workflows.dispatch(tool_use, sid, row.workflow_id, stage.name)
    return None


def post_tool_use(hook: Hook) -> Output:
    """The Agent call returned (or launched in the background): tie its agent id to the
    dispatch, and record what the client reported it cost."""
    if _agent_call(hook) is None or not (hook.root / ".open").exists():
        return None
    response = hook.payload.get("tool_response")
    if not isinstance(response, dict):
        return None
    agent_id, tool_use = response.get("agentId"), hook.text("tool_use_id")
    if not isinstance(agent_id, str) or not agent_id or not tool_use:
        return None
    usage = {k: response[k] for k in ("totalTokens", "totalDurationMs", "totalToolUseCount", "usage")
             if k in response}
    hook.manager().workflows.agent_launched(tool_use, agent_id, json.dumps(usage) if usage else None)
    return None


# ------------------------------------------------------------------ SubagentStart / SubagentStop


def _attribute(hook: Hook, m: CheckpointManager) -> tuple[str, str] | str | list[tuple[str, str]] | None:
    """(workflow, stage); None (not Cairn's); the one-line reason nothing is recorded; or, at
    SubagentStart of parallel dispatches, the candidate (workflow, stage) pairs."""
    from cairn.evidence import Unattributed, for_subagent
    from cairn.status import ACTIVE

    agent_id = hook.text("agent_id")
    with m.store.read() as r:
        mine = r.attempt_of_agent(agent_id) if agent_id else None
        # its own attempt (the usual SubagentStop): only that workflow's row is needed
        rows = [s for s in r.summaries(ids=[mine[0]]) if s.status in ACTIVE] if mine else None
    if rows is None:
        rows = m.list_workflows()
    with m.store.read() as r:
        found = for_subagent(r, rows, hook.text("session_id"), agent_id, hook.text("agent_type"),
                             hook.text("agent_transcript_path") or None)
    if isinstance(found, Unattributed):
        if found.candidates and hook.event == "subagent-start":
            return list(found.candidates)
        return found.reason or None
    if not any(s.workflow_id == found.workflow_id for s in rows):
        return f"workflow {found.workflow_id} is no longer open; {found.stage} was not recorded"
    held = held_elsewhere(m, found.workflow_id, hook.text("session_id"))
    if held:
        return f"workflow {found.workflow_id}: {held}; {found.stage} was not recorded here"
    return found.workflow_id, found.stage


def subagent_start(hook: Hook) -> Output:
    if not hook.text("agent_type") or not (hook.root / ".open").exists():
        return None
    from cairn.evidence import claimable
    from cairn.resumer import WorkflowResumer

    m = hook.manager()
    target = _attribute(hook, m)
    if isinstance(target, list):  # parallel dispatches: brief each; the stop decides from the transcript
        resumer = WorkflowResumer(m)
        briefs = [resumer.stage_brief(m.load(wid), stage) for wid, stage in target]
        head = ("Several workflows dispatched this stage at once; your prompt's 'cairn-workflow:' line says "
                "which one is yours. Follow only that workflow's brief:")
        return {"hookSpecificOutput": {"hookEventName": "SubagentStart",
                                       "additionalContext": "\n".join([head, *briefs])}}
    if not isinstance(target, tuple):
        return say(target or "")
    wid, stage = target
    sid = hook.text("session_id")
    with m.store.read() as r:
        dispatch = claimable(r, sid, wid, stage) if sid else None
    from cairn.codestate import snapshot

    wf = m.workflows.start_stage(wid, stage, agent_id=hook.text("agent_id") or None, session_id=sid or None,
                                 dispatch=dispatch, code=snapshot(m.project_dir))
    return {"hookSpecificOutput": {"hookEventName": "SubagentStart",
                                   "additionalContext": WorkflowResumer(m).stage_brief(wf, stage)}}


def subagent_stop(hook: Hook) -> Output:
    if not hook.text("agent_type") or not (hook.root / ".open").exists():
        return None
    from cairn.accounting import transcript_usage
    from cairn.checks.artifacts import inspect_stage
    from cairn.edits import drop_edits, read_edits
    from cairn.lineage import stop_facts

    m = hook.manager()
    target = _attribute(hook, m)
    if not isinstance(target, tuple):
        drop_edits(m.root, hook.text("agent_id"))  # not a stage of Cairn's: its edits are not ours to keep
        return say(target if isinstance(target, str) else "")
    wid, stage = target
    wf = m.load(wid)
    agent_id, sid = hook.text("agent_id") or None, hook.text("session_id") or None
    found = inspect_stage(m.workflow_dir(wid), wf.pipeline.stage(stage), wid, m.project_dir)
    problems = [p for c in found for p in c.problems]
    if not problems:
        records = [c.record for c in found if c.record is not None]
        code, changed = stop_facts(wf.attempts, stage, agent_id, m.project_dir, read_edits(m.root, agent_id))
        try:
            m.workflows.complete_stage(wid, stage, records, agent_id=agent_id, session_id=sid, git=code,
                                       changed=changed, bodies=m.carry(wid, records),
                                       usage=transcript_usage(hook.text("agent_transcript_path") or None))
        except CairnError as exc:  # e.g. a re-run that did not rewrite its artifact
            problems = [exc.message]
        else:
            drop_edits(m.root, agent_id)
            pending = [c.path for c in found if c.record is not None and c.record.check == "pending"]
            said = [f"schema check of {', '.join(pending)} pending (no validator available here yet; the next "
                    "`cairn` command checks it)"] if pending else []
            said += m.notes  # on a shared store: an artifact too large to travel
            return say(f"{stage} recorded on {wid}; " + "; ".join(said)) if said else None
    reason = (f"Cairn: the {stage} stage of workflow {wid} is not done: " + "; ".join(problems[:5])[:1500]
              + ". Fix or write the file(s), then stop again.")
    if hook.payload.get("stop_hook_active") is not True:
        return {"decision": "block", "reason": reason}
    m.workflows.fail_stage(wid, stage, "; ".join(problems), agent_id=agent_id, session_id=sid)
    drop_edits(m.root, agent_id)
    return say(f"{stage} failed in workflow {wid}: {problems[0][:200]}")
