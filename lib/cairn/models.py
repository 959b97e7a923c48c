"""pydantic v2 models of `checkpoint.json`, format "3.2": the projection
`cairn.store.projection.render()` writes after every commit.

The database (`.claude/artifacts/cairn.db`) is the truth; `checkpoint.json` is what
people and agents read, so its format is documented here field by field. The JSON
Schema shipped as `data/checkpoint.schema.json` is generated from these models
(`python -m cairn.models > lib/cairn/data/checkpoint.schema.json`); a test keeps the two
in step and checks real projections against it. Only the CLI's `validate` (through the
JSON Schema and `jsonschema`) and the tests need this module: it imports pydantic, so
nothing on a hook's path imports it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from cairn.model import utcnow
from cairn.status import Status

__all__ = ["FORMAT_VERSION", "Checkpoint", "checkpoint_json_schema", "utcnow"]

FORMAT_VERSION: Literal["3.2"] = "3.2"

Outcome = Literal["running", "completed", "failed", "interrupted", "skipped", "invalidated"]
EndedAs = Literal["completed", "failed", "interrupted", "skipped"]
Check = Literal["ok", "pending", "none", "failed"]
SHA256 = r"^[0-9a-f]{64}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class FileRecord(_Model):
    """A file a stage attempt wrote, as it was when the attempt was recorded."""

    path: str = Field(description="Relative POSIX path inside the workflow folder.")
    sha256: str = Field(pattern=SHA256, description="SHA-256 of the file's bytes, lowercase hex.")
    size: int = Field(ge=0, description="Size in bytes.")
    mtime: float = Field(description="Modification time (seconds since the epoch) when recorded.")
    inode: int | None = Field(description="Inode number when recorded (null where unknown).")
    schema_name: str | None = Field(alias="schema", description=(
        "File name of the JSON Schema the artifact must satisfy (the project's .claude/schemas/ "
        "first, then Cairn's), or null when the stage declares none."))
    check: Check = Field(description=(
        "Outcome of the schema check at recording time: ok; pending (no validator was available "
        "then, e.g. a project schema without jsonschema: `cairn doctor` re-checks it); none (no "
        "schema, or the check was skipped with --no-schema); failed."))
    recorded_at: datetime = Field(description="When the record was made (UTC).")


class ArtifactRecord(FileRecord):
    """An artifact of the workflow: a file of a stage that is currently completed."""

    agent: str = Field(description="The stage whose completed attempt recorded the file.")


class GitState(_Model):
    """The project's git repository at a moment Cairn recorded (`git rev-parse`)."""

    head: str = Field(description="The commit HEAD pointed at.")
    branch: str | None = Field(description="The branch checked out; null when HEAD was detached.")
    worktree: str = Field(description="The worktree's top folder.")
    dirty: dict[str, str] | None = Field(default=None, description=(
        "The code state: git blob ids of the files that differed from HEAD (uncommitted or untracked, "
        "'-' when deleted), Cairn's artifacts folder left out. Absent in records made before lineage."))


class Change(_Model):
    """A file an attempt changed."""

    path: str = Field(description="Relative to the project.")
    how: str = Field(description="The tool that changed it (Write, Edit, MultiEdit, NotebookEdit), or git "
                     "(seen changed between the attempt's start and stop), or shared (from a fork's parent).")


class Effect(_Model):
    """One thing an attempt did to the world outside its artifacts (the side-effect ledger),
    recorded from the Bash call that did it. A re-run is told about it so it does not
    repeat it (a second pull request, a second publish)."""

    kind: str = Field(description="What it was: commit, push, pr, issue, comment or publish.")
    target: str = Field(description=(
        "What a repeat would repeat: a commit's sha, `remote branch` of a push, the branch of a pull request, "
        "`name@version` of a publish, an issue's title."))
    url: str | None = Field(description="The URL the tool printed (a pull request's, an issue's), or null.")
    detail: dict[str, str] = Field(description="A few strings about it (branch, remote, number, command).")
    at: datetime | None = Field(description="When it was recorded (UTC).")
    tool_use_id: str = Field(description="The Bash call that did it (an effect is recorded once per call).")


class Attempt(_Model):
    """One try at a stage. Attempts are never deleted; an undone one is marked invalidated."""

    number: int = Field(ge=1, description="1-based number of the attempt within its stage.")
    started_at: datetime = Field(description="When the attempt started (UTC).")
    ended_at: datetime | None = Field(description="When it ended (UTC); null while running.")
    outcome: Outcome = Field(description=(
        "What the attempt counts as now: running, completed, failed, interrupted, skipped, or "
        "invalidated (undone by a rollback or a re-run; `ended_as` keeps how it ended)."))
    ended_as: EndedAs | None = Field(description="How it ended, whatever happened since; null while running.")
    error: str | None = Field(description=(
        "Why it failed, was interrupted, skipped or restored; null otherwise. Credentials are redacted."))
    agent_id: str | None = Field(description="Claude Code's subagent id, when a subagent ran it.")
    session_id: str | None = Field(description="The Claude session that ran it, when known.")
    started_seq: int = Field(ge=0, description="The checkpoint (seq) that began it.")
    ended_seq: int | None = Field(description="The checkpoint that ended it; null while running.")
    invalidated_seq: int | None = Field(description="The checkpoint that undid it; null if it stands.")
    artifacts: list[FileRecord] = Field(description="The files this attempt recorded.")
    usage: dict[str, JsonValue] | None = Field(default=None, description=(
        "What Claude Code reported about the run (tokens, duration, tool uses), when it did; "
        "absent otherwise."))
    git: GitState | None = Field(default=None, description=(
        "The project's git state when the attempt completed (stale checks compare the newest); "
        "absent outside a repository and for attempts that did not complete."))
    consumed: dict[str, str] | None = Field(default=None, description=(
        "The sha256 of each upstream artifact, by path, as it was when the attempt completed (lineage); "
        "absent for attempts that did not complete and records made before lineage."))
    changed: list[Change] | None = Field(default=None, description="The files the attempt changed, when any.")
    code_start: GitState | None = Field(default=None, description=(
        "The code state when the attempt started (lineage: what changed during it is the difference with the "
        "state at its end); absent when it was not recorded (outside a repository, records made before 3.2)."))
    effects: list[Effect] | None = Field(default=None, description=(
        "Its side effects, oldest first (format 3.2); absent when it had none."))


class AgentState(_Model):
    """Every attempt at one stage, oldest first."""

    attempts: list[Attempt] = Field(description="The stage's attempts in the order they started.")

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None


class SessionRecord(_Model):
    """A Claude Code session seen working on the workflow."""

    session_id: str = Field(description="Claude Code's session id.")
    first_seen: datetime = Field(description="When the session first touched the workflow (UTC).")
    last_seen: datetime = Field(description="Its latest sign of life on the workflow (UTC).")
    source: str | None = Field(description="How it came: create (cairn start), resume (cairn resume), or null.")
    host: str | None = Field(default=None, description=(
        "The machine it ran on (format 3.2; null for sessions recorded before Cairn kept it)."))


class Progress(_Model):
    """Stages done (completed or skipped) out of the pipeline's stages."""

    completed: int = Field(ge=0, description="Stages completed or skipped.")
    total: int = Field(ge=0, description="Stages in the workflow's pipeline.")


class ArtifactSpec(_Model):
    path: str = Field(description="The file the stage must write, relative to the workflow folder.")
    schema_name: str | None = Field(alias="schema", description="Its JSON Schema file name, or null.")


class Stage(_Model):
    name: str = Field(description="The stage's name (unique in the pipeline).")
    agent: str = Field(description="The subagent type that runs it, e.g. cairn:planner.")
    description: str = Field(description="What the stage does.")
    artifacts: list[ArtifactSpec] = Field(description="What the stage must write.")
    depends_on: list[str] = Field(description="Stages that must be done before it starts.")
    reads_code: bool | None = Field(default=None, description=(
        "True when its result depends on the code as it is (a review): a change to the code after it "
        "completed makes it re-run. Absent means false."))


class Pipeline(_Model):
    """The pipeline the workflow was created with (a snapshot: later edits of
    .claude/cairn.yaml do not change a running workflow)."""

    name: str = Field(description="The pipeline's name.")
    source: str = Field(description="Where it came from: <builtin>, or the project's cairn.yaml path.")
    digest: str = Field(description="sha256 prefix of the stage list: equal digests, equal stages.")
    stages: list[Stage] = Field(min_length=1, description="Stages in a dependency (topological) order.")


class Mark(_Model):
    """One checkpoint of the history."""

    seq: int = Field(ge=1, description="Its number, 1 for the creation, one more per change.")
    type: str = Field(description=(
        "What made it: created, agent_start, agent_completion, agent_failure, pause, cancel, "
        "resume, rollback, rerun_from, retry, skip, set_params, precompact, activity, imported, ..."))
    at: datetime = Field(description="When (UTC).")
    session_id: str | None = Field(description="The Claude session that made it, when known.")


class AuditEvent(_Model):
    """One entry of the audit trail."""

    seq: int = Field(ge=0, description="The checkpoint it belongs to.")
    at: datetime = Field(description="When (UTC).")
    action: str = Field(description=(
        "What happened: created, status:<from>-><to>, invalidated, rollback, rerun_from, retry, skip, "
        "set_param, lease_takeover, imported, ..."))
    detail: str = Field(description="Details in words (credentials redacted).")


class Breakpoint(_Model):
    """A person's hold on a stage: its dispatch waits until a person approves or rejects."""

    stage: str = Field(description="The stage whose dispatch is held.")
    set_seq: int = Field(ge=0, description="The checkpoint that set it.")
    set_at: datetime = Field(description="When it was set (UTC).")
    source: str = Field(description="Who set it: cairn.yaml, cli, panel, or reject (set again by a rejection).")
    decided_seq: int | None = Field(description="The checkpoint that decided it; null while it holds.")
    decided_at: datetime | None = Field(description="When it was decided (UTC); null while it holds.")
    decision: Literal["approved", "rejected"] | None = Field(description="The decision; null while it holds.")
    feedback: str | None = Field(description="The person's words for the stage's brief (credentials redacted).")
    rerun: str | None = Field(description="The stage a rejection re-ran, or null.")


class Checkpoint(_Model):
    """`.claude/artifacts/<workflow_id>/checkpoint.json`, format 3.2: a projection of the
    database, rewritten after every change; a reader that finds it missing, damaged, behind
    (`seq`) or foreign (`workflow_uid`) rewrites it from the database."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, title="Cairn checkpoint.json (format 3.2)")

    version: Literal["3.2"] = Field(description=(
        "The format of this file. 3.2 added the side-effect ledger (attempts' `effects`), `breakpoints`, "
        "attempts' `code_start`, sessions' `host`, `parameters_seq` and `pins_seq`, so a database rebuilt "
        "from it keeps them."))
    note: str = Field(description="A reminder that the file is a projection: edits are ignored.")
    workflow_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$",
                             description="The workflow's id: its folder's name.")
    workflow_uid: str = Field(description="The workflow's identity: a copied or renamed folder is not it.")
    seq: int = Field(ge=1, description="The checkpoint this file shows (the last of `history`).")
    checkpoint_type: str = Field(description="What made that checkpoint (the `type` of the last mark).")
    created_at: datetime = Field(description="When the workflow was created (UTC).")
    updated_at: datetime = Field(description="When its last checkpoint was made (UTC).")
    last_activity: datetime = Field(description=(
        "The later of updated_at and the newest sign of life of a session working on it (UTC)."))
    status: Status = Field(description="The workflow's state (the state machine of cairn.status).")
    status_reason: str | None = Field(description="Why it is in that state, when it says; null otherwise.")
    request: str = Field(description="What the user asked for (credentials redacted).")
    completed_agents: list[str] = Field(description="Stages completed, in the order they completed.")
    skipped_agents: list[str] = Field(description="Stages skipped (by `cairn resume --skip`).")
    current_agent: str | None = Field(description=(
        "The stages running now, comma-separated in pipeline order (parallel stages all show), or null."))
    next_agents: list[str] = Field(description="Stages ready to run: not done, their dependencies done.")
    progress: Progress = Field(description="Stages done out of the pipeline's.")
    artifacts_created: list[str] = Field(description="Paths of the artifacts (the keys of `artifacts`).")
    artifacts: dict[str, ArtifactRecord] = Field(description=(
        "The workflow's artifacts by path: the files recorded by the completed stages' effective attempts."))
    agents: dict[str, AgentState] = Field(description="Every attempt of every stage that was tried, by stage.")
    sessions: list[SessionRecord] = Field(description="Claude sessions seen working on the workflow.")
    parameters: dict[str, str] = Field(description="Parameters set with `cairn resume --set KEY=VALUE`.")
    parameters_seq: dict[str, int] | None = Field(default=None, description=(
        "The checkpoint that set each parameter, by key (format 3.2; present with a parameter)."))
    metadata: dict[str, str] = Field(description="Metadata given at creation (imports keep the old fields).")
    git: GitState | None = Field(description="The git state at creation; null outside a repository.")
    parent: str | None = Field(default=None, description="The workflow it was forked from (`cairn fork`).")
    pins: dict[str, str] | None = Field(default=None, description=(
        "What it runs with: plugin (version), pipeline (digest), agent:<stage> (sha256 of the agent "
        "definition), code (an accepted code baseline, JSON)."))
    pins_seq: dict[str, int] | None = Field(default=None, description=(
        "The checkpoint that recorded each pin, by name (format 3.2; present with `pins`)."))
    breakpoints: list[Breakpoint] | None = Field(default=None, description=(
        "The person's holds on stages, oldest first, held and decided (format 3.2); absent when none was set. "
        "A rebuilt database keeps them, so a held stage never runs without the person's approval."))
    pipeline: Pipeline = Field(description="The workflow's pipeline snapshot.")
    history: list[Mark] = Field(min_length=1, description="Every checkpoint, oldest first.")
    audit: list[AuditEvent] = Field(description="The audit trail, oldest first.")

    @property
    def done(self) -> list[str]:
        """Stages that no longer block their dependants: completed or skipped."""
        return [*self.completed_agents, *self.skipped_agents]


def checkpoint_json_schema() -> dict[str, JsonValue]:
    schema: dict[str, JsonValue] = Checkpoint.model_json_schema(by_alias=True, mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://cairn.dev/schemas/checkpoint.schema.json"
    return schema


if __name__ == "__main__":
    print(json.dumps(checkpoint_json_schema(), indent=2, sort_keys=True))
