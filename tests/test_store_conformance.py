"""The storage contract (`cairn.store.Store` / `Reader` / `Tx`). Every backend must pass
these tests: add it to `BACKENDS`. The suite knows nothing of files or SQL: a backend is
something that opens handles (`Store`s) on one database."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from cairn.errors import CairnError, StoreError, WorkflowExists, WorkflowNotFound
from cairn.model import ArtifactRecord, Effect, LeaseRecord
from cairn.pipeline import Pipeline
from cairn.status import Status
from cairn.store import Store, Tx

Opener = Callable[[], Store]
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _sqlite(tmp_path: Path) -> Opener:
    from cairn.store.sqlite import SqliteStore

    return lambda: SqliteStore(tmp_path / "conformance.db")


def _postgresql(tmp_path: Path, request: pytest.FixtureRequest) -> Opener:
    """A fresh project scope (its own schema) on the session's server, per test."""
    from cairn.store.postgres import PgStore

    url = request.getfixturevalue("pg_url")
    scope = f"conformance/{tmp_path.name}/{id(tmp_path)}"
    return lambda: PgStore(url, scope)


BACKENDS: dict[str, Callable[[Path, pytest.FixtureRequest], Opener]] = {
    "sqlite": lambda tmp_path, _request: _sqlite(tmp_path),
    "postgresql": _postgresql,
}


@pytest.fixture(params=sorted(BACKENDS))
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens handles on one fresh database of the backend under test (closed after)."""
    handles: list[Store] = []
    make = BACKENDS[request.param](tmp_path, request)

    def open_one() -> Store:
        handles.append(make())
        return handles[-1]
    yield open_one
    for h in handles:
        h.close()


@pytest.fixture
def store(opener: Opener) -> Store:
    return opener()


PIPE = Pipeline.from_dict({"name": "abc", "stages": [
    {"name": "a", "artifacts": [{"path": "a.json"}], "depends_on": []},
    {"name": "b", "artifacts": [{"path": "b.json"}], "depends_on": ["a"]},
    {"name": "c", "artifacts": [], "depends_on": ["b"]},
]})


def create(tx: Tx, wid: str, at: datetime = T0, uid: str | None = None, request: str = "do it") -> None:
    tx.create_workflow(wid, uid or f"uid-{wid}", request, at, PIPE, {"k": "v"}, '{"head": "abc"}')
    tx.add_mark(wid, "created", at, None, 1)


def made(store: Store, *wids: str) -> None:
    with store.write() as tx:
        for i, wid in enumerate(wids):
            create(tx, wid, t(i))


def rec(path: str, agent: str = "a", sha: str = "0" * 64, check: str = "ok") -> ArtifactRecord:
    return ArtifactRecord(path, agent, sha, 12, 1700000000.25, 42, None, check, T0)


def lease(session: str = "s1", pid: int = 100, host: str = "h1", beat: datetime = T0) -> LeaseRecord:
    return LeaseRecord(session, pid, 777, host, T0, beat)


# ------------------------------------------------------------------ workflows


def test_create_and_read_back(store: Store) -> None:
    with store.read() as r:
        assert r.workflow("wf-a") is None and r.ids() == []
    made(store, "wf-a")
    with store.read() as r:
        wf = r.workflow("wf-a")
        assert r.workflow_id_of_uid("uid-wf-a") == "wf-a" and r.workflow_id_of_uid("nope") is None
    assert wf is not None
    assert (wf.workflow_id, wf.uid, wf.request, wf.created_at) == ("wf-a", "uid-wf-a", "do it", T0)
    assert wf.status == Status.PENDING and wf.status_reason is None
    assert wf.metadata == {"k": "v"} and wf.git == '{"head": "abc"}'
    assert wf.pipeline == PIPE and wf.pipeline.digest == PIPE.digest
    assert wf.seq == 1 and wf.checkpoint_type == "created" and wf.updated_at == T0
    assert wf.attempts == [] and wf.audit == [] and wf.sessions == [] and wf.parameters == {}


def test_duplicate_id_is_workflow_exists_and_changes_nothing(store: Store) -> None:
    made(store, "wf-a")
    with pytest.raises(WorkflowExists) as info, store.write() as tx:
        tx.create_workflow("wf-a", "uid-other", "other", T0, PIPE, {}, None)
    assert info.value.workflow_id == "wf-a"
    with store.read() as r:
        wf = r.workflow("wf-a")
        assert r.workflow_id_of_uid("uid-other") is None
    assert wf is not None and wf.request == "do it"


def test_duplicate_uid_is_refused(store: Store) -> None:
    made(store, "wf-a")
    with pytest.raises(CairnError), store.write() as tx:
        tx.create_workflow("wf-b", "uid-wf-a", "copy", T0, PIPE, {}, None)
    with store.read() as r:
        assert r.ids() == ["wf-a"]


def test_status_and_reason(store: Store) -> None:
    made(store, "wf-a")
    with store.write() as tx:
        tx.set_status("wf-a", Status.PAUSED, "a reason")
    with store.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None and wf.status == Status.PAUSED and wf.status_reason == "a reason"


# ------------------------------------------------------------------ marks


def test_marks_number_themselves_and_keep_order(store: Store) -> None:
    made(store, "wf-a", "wf-b")
    with store.write() as tx:
        assert tx.add_mark("wf-a", "agent_start", t(10), "sess") == 2
        assert tx.add_mark("wf-a", "agent_completion", t(20), None) == 3
        assert tx.add_mark("wf-b", "pause", t(30), None) == 2  # per workflow
        assert tx.add_mark("wf-a", "imported", t(40), None, 9) == 9  # an explicit seq is kept
        assert tx.add_mark("wf-a", "next", t(50), None) == 10
    with store.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None
    assert [(m.seq, m.type) for m in wf.marks] == [(1, "created"), (2, "agent_start"), (3, "agent_completion"),
                                                   (9, "imported"), (10, "next")]
    assert wf.marks[1].session_id == "sess" and wf.marks[1].at == t(10)
    assert wf.seq == 10 and wf.checkpoint_type == "next" and wf.updated_at == t(50)
    with store.read() as r:
        assert (r.seq("wf-a"), r.seq("wf-b"), r.seq("wf-none")) == (10, 2, None)


def test_a_mark_seq_is_never_reused(store: Store) -> None:
    made(store, "wf-a")
    with pytest.raises(Exception), store.write() as tx:  # noqa: B017 - any error: the contract is "refused"
        tx.add_mark("wf-a", "again", t(1), None, 1)
    with store.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None and [(m.seq, m.type) for m in wf.marks] == [(1, "created")]


# ------------------------------------------------------------------ attempts


def test_attempts_are_numbered_per_stage(store: Store) -> None:
    made(store, "wf-a", "wf-b")
    with store.write() as tx:
        a1 = tx.start_attempt("wf-a", "a", t(1), 2, agent_id="ag-1", session_id="s")
        a2 = tx.start_attempt("wf-a", "a", t(2), 3, agent_id=None, session_id=None)
        b1 = tx.start_attempt("wf-a", "b", t(3), 4, agent_id="ag-2", session_id=None)
        other = tx.start_attempt("wf-b", "a", t(4), 2, agent_id=None, session_id=None)
    assert len({a1, a2, b1, other}) == 4
    with store.read() as r:
        wf = r.workflow("wf-a")
        found = r.attempt_of_agent("ag-2")
        assert r.attempt_of_agent("nobody") is None
    assert wf is not None
    assert [(a.stage, a.number, a.id) for a in wf.attempts] == [("a", 1, a1), ("a", 2, a2), ("b", 1, b1)]
    first = wf.attempts[0]
    assert (first.agent_id, first.session_id, first.started_at, first.started_seq) == ("ag-1", "s", t(1), 2)
    assert first.outcome == "running" and first.ended_at is None and first.ended_seq is None
    assert found is not None and found[0] == "wf-a" and found[1].id == b1 and found[1].stage == "b"
    assert wf.running_agents == ["a", "a", "b"]


def test_stage_attempts_are_the_workflows_of_that_stage(store: Store) -> None:
    """What a completion reads instead of the whole history: the same records, one stage's."""
    made(store, "wf-a", "wf-b")
    with store.write() as tx:
        a1 = tx.start_attempt("wf-a", "a", t(1), 2, agent_id="ag-1", session_id="s")
        tx.start_attempt("wf-a", "b", t(2), 3, agent_id="ag-2", session_id=None)
        a2 = tx.start_attempt("wf-a", "a", t(3), 4, agent_id=None, session_id=None)
        tx.start_attempt("wf-b", "a", t(4), 2, agent_id=None, session_id=None)
        tx.set_code_start(a2, '{"head": "x"}')
        tx.add_changes(a1, ["src/x.py"], "edit")
        tx.add_artifacts(a1, [rec("a.json")])
    with store.read() as r:
        wf = r.workflow("wf-a")
        got = r.stage_attempts("wf-a", "a")
        assert r.stage_attempts("wf-a", "c") == [] and r.stage_attempts("nowhere", "a") == []
    assert wf is not None
    assert got == [a for a in wf.attempts if a.stage == "a"] and [a.id for a in got] == [a1, a2]
    assert got[0].changed == (("src/x.py", "edit"),) and [x.path for x in got[0].artifacts] == ["a.json"]
    assert got[1].code_start == '{"head": "x"}'


def test_agent_id_is_unique_across_workflows(store: Store) -> None:
    """A repeated hook delivery cannot make a second attempt of the same subagent."""
    made(store, "wf-a", "wf-b")
    with store.write() as tx:
        tx.start_attempt("wf-a", "a", t(1), 2, agent_id="ag-1", session_id=None)
    for wid in ("wf-a", "wf-b"):
        with pytest.raises(StoreError) as info, store.write() as tx:
            tx.add_mark(wid, "agent_start", t(2), None)
            tx.start_attempt(wid, "b", t(2), 3, agent_id="ag-1", session_id=None)
        assert info.value.hint
    with store.read() as r:
        a, b = r.workflow("wf-a"), r.workflow("wf-b")
    assert a is not None and b is not None
    assert len(a.attempts) == 1 and b.attempts == [] and a.seq == 1 and b.seq == 1  # nothing half-written


def test_start_attempt_already_ended(store: Store) -> None:
    made(store, "wf-a")
    with store.write() as tx:
        tx.start_attempt("wf-a", "a", t(1), 2, agent_id=None, session_id=None, outcome="skipped",
                         error="not needed")
    with store.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None
    [a] = wf.attempts
    assert (a.outcome, a.error, a.ended_at, a.ended_seq) == ("skipped", "not needed", t(1), 2)
    assert wf.skipped_agents == ["a"] and wf.done == ["a"]


def test_end_attempt_first_end_wins(store: Store) -> None:
    made(store, "wf-a")
    with store.write() as tx:
        aid = tx.start_attempt("wf-a", "a", t(1), 2, agent_id=None, session_id=None)
        tx.end_attempt(aid, "completed", t(2), 3, None)
        tx.end_attempt(aid, "failed", t(3), 4, "late")  # idempotent: no change
    with store.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None
    [a] = wf.attempts
    assert (a.outcome, a.ended_at, a.ended_seq, a.error) == ("completed", t(2), 3, None)
    assert wf.completed_agents == ["a"]


def test_invalidate_is_idempotent_and_keeps_the_attempt(store: Store) -> None:
    made(store, "wf-a")
    with store.write() as tx:
        aid = tx.start_attempt("wf-a", "a", t(1), 2, agent_id=None, session_id=None, outcome="completed")
        tx.add_artifacts(aid, [rec("a.json")])
        tx.invalidate_attempt(aid, 3)
        tx.invalidate_attempt(aid, 4)
    with store.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None
    [a] = wf.attempts
    assert a.outcome == "invalidated" and a.outcome_end == "completed" and a.invalidated_seq == 3
    assert [x.path for x in a.artifacts] == ["a.json"]  # still on record
    assert wf.completed_agents == [] and wf.artifacts == {}


def test_artifacts_belong_to_their_attempt(store: Store) -> None:
    made(store, "wf-a")
    with store.write() as tx:
        a1 = tx.start_attempt("wf-a", "a", t(1), 2, agent_id=None, session_id=None, outcome="completed")
        tx.add_artifacts(a1, [rec("a.json", sha="1" * 64), rec("x/extra.txt", check="none")])
        a2 = tx.start_attempt("wf-a", "a", t(2), 3, agent_id=None, session_id=None, outcome="completed")
        tx.add_artifacts(a2, [rec("a.json", sha="2" * 64, check="pending")])
        tx.add_artifacts(a2, [rec("a.json", sha="3" * 64, check="pending")])  # the same path again: replaced
        tx.set_artifact_check(a2, "a.json", "ok")
        tx.set_usage(a2, '{"totalTokens": 5}')
        tx.set_attempt_git(a2, '{"head": "def"}')
    with store.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None
    first, second = wf.attempts
    assert [(x.path, x.sha256[0], x.check) for x in first.artifacts] == [("a.json", "1", "ok"),
                                                                         ("x/extra.txt", "0", "none")]
    assert [(x.path, x.sha256[0], x.check) for x in second.artifacts] == [("a.json", "3", "ok")]
    art = second.artifacts[0]
    assert (art.agent, art.size, art.mtime, art.inode, art.recorded_at) == ("a", 12, 1700000000.25, 42, T0)
    assert second.usage == '{"totalTokens": 5}' and second.git == '{"head": "def"}'
    assert wf.effective("a") is second
    assert {p: r.sha256[0] for p, r in wf.artifacts.items()} == {"a.json": "3"}


# ------------------------------------------------------------------ audit, sessions, parameters


def test_audit_keeps_order(store: Store) -> None:
    made(store, "wf-a")
    with store.write() as tx:
        for i, action in enumerate(["x", "status:pending->running", "y"]):
            tx.add_audit("wf-a", 1 + i // 2, t(i), action, f"detail {i}")
    with store.read() as r:
        wf = r.workflow("wf-a")
        bare = r.workflow("wf-a", audit=False)
    assert wf is not None and bare is not None
    assert [(e.seq, e.action, e.detail, e.at) for e in wf.audit] == [
        (1, "x", "detail 0", t(0)), (1, "status:pending->running", "detail 1", t(1)), (2, "y", "detail 2", t(2))]
    assert bare.audit == []


def test_sessions_first_and_last_seen(store: Store) -> None:
    made(store, "wf-a")
    with store.write() as tx:
        tx.touch_session("wf-a", "s1", t(1), "create")
        tx.touch_session("wf-a", "s1", t(5))  # no source: the old one stays
        tx.touch_session("wf-a", "s2", t(3), "resume")
        tx.touch_session("wf-a", "s1", t(4))  # an older time (a replayed hook event): last seen stays
    with store.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None
    assert [(s.session_id, s.first_seen, s.last_seen, s.source) for s in wf.sessions] == [
        ("s1", t(1), t(5), "create"), ("s2", t(3), t(3), "resume")]
    assert wf.last_seen == t(5)


def test_heartbeat_refreshes_the_sessions_running_workflows_and_leases(store: Store) -> None:
    made(store, "wf-a", "wf-b", "wf-c")
    with store.write() as tx:
        assert tx.heartbeat("s1", t(1)) == []  # a session that worked on nothing
        tx.touch_session("wf-a", "s1", t(2))
        tx.touch_session("wf-b", "s1", t(3))
        tx.touch_session("wf-c", "s2", t(3))
        for wid in ("wf-a", "wf-c"):
            tx.set_status(wid, Status.RUNNING, None)
        tx.set_status("wf-b", Status.PAUSED, "x")
        tx.put_lease("wf-a", lease("s1"))
        tx.put_lease("wf-c", lease("s2"))
    with store.write(durable=False) as tx:
        assert tx.heartbeat("s1", t(9)) == ["wf-a"]  # running ones only
    with store.read() as r:
        a, b, c = r.workflow("wf-a"), r.workflow("wf-b"), r.workflow("wf-c")
        la, lc = r.lease("wf-a"), r.lease("wf-c")
    assert a is not None and b is not None and c is not None and la is not None and lc is not None
    assert a.last_seen == t(9) and a.last_activity == t(9) and b.last_seen == t(3) and c.last_seen == t(3)
    assert la.heartbeat_at == t(9) and lc.heartbeat_at == T0


def test_session_workflows_order_and_any_with(store: Store) -> None:
    made(store, "wf-a", "wf-b", "wf-c")
    with store.write() as tx:
        tx.touch_session("wf-a", "s1", t(5))
        tx.touch_session("wf-b", "s1", t(7))
        tx.touch_session("wf-b", "s2", t(6))
        tx.set_status("wf-c", Status.CANCELLED, "x")
        tx.touch_session("wf-c", "s1", t(9))
    with store.read() as r:
        assert r.session_workflows("s1", [Status.PENDING]) == ["wf-b", "wf-a"]  # most recent first
        assert r.session_workflows("s1", [Status.PENDING, Status.CANCELLED]) == ["wf-c", "wf-b", "wf-a"]
        assert r.session_workflows("s3", list(Status)) == []
        assert r.last_session("wf-b") == ("s1", t(7)) and r.last_session("wf-none") is None
        assert r.any_with([Status.CANCELLED]) and r.any_with([Status.RUNNING, Status.PENDING])
        assert not r.any_with([Status.RUNNING, Status.STALE]) and not r.any_with([])


def test_parameters_latest_value(store: Store) -> None:
    made(store, "wf-a")
    with store.write() as tx:
        tx.set_parameter("wf-a", "target", "py310", 1)
        tx.set_parameter("wf-a", "target", "py311", 2)
        tx.set_parameter("wf-a", "mode", "fast", 2)
    with store.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None and wf.parameters == {"mode": "fast", "target": "py311"}
    assert wf.parameter_seqs == {"mode": 2, "target": 2}


# ------------------------------------------------------------------ evidence


def test_bindings_latest_wins(store: Store) -> None:
    made(store, "wf-a", "wf-b")
    with store.write() as tx:
        tx.bind("s1", "wf-a", t(1), "cairn start")
        tx.bind("s2", "wf-a", t(2), "cairn resume")
    with store.read() as r:
        assert r.binding("s1") == "wf-a" and r.binding("nobody") is None
        assert r.binding("s2") == "wf-a"
    with store.write() as tx:
        tx.bind("s1", "wf-b", t(3), "cairn resume")  # the session moved on
    with store.read() as r:
        assert r.binding("s1") == "wf-b" and r.binding("s2") == "wf-a"


def test_dispatches_put_is_idempotent_and_claimed_once(store: Store) -> None:
    made(store, "wf-a", "wf-b")
    with store.write() as tx:
        assert tx.put_dispatch("tu-1", "s1", "wf-a", "a", t(1)) is True
        assert tx.put_dispatch("tu-1", "s1", "wf-b", "b", t(2)) is False  # a repeated delivery
        assert tx.put_dispatch("tu-2", "s1", "wf-b", "a", t(3)) is True
        assert tx.put_dispatch("tu-3", "s2", "wf-a", "a", t(4)) is True
    with store.read() as r:
        assert r.dispatches("s1", "a") == [("tu-1", "wf-a", None), ("tu-2", "wf-b", None)]
        assert r.dispatches("s1", "b") == [] and r.dispatches("s2", "a") == [("tu-3", "wf-a", None)]
        assert r.dispatch_of_agent("ag-1") is None
    with store.write() as tx:
        tx.claim_dispatch("tu-1", "ag-1")
        tx.claim_dispatch("tu-1", "ag-2")  # already claimed: unchanged
        tx.claim_dispatch("tu-none", "ag-3")  # unknown: nothing
    with store.read() as r:
        assert r.dispatches("s1", "a")[0] == ("tu-1", "wf-a", "ag-1")
        assert r.dispatch_of_agent("ag-1") == ("wf-a", "a")
        assert r.dispatch_of_agent("ag-2") is None and r.dispatch_of_agent("ag-3") is None


def test_leases(store: Store) -> None:
    made(store, "wf-a")
    with store.read() as r:
        assert r.lease("wf-a") is None
    with store.write() as tx:
        tx.put_lease("wf-a", lease("s1", pid=10))
        tx.put_lease("wf-a", lease("s2", pid=20, host="h2"))  # replaced, one lease per workflow
    with store.read() as r:
        got = r.lease("wf-a")
    assert got == LeaseRecord("s2", 20, 777, "h2", T0, T0)
    with store.write() as tx:
        tx.delete_lease("wf-a")
        tx.delete_lease("wf-a")
    with store.read() as r:
        assert r.lease("wf-a") is None


def test_first_delivery_exactly_once(store: Store, opener: Opener) -> None:
    with store.write() as tx:
        assert tx.first_delivery("SubagentStop:ag-1", t(1)) is True
        assert tx.first_delivery("SubagentStop:ag-1", t(2)) is False
    other = opener()
    with other.write() as tx:
        assert tx.first_delivery("SubagentStop:ag-1", t(3)) is False
        assert tx.first_delivery("SubagentStop:ag-2", t(3)) is True
    with pytest.raises(RuntimeError), store.write() as tx:
        assert tx.first_delivery("rolled-back", t(4)) is True
        raise RuntimeError("the handling failed")
    with store.write() as tx:  # a rolled-back delivery was not handled: it counts again
        assert tx.first_delivery("rolled-back", t(5)) is True


def test_breakpoints_are_decided_once_and_read_with_the_workflow(store: Store) -> None:
    made(store, "wf-a", "wf-b")
    with store.write() as tx:
        first = tx.add_breakpoint("wf-a", "b", 2, t(1), "cli")
        second = tx.add_breakpoint("wf-a", "c", 2, t(1), "cairn.yaml")
        tx.add_breakpoint("wf-b", "b", 2, t(1), "panel")
    with store.write() as tx:
        tx.decide_breakpoint(first, "approved", 3, t(2), "looks fine", None)
        tx.decide_breakpoint(first, "rejected", 4, t(3), "changed my mind", "a")  # the first decision stands
    with store.read() as r:
        bps = r.breakpoints("wf-a")
        wf = r.workflow("wf-a")
    assert [(b.id, b.stage, b.source, b.set_seq, b.set_at) for b in bps] == [
        (first, "b", "cli", 2, t(1)), (second, "c", "cairn.yaml", 2, t(1))]
    assert (bps[0].decision, bps[0].decided_seq, bps[0].decided_at, bps[0].feedback, bps[0].rerun) == (
        "approved", 3, t(2), "looks fine", None)
    assert bps[1].holding and bps[1].decision is None and bps[1].feedback is None
    assert wf is not None and list(wf.breakpoints) == bps
    with store.write() as tx:
        tx.delete_workflow("wf-a")
    with store.read() as r:
        assert r.breakpoints("wf-a") == [] and [b.stage for b in r.breakpoints("wf-b")] == ["b"]


# ------------------------------------------------------------------ delete


def test_delete_cascades(store: Store) -> None:
    made(store, "wf-a", "wf-b")
    with store.write() as tx:
        aid = tx.start_attempt("wf-a", "a", t(1), 2, agent_id="ag-1", session_id="s1", outcome="completed")
        tx.add_artifacts(aid, [rec("a.json")])
        tx.add_audit("wf-a", 2, t(1), "x", "y")
        tx.touch_session("wf-a", "s1", t(1))
        tx.set_parameter("wf-a", "k", "v", 2)
        tx.bind("s1", "wf-a", t(1), "cairn start")
        tx.put_dispatch("tu-1", "s1", "wf-a", "a", t(1))
        tx.claim_dispatch("tu-1", "ag-1")
        tx.put_lease("wf-a", lease())
        tx.add_effect("wf-a", aid, Effect("push", "origin main", tool_use_id="tu-9"), t(1))
        tx.start_attempt("wf-b", "a", t(1), 2, agent_id="ag-b", session_id=None)
    with store.write() as tx:
        tx.delete_workflow("wf-a")
    with store.read() as r:
        assert r.ids() == ["wf-b"] and r.workflow("wf-a") is None
        assert r.attempt_of_agent("ag-1") is None and r.attempt_of_agent("ag-b") is not None
        assert r.binding("s1") is None and r.dispatches("s1", "a") == [] and r.dispatch_of_agent("ag-1") is None
        assert r.lease("wf-a") is None and r.workflow_id_of_uid("uid-wf-a") is None
        assert r.summaries(ids=["wf-a"]) == [] and sum(r.counts().values()) == 1
        assert r.effects("wf-a") == []
    with pytest.raises(WorkflowNotFound), store.write() as tx:
        tx.delete_workflow("wf-a")
    with store.write() as tx:  # the id is free again, and the new one starts clean
        create(tx, "wf-a", uid="uid-new")
        tx.start_attempt("wf-a", "a", t(2), 2, agent_id="ag-1", session_id=None)  # the agent id is free too
    with store.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None and wf.uid == "uid-new" and [a.number for a in wf.attempts] == [1]
    assert wf.audit == [] and wf.sessions == [] and wf.parameters == {}


def test_effects_once_per_call_kind_and_target_in_order(store: Store) -> None:
    made(store, "wf-a", "wf-b")
    pr = Effect("pr", "feat/x", "https://github.com/o/r/pull/12", {"number": "12", "branch": "feat/x"},
                tool_use_id="tu-1")
    push = Effect("push", "origin feat/x", None, {"branch": "feat/x", "remote": "origin"}, tool_use_id="tu-1")
    with store.write() as tx:
        a1 = tx.start_attempt("wf-a", "a", t(1), 2, agent_id="ag-1", session_id="s1")
        b1 = tx.start_attempt("wf-b", "a", t(1), 2, agent_id="ag-2", session_id="s1")
        assert tx.add_effect("wf-a", a1, push, t(2)) is True
        assert tx.add_effect("wf-a", a1, pr, t(2)) is True
        assert tx.add_effect("wf-a", a1, pr, t(3)) is False  # the same delivery again
        assert tx.add_effect("wf-a", a1, Effect("push", "origin feat/x", tool_use_id="tu-2"), t(4)) is True
        assert tx.add_effect("wf-b", b1, Effect("commit", "abc1234", tool_use_id="tu-3"), t(4)) is True
    with store.read() as r:
        got = r.effects("wf-a")
        assert [(e.kind, e.target, e.tool_use_id) for e in got] == [
            ("push", "origin feat/x", "tu-1"), ("pr", "feat/x", "tu-1"), ("push", "origin feat/x", "tu-2")]
        assert got[1].url == "https://github.com/o/r/pull/12" and got[1].detail == {"number": "12", "branch": "feat/x"}
        assert got[1].at == t(2) and got[1].attempt_id == a1 and got[1].stage == "a" and got[1].workflow_id == "wf-a"
        assert [e.kind for e in r.effects("wf-a", ["pr"])] == ["pr"]
        assert r.effects("wf-a", []) == [] and [e.target for e in r.effects("wf-b")] == ["abc1234"]
        wf = r.workflow("wf-a")  # a loaded workflow carries its ledger (its projection shows it)
        assert wf is not None and wf.effects == tuple(got)
    with pytest.raises(CairnError), store.write() as tx:  # an effect names an attempt that exists
        tx.add_effect("wf-a", 999_999, Effect("commit", "x", tool_use_id="tu-4"), t(5))


# ------------------------------------------------------------------ listings


def _listing_fixture(store: Store) -> None:
    """wf-old (completed), wf-mid (running a, b running), wf-new (paused, a done then undone)."""
    with store.write() as tx:
        create(tx, "wf-old", t(0))
        create(tx, "wf-mid", t(1))
        create(tx, "wf-new", t(2))
        for stage in ("a", "b", "c"):
            tx.start_attempt("wf-old", stage, t(3), 2, agent_id=None, session_id=None, outcome="completed")
        tx.add_mark("wf-old", "agent_completion", t(10), None)
        tx.set_status("wf-old", Status.COMPLETED, "every stage completed")
        tx.start_attempt("wf-mid", "a", t(4), 2, agent_id=None, session_id=None, outcome="completed")
        tx.start_attempt("wf-mid", "b", t(4), 2, agent_id=None, session_id=None)
        tx.add_mark("wf-mid", "agent_start", t(20), None)
        tx.set_status("wf-mid", Status.RUNNING, None)
        aid = tx.start_attempt("wf-new", "a", t(5), 2, agent_id=None, session_id=None, outcome="completed")
        tx.invalidate_attempt(aid, 3)
        tx.start_attempt("wf-new", "b", t(5), 2, agent_id=None, session_id=None, outcome="skipped")
        tx.add_mark("wf-new", "pause", t(30), None)
        tx.set_status("wf-new", Status.PAUSED, "paused by user")


def test_finished_since(store: Store) -> None:
    """What the dashboard's "completed today" counts: workflows that ended (completed,
    cancelled, failed) whose last checkpoint is at or after the time, with when."""
    _listing_fixture(store)
    with store.write() as tx:
        tx.add_mark("wf-new", "cancel", t(40), None)
        tx.set_status("wf-new", Status.CANCELLED, "no longer needed")
    with store.read() as r:
        since_start = sorted(r.finished_since(t(0)))
        since_later = r.finished_since(t(35))
        since_end = r.finished_since(t(41))
    assert since_start == [("wf-new", Status.CANCELLED, t(2), t(40)), ("wf-old", Status.COMPLETED, t(0), t(10))]
    assert since_later == [("wf-new", Status.CANCELLED, t(2), t(40))]
    assert since_end == []


def test_summaries_newest_first_with_filters(store: Store) -> None:
    _listing_fixture(store)
    with store.read() as r:
        rows = r.summaries()
        active = r.summaries([Status.RUNNING, Status.PAUSED, Status.PENDING])
        one = r.summaries(limit=1)
        picked = r.summaries(ids=["wf-old", "wf-mid", "nope"])
        nothing = r.summaries([Status.STALE])
        counts = r.counts()
        workflows = {wid: r.workflow(wid) for wid in r.ids()}
    assert [s.workflow_id for s in rows] == ["wf-new", "wf-mid", "wf-old"]
    assert [s.workflow_id for s in active] == ["wf-new", "wf-mid"]
    assert [s.workflow_id for s in one] == ["wf-new"]
    assert [s.workflow_id for s in picked] == ["wf-mid", "wf-old"]
    assert nothing == []
    assert counts == {Status.COMPLETED: 1, Status.RUNNING: 1, Status.PAUSED: 1}
    by = {s.workflow_id: s for s in rows}
    assert by["wf-old"].status == Status.COMPLETED and by["wf-old"].completed == 3 and by["wf-old"].seq == 2
    assert set(by["wf-mid"].done) == {"a"} and by["wf-mid"].running == ("b",)
    assert set(by["wf-new"].done) == {"b"} and by["wf-new"].running == ()  # the undone a is not done
    assert by["wf-new"].status_reason == "paused by user" and by["wf-new"].updated_at == t(30)
    for wid, s in by.items():  # the listing agrees with the full view
        wf = workflows[wid]
        assert wf is not None
        assert set(s.done) == set(wf.done) and list(s.running) == wf.running_agents
        assert s.next_agents == wf.pipeline.ready(wf.done) and s.seq == wf.seq and s.total == 3


def test_summaries_order_does_not_depend_on_fractional_seconds(store: Store) -> None:
    """12:00:00 is before 12:00:00.5 (a timestamp without microseconds must not sort last)."""
    with store.write() as tx:
        create(tx, "wf-whole", T0)
        create(tx, "wf-half", T0 + timedelta(milliseconds=500))
    with store.read() as r:
        assert [s.workflow_id for s in r.summaries()] == ["wf-half", "wf-whole"]


# ------------------------------------------------------------------ transactions


def test_write_rolls_back_everything_on_error(store: Store) -> None:
    made(store, "wf-a")
    with pytest.raises(ValueError), store.write() as tx:
        create(tx, "wf-b")
        tx.add_mark("wf-a", "agent_start", t(1), None)
        aid = tx.start_attempt("wf-a", "a", t(1), 2, agent_id="ag-1", session_id=None, outcome="completed")
        tx.add_artifacts(aid, [rec("a.json")])
        tx.set_status("wf-a", Status.RUNNING, None)
        tx.bind("s1", "wf-a", t(1), "x")
        raise ValueError("the change failed half way")
    with store.read() as r:
        wf = r.workflow("wf-a")
        assert r.ids() == ["wf-a"] and r.attempt_of_agent("ag-1") is None and r.binding("s1") is None
    assert wf is not None and wf.seq == 1 and wf.status == Status.PENDING and wf.attempts == []
    with store.write() as tx:  # and the handle is usable afterwards
        tx.add_mark("wf-a", "after", t(2), None)
    with store.read() as r:
        after = r.workflow("wf-a")
    assert after is not None and after.seq == 2


def test_savepoint_undoes_only_its_part(store: Store) -> None:
    made(store, "wf-a")
    with store.write() as tx:
        tx.add_audit("wf-a", 1, t(1), "kept-before", "")
        with pytest.raises(KeyError), tx.savepoint():
            tx.add_audit("wf-a", 1, t(2), "undone", "")
            create(tx, "wf-b")
            raise KeyError("part failed")
        with tx.savepoint():
            tx.add_audit("wf-a", 1, t(3), "kept-part", "")
            with pytest.raises(KeyError), tx.savepoint():  # nested
                tx.add_audit("wf-a", 1, t(4), "undone-inner", "")
                raise KeyError("inner failed")
        tx.add_audit("wf-a", 1, t(5), "kept-after", "")
    with store.read() as r:
        wf = r.workflow("wf-a")
        assert r.ids() == ["wf-a"]
    assert wf is not None
    assert [e.action for e in wf.audit] == ["kept-before", "kept-part", "kept-after"]


def test_read_is_a_snapshot(opener: Opener) -> None:
    a, b = opener(), opener()
    made(a, "wf-a")
    with a.read() as r:
        first = r.workflow("wf-a")
        with b.write() as tx:  # another handle commits meanwhile
            tx.add_mark("wf-a", "agent_start", t(1), None)
            create(tx, "wf-b")
        again = r.workflow("wf-a")
        ids = r.ids()
        rows = r.summaries()
    assert first is not None and again is not None
    assert first.seq == again.seq == 1 and ids == ["wf-a"] and [s.seq for s in rows] == [1]
    with a.read() as r:
        now = r.workflow("wf-a")
        assert r.ids() == ["wf-a", "wf-b"]
    assert now is not None and now.seq == 2


def test_writers_are_serialized(opener: Opener) -> None:
    """A second writer waits for the first to commit, then sees its facts."""
    a, b = opener(), opener()
    made(a, "wf-a")
    entered, seen = threading.Event(), []

    def second() -> None:
        entered.set()
        with b.write() as tx:
            wf = tx.workflow("wf-a")
            assert wf is not None
            seen.append(wf.seq)
            tx.add_mark("wf-a", "second", t(3), None, wf.seq + 1)

    with a.write() as tx:
        tx.add_mark("wf-a", "first", t(2), None, 2)
        thread = threading.Thread(target=second)
        thread.start()
        assert entered.wait(10)
        thread.join(0.2)  # it must still be waiting for us
        assert thread.is_alive()
    thread.join(30)
    assert not thread.is_alive() and seen == [2]
    with a.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None and [m.type for m in wf.marks] == ["created", "first", "second"]


def test_describe_names_the_backend(store: Store) -> None:
    assert isinstance(store.describe(), str) and store.describe()


def test_session_workflows_and_last_session(store: Store) -> None:
    made(store, "wf-a", "wf-b", "wf-c")
    with store.write() as tx:
        tx.set_status("wf-a", Status.RUNNING, None)
        tx.set_status("wf-b", Status.RUNNING, None)
        tx.touch_session("wf-a", "s1", t(1))
        tx.touch_session("wf-b", "s1", t(3))
        tx.touch_session("wf-b", "s2", t(5))
        tx.touch_session("wf-c", "s1", t(7))  # pending: not listed for RUNNING
    with store.read() as r:
        assert r.session_workflows("s1", [Status.RUNNING]) == ["wf-b", "wf-a"]
        assert r.session_workflows("s3", [Status.RUNNING]) == []
        assert r.last_session("wf-b") == ("s2", t(5))
        assert r.last_session("wf-c") == ("s1", t(7))
    with store.write(durable=False) as tx:
        assert tx.heartbeat("s1", t(9)) == ["wf-b", "wf-a"]


def test_recent_and_average_duration(store: Store) -> None:
    made(store, "wf-a", "wf-b", "wf-c", "wf-d")  # created at t(0)..t(3), mark 1 each
    with store.write() as tx:
        for wid, end in (("wf-a", 100), ("wf-b", 50), ("wf-d", 200)):
            tx.add_mark(wid, "done", t(end), None)
            tx.set_status(wid, Status.COMPLETED, None)
        tx.add_mark("wf-c", "late", t(300), None)  # newest, but not completed
    with store.read() as r:
        assert r.recent(Status.COMPLETED, 2) == ["wf-d", "wf-a"]
        assert r.recent(Status.COMPLETED, 10) == ["wf-d", "wf-a", "wf-b"]
        assert r.recent(Status.FAILED, 3) == []
        count, mean = r.average_duration(Status.COMPLETED)
        assert count == 3 and mean is not None and abs(mean - (100 + 49 + 197) / 3) < 0.01
        assert r.average_duration(Status.CANCELLED) == (0, None)


def test_open_session_ids(store: Store) -> None:
    made(store, "wf-a", "wf-b")
    with store.write() as tx:
        tx.touch_session("wf-a", "s1", t(1))
        tx.touch_session("wf-b", "s2", t(2))
        tx.touch_session("wf-b", "s1", t(3))
        tx.set_status("wf-b", Status.CANCELLED, None)
    with store.read() as r:
        assert r.open_session_ids() == ["s1"]


def test_refresh_lease_only_for_its_holder(store: Store) -> None:
    made(store, "wf-a")
    with store.write() as tx:
        tx.put_lease("wf-a", lease("s1"))
        tx.refresh_lease("wf-a", "s2", t(50))  # not the holder: nothing
    with store.read() as r:
        held = r.lease("wf-a")
    assert held is not None and held.heartbeat_at == T0
    with store.write() as tx:
        tx.refresh_lease("wf-a", "s1", t(60))
    with store.read() as r:
        held = r.lease("wf-a")
    assert held is not None and held.heartbeat_at == t(60)


def test_lineage_facts_of_an_attempt(store: Store) -> None:
    made(store, "w1")
    with store.write() as tx:
        aid = tx.start_attempt("w1", "a", t(1), 2, agent_id="ag", session_id=None)
        tx.set_code_start(aid, '{"head": "h1", "dirty": {}}')
        assert tx.add_changes(aid, ["src/x.py", "b.txt"], "Write") == 2
        assert tx.add_changes(aid, ["src/x.py", "c.txt"], "git") == 1  # a path keeps its first `how`
        tx.end_attempt(aid, "completed", t(2), 3, None)
        tx.set_lineage(aid, '{"a.json": "abc"}')
    with store.read() as r:
        wf = r.workflow("w1")
    assert wf is not None
    (a,) = wf.attempts
    assert a.code_start == '{"head": "h1", "dirty": {}}' and a.consumed == '{"a.json": "abc"}'
    assert a.changed == (("b.txt", "Write"), ("c.txt", "git"), ("src/x.py", "Write"))


def test_pins_parent_and_a_new_pipeline(store: Store) -> None:
    made(store, "w1", "w2")
    other = Pipeline.from_dict({"name": "two", "stages": [
        {"name": "a", "artifacts": [], "depends_on": [], "reads_code": True}]})
    with store.write() as tx:
        tx.put_pin("w1", "agent:a", "sha-1", 1)
        tx.put_pin("w1", "agent:a", "sha-2", 2)  # the latest value wins
        tx.put_pin("w1", "plugin", "0.1.0", 1)
        tx.set_parent("w2", "w1")
        tx.set_pipeline("w2", other)
    with store.read() as r:
        assert r.pins("w1") == {"agent:a": "sha-2", "plugin": "0.1.0"} and r.pins("w2") == {}
        w1, w2 = r.workflow("w1"), r.workflow("w2")
    assert w1 is not None and w2 is not None
    assert w1.pins == {"agent:a": "sha-2", "plugin": "0.1.0"} and w1.parent is None
    assert w1.pin_seqs == {"agent:a": 2, "plugin": 1}  # the checkpoint that recorded each (projected)
    assert w2.parent == "w1" and w2.pipeline.digest == other.digest and w2.pipeline.stage("a").reads_code
    with store.write() as tx:
        tx.delete_workflow("w1")
    with store.read() as r:
        assert r.pins("w1") == {}


SECRET = "postgres://app:pg-Pa55word!@db:5432/x sk_live_4eC39HqLyjWDarjtT1zdp7dc password: CorrectHorse99"
LEAKS = ("pg-Pa55word!", "4eC39HqLyjWDarjtT1zdp7dc", "CorrectHorse99")


def test_no_text_field_stores_a_secret(store: Store) -> None:
    """The backend redacts what people and agents supply, whoever calls it (the importer
    writes through the same Tx)."""
    with store.write() as tx:
        tx.create_workflow("wf-s", "uid-s", f"do {SECRET}", T0, PIPE, {"note": SECRET}, None)
        tx.add_mark("wf-s", "created", T0, None, 1)
        tx.set_status("wf-s", Status.FAILED, f"because {SECRET}")
        tx.add_audit("wf-s", 1, T0, "note", f"detail {SECRET}")
        tx.start_attempt("wf-s", "a", T0, 1, agent_id=None, session_id=None, outcome="failed", error=SECRET)
        aid = tx.start_attempt("wf-s", "b", T0, 1, agent_id="ag-s", session_id=None)
        tx.end_attempt(aid, "failed", t(1), 1, f"again {SECRET}")
        tx.set_parameter("wf-s", "p", SECRET, 1)
    with store.read() as r:
        wf = r.workflow("wf-s")
    assert wf is not None
    texts = [wf.request, *wf.metadata.values(), wf.status_reason or "", *(e.detail for e in wf.audit),
             *(a.error or "" for a in wf.attempts), *wf.parameters.values()]
    assert all("[REDACTED:" in x for x in texts), texts
    assert not [x for x in texts if any(leak in x for leak in LEAKS)]


def test_by_change_follows_the_order_of_commits_not_their_times(store: Store) -> None:
    made(store, "wf-a", "wf-b", "wf-c")  # created at T0, T0+1 s, T0+2 s
    with store.write() as tx:
        tx.add_mark("wf-a", "note", t(-3600), None)  # committed last, by a clock an hour behind
    with store.write() as tx:
        tx.set_status("wf-c", Status.COMPLETED, None)
    with store.read() as r:
        assert r.by_change([Status.PENDING]) == ["wf-a", "wf-b"]
        assert r.by_change([Status.PENDING, Status.COMPLETED]) == ["wf-a", "wf-c", "wf-b"]
        assert r.by_change([Status.RUNNING]) == []


def test_sessions_record_the_host_they_ran_on(store: Store) -> None:
    import os

    made(store, "wf-a")
    with store.write() as tx:
        tx.touch_session("wf-a", "s1", t(1), "create")
        tx.touch_session("wf-a", "s2", t(2), "resume", host="ci-runner-7")  # a rebuild gives the recorded one
    with store.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None and [s.host for s in wf.sessions] == [os.uname().nodename, "ci-runner-7"]


def test_artifact_bodies_by_hash_round_trip_bytes_and_are_stored_once(store: Store) -> None:
    data = bytes(range(256)) * 3 + "é\n".encode()
    with store.write() as tx:
        tx.put_body("f" * 64, data)
        tx.put_body("f" * 64, b"ignored: the hash names one content")
    with store.read() as r:
        assert r.body("f" * 64) == data
        assert r.body("0" * 64) is None


def test_a_failed_unique_insert_leaves_the_transaction_usable(store: Store) -> None:
    """A repeated delivery inside a larger transaction: the rest of it still commits."""
    made(store, "wf-a")
    with store.write() as tx:
        tx.start_attempt("wf-a", "a", t(1), 2, agent_id="ag1", session_id="s1")
        with pytest.raises(StoreError):
            tx.start_attempt("wf-a", "a", t(2), 3, agent_id="ag1", session_id="s1")
        with pytest.raises(WorkflowExists):
            create(tx, "wf-a")
        tx.add_mark("wf-a", "started", t(1), "s1", 2)
    with store.read() as r:
        wf = r.workflow("wf-a")
    assert wf is not None and wf.seq == 2 and len(wf.attempts) == 1


def test_dump_and_load_give_back_every_row_with_its_ids(store: Store) -> None:
    """What `cairn store migrate` copies: every table, ids included; new ids continue after them."""
    from cairn.store.schema import tables

    made(store, "wf-a")
    with store.write() as tx:
        aid = tx.start_attempt("wf-a", "a", t(1), 2, agent_id="ag1", session_id="s1")
        tx.add_artifacts(aid, [rec("a.json")])
        tx.add_audit("wf-a", 2, t(1), "note", "kept")
        tx.touch_session("wf-a", "s1", t(1), "create")
    with store.read() as r:
        before = r.workflow("wf-a")
        dumped = {name: r.dump(name) for name in tables()}
    assert dumped["attempts"][1] and dumped["artifacts"][1] and "check" in dumped["artifacts"][0]
    with store.write() as tx:
        tx.delete_workflow("wf-a")  # its rows go with it (the pipeline stays)
        tx.load("workflows", *dumped["workflows"])
        for name in ("marks", "attempts", "artifacts", "audit", "sessions"):
            tx.load(name, *dumped[name])
    with store.read() as r:
        assert r.workflow("wf-a") == before
    with store.write() as tx:
        assert tx.start_attempt("wf-a", "b", t(2), 3, agent_id="ag2", session_id="s1") > aid
    with pytest.raises(ValueError, match="not a table"), store.read() as r:
        r.dump("sqlite_master")
