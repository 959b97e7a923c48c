"""Times for people: "3 minutes ago", "4m 00s", "2025-03-02 08:45" (standard library
only, so the hooks' resume context and the dashboard speak alike)."""

from __future__ import annotations

TYPE_CHECKING = False  # the SessionStart cache imports this module: no `datetime` import needed
if TYPE_CHECKING:
    from datetime import datetime


def clock(dt: datetime | None) -> str:
    from datetime import timezone

    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M") if dt else "-"


def ago(dt: datetime | None, now: datetime) -> str:
    if dt is None:
        return "-"
    return ago_seconds(int((now - dt).total_seconds()))


def ago_seconds(secs: int) -> str:
    """"3 minutes ago" for an age in seconds."""
    if secs < 0:
        return "just now"
    for limit, size, unit in ((60, 1, "second"), (3600, 60, "minute"), (86400, 3600, "hour")):
        if secs < limit:
            n = secs // size
            return "just now" if unit == "second" and n < 5 else f"{n} {unit}{'s' * (n != 1)} ago"
    n = secs // 86400
    return f"{n} day{'s' * (n != 1)} ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"
