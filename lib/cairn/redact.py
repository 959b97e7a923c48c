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

import functools
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
    ("url-password", r"(?<=://)(?P<url_user>[^\s:/@\"'`]{0,200}):(?!\[REDACTED)[^\s\"'`<>@/]{1,300}(?=@)"),
    ("bearer", r"(?i:\bbearer\s+)[A-Za-z0-9_\-\.=+/~]{12,}"),
    # password: X, pwd=X, "secret": "X", AWS_SECRET_ACCESS_KEY=X, api_key: X ... the value only
    ("assignment", r"(?P<assign_key>(?i:password|passwd|pwd|secret|token|api[_\-]?key|access[_\-]?key|"
                   r"private[_\-]?key|credentials?)\b)(?P<assign_sep>(?:\\?[\"'])?\s{0,3}[:=]\s{0,3}"
                   r"(?:\\?[\"'])?)(?!\[REDACTED)" + _VALUE + r"{3,}"),
]
# Where each pattern can start (in lower case; url-password starts 3 characters after its
# "://"). A pattern is only tried where its trigger occurs: plain substring scans instead
# of a regular expression at every position (checkpoint.json is redacted on every
# commit; the whole alternation costs ~50 ms per 100 KB, the scans well under 1 ms).
_TRIGGERS = {
    "anthropic-key": ("sk-ant-",), "stripe-key": ("sk_", "rk_", "pk_"), "api-key": ("sk-",),
    "github-token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "aws-key": ("akia", "asia", "agpa", "aida", "aroa"), "slack-token": ("xox", "https://hooks.slack"),
    "gitlab-token": ("glpat-",), "jwt": ("eyj",), "private-key": ("-----begin ",), "url-password": ("://",),
    "bearer": ("bearer",),
    "assignment": ("password", "passwd", "pwd", "secret", "token", "api", "access", "private", "credential"),
}
_OFFSET = {"url-password": 3}
_ORDER = {name: i for i, (name, _) in enumerate(_PATTERNS)}
_RX = dict(_PATTERNS)


@functools.cache
def _one(name: str) -> re.Pattern[str]:
    return re.compile(_RX[name])


def _marker(name: str, m: re.Match[str]) -> str:
    found = m.groupdict()
    if found.get("assign_key") is not None:  # keep the key and its separator: only the value goes
        return f"{found['assign_key']}{found['assign_sep']}[REDACTED:secret]"
    if found.get("url_user") is not None:
        return f"{found['url_user']}:[REDACTED:url-password]"
    return f"[REDACTED:{name}]"


def _spans(text: str, first: bool = False) -> list[tuple[int, int, str]]:
    """The secrets in `text` as (start, end, marker), in order, none overlapping."""
    low = text.lower()
    found: list[tuple[int, int, int, str]] = []
    for name, _ in _PATTERNS:
        rx = _one(name)
        for trigger in _TRIGGERS[name]:
            i = low.find(trigger)
            if i >= 0 and len(low) != len(text):  # lower() changed a length: try everywhere
                found += [(m.start(), -m.end(), _ORDER[name], _marker(name, m)) for m in rx.finditer(text)]
                break
            while i >= 0:
                m = rx.match(text, i + _OFFSET.get(name, 0))
                if m is not None:
                    found.append((m.start(), -m.end(), _ORDER[name], _marker(name, m)))
                    if first:
                        return [(m.start(), m.end(), "")]
                i = low.find(trigger, i + 1)
    spans: list[tuple[int, int, str]] = []
    for start, neg_end, _, marker in sorted(found):
        if not spans or start >= spans[-1][1]:
            spans.append((start, -neg_end, marker))
    return spans


def redact(text: str) -> str:
    """`text` with every credential-looking token replaced by `[REDACTED:<kind>]`."""
    spans = _spans(text) if text else []
    if not spans:
        return text
    out, at = [], 0
    for start, end, marker in spans:
        out += [text[at:start], marker]
        at = end
    out.append(text[at:])
    return "".join(out)


def redact_json(encoded: str) -> str:
    """The same over JSON text (markers contain no quote or backslash, so the JSON stays
    valid; a PEM block is matched within one string; an assignment's value stops at a
    quote)."""
    return redact(encoded)


def has_secret(text: str) -> bool:
    """Whether `text` holds anything `redact` would replace (`--set` refuses it)."""
    return bool(text) and bool(_spans(text, first=True))
