"""The pydantic models of checkpoint.json (format 3.1): the shipped JSON Schema is
generated from them, every field is described, real projections written by the library
validate against it and round-trip through the models, and it rejects broken ones."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from datetime import timezone
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cairn.manager import CheckpointManager
from cairn.models import (
    AgentState,
    ArtifactRecord,
    Attempt,
    AuditEvent,
    Checkpoint,
    FileRecord,
    GitState,
    Mark,
    Pipeline,
    Progress,
    SessionRecord,
    checkpoint_json_schema,
)
from cairn.operations import Operation
from cairn.pipeline import default_pipeline
from cairn.status import Status
from cairn.store.projection import CHECKPOINT_FILE

JSON = dict[str, object]


def shipped_schema() -> JSON:
    text = resources.files("cairn").joinpath("data/checkpoint.schema.json").read_text(encoding="utf-8")
    data: JSON = json.loads(text)
    return data


VALIDATOR = jsonschema.Draft202012Validator(shipped_schema())

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,40}", fullmatch=True)
times = st.datetimes(timezones=st.just(timezone.utc))
names = st.sampled_from(default_pipeline().names)
texts = st.text(max_size=50)
maybe_int = st.none() | st.integers(0, 10**6)
sha = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
checks = st.sampled_from(["ok", "pending", "none", "failed"])
files = st.builds(FileRecord, path=st.from_regex(r"[a-z]{1,8}\.json", fullmatch=True), sha256=sha,
                  size=st.integers(0, 2**40), mtime=st.floats(0, 2e9, allow_nan=False), inode=maybe_int,
                  schema=st.none() | st.just("manifest.schema.json"), check=checks, recorded_at=times)
gits = st.none() | st.builds(GitState, head=sha, branch=st.none() | texts, worktree=texts)
attempts = st.builds(
    Attempt, number=st.integers(1, 50), started_at=times, ended_at=st.none() | times,
    outcome=st.sampled_from(["running", "completed", "failed", "interrupted", "skipped", "invalidated"]),
    ended_as=st.none() | st.sampled_from(["completed", "failed", "interrupted", "skipped"]),
    error=st.none() | texts, agent_id=st.none() | texts, session_id=st.none() | texts,
    started_seq=st.integers(0, 10**6), ended_seq=maybe_int, invalidated_seq=maybe_int,
    artifacts=st.lists(files, max_size=2),
    usage=st.none() | st.dictionaries(st.sampled_from(["totalTokens", "totalDurationMs"]),
                                      st.integers(0, 10**9), max_size=2),
    git=gits)


@st.composite
def checkpoints(draw: st.DrawFn) -> Checkpoint:
    arts = draw(st.lists(st.tuples(files, names), max_size=4))
    records = {f.path: ArtifactRecord(**f.model_dump(), agent=agent) for f, agent in arts}
    return Checkpoint(
        version="3.2", note=draw(texts), workflow_id=draw(ids), workflow_uid=draw(texts),
        seq=draw(st.integers(1, 10**6)), checkpoint_type=draw(texts), created_at=draw(times),
        updated_at=draw(times), last_activity=draw(times),
        status=draw(st.sampled_from(list(Status))), status_reason=draw(st.none() | texts),
        request=draw(st.text(max_size=300)), completed_agents=draw(st.lists(names, unique=True)),
        skipped_agents=draw(st.lists(names, unique=True, max_size=2)), current_agent=draw(st.none() | names),
        next_agents=draw(st.lists(names, unique=True, max_size=2)),
        progress=Progress(completed=draw(st.integers(0, 8)), total=8), artifacts_created=list(records),
        artifacts=records,
        agents=draw(st.dictionaries(names, st.builds(AgentState, attempts=st.lists(attempts, max_size=3)),
                                    max_size=3)),
        sessions=draw(st.lists(st.builds(SessionRecord, session_id=texts, first_seen=times, last_seen=times,
                                         source=st.none() | texts), max_size=2)),
        parameters=draw(st.dictionaries(texts, texts, max_size=2)),
        metadata=draw(st.dictionaries(texts, texts, max_size=2)), git=draw(gits),
        pipeline=Pipeline.model_validate(default_pipeline().to_dict()),
        history=draw(st.lists(st.builds(Mark, seq=st.integers(1, 10**6), type=texts, at=times,
                                        session_id=st.none() | texts), min_size=1, max_size=3)),
        audit=draw(st.lists(st.builds(AuditEvent, seq=st.integers(0, 10**6), at=times, action=texts,
                                      detail=texts), max_size=3)),
    )


def dump(cp: Checkpoint) -> JSON:
    data: JSON = cp.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return data


@settings(max_examples=40, deadline=None)
@given(checkpoints())
def test_every_model_instance_satisfies_the_shipped_schema_and_round_trips(cp: Checkpoint) -> None:
    data = dump(cp)
    assert list(VALIDATOR.iter_errors(data)) == []
    assert Checkpoint.model_validate(json.loads(json.dumps(data))) == cp


def test_shipped_schema_is_generated_from_the_models() -> None:
    assert shipped_schema() == checkpoint_json_schema(), (
        "regenerate: python -m cairn.models > lib/cairn/data/checkpoint.schema.json")


def test_every_field_is_described() -> None:
    schema = shipped_schema()
    defs = schema["$defs"]
    assert isinstance(defs, dict)
    undescribed = []
    for name, part in [("Checkpoint", schema), *defs.items()]:
        assert isinstance(part, dict)
        props = part.get("properties", {})
        assert isinstance(props, dict)
        undescribed += [f"{name}.{k}" for k, v in props.items() if not v.get("description")]
    assert undescribed == []


@pytest.fixture
def repo_project(project: Path) -> Iterator[Path]:
    """The project is a git repository with a commit: projections carry git state."""
    git = ["git", "-C", str(project), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (project / "README").write_text("x\n")
    subprocess.run([*git, "add", "README"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], check=True)
    yield project


def test_real_projections_validate_and_round_trip(repo_project: Path, root: Path, mgr: CheckpointManager,
                                                  complete: Callable[..., Path]) -> None:
    path = root / "wf-m" / CHECKPOINT_FILE
    seen: list[JSON] = []

    def snap() -> None:
        seen.append(json.loads(path.read_text()))

    mgr.create("schema check: token=sk-abcdefghijklmnopqrstuvwx", workflow_id="wf-m", session_id="s-1")
    snap()
    mgr.record_start("wf-m", "orchestrator", session_id="s-1", agent_id="agent-1")
    snap()
    complete(mgr, "wf-m", "orchestrator")
    snap()
    mgr.workflows.agent_launched("toolu-1", "agent-1", json.dumps({"totalTokens": 12}))
    mgr.record_failure("wf-m", "researcher", "boom")
    snap()
    mgr.apply("wf-m", Operation(retry=True).change, "retry", session_id="s-2")
    snap()
    mgr.apply("wf-m", Operation(skip=["researcher"], params={"target": "py311"}).change, "skip")
    snap()
    complete(mgr, "wf-m", "planner")
    mgr.apply("wf-m", Operation(rollback=3, reason="again").change, "rollback")
    snap()
    mgr.pause("wf-m")
    snap()
    mgr.cancel("wf-m")
    snap()
    last = seen[-1]
    assert last["git"] is not None and last["status"] == "cancelled" and last["parameters"] == {"target": "py311"}
    assert "sk-abcdefghijkl" not in path.read_text()  # credentials never reach the projection
    attempts = [a for st in last["agents"].values() for a in st["attempts"]]  # type: ignore[union-attr]
    assert any(a.get("git") for a in attempts) and any(a.get("usage") == {"totalTokens": 12} for a in attempts)
    assert any(a["outcome"] == "invalidated" for st in last["agents"].values()  # type: ignore[union-attr]
               for a in st["attempts"])
    for data in seen:
        errors = list(VALIDATOR.iter_errors(data))
        assert errors == [], (data["seq"], [e.message for e in errors[:2]])
        assert dump(Checkpoint.model_validate(data)) == data  # the models describe every field
    assert len({d["seq"] for d in seen}) == len(seen)


def test_the_schema_rejects_broken_checkpoints(mgr: CheckpointManager) -> None:
    mgr.create("x", workflow_id="wf-b")
    good = json.loads((mgr.workflow_dir("wf-b") / CHECKPOINT_FILE).read_text())
    assert list(VALIDATOR.iter_errors(good)) == []
    for key, value in (("status", "exploded"), ("seq", 0), ("version", "3.0"), ("surprise", 1),
                       ("workflow_id", "../escape"), ("history", []), ("completed_agents", "orchestrator")):
        broken = {**good, key: value}
        assert list(VALIDATOR.iter_errors(broken)), key
        with pytest.raises(ValidationError):
            Checkpoint.model_validate(broken)
    missing = {k: v for k, v in good.items() if k != "workflow_uid"}
    assert list(VALIDATOR.iter_errors(missing))


def test_done_and_last() -> None:
    assert AgentState(attempts=[]).last is None
    data = json.loads(json.dumps(dump(Checkpoint(
        version="3.2", note="", workflow_id="wf", workflow_uid="u", seq=1, checkpoint_type="created",
        created_at="2026-01-01T00:00:00Z", updated_at="2026-01-01T00:00:00Z",  # type: ignore[arg-type]
        last_activity="2026-01-01T00:00:00Z", status=Status.RUNNING, status_reason=None,  # type: ignore[arg-type]
        request="r", completed_agents=["orchestrator"], skipped_agents=["researcher"], current_agent=None,
        next_agents=["planner"], progress=Progress(completed=2, total=8), artifacts_created=[], artifacts={},
        agents={}, sessions=[], parameters={}, metadata={}, git=None,
        pipeline=Pipeline.model_validate(default_pipeline().to_dict()),
        history=[Mark(seq=1, type="created", at="2026-01-01T00:00:00Z", session_id=None)],  # type: ignore[arg-type]
        audit=[]))))
    assert Checkpoint.model_validate(data).done == ["orchestrator", "researcher"]
