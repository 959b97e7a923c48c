"""StopFailure: the model API failed and the turn ended. Claude Code 2.1.328 sends
`{"error": "rate_limit" | "authentication_failed" | "server_error" | ...,
"last_assistant_message": "API Error: ..."}`, with `agent_id`/`agent_type` when it was a
subagent's request that failed (no SubagentStop follows then: without this hook its
attempt would stay "running").

A subagent's failure fails its attempt with the reason (the workflow is then failed);
the main agent's pauses the workflows the session runs (their running attempts are
closed as interrupted, and a background agent that still finishes is recorded late).
The resume context says to wait and retry, or to fix the credentials (`cairn.apifailure`).
Standard library only.
"""

from __future__ import annotations

from cairn.apifailure import reason
from cairn.hookio import Hook, Output
from cairn.status import INTERRUPTED_PREFIX

TYPE_CHECKING = False  # every hook imports this module: the model only when it is needed
if TYPE_CHECKING:
    from datetime import datetime

    from cairn.manager import CheckpointManager
    from cairn.model import Workflow
    from cairn.store import Tx


def stop_failure(hook: Hook) -> Output:
    """Fail the subagent's attempt, or pause the session's workflows, with the reason.
    hooks/run.sh runs this detached (the client kills the hook when the turn ends), so in
    `claude -p` the session's SessionEnd may be handled first: the attempt is then already
    closed (interrupted) and the workflow paused, and the reason is kept as an
    `api_failure` entry of the audit trail instead (hooks.json runs this hook while a
    workflow is open, not only while one runs, for that case)."""
    if not (hook.root / ".open").exists():
        return None
    sid, agent_id = hook.text("session_id"), hook.text("agent_id")
    why = reason(hook.text("error") or "unknown", hook.text("last_assistant_message"))
    m = hook.manager()
    from cairn.status import Status

    if agent_id:
        with m.store.read() as r:
            mine = r.attempt_of_agent(agent_id)
        if mine is None:
            return None
        wid, attempt = mine
        if attempt.outcome == "running":
            after = m.workflows.fail_stage(wid, attempt.stage, why, agent_id=agent_id, session_id=sid or None)
            attempt = next((a for a in after.attempts if a.id == attempt.id), attempt)
        if attempt.outcome == "interrupted":  # closed meanwhile by the session's end
            note(m, wid, f"{why} [during {attempt.stage}]")
        return None
    if not sid:
        return None
    with m.store.read() as r:  # not a workflow another session has worked on since
        mine_now = {w: r.workflow(w, audit=False) for w in r.session_workflows(sid, [Status.RUNNING, Status.PAUSED])
                    if (r.last_session(w) or ("",))[0] == sid}
    for wid, wf in mine_now.items():
        if wf is not None and wf.status == Status.RUNNING:
            m.pause(wid, f"{INTERRUPTED_PREFIX}{why}")
        elif wf is not None:
            note(m, wid, why)
    return None


def note(m: CheckpointManager, wid: str, text: str) -> None:
    """Keep the failure on record for a workflow already stopped (one audit entry)."""
    def op(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
        tx.add_audit(wid, seq, now, "api_failure", text[:500])
    m.workflows.apply(wid, op, "api_failure", running=False)
