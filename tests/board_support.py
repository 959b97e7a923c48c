"""A fleet for the person-facing goldens (dashboard, picker, list): every display state of
`cairn.liveness` at frozen times, on top of `test_cli_support.build_fleet`.

Liveness is judged from real facts: the live workflow's lease names process 1 (always
running, its start time recorded as a lease records it), the killed one's lease a pid
above the kernel's maximum (never running), and the one whose session ended cleanly was
paused by the SessionEnd hook's own words."""

from __future__ import annotations

import os
from datetime import timedelta, timezone

from cairn.manager import CheckpointManager
from cairn.model import LeaseRecord
from cairn.status import INTERRUPTED_PREFIX
from test_cli_support import NOW, Clock, build_fleet, stages_done

DEAD_PID = 5_000_000  # above Linux's PID_MAX_LIMIT (2**22): no process has it
LONG_ERROR = ("researcher failed: the Messages API answered 529 overloaded_error three times in a row while "
              "the researcher was reading the repository's 214 Python files; the last attempt gave up after "
              "600 seconds without a response, so nothing was written to research.json")


def put_lease(mgr: CheckpointManager, wid: str, session_id: str, pid: int) -> None:
    from cairn import lease

    rec = lease.new_lease(session_id, pid, NOW - timedelta(minutes=20))
    with mgr.store.write() as tx:
        tx.put_lease(wid, LeaseRecord(rec.session_id, pid, rec.start_time, rec.host, rec.acquired_at,
                                      NOW - timedelta(minutes=2)))


def build_board(mgr: CheckpointManager) -> dict[str, str]:
    ids = build_fleet(mgr)
    names = mgr.project_pipeline().names
    with Clock(NOW - timedelta(hours=6)) as clock:
        mgr.create("Ship the release notes for 2.1", workflow_id="wf-today")
        stages_done(mgr, clock, "wf-today", names, minutes=3)
        clock.tick(hours=1)
        mgr.create("Harden the upload endpoint against path traversal", workflow_id="wf-killed")
        stages_done(mgr, clock, "wf-killed", names[:2], minutes=5)
        mgr.record_start("wf-killed", names[2], session_id="sess-killed-0001")
        clock.tick(minutes=4)
        mgr.create("Explain the caching layer in the docs", workflow_id="wf-ended")
        mgr.touch("wf-ended", session_id="sess-ended-0002")
        stages_done(mgr, clock, "wf-ended", names[:5], minutes=2)
        mgr.hold("wf-ended", names[5])  # a breakpoint before the reviewer: waiting for approval
        mgr.pause("wf-ended", INTERRUPTED_PREFIX + "the Claude session ended (reason: prompt_input_exit)")
        clock.tick(hours=1)
        mgr.create("Index the audit table by workflow and time", workflow_id="wf-broken")
        stages_done(mgr, clock, "wf-broken", names[:1])
        mgr.record_start("wf-broken", names[1])
        clock.tick(minutes=10)
        mgr.record_failure("wf-broken", names[1], LONG_ERROR)
        clock.now = NOW - timedelta(minutes=40)
        clock.tick()
        mgr.create("Add rate limiting to the public API", workflow_id="wf-live")
        stages_done(mgr, clock, "wf-live", names[:6], minutes=4)
        mgr.record_start("wf-live", names[6], session_id="sess-live-0003")
        clock.tick(minutes=3)
        mgr.create("Write the migration guide", workflow_id="wf-new")
        assert clock.now < NOW
    put_lease(mgr, "wf-live", "sess-live-0003", 1)
    put_lease(mgr, "wf-killed", "sess-killed-0001", DEAD_PID)
    # liveness files as the Stop hook leaves them (the writer made them at the real time)
    for sid, at in (("sess-live-0003", NOW - timedelta(minutes=1)), ("sess-killed-0001", NOW - timedelta(hours=4))):
        os.utime(mgr.root / ".live" / sid, (at.replace(tzinfo=timezone.utc).timestamp(),) * 2)
    os.unlink(mgr.root / ".live" / "sess-ended-0002")  # SessionEnd removes it
    return {**ids, "live": "wf-live", "killed": "wf-killed", "ended": "wf-ended", "today": "wf-today",
            "broken": "wf-broken", "new": "wf-new"}
