"""The checkpoint models: JSON round trips, and the shipped JSON Schema kept in step
with them and valid for real checkpoints."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timezone
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cairn.errors import ConfinementError
from cairn.manager import CheckpointManager
from cairn.models import (
    AgentState,
    ArtifactRecord,
    Attempt,
    AuditEntry,
    Checkpoint,
    PipelineSnapshot,
    SessionRecord,
    checkpoint_json_schema,
)
from cairn.paths import CHECKPOINT_FILE
from cairn.pipeline import default_pipeline
from cairn.status import Status


def shipped_schema() -> dict[str, Any]:
    text = resources.files("cairn").joinpath("data/checkpoint.schema.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,40}", fullmatch=True)
times = st.datetimes(timezones=st.just(timezone.utc))
names = st.sampled_from(default_pipeline().names)
texts = st.text(max_size=50)
outcomes = st.sampled_from(["running", "completed", "failed", "interrupted", "skipped", "invalidated"])

attempts = st.builds(Attempt, number=st.integers(1, 50), started_at=times,
                     ended_at=st.none() | times, outcome=outcomes, error=st.none() | texts,
                     agent_id=st.none() | texts, session_id=st.none() | texts)
artifact_records = st.builds(
    ArtifactRecord, path=st.from_regex(r"[a-z]{1,8}\.json", fullmatch=True), agent=names,
    sha256=st.from_regex(r"[0-9a-f]{64}", fullmatch=True), size=st.integers(0, 2**40),
    mtime=st.floats(0, 2e9, allow_nan=False), inode=st.none() | st.integers(0, 2**62),
    schema_ref=st.none() | st.just("manifest.schema.json"), recorded_at=times)


@st.composite
def checkpoints(draw: st.DrawFn) -> Checkpoint:
    arts = draw(st.lists(artifact_records, max_size=4))
    return Checkpoint(
        workflow_id=draw(ids), created_at=draw(times), checkpoint_type=draw(texts),
        completed_agents=draw(st.lists(names, unique=True)), current_agent=draw(st.none() | names),
        artifacts_created=[a.path for a in arts],
        metadata=draw(st.dictionaries(texts, st.none() | st.integers() | texts, max_size=3)),
        seq=draw(st.integers(1, 10**6)), status=draw(st.sampled_from(list(Status))),
        status_reason=draw(st.none() | texts), request=draw(st.text(max_size=300)),
        updated_at=draw(times), last_activity=draw(times),
        skipped_agents=draw(st.lists(names, unique=True, max_size=2)),
        artifacts={a.path: a for a in arts},
        agents=draw(st.dictionaries(names, st.builds(AgentState, attempts=st.lists(attempts, max_size=3)),
                                    max_size=3)),
        sessions=draw(st.lists(st.builds(SessionRecord, session_id=texts, first_seen=times,
                                         last_seen=times, source=st.none() | texts), max_size=2)),
        pipeline=PipelineSnapshot.model_validate(default_pipeline().to_dict()),
        audit=draw(st.lists(st.builds(AuditEntry, at=times, action=texts, detail=texts), max_size=3)),
        parameters=draw(st.dictionaries(texts, texts, max_size=2)),
    )


@settings(max_examples=80, deadline=None)
@given(checkpoints())
def test_json_round_trip(cp: Checkpoint) -> None:
    data = cp.to_json_bytes()
    again = Checkpoint.model_validate_json(data)
    assert again == cp
    assert again.to_json_bytes() == data


@settings(max_examples=40, deadline=None)
@given(checkpoints())
def test_every_generated_checkpoint_satisfies_the_shipped_schema(cp: Checkpoint) -> None:
    jsonschema.validate(json.loads(cp.to_json_bytes()), shipped_schema())


def test_shipped_schema_is_generated_from_the_models() -> None:
    assert shipped_schema() == checkpoint_json_schema(), (
        "regenerate: python -m cairn.models > lib/cairn/data/checkpoint.schema.json")


def test_real_checkpoints_validate_against_the_shipped_schema(
        mgr: CheckpointManager, complete: Callable[..., Path]) -> None:
    wid = mgr.create("schema check", session_id="s-1").workflow_id
    mgr.record_start(wid, "orchestrator", session_id="s-1")
    complete(mgr, wid, "orchestrator")
    mgr.record_failure(wid, "researcher", "boom")
    mgr.resume(wid)
    mgr.pause(wid)
    schema = shipped_schema()
    cls = jsonschema.validators.validator_for(schema)
    validator = cls(schema)
    files = [mgr.workflow_dir(wid) / CHECKPOINT_FILE, *(h.path for h in mgr.store.history(wid))]
    assert len(files) == 7
    for f in files:
        data = json.loads(f.read_text())
        errors = list(validator.iter_errors(data))
        assert errors == [], (f, errors[:1])
    # The schema does reject a broken one.
    data = json.loads(files[0].read_text())
    data["status"] = "exploded"
    assert list(validator.iter_errors(data))


def test_retry_count_and_done() -> None:
    assert AgentState().retry_count == 0 and AgentState().last is None
    cp_fields = {"workflow_id": "wf", "created_at": "2026-01-01T00:00:00Z",
                 "checkpoint_type": "x", "seq": 1, "status": "running",
                 "updated_at": "2026-01-01T00:00:00Z", "last_activity": "2026-01-01T00:00:00Z",
                 "pipeline": default_pipeline().to_dict(),
                 "completed_agents": ["orchestrator"], "skipped_agents": ["researcher"]}
    cp = Checkpoint.model_validate(cp_fields)
    assert cp.done == ["orchestrator", "researcher"]
    with pytest.raises(ValidationError):
        Checkpoint.model_validate({**cp_fields, "surprise": 1})  # extra="forbid"
    with pytest.raises(ValidationError):
        Checkpoint.model_validate({**cp_fields, "seq": 0})
    with pytest.raises((ValidationError, ConfinementError)):
        Checkpoint.model_validate({**cp_fields, "workflow_id": "../escape"})
