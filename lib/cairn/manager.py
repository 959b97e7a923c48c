"""`CheckpointManager`: the one place that changes a workflow's checkpoint.

Every change is a read-modify-write under the workflow's lock: load the latest valid
checkpoint, apply the change, bump `seq`, commit to the store (history + latest), then
update the index. Errors are raised, typed, never swallowed.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from cairn import stale
from cairn.artifacts import hash_file, schema_errors
from cairn.errors import ArtifactError, CairnError, NotResumable, UsageError
from cairn.index import Index, Summary
from cairn.migrate import is_legacy, upgrade
from cairn.models import (
    AgentState,
    ArtifactRecord,
    Attempt,
    AuditEntry,
    Checkpoint,
    PipelineSnapshot,
    SessionRecord,
    utcnow,
)
from cairn.paths import check_workflow_id, confine_artifact, default_artifacts_dir, normalize_artifact
from cairn.pipeline import PROJECT_CONFIG, Pipeline, Settings, load_project_config, schema_path
from cairn.redact import redact
from cairn.sessions import last_activity
from cairn.status import ACTIVE, RESUMABLE, Status, check_transition
from cairn.store import FileStore, Loaded

MAX_REQUEST = 20_000


class CheckpointManager:
    def __init__(
        self,
        root: Path | None = None,
        *,
        project_dir: Path | None = None,
        settings: Settings | None = None,
        store: FileStore | None = None,
    ) -> None:
        self.root = Path(root) if root is not None else default_artifacts_dir()
        # The project is the folder holding `.claude/artifacts`, when laid out that way.
        if project_dir is None and self.root.name == "artifacts" and self.root.parent.name == ".claude":
            project_dir = self.root.parent.parent
        self.project_dir = project_dir
        self._settings = settings
        self.store = store or FileStore(self.root, lock_timeout=self.settings.lock_timeout)
        self.index = Index(self.root)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            # Without a project config the defaults hold: no YAML to import or parse
            # (every hook that writes a checkpoint asks for the lock timeout).
            project = self.project_dir
            if project is not None and (project / PROJECT_CONFIG).is_file():
                self._settings = load_project_config(project)[1]
            else:
                self._settings = Settings()
        return self._settings

    def project_pipeline(self) -> Pipeline:
        if self.project_dir is None:
            from cairn.pipeline import default_pipeline

            return default_pipeline()
        return load_project_config(self.project_dir)[0]

    def workflow_dir(self, workflow_id: str) -> Path:
        return self.store.workflow_dir(workflow_id)

    # ------------------------------------------------------------------ reading
    def _validate(self, raw: dict[str, Any]) -> Checkpoint:
        if is_legacy(raw):
            raw = upgrade(raw, self.project_pipeline())
        return Checkpoint.model_validate(raw)

    def load_with_warnings(self, workflow_id: str) -> Loaded[Checkpoint]:
        check_workflow_id(workflow_id)
        return self.store.load(workflow_id, self._validate)

    def load(self, workflow_id: str) -> Checkpoint:
        return self.load_with_warnings(workflow_id).value

    def pipeline_of(self, cp: Checkpoint) -> Pipeline:
        return Pipeline.from_dict(cp.pipeline.model_dump())

    def list_workflows(self, *, include_finished: bool = False) -> list[tuple[str, Summary]]:
        """(id, summary) of workflows, most recently active first."""
        rows = [
            (wid, s) for wid, s in self.index.read().items()
            if include_finished or Status(s.get("status") or "pending") in ACTIVE
        ]
        for wid, s in rows:
            if Status(s.get("status") or "pending") == Status.RUNNING:
                # The Stop hook only touches a file; fold it in for running workflows.
                s["last_activity"] = last_activity(self.root, wid, s)
        rows.sort(key=lambda r: str(r[1].get("last_activity") or ""), reverse=True)
        return rows

    def resumable(self) -> list[tuple[str, Summary]]:
        """Workflows a session may pick up: paused, failed, stale, pending (created, never
        started) and running ones (a running workflow's session may be gone: a killed
        client runs no hook)."""
        keep = {*RESUMABLE, Status.RUNNING, Status.PENDING}
        return [(w, s) for w, s in self.list_workflows() if Status(s["status"]) in keep]

    def latest_id(self) -> str:
        rows = self.resumable()
        if not rows:
            raise NotResumable("there is no workflow to resume under " + str(self.root),
                               hint='start one with `cairn start "REQUEST"`')
        return str(rows[0][0])

    # ------------------------------------------------------------------ writing
    def _commit(self, cp: Checkpoint, checkpoint_type: str) -> Checkpoint:
        now = utcnow()
        cp.checkpoint_type = checkpoint_type
        cp.updated_at = now
        cp.last_activity = now
        record = cp.model_dump(mode="json", by_alias=True)
        self.index.mark_dirty(cp.workflow_id)
        self.store.put(cp.workflow_id, record)
        self.index.update(cp.workflow_id, record)
        return cp

    def mutate(
        self, workflow_id: str, change: Callable[[Checkpoint], str | None], checkpoint_type: str
    ) -> Checkpoint:
        """Apply `change` to the latest checkpoint under the lock and commit it. `change`
        may return another checkpoint type to record."""
        check_workflow_id(workflow_id)
        with self.store.lock(workflow_id, checkpoint_type):
            loaded = self.store.load(workflow_id, self._validate)
            cp = loaded.value
            if not self.store.history(workflow_id):
                self.store.archive_original(workflow_id)
            elif loaded.latest_damaged:
                self.store.preserve_damaged(workflow_id)
            for warning in loaded.warnings:
                cp.audit.append(AuditEntry(at=utcnow(), action="recovered", detail=warning[:500]))
            cp.seq = max(cp.seq, self._last_seq(workflow_id)) + 1
            ctype = change(cp) or checkpoint_type
            return self._commit(cp, ctype)

    def _last_seq(self, workflow_id: str) -> int:
        hist = self.store.history(workflow_id)
        return hist[-1].seq if hist else 0

    def create(
        self,
        request: str,
        *,
        workflow_id: str | None = None,
        pipeline: Pipeline | None = None,
        session_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> Checkpoint:
        if not isinstance(request, str) or not request.strip():
            raise UsageError("the request is empty", hint='describe the work: cairn start "add X"')
        if len(request) > MAX_REQUEST:
            raise UsageError(f"the request is {len(request)} characters; the limit is {MAX_REQUEST}",
                             hint="shorten it and put details in a file the agents can read")
        request = redact(request)  # a pasted token must not be persisted
        pipeline = pipeline or self.project_pipeline()
        now = utcnow()
        wid = check_workflow_id(workflow_id) if workflow_id else _new_id(now)
        git = stale.git_state(self.project_dir)
        cp = Checkpoint(
            workflow_id=wid, created_at=now, updated_at=now, last_activity=now,
            checkpoint_type="created", seq=1, status=Status.PENDING, request=request.strip(),
            pipeline=PipelineSnapshot.model_validate(pipeline.to_dict()),
            metadata=dict(metadata or {}),
            audit=[AuditEntry(at=now, action="created", detail=f"pipeline {pipeline.name} "
                              f"({len(pipeline)} stages, {pipeline.digest})")],
        )
        if session_id:
            _touch_session(cp, session_id, "create")
        stale.record_git(cp, git)
        record = cp.model_dump(mode="json", by_alias=True)
        self.index.mark_dirty(wid)
        self.store.create(wid, record)
        self.index.update(wid, record)
        return cp

    def record_start(self, workflow_id: str, agent: str, *, agent_id: str | None = None,
                     session_id: str | None = None) -> Checkpoint:
        def change(cp: Checkpoint) -> None:
            stage = self.pipeline_of(cp).stage(agent).name
            if cp.status in RESUMABLE or cp.status == Status.PENDING:
                _transition(cp, Status.RUNNING, f"agent {stage} started")
            elif cp.status != Status.RUNNING:
                raise NotResumable(f"workflow {workflow_id!r} is {cp.status.value}",
                                   hint="start a new workflow with `cairn start`")
            state = cp.agents.setdefault(stage, AgentState())
            _close_open_attempt(cp, state, "a new attempt started before it ended")
            state.attempts.append(Attempt(number=len(state.attempts) + 1, started_at=utcnow(),
                                          agent_id=agent_id, session_id=session_id))
            cp.current_agent = stage
            if session_id:
                _touch_session(cp, session_id)
        return self.mutate(workflow_id, change, "agent_start")

    def stage_artifacts(self, cp: Checkpoint, agent: str) -> list[str]:
        return [a.path for a in self.pipeline_of(cp).stage(agent).artifacts]

    def check_artifacts(self, workflow_id: str, agent: str,
                        paths: list[str] | None = None, cp: Checkpoint | None = None) -> list[str]:
        """Problems (one line each) with an agent's artifacts: missing, escaping the
        workflow folder, not JSON, or violating the stage's schema. Empty means valid."""
        cp = cp or self.load(workflow_id)
        stage = self.pipeline_of(cp).stage(agent)
        wdir = self.workflow_dir(workflow_id)
        schemas = {a.path: a.schema for a in stage.artifacts}
        problems: list[str] = []
        for rel in paths if paths is not None else list(schemas):
            try:
                rel = normalize_artifact(wdir, rel)
                real = confine_artifact(wdir, rel)
            except CairnError as exc:
                problems.append(exc.message)
                continue
            if not real.is_file():
                problems.append(f"{wdir / rel} does not exist")
                continue
            schema = schemas.get(rel)
            if schema:
                sfile = schema_path(schema, self.project_dir)
                if sfile is None:
                    problems.append(f"schema {schema} of {rel} is not found")
                    continue
                problems += [f"{rel}: {e}" for e in schema_errors(real, sfile)]
        return problems

    def record_completion(self, workflow_id: str, agent: str, *, artifacts: list[str] | None = None,
                          agent_id: str | None = None, session_id: str | None = None,
                          check_schemas: bool = True) -> Checkpoint:
        wdir = self.workflow_dir(workflow_id)
        if check_schemas:
            problems = self.check_artifacts(workflow_id, agent, artifacts)
            if problems:
                raise ArtifactError(f"{agent}'s artifacts are not valid: " + "; ".join(problems),
                                    path=str(wdir), hint="fix the files, then record the completion again")
        git = stale.git_state(self.project_dir)  # outside the lock: a subprocess

        def change(cp: Checkpoint) -> None:
            pipeline = self.pipeline_of(cp)
            stage = pipeline.stage(agent)
            stale.record_git(cp, git, stage.name)
            if cp.status in (Status.COMPLETED, Status.CANCELLED):
                raise NotResumable(f"workflow {workflow_id!r} is {cp.status.value}",
                                   hint="start a new workflow with `cairn start`")
            schemas = {a.path: a.schema for a in stage.artifacts}
            rels = [normalize_artifact(wdir, p) for p in
                    (artifacts if artifacts is not None else list(schemas))]
            now = utcnow()
            for rel in rels:
                facts = hash_file(confine_artifact(wdir, rel))
                cp.artifacts[rel] = ArtifactRecord(
                    path=rel, agent=stage.name, sha256=facts.sha256, size=facts.size,
                    mtime=facts.mtime, inode=facts.inode, schema_ref=schemas.get(rel),
                    recorded_at=now)
                if rel not in cp.artifacts_created:
                    cp.artifacts_created.append(rel)
            state = cp.agents.setdefault(stage.name, AgentState())
            last = state.last
            if last is None or last.outcome != "running":
                last = Attempt(number=len(state.attempts) + 1, started_at=now,
                               agent_id=agent_id, session_id=session_id)
                state.attempts.append(last)
            last.ended_at, last.outcome, last.error = now, "completed", None
            if stage.name not in cp.completed_agents:
                cp.completed_agents.append(stage.name)
            if stage.name in cp.skipped_agents:
                cp.skipped_agents.remove(stage.name)
            if cp.current_agent == stage.name:
                cp.current_agent = None
            if session_id:
                _touch_session(cp, session_id)
            if cp.status == Status.PENDING:
                _transition(cp, Status.RUNNING, f"agent {stage.name} completed")
            if not pipeline.ready(cp.done):
                if cp.status != Status.RUNNING:
                    _transition(cp, Status.RUNNING, "last stage completed")
                _transition(cp, Status.COMPLETED, "every stage completed")
        return self.mutate(workflow_id, change, "agent_completion")

    def record_failure(self, workflow_id: str, agent: str, error: str, *,
                       agent_id: str | None = None, session_id: str | None = None) -> Checkpoint:
        error = redact(error)  # schema errors quote the artifact's values
        def change(cp: Checkpoint) -> None:
            stage = self.pipeline_of(cp).stage(agent)
            state = cp.agents.setdefault(stage.name, AgentState())
            last = state.last
            now = utcnow()
            if last is None or last.outcome != "running":
                last = Attempt(number=len(state.attempts) + 1, started_at=now,
                               agent_id=agent_id, session_id=session_id)
                state.attempts.append(last)
            last.ended_at, last.outcome, last.error = now, "failed", error[:2000]
            if cp.current_agent == stage.name:
                cp.current_agent = None
            if cp.status == Status.PENDING:
                _transition(cp, Status.RUNNING, "agent started")
            if cp.status == Status.RUNNING:
                _transition(cp, Status.FAILED, f"{stage.name} failed: {error[:300]}")
        return self.mutate(workflow_id, change, "agent_failure")

    def set_status(self, workflow_id: str, target: Status, reason: str,
                   *, checkpoint_type: str | None = None) -> Checkpoint:
        def change(cp: Checkpoint) -> None:
            if target in (Status.PAUSED, Status.FAILED, Status.CANCELLED, Status.STALE):
                for state in cp.agents.values():
                    _close_open_attempt(cp, state, reason)
            _transition(cp, target, reason)
        return self.mutate(workflow_id, change, checkpoint_type or target.value)

    def pause(self, workflow_id: str, reason: str = "paused by user") -> Checkpoint:
        return self.set_status(workflow_id, Status.PAUSED, reason, checkpoint_type="pause")

    def cancel(self, workflow_id: str, reason: str = "cancelled by user") -> Checkpoint:
        return self.set_status(workflow_id, Status.CANCELLED, reason, checkpoint_type="cancel")

    def complete(self, workflow_id: str) -> Checkpoint:
        return self.set_status(workflow_id, Status.COMPLETED, "marked complete",
                               checkpoint_type="complete")

    def resume(self, workflow_id: str, *, session_id: str | None = None,
               source: str | None = None) -> Checkpoint:
        def change(cp: Checkpoint) -> None:
            if cp.status != Status.RUNNING:
                _transition(cp, Status.RUNNING, f"resumed{' by session ' + session_id if session_id else ''}")
            if session_id:
                _touch_session(cp, session_id, source)
        return self.mutate(workflow_id, change, "resume")

    def touch(self, workflow_id: str, *, session_id: str | None = None,
              checkpoint_type: str = "activity") -> Checkpoint:
        def change(cp: Checkpoint) -> None:
            if session_id:
                _touch_session(cp, session_id)
        return self.mutate(workflow_id, change, checkpoint_type)

    def delete(self, workflow_id: str) -> None:
        check_workflow_id(workflow_id)
        with self.store.lock(workflow_id, "delete"):
            self.index.mark_dirty(workflow_id)
            self.store.delete(workflow_id)
        self.index.update(workflow_id, None)


def _new_id(now: datetime) -> str:
    return f"wf-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _transition(cp: Checkpoint, target: Status, reason: str) -> None:
    check_transition(cp.status, target, cp.workflow_id)
    cp.audit.append(AuditEntry(at=utcnow(), action=f"status:{cp.status.value}->{target.value}",
                               detail=reason[:500]))
    cp.status = target
    cp.status_reason = reason[:500] if target != Status.RUNNING else None


def _close_open_attempt(cp: Checkpoint, state: AgentState, reason: str) -> None:
    last = state.last
    if last is not None and last.outcome == "running":
        last.outcome = "interrupted"
        last.ended_at = utcnow()
        last.error = reason[:500]
        cp.current_agent = None


def _touch_session(cp: Checkpoint, session_id: str, source: str | None = None) -> None:
    now = utcnow()
    for s in cp.sessions:
        if s.session_id == session_id:
            s.last_seen = now
            if source:
                s.source = source
            return
    cp.sessions.append(SessionRecord(session_id=session_id[:200], first_seen=now, last_seen=now,
                                     source=source))
    del cp.sessions[:-50]  # bounded: a long-lived workflow must not grow without end
