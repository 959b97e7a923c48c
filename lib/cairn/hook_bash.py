"""The Bash tool while a workflow runs: PostToolUse records what a stage did to the world
(`cairn.ledger`), PreToolUse denies an exact repeat within the workflow (a second pull
request for one branch, the same version published twice). hooks/run.sh starts Python
only when the command names one of `ledger.TRIGGERS`. Standard library only.

Whose the command is comes from evidence only: a subagent's tool hooks carry its
`agent_id`, whose attempt is on record; the main agent's, the workflow bound to the
session (`cairn start`/`cairn resume` ran there) when exactly one of its stages runs.
Anything else records nothing.
"""

from __future__ import annotations

from cairn.hookio import Hook, Output, say

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cairn.manager import CheckpointManager
    from cairn.model import Attempt


def _command(hook: Hook, triggers: tuple[str, ...]) -> str | None:
    if hook.text("tool_name") != "Bash" or not (hook.root / ".running").exists():
        return None
    tool_input = hook.payload.get("tool_input")
    command = tool_input.get("command") if isinstance(tool_input, dict) else None
    if not isinstance(command, str) or not any(t in command for t in triggers):
        return None
    return command


POST_TRIGGERS = ("commit", "push", "gh ", "publish", "upload")  # = cairn.ledger.TRIGGERS (not imported:
PRE_TRIGGERS = ("gh ", "publish", "upload")                      # the ledger loads the model)


def owner(hook: Hook, m: CheckpointManager) -> tuple[str, Attempt] | str | None:
    """(workflow, attempt) the Bash call belongs to; a one-line reason when the evidence
    is ambiguous; None when it is not a stage's call."""
    from cairn.status import Status

    agent_id, sid = hook.text("agent_id"), hook.text("session_id")
    with m.store.read() as r:
        if agent_id:  # a subagent: its own attempt, or not one of Cairn's stages
            return r.attempt_of_agent(agent_id)
        bound = r.binding(sid) if sid else None
        wf = r.workflow(bound, audit=False) if bound else None
    if wf is None or wf.status != Status.RUNNING:
        return None
    running = [a for a in wf.attempts if a.outcome == "running"]
    if len(running) == 1:
        return wf.workflow_id, running[0]
    if running:
        from cairn.context import safe

        stages = safe(", ".join(a.stage for a in running), 200)
        return (f"several stages of {wf.workflow_id} run ({stages}) and the main agent ran this command, so it "
                "is not in the side-effect ledger; run it from the stage's agent")
    return None


def bash_post(hook: Hook) -> Output:
    """The command succeeded (PostToolUse comes only after exit 0): record what its output
    proves it did."""
    command = _command(hook, POST_TRIGGERS)
    response = hook.payload.get("tool_response")
    if command is None or not isinstance(response, dict) or response.get("interrupted") is True:
        return None
    from cairn.ledger import effects_of

    output = "\n".join(str(response.get(k) or "") for k in ("stdout", "stderr"))
    found = effects_of(command, output, hook.text("cwd") or str(hook.project))
    if not found:
        return None
    m = hook.manager()
    whose = owner(hook, m)
    if not isinstance(whose, tuple):
        return say(whose or "")
    from dataclasses import replace

    wid, attempt = whose
    tool_use = hook.text("tool_use_id") or f"unknown:{hook.text('session_id')}:{command[:200]}"
    m.workflows.record_effects(wid, attempt.id, [replace(e, tool_use_id=tool_use) for e in found],
                               session_id=hook.text("session_id") or None)
    return None


def bash_pre(hook: Hook) -> Output:
    """Deny a command that would repeat, within the workflow, a creation its ledger has."""
    command = _command(hook, PRE_TRIGGERS)
    if command is None:
        return None
    from cairn.ledger import describe
    from cairn.repeats import planned, repeats

    plans = planned(command, hook.text("cwd") or str(hook.project))
    if not plans:
        return None
    m = hook.manager()
    whose = owner(hook, m)
    if not isinstance(whose, tuple):
        return None
    wid = whose[0]
    with m.store.read() as r:
        ledger = r.effects(wid, sorted({p.kind for p in plans}))
    found = repeats(plans, ledger)
    if not found:
        return None
    from cairn.context import safe

    plan, done = found[0]
    reason = (f"Cairn: workflow {wid} already did this: its {safe(done.stage, 80)} stage {safe(describe(done), 600)}. "
              f"'{safe(plan.command, 160)}' would repeat it; work with the existing one instead.")
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                   "permissionDecisionReason": reason[:1500]}}
