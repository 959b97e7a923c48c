"""Reading checkpoints written by older tools.

autonomous-dev's CheckpointManager wrote format "2.0": `version`, `workflow_id`,
`created_at`, `checkpoint_type` ("agent_completion"), `completed_agents`,
`current_agent`, `artifacts_created`, `metadata`. It had no status, history, hashes
or pipeline. `upgrade` turns such a record into format "3.0" without losing a field;
the original file is archived next to the history on the first write. Standard
library only.
"""

from __future__ import annotations

from datetime import datetime, timezone

from cairn.errors import MigrationError
from cairn.pipeline import Pipeline

LEGACY_VERSIONS = ("2.0",)


def is_legacy(raw: dict[str, object]) -> bool:
    return str(raw.get("version")) in LEGACY_VERSIONS


def _iso(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise MigrationError(f"format 2.0 field {field!r} is not a timestamp: {value!r}",
                             hint="fix or remove the field in checkpoint.json, then retry")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MigrationError(f"format 2.0 field {field!r} is not an ISO timestamp: {value!r}",
                             hint="write it as 2026-01-31T12:00:00") from None
    if dt.tzinfo is None:  # 2.0 wrote naive local-less times; they were UTC in practice
        dt = dt.replace(tzinfo=timezone.utc)
    try:
        return dt.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    except OverflowError:  # e.g. 9999-12-31T23:59:59-23:59 is after year 9999 in UTC
        raise MigrationError(f"format 2.0 field {field!r} is out of range: {value!r}",
                             hint="write it as 2026-01-31T12:00:00") from None


def _str_list(raw: dict[str, object], field: str) -> list[str]:
    value = raw.get(field) or []
    if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
        raise MigrationError(f"format 2.0 field {field!r} must be a list of strings",
                             hint="fix the field in checkpoint.json, then retry")
    return value


def upgrade(raw: dict[str, object], pipeline: Pipeline) -> dict[str, object]:
    """A format-3.0 record (plain JSON data) from a format-2.0 one."""
    if not is_legacy(raw):
        raise MigrationError(f"unknown checkpoint format {raw.get('version')!r}",
                             hint="this Cairn reads formats 2.0 and 3.0; upgrade Cairn")
    workflow_id = raw.get("workflow_id")
    if not isinstance(workflow_id, str):
        raise MigrationError("format 2.0 checkpoint has no workflow_id",
                             hint="add the folder's name as workflow_id")
    created = _iso(raw.get("created_at"), "created_at")
    completed = _str_list(raw, "completed_agents")
    artifacts = _str_list(raw, "artifacts_created")
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise MigrationError("format 2.0 field 'metadata' must be an object",
                             hint="fix the field in checkpoint.json, then retry")
    current = raw.get("current_agent")
    if current is not None and not isinstance(current, str):
        raise MigrationError("format 2.0 field 'current_agent' must be a string or null",
                             hint="fix the field in checkpoint.json, then retry")
    request = next((metadata[k] for k in ("request", "feature", "description", "task")
                    if isinstance(metadata.get(k), str)), "")
    known = [a for a in completed if pipeline.has(a)]
    finished = bool(pipeline.names) and not pipeline.ready(known)
    snapshot = pipeline.to_dict()
    return {
        "version": "3.0",
        "workflow_id": workflow_id,
        "created_at": created,
        "checkpoint_type": str(raw.get("checkpoint_type") or "agent_completion"),
        "completed_agents": completed,
        "current_agent": current,
        "artifacts_created": artifacts,
        "metadata": metadata,
        "seq": 1,
        "status": "completed" if finished else "paused",
        "status_reason": None if finished else "migrated from format 2.0 (no status recorded)",
        "request": request,
        "updated_at": created,
        "last_activity": created,
        "skipped_agents": [],
        "artifacts": {},
        "agents": {},
        "sessions": [],
        "pipeline": snapshot,
        "audit": [{"at": created, "action": "migrated",
                   "detail": "read from autonomous-dev format 2.0; artifacts not hashed yet"}],
        "parameters": {},
    }
