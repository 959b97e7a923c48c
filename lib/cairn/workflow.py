"""The one place that changes a workflow's state.

Every transition, stage start, completion, failure, rollback, re-run, skip, parameter
change, binding, dispatch and lease goes through `Workflows`: one serialized database
transaction (`BEGIN IMMEDIATE`) that checks the facts, writes new facts and one
checkpoint mark, then — after the commit — the `checkpoint.json` projection and the
markers hooks/run.sh tests. A repeated delivery of the same event changes nothing.
Standard library only: the hooks call it."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cairn import lease as leases
from cairn import safefs
from cairn.breakpoints import hold_from_start
from cairn.errors import (
    CairnError,
    ConfinementError,
    NotResumable,
    UsageError,
    WorkflowExists,
    WorkflowNotFound,
)
from cairn.faults import point
from cairn.live import live_seen, mark_live
from cairn.model import ArtifactRecord, Effect, LeaseRecord, Workflow, utcnow
from cairn.paths import check_workflow_id, new_id
from cairn.pipeline import Pipeline
from cairn.redact import redact
from cairn.status import ACTIVE, FINISHED, Status, check_transition
from cairn.store import Store, Tx, projection
from cairn.transitions import Unchanged, attempt_for, check_rewritten, close_running, reopening, restage, transition

MAX_REQUEST = 20_000
OPEN_MARK = ".open"        # exists iff a workflow is open: SessionStart/SubagentStart need Python
RUNNING_MARK = ".running"  # exists iff a workflow runs: Stop/SessionEnd need Python
SHARED_MARK = ".shared"    # exists iff the store is a shared server: Stop's heartbeat must reach it

Change = Callable[[Tx, Workflow, int, datetime], "str | None"]


class Workflows:
    def __init__(self, store: Store, root: Path | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock  # when facts happened: a replayed hook event passes the time it was kept
        self.root = root  # where projections go; None for a store without a project folder
        self.warnings: list[str] = []

    def commit(self, workflow_id: str, kind: str, change: Change, *,
               session_id: str | None = None) -> Workflow:
        check_workflow_id(workflow_id)  # an id that could not name a folder is refused, not looked up
        now = self.clock()
        try:
            with self.store.write() as tx:
                wf = tx.workflow(workflow_id, audit=False)
                if wf is None:
                    raise WorkflowNotFound(workflow_id, self.store.describe())
                seq = wf.seq + 1
                kind = change(tx, wf, seq, now) or kind
                tx.add_mark(workflow_id, kind, now, session_id, seq)
                if session_id:  # every change its holder makes keeps the lease alive for other hosts
                    tx.refresh_lease(workflow_id, session_id, utcnow())  # liveness: never moved back by a replay
                point("before_commit")
        except Unchanged:
            with self.store.read() as r:
                same = r.workflow(workflow_id)
            if same is None:
                raise WorkflowNotFound(workflow_id, self.store.describe()) from None
            return same
        point("after_commit")
        self.live(session_id)
        # Read back outside the transaction (writers wait for nothing they do not need):
        # usually this is our checkpoint; when another writer already committed after us,
        # it is shown as of ours, and that writer writes the projection.
        with self.store.read() as r:
            latest = r.workflow(workflow_id)
        if latest is None:  # deleted meanwhile: what we changed is gone with it
            return wf
        if latest.seq == seq:
            self.project(latest)
            return latest
        self.update_marks_quietly()
        return latest.as_of(seq)

    def live(self, session_id: str | None) -> None:
        """The session works on a workflow: give it the liveness file its Stop hook touches."""
        if self.root is None or not session_id:
            return
        try:
            mark_live(self.root, session_id)
        except (OSError, CairnError) as exc:
            self.warnings.append(f"liveness file of session {session_id[:12]} not written ({exc})")

    def project(self, wf: Workflow, *, force: bool = False) -> None:
        """Write the projection and the markers. The commit already happened: a failure
        here is a warning (the next reader rewrites the projection), never an error that
        would make a caller record twice. Projections never go backwards: when another
        writer committed a later checkpoint, that writer writes the file (unless `force`);
        were it killed first, the next load finds the file behind and rewrites it."""
        if self.root is None:
            return
        try:
            point("before_projection")
            if force or not self._superseded(wf):
                projection.write(self.root, wf)
            point("after_projection")
            self.update_marks()
        except (OSError, CairnError) as exc:
            self.warnings.append(f"{wf.workflow_id}/checkpoint.json not refreshed ({exc}); the change is recorded")

    def _superseded(self, wf: Workflow) -> bool:
        with self.store.read() as r:
            latest = r.seq(wf.workflow_id)
        assert self.root is not None
        return (latest is not None and latest > wf.seq) or projection.newer_on_disk(self.root / wf.workflow_id, wf)

    def update_marks_quietly(self) -> None:
        try:
            self.update_marks()
        except (OSError, CairnError) as exc:
            self.warnings.append(f"{self.root}: the .open/.running markers not refreshed ({exc})")

    def update_marks(self) -> None:
        if self.root is None:
            return
        with self.store.read() as r:
            running = r.any_with([Status.RUNNING])
            active = running or r.any_with(ACTIVE)
        safefs.mark(self.root / OPEN_MARK, active)
        safefs.mark(self.root / RUNNING_MARK, running)
        safefs.mark(self.root / SHARED_MARK, self.store.shared)

    def create(self, request: str, pipeline: Pipeline, *, workflow_id: str | None = None,
               session_id: str | None = None, metadata: dict[str, str] | None = None,
               git: str | None = None, breakpoints: Sequence[str] = (), then: Change | None = None) -> Workflow:
        """`then`: more of it, in the same transaction (its pins, a fork's shared stages)."""
        if not isinstance(request, str) or not request.strip():
            raise UsageError("the request is empty", hint='describe the work: cairn start "add X"')
        if len(request) > MAX_REQUEST:
            raise UsageError(f"the request is {len(request)} characters; the limit is {MAX_REQUEST}",
                             hint="shorten it and put details in a file the agents can read")
        now = self.clock()
        wid = check_workflow_id(workflow_id) if workflow_id else new_id(now)
        if self.root is not None:
            folder = self.root / wid
            if os.path.lexists(folder) and (os.path.islink(folder) or not os.path.isdir(folder)):
                raise ConfinementError(f"{folder} exists and is not a folder of Cairn's (a link or a file)",
                                       hint="remove it, or choose another --id")
            if projection.seen(folder) is not None:
                raise WorkflowExists(wid)
        with self.store.write() as tx:
            tx.create_workflow(wid, os.urandom(16).hex(), redact(request.strip()), now, pipeline,
                               {str(k): redact(str(v)) for k, v in (metadata or {}).items()}, git)
            tx.add_mark(wid, "created", now, session_id, 1)
            tx.add_audit(wid, 1, now, "created",
                         f"pipeline {pipeline.name} ({len(pipeline)} stages, {pipeline.digest})")
            hold_from_start(tx, wid, pipeline, breakpoints, now)  # the project's cairn.yaml `breakpoints:`
            if session_id:
                tx.touch_session(wid, session_id, now, "create")
                tx.bind(session_id, wid, now, "cairn start")
            if then is not None and (new := tx.workflow(wid)) is not None:
                then(tx, new, 1, now)
            wf = tx.workflow(wid)
        assert wf is not None
        self.project(wf)
        self.live(session_id)
        return wf

    def start_stage(self, workflow_id: str, stage: str, *, agent_id: str | None = None,
                    session_id: str | None = None, dispatch: str | None = None,
                    code: str | None = None) -> Workflow:
        def change(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
            name = wf.pipeline.stage(stage).name
            if agent_id and tx.attempt_of_agent(agent_id) is not None:
                raise Unchanged
            if wf.status in FINISHED:
                raise NotResumable(f"workflow {workflow_id!r} is {wf.status.value}; {name} was not recorded",
                                   hint='start a new workflow with `cairn start "REQUEST"`')
            transition(tx, wf, Status.RUNNING, f"agent {name} started", seq, now)
            close_running(tx, wf, "a new attempt started before it ended", seq, now, stage=name)
            aid = tx.start_attempt(workflow_id, name, now, seq, agent_id=agent_id, session_id=session_id)
            if code:  # the code as the attempt found it: git tells what it changed by its stop
                tx.set_code_start(aid, code)
            if dispatch and agent_id:
                tx.claim_dispatch(dispatch, agent_id)
            if session_id:
                tx.touch_session(workflow_id, session_id, now)
        return self.commit(workflow_id, "agent_start", change, session_id=session_id)

    def complete_stage(self, workflow_id: str, stage: str, records: Sequence[ArtifactRecord], *,
                       agent_id: str | None = None, session_id: str | None = None,
                       git: str | None = None, usage: str | None = None,
                       changed: Sequence[tuple[str, str]] = (), bodies: dict[str, bytes] | None = None) -> Workflow:
        """`git`: the code state it saw (cairn.codestate); `changed`: (path, how) of the files it changed;
        `bodies`: the artifacts' contents by hash, on a shared store (`cairn.carried`)."""
        def change(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
            name = wf.pipeline.stage(stage).name
            attempt = attempt_for(tx, wf, name, agent_id)
            if attempt is not None and attempt.outcome not in ("running", "interrupted"):
                raise Unchanged  # the same subagent's stop, delivered again
            if wf.status in FINISHED:
                raise NotResumable(f"workflow {workflow_id!r} is {wf.status.value}; {name} was not recorded",
                                   hint='start a new workflow with `cairn start "REQUEST"`')
            closed = attempt if attempt is not None and attempt.outcome == "interrupted" else None
            late = closed is not None
            if late:
                # its attempt was closed (a pause, a newer attempt) before it stopped: its work
                # is recorded as a new attempt, once whatever the number of deliveries
                if not tx.first_delivery(f"late-stop:{workflow_id}:{agent_id}", now):
                    raise Unchanged
                assert attempt is not None
                tx.add_audit(workflow_id, seq, now, "late_stop",
                             f"agent {agent_id} of {name} stopped after its attempt #{attempt.number} was closed "
                             f"({(attempt.error or 'interrupted')[:200]}); its completion is a new attempt")
                attempt = None
            check_rewritten(wf, name, records, closed or attempt)
            transition(tx, wf, Status.RUNNING, f"agent {name} completed", seq, now)
            if attempt is None:
                aid = tx.start_attempt(workflow_id, name, now, seq, agent_id=None if late else agent_id,
                                       session_id=session_id, outcome="completed")
            else:
                aid = attempt.id
                tx.end_attempt(aid, "completed", now, seq, None)
            tx.add_artifacts(aid, [r if r.agent == name else restage(r, name) for r in records])
            for sha256, data in (bodies or {}).items():
                tx.put_body(sha256, data)
            if git:
                tx.set_attempt_git(aid, git)
            if usage and (attempt is None or not attempt.usage):  # the client's own report wins
                tx.set_usage(aid, usage)
            from cairn.lineage import record  # what it read, what it changed

            record(tx, wf, name, aid, changed)
            if session_id:
                tx.touch_session(workflow_id, session_id, now)
            if not [s for s in wf.remaining_agents if s != name]:  # this completion was the last one
                transition(tx, wf, Status.COMPLETED, "every stage completed", seq, now)
        return self.commit(workflow_id, "agent_completion", change, session_id=session_id)

    def fail_stage(self, workflow_id: str, stage: str, error: str, *, agent_id: str | None = None,
                   session_id: str | None = None) -> Workflow:
        error = redact(error)[:2000]

        def change(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
            name = wf.pipeline.stage(stage).name
            attempt = attempt_for(tx, wf, name, agent_id)
            if attempt is not None and attempt.outcome not in ("running", "interrupted"):
                raise Unchanged
            if wf.status in FINISHED:
                raise NotResumable(f"workflow {workflow_id!r} is {wf.status.value}",
                                   hint='start a new workflow with `cairn start "REQUEST"`')
            if attempt is not None and attempt.outcome == "interrupted":
                raise Unchanged  # a superseded attempt failing late does not fail the workflow
            transition(tx, wf, Status.RUNNING, f"agent {name} started", seq, now)
            if attempt is None:
                tx.start_attempt(workflow_id, name, now, seq, agent_id=agent_id, session_id=session_id,
                                 outcome="failed", error=error)
            else:
                tx.end_attempt(attempt.id, "failed", now, seq, error)
            transition(tx, wf, Status.FAILED, f"{name} failed: {error[:300]}", seq, now)
        return self.commit(workflow_id, "agent_failure", change, session_id=session_id)

    def set_status(self, workflow_id: str, target: Status, reason: str, kind: str) -> Workflow:
        reason = redact(reason)

        def change(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
            if wf.status in FINISHED:  # nothing moves a finished workflow, not even to where it is
                check_transition(wf.status, target, workflow_id)
            if wf.status == target and not wf.running_agents:
                raise Unchanged  # paused twice: one checkpoint
            if target != Status.RUNNING:
                close_running(tx, wf, reason, seq, now)
            transition(tx, wf, target, reason, seq, now)
        return self.commit(workflow_id, kind, change)

    def pause(self, workflow_id: str, reason: str = "paused by user") -> Workflow:
        return self.set_status(workflow_id, Status.PAUSED, reason, "pause")

    def cancel(self, workflow_id: str, reason: str = "cancelled by user") -> Workflow:
        return self.set_status(workflow_id, Status.CANCELLED, reason, "cancel")

    def touch(self, workflow_id: str, kind: str, *, session_id: str | None = None) -> Workflow:
        def change(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
            if session_id:
                tx.touch_session(workflow_id, session_id, now)
        return self.commit(workflow_id, kind, change, session_id=session_id)

    def apply(self, workflow_id: str, op: Callable[[Tx, Workflow, int, datetime], str | None],
              kind: str, *, session_id: str | None = None, running: bool = True) -> Workflow:
        """A resume operation (`cairn.operations`), then back to running."""
        def change(tx: Tx, wf: Workflow, seq: int, now: datetime) -> str | None:
            before = set(wf.done)
            note = op(tx, wf, seq, now)
            if running and wf.status != Status.RUNNING:
                verb = reopening(wf, before, kind)  # a finished workflow only by going back
                transition(tx, wf, Status.RUNNING, f"{verb} ({note})" if note else verb, seq, now)
            if session_id:
                tx.touch_session(workflow_id, session_id, now, "resume")
                tx.bind(session_id, workflow_id, now, "cairn resume")
            return None
        return self.commit(workflow_id, kind, change, session_id=session_id)

    def settle_checks(self, workflow_id: str, results: Sequence[tuple[int, str, str, str]]) -> Workflow:
        """Record schema checks that were pending: (attempt id, path, "ok"|"failed", detail)."""
        def change(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
            for attempt_id, path, check, detail in results:
                tx.set_artifact_check(attempt_id, path, check)
                tx.add_audit(workflow_id, seq, now, "schema_check", f"{path}: {check}{': ' if detail else ''}"
                             f"{detail}"[:2000])
        return self.commit(workflow_id, "schema_check", change)

    def delete(self, workflow_id: str) -> None:
        check_workflow_id(workflow_id)
        with self.store.write() as tx:
            tx.delete_workflow(workflow_id)
        self.update_marks()

    def bind(self, session_id: str, workflow_id: str, how: str) -> None:
        check_workflow_id(workflow_id)
        now = self.clock()
        with self.store.write() as tx:
            if tx.workflow(workflow_id, audit=False) is None:
                raise WorkflowNotFound(workflow_id, self.store.describe())
            tx.bind(session_id, workflow_id, now, how)
            tx.touch_session(workflow_id, session_id, now)
        self.live(session_id)

    def dispatch(self, tool_use_id: str, session_id: str, workflow_id: str, stage: str) -> bool:
        check_workflow_id(workflow_id)
        now = self.clock()
        with self.store.write() as tx:
            tx.touch_session(workflow_id, session_id, now)  # the session works on it: SessionEnd pauses it
            new = tx.put_dispatch(tool_use_id, session_id, workflow_id, stage, now)
        self.live(session_id)
        return new

    def agent_launched(self, tool_use_id: str, agent_id: str, usage: str | None) -> None:
        """PostToolUse on the Agent tool: tie the dispatch to the agent id, and keep what the
        client reported about the run (tokens, duration) on its attempt."""
        with self.store.write() as tx:
            tx.claim_dispatch(tool_use_id, agent_id)
            found = tx.attempt_of_agent(agent_id)
        if found is None or not usage or found[1].usage == usage:
            return
        attempt_id = found[1].id

        def change(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
            tx.set_usage(attempt_id, usage)
        self.commit(found[0], "agent_usage", change)  # a checkpoint, so the projection shows it

    def record_effects(self, workflow_id: str, attempt_id: int, effects: Sequence[Effect], *,
                       session_id: str | None = None) -> Workflow:
        """What an attempt did to the world (the side-effect ledger, `cairn.ledger`): one
        checkpoint with an audit line each; nothing when all are on record (redelivered)."""
        from cairn.ledger import describe  # its regular expressions: only when there is something to record

        def change(tx: Tx, wf: Workflow, seq: int, now: datetime) -> None:
            new = [e for e in effects if tx.add_effect(workflow_id, attempt_id, e, now)]
            if not new:
                raise Unchanged
            for e in new:
                tx.add_audit(workflow_id, seq, now, f"effect:{e.kind}", describe(e)[:500])
        return self.commit(workflow_id, "side_effect", change, session_id=session_id)

    def heartbeat(self, session_id: str) -> list[str]:
        """Stop: the session is alive. Not durable (a lost heartbeat costs nothing)."""
        with self.store.write(durable=False) as tx:
            return tx.heartbeat(session_id, utcnow())

    def acquire(self, workflow_id: str, session_id: str | None, pid: int, *, ttl: timedelta = leases.DEFAULT_TTL,
                take_over: bool = False) -> LeaseRecord | None:
        """Take or refresh the lease (None: frees it); the lease taken over, audited. Rules: `cairn.lease`."""
        check_workflow_id(workflow_id)
        now = utcnow()
        me = leases.new_lease(session_id, pid, now) if session_id else None
        with self.store.write() as tx:
            seq = tx.seq(workflow_id)
            if seq is None:
                raise WorkflowNotFound(workflow_id, self.store.describe())
            current = tx.lease(workflow_id)
            seen = live_seen(self.root, current.session_id) if current is not None and self.root else None
            taken, live = leases.judge(workflow_id, current, me, now, ttl, seen, take_over)
            if me is not None:
                tx.put_lease(workflow_id, me)
            elif taken is not None:
                tx.delete_lease(workflow_id)
            if taken is not None:  # on the record: a checkpoint of its own, projected
                tx.add_audit(workflow_id, seq + 1, now, "lease_takeover", leases.takeover_note(taken, me, live, now))
                tx.add_mark(workflow_id, "lease_takeover", now, session_id, seq + 1)
        with self.store.read() as r:
            after = r.workflow(workflow_id) if taken is not None else None
        if after is not None:
            self.project(after)
        return taken

    def release(self, workflow_id: str, session_id: str) -> bool:
        with self.store.write() as tx:
            current = tx.lease(workflow_id)
            if current is None or current.session_id != session_id:
                return False
            tx.delete_lease(workflow_id)
            return True
