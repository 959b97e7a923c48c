"""The one place that frames text for the model: the resume context and stage briefs.

Everything inside a frame that came from a file or a person (the request, stage and
agent names from a pipeline snapshot, paths, errors) goes through `safe`: one line,
markup and fences escaped, and the characters that make text look different from what
it is (bidirectional overrides, zero-width and tag characters) shown as `\\u` escapes.
Standard library only.
"""

from __future__ import annotations

import re

RESUME_TAG = "cairn-resume-context"
STAGE_TAG = "cairn-stage"

# C0/C1 controls, line/paragraph separators, bidi embeddings/overrides/isolates, zero-width
# characters, word joiner and friends, BOM, and the Unicode tag block.
_INVISIBLE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff"
    "\U000e0000-\U000e007f]")


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group(0)
    if ch in "\n\r\t":
        return " "
    return f"\\u{ord(ch):04x}"


def safe(text: object, limit: int) -> str:
    """One line of untrusted text that can neither open nor close markup, nor hide
    characters, cut to `limit` characters."""
    s = _INVISIBLE.sub(_escape_char, str(text))
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")
    s = s.replace('"', "'")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def bounded(head: list[str], body: list[str], tail: list[str], limit: int) -> str:
    """Join the parts, dropping body lines from the end until the text fits `limit`
    bytes; the head and the closing tag always stay."""
    omitted = 0
    text = ""
    while True:
        lines = [*head, *body]
        if omitted:
            lines.append(f"(… {omitted} lines omitted to stay within {limit} bytes)")
        text = "\n".join([*lines, *tail])
        if len(text.encode()) <= limit or not body:
            break
        body = body[:-1]
        omitted += 1
    if len(text.encode()) > limit:  # only the head is left and still too long
        text = text.encode()[: limit - len(tail[-1]) - 2].decode(errors="ignore") + "\n" + tail[-1]
    return text


def workflow_marker(workflow_id: str) -> str:
    """The line every brief, context and slash command asks the model to put in an Agent
    prompt: the evidence PreToolUse reads to tie the dispatch to its workflow."""
    return f"cairn-workflow: {workflow_id}"


MARKER_RE = re.compile(r"cairn-workflow:\s*([A-Za-z0-9][A-Za-z0-9._-]{0,127})")
