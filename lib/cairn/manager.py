"""`CheckpointManager`: the library's face, thin over the store and `cairn.workflow`.

It opens the project's database, loads workflows (repairing a projection that is
missing, damaged or behind, and saying so), checks a stage's artifacts, and hands every
change to `Workflows`, the one module that changes state. Standard library only, unless
the project has a `cairn.yaml` (PyYAML reads it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cairn.errors import ArtifactError, CairnError, NotResumable, WorkflowNotFound
from cairn.model import ArtifactRecord, Problem, Summary, Workflow, utcnow
from cairn.paths import check_workflow_id, default_artifacts_dir
from cairn.pipeline import PROJECT_CONFIG, Pipeline, Settings
from cairn.project import has_store, open_store, projection_state
from cairn.status import ACTIVE, RESUMABLE, Status
from cairn.store import Reader, Store, Tx, projection
from cairn.workflow import Workflows

Op = Callable[[Tx, Workflow, int, datetime], "str | None"]


class CheckpointManager:
    def __init__(self, root: Path | None = None, *, project_dir: Path | None = None,
                 settings: Settings | None = None, store: Store | None = None, hook: bool = False,
                 on_reach: Callable[[Path], list[str]] | None = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        """`hook`: opened by a hook, which must never make a session wait on a shared store
        that was just found unreachable (`cairn.store.offline.recently_down`). `on_reach`:
        called once the shared store is reached (the boundaries pass what sends the events
        hooks kept while it was unreachable; its notes are told). `clock`: the time the
        changes happened, when not now (a replayed hook event: `cairn.hooks.replay_kept`)."""
        self.root = Path(root) if root is not None else default_artifacts_dir()
        if project_dir is None and self.root.name == "artifacts" and self.root.parent.name == ".claude":
            project_dir = self.root.parent.parent
        self.project_dir = project_dir
        self._settings = settings
        self._store = store
        self._workflows: Workflows | None = None
        self.notes: list[str] = []  # what a reader should be told (repairs, imports)
        self.hook = hook
        self.on_reach = on_reach
        self.clock = clock

    # ------------------------------------------------------------------ plumbing
    @property
    def store(self) -> Store:
        if self._store is None:
            if self.hook and self.shared:
                from cairn.store.offline import check_down

                check_down(self.root)  # StoreUnreachable at once while it was found down a moment ago
            store, report = open_store(self.root, project_dir=self.project_dir, settings=self.settings,
                                       connect_timeout=2 if self.hook else 5)
            if report is not None and (report.imported or report.skipped):
                self.notes.append(f"imported {len(report.imported)} workflow(s) into {self.root}/cairn.db")
                self.notes += [f"not imported: {s}" for s in report.skipped]
            self._store = store
            if store.shared and self.on_reach is not None:  # what hooks kept while it was unreachable goes now
                self.notes += self.on_reach(self.root)
        return self._store

    @property
    def workflows(self) -> Workflows:
        if self._workflows is None:
            self._workflows = Workflows(self.store, self.root, self.clock or utcnow)
        return self._workflows

    def exists(self) -> bool:
        """Whether there is anything to read (without creating the database). A shared
        store always may: other machines write there."""
        return self._store is not None or self.shared or has_store(self.root) or (
            self.root.is_dir() and any(e.is_dir() and not e.name.startswith(".") for e in os.scandir(self.root)))

    @property
    def shared(self) -> bool:
        """Whether the project's store is a shared server (configured, whether or not it answers)."""
        from cairn.store.address import configured

        return configured(os.environ, self.settings.store) is not None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            project = self.project_dir
            if project is not None and (project / PROJECT_CONFIG).is_file():
                from cairn.config import load_settings  # hooks have no PyYAML: a stdlib reader then

                self._settings = load_settings(project)
            else:
                self._settings = Settings()
        return self._settings

    def project_pipeline(self) -> Pipeline:
        from cairn.config import load_project_config
        from cairn.pipeline import default_pipeline

        if self.project_dir is None:
            return default_pipeline()
        return load_project_config(self.project_dir)[0]

    def workflow_dir(self, workflow_id: str) -> Path:
        return self.root / check_workflow_id(workflow_id)

    @staticmethod
    def pipeline_of(wf: Workflow) -> Pipeline:
        return wf.pipeline

    # ------------------------------------------------------------------ reading
    def load_with_warnings(self, workflow_id: str) -> tuple[Workflow, list[str]]:
        check_workflow_id(workflow_id)
        if not self.exists():
            raise WorkflowNotFound(workflow_id, str(self.root))
        with self.store.read() as r:
            wf = r.workflow(workflow_id)
        if wf is None:
            raise WorkflowNotFound(workflow_id, str(self.root))
        warnings = []
        if self.store.shared:  # another machine may have recorded what this folder lacks
            from cairn.carried import restore

            with self.store.read() as r:
                warnings += restore(self.workflow_dir(workflow_id), wf, r.body)
        why = projection_state(self.root, workflow_id, wf.seq, wf.uid)
        if why is not None:
            self.workflows.project(wf, force=True)
            warnings.append(f"{self.root / workflow_id}/checkpoint.json was {why}; rewritten from the database")
        else:
            # a writer killed after its commit may have left the markers of hooks/run.sh behind
            with contextlib.suppress(OSError, CairnError):
                self.workflows.update_marks()
        # after the projection: it shows the database, and the Stop hook's heartbeats live outside it
        if wf.status == Status.RUNNING:  # the Stop hook's heartbeats, kept outside the database
            from cairn.live import live_seen

            for s in wf.sessions:
                seen = live_seen(self.root, s.session_id)
                if seen is not None and (wf.last_seen is None or seen > wf.last_seen):
                    wf.last_seen = seen
        return wf, warnings

    def _pipeline(self, workflow_id: str) -> Pipeline:
        """A workflow's pipeline, read through its summary (not its whole history)."""
        check_workflow_id(workflow_id)
        if not self.exists():
            raise WorkflowNotFound(workflow_id, str(self.root))
        with self.store.read() as r:
            rows = r.summaries(ids=[workflow_id])
        if not rows:
            raise WorkflowNotFound(workflow_id, str(self.root))
        return rows[0].pipeline

    def load(self, workflow_id: str) -> Workflow:
        return self.load_with_warnings(workflow_id)[0]

    def list_workflows(self, *, include_finished: bool = False, limit: int | None = None) -> list[Summary]:
        """Summaries, most recently active first; open ones only unless asked."""
        if not self.exists():
            return []
        with self.store.read() as r:
            rows = r.summaries(None if include_finished else ACTIVE, limit=limit)
            rows = [self.heard_from(r, s) for s in rows]
        rows.sort(key=lambda s: s.last_activity, reverse=True)
        return rows

    def heard_from(self, r: Reader, row: Summary) -> Summary:
        """A running workflow's summary with its session's latest heartbeat (the liveness
        file the Stop hook touches from the shell); any other summary as it is."""
        from dataclasses import replace

        if row.status != Status.RUNNING:
            return row

        from cairn.live import live_seen

        last = r.last_session(row.workflow_id)
        seen = live_seen(self.root, last[0]) if last is not None else None
        if seen is None or (row.last_seen is not None and seen <= row.last_seen):
            return row
        return replace(row, last_seen=seen)

    def resumable(self) -> list[Summary]:
        """The open workflows, the one the store changed last first: what a new session is
        offered and what `latest` means follow the store's order of commits, never a
        clock that went back or a liveness file's planted mtime."""
        keep = {*RESUMABLE, Status.RUNNING, Status.PENDING}
        rows = [s for s in self.list_workflows() if s.status in keep]
        if not rows:
            return rows
        with self.store.read() as r:
            order = {wid: i for i, wid in enumerate(r.by_change(keep))}
        return sorted(rows, key=lambda s: order.get(s.workflow_id, len(order)))

    def latest_id(self) -> str:
        rows = self.resumable()
        if not rows:
            raise NotResumable("there is no workflow to resume under " + str(self.root),
                               hint='start one with `cairn start "REQUEST"`')
        return rows[0].workflow_id

    # ------------------------------------------------------------------ writing
    def create(self, request: str, *, workflow_id: str | None = None, pipeline: Pipeline | None = None,
               session_id: str | None = None, metadata: dict[str, str] | None = None) -> Workflow:
        from cairn.checks.gitstate import git_state

        if workflow_id is not None:
            check_workflow_id(workflow_id)  # before the database is opened (or created)
        held: tuple[str, ...] = ()
        if pipeline is None and self.project_dir is not None:
            from cairn.config import load_project

            pipeline, _, held = load_project(self.project_dir)
        from cairn.pins import current, recorder

        pipeline = pipeline or self.project_pipeline()
        return self.workflows.create(request, pipeline, workflow_id=workflow_id, session_id=session_id,
                                     metadata=metadata, git=git_state(self.project_dir), breakpoints=held,
                                     then=recorder(current(pipeline, self.project_dir)))

    def record_start(self, workflow_id: str, agent: str, *, agent_id: str | None = None,
                     session_id: str | None = None) -> Workflow:
        check_workflow_id(workflow_id)
        from cairn.codestate import snapshot

        return self.workflows.start_stage(workflow_id, agent, agent_id=agent_id, session_id=session_id,
                                          code=snapshot(self.project_dir))

    def check_artifacts(self, workflow_id: str, agent: str, paths: list[str] | None = None,
                        wf: Workflow | None = None) -> list[str]:
        """Problems (one line each) with a stage's artifacts; empty means valid."""
        wf = wf or self.load(workflow_id)
        stage = wf.pipeline.stage(agent)
        from cairn.checks.artifacts import inspect_stage  # hashlib, json: only when checking

        found = inspect_stage(self.workflow_dir(workflow_id), stage, workflow_id, self.project_dir, paths)
        return [p for c in found for p in c.problems]

    def record_completion(self, workflow_id: str, agent: str, *, artifacts: list[str] | None = None,
                          agent_id: str | None = None, session_id: str | None = None,
                          check_schemas: bool = True) -> Workflow:
        stage = self._pipeline(workflow_id).stage(agent)
        folder = self.workflow_dir(workflow_id)
        rels = None if artifacts is None else [self._relative(folder, p) for p in artifacts]
        from cairn.checks.artifacts import inspect_stage  # hashlib, json: only when checking

        found = inspect_stage(folder, stage, workflow_id, self.project_dir, rels, check_schema=check_schemas)
        problems = [p for c in found for p in c.problems]
        if problems or any(c.record is None for c in found):
            raise ArtifactError(f"{stage.name}'s artifacts are not valid: " + "; ".join(problems),
                                path=str(folder), hint="fix the files, then record the completion again")
        records = [c.record for c in found if c.record is not None]
        from cairn.edits import read_edits
        from cairn.lineage import stop_facts

        with self.store.read() as r:  # the stage's attempts, not the whole history
            attempts = r.stage_attempts(workflow_id, stage.name)
        code, changed = stop_facts(attempts, stage.name, agent_id, self.project_dir, read_edits(self.root, agent_id))
        wf = self.workflows.complete_stage(workflow_id, stage.name, records, agent_id=agent_id,
                                           session_id=session_id, git=code, changed=changed,
                                           bodies=self.carry(workflow_id, records))
        from cairn.edits import drop_edits

        drop_edits(self.root, agent_id)
        return wf

    def carry(self, workflow_id: str, records: list[ArtifactRecord]) -> dict[str, bytes]:
        """On a shared store, the contents a completion's artifacts travel with (what is too
        large to is noted); nothing on the project's own SQLite file."""
        if not self.store.shared:
            return {}
        from cairn.carried import pack

        bodies, left = pack(self.workflow_dir(workflow_id), records, self.settings.artifact_max_bytes)
        self.notes += left
        return bodies

    @staticmethod
    def _relative(folder: Path, path: str) -> str:
        from cairn.paths import normalize_artifact

        return normalize_artifact(folder, path)

    def recheck_pending(self, workflow_id: str) -> list[str]:
        """Check the artifacts whose schema check was pending (recorded where no validator
        was available); record the outcome. Returns the problems found (empty: all ok or
        still no validator)."""
        from cairn.checks.artifacts import inspect

        wf = self.load(workflow_id)
        folder = self.workflow_dir(workflow_id)
        results: list[tuple[int, str, str, str]] = []
        problems: list[str] = []
        for a in wf.attempts:
            if not wf.pipeline.has(a.stage):
                continue
            for r in a.artifacts:
                if r.check != "pending":
                    continue
                found = inspect(folder, r.path, wf.pipeline.stage(a.stage), workflow_id, self.project_dir)
                if found.record is None or found.record.check == "pending":
                    continue
                results.append((a.id, r.path, found.record.check, "; ".join(found.problems)))
                problems += list(found.problems)
        if results:
            self.workflows.settle_checks(workflow_id, results)
        return problems

    def record_failure(self, workflow_id: str, agent: str, error: str, *, agent_id: str | None = None,
                       session_id: str | None = None) -> Workflow:
        check_workflow_id(workflow_id)
        return self.workflows.fail_stage(workflow_id, agent, error, agent_id=agent_id, session_id=session_id)

    def pause(self, workflow_id: str, reason: str = "paused by user") -> Workflow:
        check_workflow_id(workflow_id)
        return self.workflows.pause(workflow_id, reason)

    def cancel(self, workflow_id: str, reason: str = "cancelled by user") -> Workflow:
        check_workflow_id(workflow_id)
        return self.workflows.cancel(workflow_id, reason)

    def touch(self, workflow_id: str, *, session_id: str | None = None, checkpoint_type: str = "activity") -> Workflow:
        check_workflow_id(workflow_id)
        return self.workflows.touch(workflow_id, checkpoint_type, session_id=session_id)

    def apply(self, workflow_id: str, op: Op, kind: str, *, session_id: str | None = None,
              running: bool = True) -> Workflow:
        check_workflow_id(workflow_id)
        return self.workflows.apply(workflow_id, op, kind, session_id=session_id, running=running)

    # ------------------------------------------------------------------ a person in the loop
    def hold(self, workflow_id: str, stage: str, source: str = "cli") -> Workflow:
        """Stop before `stage` (cairn.breakpoints): its dispatch waits for `approve`."""
        from cairn import breakpoints

        return self.apply(workflow_id, breakpoints.set_before(stage, source), "breakpoint", running=False)

    def mark_stale(self, wf: Workflow, problems: list[Problem]) -> Workflow:
        """Set `stale` when a check found a reason (a running workflow is left alone: its
        session may be at work), and back to `paused` when a stale one has none left."""
        from cairn.checks.stale import reasons

        found = reasons(wf, problems)
        if found and wf.status in (Status.PAUSED, Status.FAILED, Status.COMPLETED):
            why = "; ".join(f"[{p.code}] {p.message}" for p in found[:3])
            return self.workflows.set_status(wf.workflow_id, Status.STALE, why[:500], "stale")
        if not found and wf.status == Status.STALE:
            return self.workflows.set_status(wf.workflow_id, Status.PAUSED, "the checks find nothing stale", "pause")
        return wf

    def approve(self, workflow_id: str, feedback: str | None = None, stage: str | None = None) -> Workflow:
        from cairn import breakpoints

        return self.apply(workflow_id, breakpoints.approve(stage, feedback), "approve", running=False)

    def reject(self, workflow_id: str, feedback: str, stage: str | None = None) -> Workflow:
        from cairn import breakpoints

        return self.apply(workflow_id, breakpoints.reject(stage, feedback), "reject", running=False)

    def delete(self, workflow_id: str) -> None:
        import shutil

        self.workflows.delete(check_workflow_id(workflow_id))
        folder = self.workflow_dir(workflow_id)
        if folder.is_symlink():  # the link goes, never what it points at
            folder.unlink()
        elif folder.is_dir():
            trash = self.root / f".deleting-{workflow_id}-{os.getpid()}"
            os.replace(folder, trash)
            shutil.rmtree(trash)

    def render_projection(self, wf: Workflow) -> dict[str, object]:
        return projection.render(wf)
