"""The records Cairn keeps, field by field, and the views computed from them.

Standard library only: hooks import this. The store (`cairn.store`) holds facts —
workflows, stage attempts, the artifact records of each attempt, the audit trail, the
checkpoint marks — and hands them back as these records. Everything a person or the
model reads as "state" (completed, current, skipped, next, progress, artifacts) is a
property computed here from those facts, so no two copies can disagree.

Record types (format version `FORMAT` is written into every projection):

`ArtifactRecord` — a file an attempt wrote, as it was when the attempt was recorded:
  path (relative POSIX, inside the workflow folder), agent (the stage), sha256, size,
  mtime, inode, schema (the JSON Schema file name or None), check ("ok"; "failed": found
  invalid by a later check; "pending": no validator was available yet; "none": no schema),
  recorded_at.

`Attempt` — one try at a stage: id (store key), stage, number (1-based per stage),
  started_at/ended_at, outcome ("running", then "completed", "failed", "interrupted" or
  "skipped"), error, agent_id (Claude Code's subagent id: one attempt per agent id),
  session_id, started_seq/ended_seq (the checkpoints that began and ended it) and
  invalidated_seq (the checkpoint that undid it; the attempt stays on record).

`AuditEvent` — seq, at, action, detail. `Mark` — one checkpoint of the history: seq,
  type, at, session_id. `SessionRecord` — a Claude session seen working on the workflow.

`Breakpoint` — a person's hold on a stage (`cairn.breakpoints`): id, stage, set_seq/set_at,
  source, and once decided decided_seq/decided_at, decision, feedback, rerun.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone

from cairn.pipeline import Pipeline
from cairn.status import Status

FORMAT = "3.2"  # the projection's format; "3.1", "3.0" (file store) and "2.0" are imported

ENDED = ("completed", "failed", "interrupted", "skipped")
OUTCOMES = ("running", *ENDED, "invalidated")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(dt: datetime) -> str:
    """ISO 8601 UTC with microseconds always written: the stores compare these as text, and
    `12:00:00Z` would sort after `12:00:00.5Z` (`Z` > `.`) if the fraction were dropped."""
    return dt.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    dt = datetime.fromisoformat(text if _FROMISO_Z else text.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


_FROMISO_Z = sys.version_info >= (3, 11)  # fromisoformat reads a final "Z" itself (read on every row)


def latest(checkpoint: datetime, heartbeat: datetime | None) -> datetime:
    """Last activity: the last checkpoint or the last heartbeat, whichever is later."""
    return heartbeat if heartbeat is not None and heartbeat > checkpoint else checkpoint


@dataclass(frozen=True)
class ArtifactRecord:
    path: str
    agent: str
    sha256: str
    size: int
    mtime: float
    inode: int | None
    schema: str | None
    check: str
    recorded_at: datetime


@dataclass
class Attempt:
    id: int
    stage: str
    number: int
    started_at: datetime
    outcome_end: str | None  # None while running
    ended_at: datetime | None = None
    error: str | None = None
    agent_id: str | None = None
    session_id: str | None = None
    started_seq: int = 0
    ended_seq: int | None = None
    invalidated_seq: int | None = None
    artifacts: tuple[ArtifactRecord, ...] = ()
    usage: str | None = None  # JSON text of what the client reported (tokens, duration)
    git: str | None = None    # JSON text of the git state when it completed (with the code state)
    consumed: str | None = None    # JSON {path: sha256}: the upstream artifacts as it read them
    code_start: str | None = None  # JSON code state when it started (cairn.codestate)
    changed: tuple[tuple[str, str], ...] = ()  # (path, how): files it changed

    @property
    def outcome(self) -> str:
        if self.invalidated_seq is not None:
            return "invalidated"
        return self.outcome_end or "running"

    def as_of(self, seq: int) -> Attempt | None:
        """This attempt as checkpoint `seq` saw it, or None if it had not begun."""
        if self.started_seq > seq:
            return None
        ended = self.ended_seq is not None and self.ended_seq <= seq
        undone = self.invalidated_seq is not None and self.invalidated_seq <= seq
        return Attempt(self.id, self.stage, self.number, self.started_at,
                       self.outcome_end if ended else None, self.ended_at if ended else None,
                       self.error if ended else None, self.agent_id, self.session_id,
                       self.started_seq, self.ended_seq if ended else None,
                       self.invalidated_seq if undone else None, self.artifacts, self.usage, self.git,
                       self.consumed if ended else None, self.code_start, self.changed)


@dataclass
class AgentState:
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def last(self) -> Attempt | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def retry_count(self) -> int:
        return max(0, len(self.attempts) - 1)


@dataclass(frozen=True)
class AuditEvent:
    seq: int
    at: datetime
    action: str
    detail: str


@dataclass(frozen=True)
class Mark:
    seq: int
    type: str
    at: datetime
    session_id: str | None = None


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    first_seen: datetime
    last_seen: datetime
    source: str | None = None
    host: str | None = None  # the machine the session ran on (None: recorded before Cairn kept it)


@dataclass(frozen=True)
class Breakpoint:
    """Stop before `stage`: its dispatch is held until a person decides. `source` says who
    set it ("cairn.yaml", "cli", "panel", or "reject": set again by a rejection); a
    decision ("approved", "rejected") ends the hold, with the person's `feedback` and, for
    a rejection, the stage it re-ran (`rerun`)."""

    id: int
    stage: str
    set_seq: int
    set_at: datetime
    source: str
    decided_seq: int | None = None
    decided_at: datetime | None = None
    decision: str | None = None
    feedback: str | None = None
    rerun: str | None = None

    @property
    def holding(self) -> bool:
        return self.decision is None

    def as_of(self, seq: int) -> Breakpoint | None:
        if self.set_seq > seq:
            return None
        if self.decided_seq is None or self.decided_seq <= seq:
            return self
        return Breakpoint(self.id, self.stage, self.set_seq, self.set_at, self.source)


@dataclass(frozen=True)
class LeaseRecord:
    session_id: str
    pid: int
    start_time: int | None
    host: str
    acquired_at: datetime
    heartbeat_at: datetime

    def describe(self) -> str:
        return f"session {self.session_id[:12] or '-'} (pid {self.pid} on {self.host})"


@dataclass
class Workflow:
    """A workflow's facts as loaded from the store, with the derived views."""

    workflow_id: str
    uid: str
    request: str
    created_at: datetime
    pipeline: Pipeline
    status: Status
    status_reason: str | None
    metadata: dict[str, str]
    git: str | None  # JSON text of the git state at creation
    attempts: list[Attempt]
    marks: list[Mark]
    audit: list[AuditEvent]
    sessions: list[SessionRecord]
    parameters: dict[str, str]
    last_seen: datetime | None = None  # newest heartbeat of a session working on it
    breakpoints: tuple[Breakpoint, ...] = ()
    parent: str | None = None  # the workflow this one was forked from
    pins: dict[str, str] = field(default_factory=dict)  # name -> value (cairn.pins)
    pin_seqs: dict[str, int] = field(default_factory=dict)  # name -> the checkpoint that recorded it
    effects: tuple[Effect, ...] = ()  # the side-effect ledger, oldest first (projected, so a rebuild keeps it)
    parameter_seqs: dict[str, int] = field(default_factory=dict)  # key -> the checkpoint that set it

    # -- the checkpoint
    @property
    def seq(self) -> int:
        return self.marks[-1].seq if self.marks else 0

    @property
    def checkpoint_type(self) -> str:
        return self.marks[-1].type if self.marks else "created"

    @property
    def updated_at(self) -> datetime:
        return self.marks[-1].at if self.marks else self.created_at

    @property
    def last_activity(self) -> datetime:
        return latest(self.updated_at, self.last_seen)

    # -- stage views
    @property
    def agents(self) -> dict[str, AgentState]:
        out: dict[str, AgentState] = {}
        for a in self.attempts:
            out.setdefault(a.stage, AgentState()).attempts.append(a)
        return out

    def _effective(self) -> dict[str, Attempt]:
        """stage -> the attempt that makes it done (its last completed or skipped one that
        was not undone). One pass: views are computed on every read and every commit."""
        best: dict[str, Attempt] = {}
        for a in self.attempts:
            if a.outcome in ("completed", "skipped"):
                best[a.stage] = a
        return best

    def effective(self, stage: str) -> Attempt | None:
        """The attempt that makes `stage` done (completed or skipped), if any."""
        return self._effective().get(stage)

    def _done_by(self, outcome: str) -> list[str]:
        """In the order they were done; stages done by one checkpoint (a rollback restoring
        several) in pipeline order."""
        order = {name: i for i, name in enumerate(self.pipeline.names)}
        done = [(a.ended_seq or 0, order.get(a.stage, len(order)), a.id, a.stage)
                for a in self._effective().values() if a.outcome == outcome]
        return [stage for *_, stage in sorted(done)]

    @property
    def completed_agents(self) -> list[str]:
        return self._done_by("completed")

    @property
    def skipped_agents(self) -> list[str]:
        return self._done_by("skipped")

    @property
    def done(self) -> list[str]:
        """Stages that no longer block their dependants: completed or skipped."""
        return [*self.completed_agents, *self.skipped_agents]

    @property
    def running_agents(self) -> list[str]:
        return [a.stage for a in self.attempts if a.outcome == "running"]

    @property
    def current_agent(self) -> str | None:
        """The running stages, comma-separated in pipeline order (parallel stages all show)."""
        running = set(self.running_agents)
        names = [n for n in self.pipeline.names if n in running] + sorted(running - set(self.pipeline.names))
        return ", ".join(names) if names else None

    @property
    def artifacts(self) -> dict[str, ArtifactRecord]:
        out: dict[str, ArtifactRecord] = {}
        effective = self._effective()
        for stage in self.completed_agents:
            for rec in effective[stage].artifacts:
                out[rec.path] = rec
        return out

    @property
    def artifacts_created(self) -> list[str]:
        return list(self.artifacts)

    @property
    def next_agents(self) -> list[str]:
        running = set(self.running_agents)
        return [s for s in self.pipeline.ready(self.done) if s not in running] or \
            [s for s in self.pipeline.ready(self.done)]

    @property
    def remaining_agents(self) -> list[str]:
        done = set(self.done)
        return [s for s in self.pipeline.names if s not in done]

    def as_of(self, seq: int) -> Workflow:
        """The workflow as checkpoint `seq` recorded it (for rollback and history)."""
        attempts = [b for b in (a.as_of(seq) for a in self.attempts) if b is not None]
        begun = {a.id for a in attempts}  # effects carry no seq: those of attempts begun by then
        status, reason = self.status, self.status_reason  # no status change on record: as it is
        moves = [(ev.seq, ev.action[len("status:"):].split("->"), ev.detail) for ev in self.audit
                 if ev.action.startswith("status:") and "->" in ev.action]
        before = [m for m in moves if m[0] <= seq]
        if before:
            status, reason = Status(before[-1][1][-1]), before[-1][2] or None
        elif moves:  # changed only later: it was what the first change moved it from
            status, reason = Status(moves[0][1][0]), None
        if status == Status.RUNNING:
            reason = None  # as `cairn.workflow.transition` records it
        return Workflow(self.workflow_id, self.uid, self.request, self.created_at, self.pipeline,
                        status, reason, self.metadata, self.git, attempts,
                        [m for m in self.marks if m.seq <= seq],
                        [e for e in self.audit if e.seq <= seq], self.sessions, self.parameters,
                        self.last_seen, tuple(b for b in (p.as_of(seq) for p in self.breakpoints)
                                                        if b is not None), self.parent, self.pins,
                        self.pin_seqs, tuple(e for e in self.effects if e.attempt_id in begun), self.parameter_seqs)


@dataclass(frozen=True)
class Problem:
    """Something that makes a checkpoint disagree with the world. `code` is one of
    `cairn.checks.stale.CODES` or an artifact/checkpoint code; `stage` is the first
    stage it affects, when known."""

    code: str
    path: str
    message: str
    stage: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"code": self.code, "path": self.path, "message": self.message, "stage": self.stage}


@dataclass(frozen=True)
class Summary:
    """One row of a listing: what `cairn list`, SessionStart and the dashboard need,
    read through the store's indexes without loading a workflow's history."""

    workflow_id: str
    status: Status
    status_reason: str | None
    request: str
    created_at: datetime
    updated_at: datetime
    last_seen: datetime | None
    seq: int
    done: tuple[str, ...]
    running: tuple[str, ...]
    pipeline: Pipeline

    @property
    def last_activity(self) -> datetime:
        return latest(self.updated_at, self.last_seen)

    @property
    def total(self) -> int:
        return len(self.pipeline)

    @property
    def completed(self) -> int:
        return len([s for s in self.done if self.pipeline.has(s)])

    @property
    def next_agents(self) -> list[str]:
        return self.pipeline.ready(self.done)


@dataclass(frozen=True)
class Effect:
    """One thing an attempt did to the world outside its artifacts (the side-effect
    ledger): `kind` is commit, push, pr, issue, comment or publish; `target` is what a
    repeat would repeat (a commit's sha, `remote branch` of a push, the branch of a pull
    request, `name@version` of a publish, an issue's title); `url` when the tool printed
    one; `detail` a few strings (branch, remote, number, ...). `attempt_id`, `stage` and
    `workflow_id` say whose it is; `tool_use_id` is the Bash call that did it."""

    kind: str
    target: str
    url: str | None = None
    detail: dict[str, str] = field(default_factory=dict)
    at: datetime | None = None
    tool_use_id: str = ""
    attempt_id: int = 0
    stage: str = ""
    workflow_id: str = ""
