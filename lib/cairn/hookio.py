"""What every Cairn hook adapter shares: the payload (parsed and type-checked), the
hook call, and the small answers. Standard library only."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from cairn.errors import CairnError

TYPE_CHECKING = False  # `typing` costs a hook ~2 ms to import; annotations only need it
if TYPE_CHECKING:
    from datetime import datetime

    from cairn.manager import CheckpointManager

MAX_STDIN = 1 << 20  # hook payloads are small; anything bigger is not one
FIELD_TYPES: dict[str, type] = {
    "session_id": str, "cwd": str, "source": str, "agent_id": str, "agent_type": str, "reason": str,
    "stop_hook_active": bool, "tool_name": str, "tool_use_id": str, "tool_input": dict,
    "agent_transcript_path": str,
}
Json = dict[str, object]
Output = Json | None
ARTIFACTS = Path(".claude") / "artifacts"


class BadPayload(CairnError):
    """The hook's stdin is not a payload Cairn understands."""


class Hook:
    """One hook call. (A plain class: `dataclasses` costs a hook ~4 ms of imports.)"""

    __slots__ = ("clock", "env", "event", "on_reach", "payload", "project", "root")

    def __init__(self, event: str, payload: Json, project: Path, env: Mapping[str, str],
                 on_reach: Callable[[Path], list[str]] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.on_reach = on_reach  # see CheckpointManager: the hook boundary's replay of kept events
        self.clock = clock  # a replayed event: the time it was kept (CheckpointManager's `clock`)
        self.event = event
        self.payload = payload
        self.project = project
        self.root = project / ARTIFACTS
        self.env = env

    def text(self, key: str) -> str:
        value = self.payload.get(key)
        return value if isinstance(value, str) else ""

    def manager(self) -> CheckpointManager:
        from cairn.manager import CheckpointManager

        return CheckpointManager(self.root, project_dir=self.project, hook=True, on_reach=self.on_reach,
                                 clock=self.clock)


def parse(raw: bytes) -> Json:
    if len(raw) > MAX_STDIN:
        raise BadPayload(f"stdin is {len(raw)} bytes; a hook payload is at most {MAX_STDIN}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: [[[[...
        raise BadPayload(f"stdin is not JSON: {str(exc)[:100]}") from None
    if not isinstance(data, dict):
        raise BadPayload(f"stdin is JSON {type(data).__name__}, not an object")
    wrong = [f"{k} is {type(data[k]).__name__}" for k, t in FIELD_TYPES.items()
             if k in data and not isinstance(data[k], t)]
    if wrong:
        raise BadPayload("stdin has fields of the wrong type: " + ", ".join(wrong))
    return data


def project_dir(payload: Json, env: Mapping[str, str]) -> Path:
    project = env.get("CLAUDE_PROJECT_DIR")
    if not project:
        cwd = payload.get("cwd")
        project = cwd if isinstance(cwd, str) and cwd else os.getcwd()
    return Path(project)


def say(text: str) -> Output:
    return {"systemMessage": f"Cairn: {text[:600]}"} if text else None


def held_elsewhere(m: CheckpointManager, wid: str, session_id: str) -> str | None:
    from cairn import lease
    from cairn.model import utcnow

    with m.store.read() as r:
        current = r.lease(wid)
    if current is None or current.session_id == session_id:
        return None
    if current.host == lease.host():  # its process decides: no settings to read on this path
        live = lease.alive(current, utcnow())
    else:
        from cairn.live import live_seen

        live = lease.alive(current, utcnow(), m.settings.lease_ttl, live_seen(m.root, current.session_id))
    if not live:
        return None
    return (f"another live Claude session holds this workflow: {current.describe()}; do not resume it "
            "here unless that session has ended")
