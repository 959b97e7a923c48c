"""pydantic v2 models of the on-disk checkpoint format (version "3.0").

Format "2.0" (autonomous-dev's CheckpointManager) is read through `migrate.py`. The
JSON Schema shipped as `data/checkpoint.schema.json` is generated from these models
(`python -m cairn.models > lib/cairn/data/checkpoint.schema.json`) and a test keeps
the two in step.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cairn.paths import check_workflow_id
from cairn.status import Status

FORMAT_VERSION: Literal["3.0"] = "3.0"

Outcome = Literal["running", "completed", "failed", "interrupted", "skipped", "invalidated"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class ArtifactRecord(_Model):
    path: str = Field(description="Relative POSIX path inside the workflow folder.")
    agent: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    mtime: float
    inode: int | None = None
    schema_ref: str | None = Field(default=None, alias="schema")
    recorded_at: datetime

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Attempt(_Model):
    number: int = Field(ge=1)
    started_at: datetime
    ended_at: datetime | None = None
    outcome: Outcome = "running"
    error: str | None = None
    agent_id: str | None = None
    session_id: str | None = None


class AgentState(_Model):
    attempts: list[Attempt] = Field(default_factory=list)

    @property
    def retry_count(self) -> int:
        return max(0, len(self.attempts) - 1)

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None


class SessionRecord(_Model):
    session_id: str
    first_seen: datetime
    last_seen: datetime
    source: str | None = None


class AuditEntry(_Model):
    at: datetime
    action: str
    detail: str = ""


class StageSnapshot(_Model):
    name: str
    agent: str
    description: str = ""
    artifacts: list[dict[str, str | None]]
    depends_on: list[str]


class PipelineSnapshot(_Model):
    name: str
    source: str
    digest: str
    stages: list[StageSnapshot] = Field(min_length=1)


class Checkpoint(_Model):
    # Fields older tools (format "2.0") wrote, kept with their meaning.
    version: Literal["3.0"] = FORMAT_VERSION
    workflow_id: str
    created_at: datetime
    checkpoint_type: str
    completed_agents: list[str] = Field(default_factory=list)
    current_agent: str | None = None
    artifacts_created: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    # Cairn's own.
    seq: int = Field(ge=1, description="Sequence number of this checkpoint in its history.")
    status: Status
    status_reason: str | None = None
    request: str = ""
    updated_at: datetime
    last_activity: datetime
    skipped_agents: list[str] = Field(default_factory=list)
    artifacts: dict[str, ArtifactRecord] = Field(default_factory=dict)
    agents: dict[str, AgentState] = Field(default_factory=dict)
    sessions: list[SessionRecord] = Field(default_factory=list)
    pipeline: PipelineSnapshot
    audit: list[AuditEntry] = Field(default_factory=list)
    parameters: dict[str, str] = Field(default_factory=dict)

    @field_validator("workflow_id")
    @classmethod
    def _id_is_confined(cls, value: str) -> str:
        return check_workflow_id(value)

    def to_json_bytes(self) -> bytes:
        data = self.model_dump(mode="json", by_alias=True)
        return (json.dumps(data, indent=2, sort_keys=False) + "\n").encode("utf-8")

    @property
    def done(self) -> list[str]:
        """Stages that no longer block their dependants: completed or skipped."""
        return [*self.completed_agents, *self.skipped_agents]


def checkpoint_json_schema() -> dict[str, Any]:
    schema = Checkpoint.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://cairn.dev/schemas/checkpoint.schema.json"
    return schema


if __name__ == "__main__":
    print(json.dumps(checkpoint_json_schema(), indent=2, sort_keys=True))
