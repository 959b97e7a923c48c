"""StopFailure: the model API failed (rate limit, overload, authentication, billing...)
and the turn ended. Claude Code 2.1.328 sends `{"error": "rate_limit" |
"authentication_failed" | "server_error" | ..., "last_assistant_message": "API Error:
..."}`, with `agent_id`/`agent_type` when it was a subagent's request that failed (no
SubagentStop follows then: without this hook its attempt would stay "running").

A subagent's failure fails its attempt with the reason (the workflow is then failed);
the main agent's pauses the workflows the session runs (their running attempts are
closed as interrupted, and a background agent that still finishes is recorded late).
The resume context says to wait and retry, or to fix the credentials. Standard library only.
"""

from __future__ import annotations

from cairn.hookio import Hook, Output

PREFIX = "the model API failed"
ADVICE = {
    "rate_limit": "a rate limit: wait a few minutes, then retry",
    "server_error": "the API was overloaded or failed: wait a moment, then retry",
    "overloaded": "the API was overloaded: wait a moment, then retry",
    "authentication_failed": "authentication failed: fix the API key or log in again (/login), then retry",
    "billing_error": "a billing problem: check the account's credits, then retry",
    "invalid_request": "the request was refused as invalid: retry; if it fails again, compact or shorten the "
                       "conversation",
    "max_output_tokens": "the answer hit the output limit: retry, asking for shorter output",
}


def reason(kind: str, message: str) -> str:
    kind = kind if kind.replace("_", "").isalnum() else "unknown"
    return f"{PREFIX} ({kind}): {message.strip()[:300]}".rstrip(": ")


def advice(error: str | None) -> str | None:
    """What to do about an attempt's error, when it is a model API failure."""
    if not error or not error.startswith(PREFIX):
        return None
    kind = error[len(PREFIX):].strip().lstrip("(").split(")", 1)[0]
    return ADVICE.get(kind, "wait a moment, then retry")


def stop_failure(hook: Hook) -> Output:
    if not (hook.root / ".running").exists():
        return None
    sid, agent_id = hook.text("session_id"), hook.text("agent_id")
    why = reason(hook.text("error") or "unknown", hook.text("last_assistant_message"))
    m = hook.manager()
    if agent_id:
        with m.store.read() as r:
            mine = r.attempt_of_agent(agent_id)
        if mine is not None and mine[1].outcome == "running":
            m.workflows.fail_stage(mine[0], mine[1].stage, why, agent_id=agent_id, session_id=sid or None)
        return None
    if not sid:
        return None
    from cairn.status import Status

    with m.store.read() as r:  # not a workflow another session has worked on since
        wids = [w for w in r.session_workflows(sid, [Status.RUNNING]) if (r.last_session(w) or ("",))[0] == sid]
    for wid in wids:
        m.pause(wid, f"interrupted: {why}")
    return None
