"""Hooks on a shared store they cannot reach: they record locally and say so once; the
next `cairn` command that reaches the store sends what they kept, merged, never
duplicated. Against a real PostgreSQL server (tests/pgcluster.py), with the hooks run
as Claude Code runs them (hooks/run.sh starts Python with -I -S: psycopg is not
importable there, the very case the offline path exists for)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cairn.hooks import run
from cairn.model import Workflow
from cairn.scope import project_scope
from cairn.store.offline import OFFLINE_DB, pending
from support import deps_stamp
from test_hooks import EXAMPLES, SID, WID, Hooks, payload, write_artifact
from test_shared_store import cairn_in, git

TOOL_INPUT = {"description": "research", "prompt": f"Study the code.\ncairn-workflow: {WID}",
              "subagent_type": "cairn:researcher", "run_in_background": False}


@pytest.fixture
def shared(tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Hooks:
    """A clone whose store is the server, with a running workflow bound to the captured
    session (orchestrator done, researcher next)."""
    origin = tmp_path / "origin.git"
    git("init", "--bare", "-q", str(origin), cwd=tmp_path)
    git("clone", "-q", str(origin), "project", cwd=tmp_path)
    monkeypatch.setenv("CAIRN_STORE", pg_url)
    data = tmp_path / "home" / ".claude" / "plugins" / "data" / "cairn-inline"
    data.mkdir(parents=True)
    (data / f"{deps_stamp()}.ok").touch()
    hooks = Hooks(tmp_path / "project", data)
    m = hooks.mgr
    m.create("Add a --dry-run option to export", workflow_id=WID, session_id=SID)
    write_artifact(m, WID, "orchestrator")
    m.record_completion(WID, "orchestrator", session_id=SID)
    return hooks


def fire(h: Hooks, name: str, **changes: object) -> dict[str, object] | None:
    from test_hooks import event_of

    # the user's home as every Cairn process of theirs sees it (their key seals what hooks keep)
    env = {**h.env(), "CAIRN_STORE": os.environ["CAIRN_STORE"], "HOME": os.environ["HOME"]}
    proc = h.run_raw(event_of(name), json.dumps(payload(name, h.project, **changes)).encode(), env)
    assert proc.returncode == 0 and proc.stderr == b"", proc.stderr
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def server_view(h: Hooks) -> Workflow:
    """The workflow as the server has it, read without a manager (which would send the kept events)."""
    from cairn.store.postgres import PgStore

    store = PgStore(os.environ["CAIRN_STORE"], project_scope(h.project, "", os.environ))
    try:
        with store.read() as r:
            wf = r.workflow(WID)
    finally:
        store.close()
    assert wf is not None
    return wf


def carried(h: Hooks, sha256: str) -> bytes | None:
    from cairn.store.postgres import PgStore

    store = PgStore(os.environ["CAIRN_STORE"], project_scope(h.project, "", os.environ))
    try:
        with store.read() as r:
            return r.body(sha256)
    finally:
        store.close()


def researcher_attempts(h: Hooks) -> list[tuple[str | None, str]]:
    return [(a.agent_id, a.outcome) for a in server_view(h).attempts if a.stage == "researcher"]


def test_hooks_without_psycopg_record_offline_then_the_next_command_sends_it(shared: Hooks) -> None:
    first = fire(shared, "PreToolUse-Agent", tool_input=TOOL_INPUT)
    assert first is not None and "Working offline" in str(first["systemMessage"])
    assert "needs psycopg" in str(first["systemMessage"])
    assert fire(shared, "SubagentStart", agent_type="cairn:researcher") is None  # said once per session
    # written by hand: a manager here (with psycopg) would reach the server and send the kept events
    research = json.loads((EXAMPLES / "research.json").read_text())
    (shared.root / WID / "research.json").write_text(json.dumps({**research, "workflow_id": WID}))
    assert fire(shared, "SubagentStop", agent_type="cairn:researcher") is None
    assert pending(shared.root) == 3 and researcher_attempts(shared) == []  # nothing reached the server yet

    status = cairn_in(shared.project, "status")
    assert status.returncode == 0, status.stderr
    assert "sent 3 hook event(s) recorded while the shared store was unreachable" in status.stderr
    assert pending(shared.root) == 0
    assert researcher_attempts(shared) == [("a14469f274a2cc320", "completed")]
    seq = server_view(shared).seq
    # the hook's completion carries the artifact for other machines, as a command's does
    assert carried(shared, server_view(shared).artifacts["research.json"].sha256) == \
        (shared.root / WID / "research.json").read_bytes()

    # the same completion kept again (recorded in both places): merged, never twice
    fire(shared, "SubagentStop", agent_type="cairn:researcher")
    assert pending(shared.root) == 1
    assert cairn_in(shared.project, "status").returncode == 0
    assert pending(shared.root) == 0
    assert researcher_attempts(shared) == [("a14469f274a2cc320", "completed")]
    assert server_view(shared).seq == seq


def test_an_unreachable_server_is_the_same_path(shared: Hooks, monkeypatch: pytest.MonkeyPatch) -> None:
    """psycopg importable, the server away: in-process, the hook boundary keeps the event."""
    monkeypatch.setenv("CAIRN_STORE", "postgresql://nobody@127.0.0.1:1/cairn")
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(shared.project))
    raw = json.dumps(payload("SubagentStart", shared.project, agent_type="cairn:researcher")).encode()
    answer = run("subagent-start", raw, os.environ)
    assert answer is not None and "cannot be reached" in str(answer["systemMessage"])
    assert "nobody@127.0.0.1:1" in str(answer["systemMessage"])
    assert (shared.root / OFFLINE_DB).is_file() and pending(shared.root) == 1
    log = (shared.root / ".logs" / "cairn.log").read_text()
    assert "StoreUnreachable" in log


def test_the_offline_file_is_never_followed_through_a_link(shared: Hooks, tmp_path: Path) -> None:
    outside = tmp_path / "outside.db"
    outside.write_bytes(b"")
    (shared.root / OFFLINE_DB).symlink_to(outside)
    answer = fire(shared, "SubagentStart", agent_type="cairn:researcher")
    assert answer is not None and "could not be kept locally" in str(answer["systemMessage"])
    assert outside.read_bytes() == b""


def test_hooks_run_without_psycopg() -> None:
    """The premise of the tests above: the hook interpreter (-I -S) cannot import psycopg."""
    out = subprocess.run([sys.executable, "-I", "-S", "-c", "import psycopg"], capture_output=True)
    assert out.returncode != 0


def test_hooks_do_not_wait_on_a_store_found_down_a_moment_ago(shared: Hooks, pg_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """After one hook found the server away, the next ones go offline at once for a
    minute (no session waits on connection timeouts); a command always tries, and once it
    has sent the kept events the hooks try again."""
    import time

    from cairn.store.offline import DOWN_MARK

    monkeypatch.setenv("CAIRN_STORE", "postgresql://nobody@127.0.0.1:1/cairn")
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(shared.project))
    raw = json.dumps(payload("SubagentStart", shared.project, agent_type="cairn:researcher")).encode()
    run("subagent-start", raw, os.environ)  # tries, fails, marks the store down
    first = (shared.root / DOWN_MARK).stat().st_mtime_ns
    t0 = time.monotonic()
    answer = run("subagent-start", raw, os.environ)
    assert time.monotonic() - t0 < 1.0 and answer is None  # offline at once, and already told
    assert pending(shared.root) == 2 and (shared.root / DOWN_MARK).stat().st_mtime_ns == first

    monkeypatch.setenv("CAIRN_STORE", pg_url)  # the server is back: a command sends, and clears the mark
    assert cairn_in(shared.project, "status").returncode == 0
    assert pending(shared.root) == 0 and not (shared.root / DOWN_MARK).exists()


def test_kept_events_from_another_user_or_project_are_dropped_never_sent(
        shared: Hooks, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`.claude/` comes with a repository: an offline.db planted there (or copied from
    another user or project) is data, never hook events."""
    from cairn.store.offline import record

    planted = json.dumps(payload("SubagentStart", shared.project, agent_type="cairn:researcher")).encode()
    other_home = tmp_path / "attacker-home"
    other_home.mkdir()
    monkeypatch.setenv("HOME", str(other_home))  # sealed with a key this user does not have
    record(shared.root, "subagent-start", planted, shared.project, "s-x")
    monkeypatch.setenv("HOME", str(tmp_path / "victim-home"))
    (tmp_path / "victim-home").mkdir()
    record(shared.root, "subagent-start", planted, tmp_path / "elsewhere", "s-y")  # this user, another project
    seq = server_view(shared).seq
    status = cairn_in(shared.project, "status")
    assert status.returncode == 0, status.stderr
    assert "2 kept event(s) in" in status.stderr and "were not recorded by this user in this project" in status.stderr
    assert pending(shared.root) == 0 and server_view(shared).seq == seq and researcher_attempts(shared) == []


def test_a_planted_side_file_of_the_offline_file_stops_nothing_but_the_replay(shared: Hooks, tmp_path: Path) -> None:
    """A link planted beside offline.db (a cloned repository): the command still runs and
    says why the kept events wait; nothing is written through the link."""
    first = fire(shared, "SubagentStart", agent_type="cairn:researcher")
    assert first is not None and pending(shared.root) == 1
    outside = tmp_path / "outside"
    outside.write_bytes(b"")
    (shared.root / f"{OFFLINE_DB}-journal").symlink_to(outside)
    status = cairn_in(shared.project, "status")
    assert status.returncode == 0, status.stderr
    assert "could not be sent" in status.stderr and "symbolic link" in status.stderr
    assert outside.read_bytes() == b""


def test_replayed_events_keep_the_time_they_happened(shared: Hooks) -> None:
    """A stage completed while the server was away shows when it completed, not when the
    next command sent it: its attempt, its checkpoint and its audit carry the hook's time;
    the store's order of commits is still the order they were sent in."""
    from cairn.model import utcnow

    seq = server_view(shared).seq
    t0 = utcnow()
    fire(shared, "SubagentStart", agent_type="cairn:researcher")
    t1 = utcnow()
    research = json.loads((EXAMPLES / "research.json").read_text())
    (shared.root / WID / "research.json").write_text(json.dumps({**research, "workflow_id": WID}))
    t2 = utcnow()
    fire(shared, "SubagentStop", agent_type="cairn:researcher")
    t3 = utcnow()
    assert pending(shared.root) == 2

    status = cairn_in(shared.project, "status")
    assert status.returncode == 0, status.stderr
    wf = server_view(shared)
    [attempt] = [a for a in wf.attempts if a.stage == "researcher"]
    assert attempt.outcome == "completed"
    assert t0 <= attempt.started_at <= t1  # not the replay's time (after t3)
    assert attempt.ended_at is not None and t2 <= attempt.ended_at <= t3
    new = [mk for mk in wf.marks if mk.seq > seq]
    assert [mk.seq for mk in new] == list(range(seq + 1, wf.seq + 1))  # commit order: the replay's
    assert all(t0 <= mk.at <= t3 for mk in new) and new[-1].at >= t2
    assert all(t0 <= ev.at <= t3 for ev in wf.audit if ev.seq > seq)


def test_a_kept_time_is_never_later_than_its_replay() -> None:
    """A clock that was ahead, or a row edited by hand: the replay's own time; a time that
    cannot be read: the same."""
    from datetime import datetime, timedelta, timezone

    from cairn.model import iso, utcnow
    from cairn.store.offline import _now, kept_at

    now = utcnow()
    assert kept_at(iso(now + timedelta(hours=3)), now) == now
    assert kept_at("not a time", now) == now
    earlier = now - timedelta(hours=4)
    assert kept_at(iso(earlier), now) == earlier
    assert kept_at("2020-01-02T03:04:05Z", now) == datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc)  # older rows
    recorded = kept_at(_now(), utcnow())  # what a hook keeps: to the microsecond, read back as it was
    assert now <= recorded <= utcnow()
