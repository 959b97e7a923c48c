"""Secrets never reach a file Cairn writes: obvious credential patterns in text that
people or agents supply (the request, error messages) are replaced by a marker before
it is persisted, and `redact_json` is applied to every checkpoint as it is encoded.
Standard library only."""

from __future__ import annotations

import re

_PATTERNS = [
    ("anthropic-key", r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    ("api-key", r"\bsk-(?:proj-|live_|test_)?[A-Za-z0-9_\-]{20,}"),
    ("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    ("aws-key", r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    ("slack-token", r"\bxox[abprs]-[A-Za-z0-9\-]{10,}"),
    ("gitlab-token", r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    # the password of a database address (postgresql://user:PASSWORD@host): the rest stays readable
    ("password", r"(?<=postgres://)[^:@/\s\"]+:[^@/\s\"]+(?=@)|(?<=postgresql://)[^:@/\s\"]+:[^@/\s\"]+(?=@)"),
    # a PEM private key, up to its END line or, cut short, to the end of the JSON string
    ("private-key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[^\"]*?-----END [A-Z0-9 ]*PRIVATE KEY-----"
                    r"|[^\"]*)"),
]
_RE = re.compile("|".join(f"(?P<{name.replace('-', '_')}>{rx})" for name, rx in _PATTERNS))


def _marker(m: re.Match[str]) -> str:
    return f"[REDACTED:{(m.lastgroup or 'secret').replace('_', '-')}]"


# Every pattern above begins with one of these literals. Looking for them first is a
# plain substring scan; the alternation itself costs ~20 ms per 100 KB (checkpoint.json is
# redacted on every commit).
_PREFIXES = ("sk-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "AKIA", "ASIA", "xox", "glpat-",
             "-----BEGIN ", "postgres")


def _suspect(text: str) -> bool:
    return any(p in text for p in _PREFIXES)


def redact(text: str) -> str:
    """`text` with every credential-looking token replaced by `[REDACTED:<kind>]`."""
    return _RE.sub(_marker, text) if text and _suspect(text) else text


def redact_json(encoded: str) -> str:
    """The same over JSON text (markers contain no quote or backslash, so the JSON stays
    valid; a PEM block is matched within one string)."""
    return _RE.sub(_marker, encoded) if _suspect(encoded) else encoded
