"""Secrets never reach a file Cairn writes: credential patterns in text that people or
agents supply (requests, errors, reasons, parameters, audit details, the log) are
replaced by a marker before anything is persisted, and `redact_json` is applied to every
projection as it is encoded. The corpus it is tested against (`tests/test_secrets.py`):
URL credentials, AWS access and secret keys, Stripe, Slack, GitHub, GitLab, Anthropic
and OpenAI keys, JWTs, bearer tokens, private-key blocks, and `password`/`passwd`/
`pwd`/`secret`/`token`/`api_key` assignments. Standard library only (the hooks redact
too), so no third-party detector: this is the one list, kept with its corpus.
"""

from __future__ import annotations

import re

_VALUE = r"[^\s\"'`,;&<>\\)\]}]"  # what an assignment's value or a URL password is made of
_PATTERNS = [
    ("anthropic-key", r"sk-ant-[A-Za-z0-9_\-]{8,}"),
    ("stripe-key", r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{10,}"),
    ("api-key", r"\bsk-(?:proj-|svcacct-|admin-|live_|test_)?[A-Za-z0-9_\-]{20,}"),
    ("github-token", r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    ("aws-key", r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
    ("slack-token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}|https://hooks\.slack\.com/services/[A-Za-z0-9/]{20,}"),
    ("gitlab-token", r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    ("jwt", r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"),
    # a PEM private key, up to its END line or, cut short, to the end of the JSON string
    ("private-key", r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:[^\"]*?-----END [A-Z0-9 ]*PRIVATE KEY-----"
                    r"|[^\"]*)"),
    # scheme://user:password@host: the password only
    ("url-password", r"(?<=://)(?P<url_user>[^\s:/@\"'`]{0,200}):[^\s\"'`<>@/]{1,300}(?=@)"),
    ("bearer", r"(?i:\bbearer\s+)[A-Za-z0-9_\-\.=+/~]{12,}"),
    # password: X, pwd=X, "secret": "X", AWS_SECRET_ACCESS_KEY=X, api_key: X ... the value only
    ("assignment", r"(?P<assign_key>(?i:\b[A-Za-z0-9_\-]*(?:password|passwd|pwd|secret|token|api[_\-]?key|"
                   r"access[_\-]?key|private[_\-]?key|credentials?)\b))(?P<assign_sep>(?:\\?[\"'])?\s{0,3}[:=]\s{0,3}"
                   r"(?:\\?[\"'])?)(?!\[REDACTED)" + _VALUE + r"{3,}"),
]
_RE = re.compile("|".join(f"(?P<{name.replace('-', '_')}>{rx})" for name, rx in _PATTERNS))


def _marker(m: re.Match[str]) -> str:
    kind = m.lastgroup or "secret"
    if m.group("assign_key") is not None:  # keep the key and its separator: only the value goes
        return f"{m.group('assign_key')}{m.group('assign_sep')}[REDACTED:secret]"
    if m.group("url_password") is not None:
        return f"{m.group('url_user')}:[REDACTED:url-password]"
    return f"[REDACTED:{kind.replace('_', '-')}]"


# Every pattern above contains one of these (in lower case). Looking for them first is a
# plain substring scan; the alternation itself costs ~20 ms per 100 KB (checkpoint.json is
# redacted on every commit).
_PREFIXES = ("sk-", "sk_", "rk_", "pk_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "akia", "asia",
             "agpa", "aida", "aroa", "xox", "hooks.slack", "glpat-", "eyj", "-----begin ", "bearer", "pass",
             "pwd", "secret", "token", "key", "credential")


def _suspect(text: str) -> bool:
    low = text.lower()
    return any(p in low for p in _PREFIXES) or ("://" in text and "@" in text)


def redact(text: str) -> str:
    """`text` with every credential-looking token replaced by `[REDACTED:<kind>]`."""
    return _RE.sub(_marker, text) if text and _suspect(text) else text


def redact_json(encoded: str) -> str:
    """The same over JSON text (markers contain no quote or backslash, so the JSON stays
    valid; a PEM block is matched within one string; an assignment's value stops at a
    quote)."""
    return _RE.sub(_marker, encoded) if _suspect(encoded) else encoded


def has_secret(text: str) -> bool:
    """Whether `text` holds anything `redact` would replace (`--set` refuses it)."""
    return bool(text) and _suspect(text) and _RE.search(text) is not None
