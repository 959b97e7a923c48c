"""A model API failure (rate limit, overload, authentication, billing...): the reason
an attempt failed with, and what to do about it. The StopFailure hook that records it is
`cairn.hook_failure`. Standard library only.
"""

from __future__ import annotations

TYPE_CHECKING = False  # the resume context imports this module: the model only when it is needed
if TYPE_CHECKING:
    from cairn.model import Workflow

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


def last_failure(wf: Workflow) -> tuple[str, str] | None:
    """(where, advice) of an `api_failure` entry newer than the last time the workflow
    ran again: what the resume context tells the next session."""
    from cairn.status import Status

    notes = [e for e in wf.audit if e.action == "api_failure"]
    if not notes or wf.status == Status.RUNNING:
        return None
    restarted = max((e.seq for e in wf.audit if e.action.startswith("status:") and e.action.endswith("->running")),
                    default=0)
    if notes[-1].seq <= restarted:
        return None
    text = notes[-1].detail
    where = text.rsplit(" [during ", 1)[1].rstrip("]") if text.endswith("]") and " [during " in text else ""
    what = advice(text)
    return (where, what) if what else None
