"""Claude Code hook adapters: payload in, one library call, JSON out.

Standard library only, on every path: Claude Code installs no package for a plugin.
`run(event, stdin, env)` never raises: a Cairn problem must not block or break a
session. Bad input and internal errors become one line in `<artifacts>/.logs/cairn.log`
and, at most, a short `systemMessage`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from cairn.errors import CairnError, DriverMissing, StoreUnreachable
from cairn.hook_agents import post_tool_use, pre_tool_use, subagent_start, subagent_stop
from cairn.hook_bash import bash_post, bash_pre
from cairn.hook_edits import post_edit
from cairn.hook_failure import stop_failure
from cairn.hook_session import session_start
from cairn.hookio import ARTIFACTS, MAX_STDIN, BadPayload, Hook, Output, parse, project_dir
from cairn.status import INTERRUPTED_PREFIX, Status

TYPE_CHECKING = False  # `typing` costs a hook ~2 ms to import; annotations only need it
if TYPE_CHECKING:
    from datetime import datetime
    from typing import BinaryIO, TextIO


__all__ = ["HANDLERS", "MAX_STDIN", "Hook", "main", "parse", "run"]


def run(event: str, raw: bytes, env: Mapping[str, str]) -> Output:
    handler = HANDLERS.get(event)
    root = Path(env.get("CLAUDE_PROJECT_DIR") or os.getcwd()) / ARTIFACTS
    hook: Hook | None = None
    try:
        if handler is None:
            raise BadPayload(f"unknown hook event {event!r}")
        payload = parse(raw)
        hook = Hook(event, payload, project_dir(payload, env), env, on_reach=replay_kept)
        root = hook.root
        return handler(hook)
    except StoreUnreachable as exc:  # only a handler reaches the store, so `hook` is set
        return _offline(hook, raw, exc) if hook is not None else None
    except BadPayload as exc:
        _log(root, event, exc)
        return None
    except CairnError as exc:
        _log(root, event, exc)
        fix = f" (fix: {exc.hint[:200]})" if exc.hint else ""
        return {"systemMessage": f"Cairn: {exc.message[:300]}{fix}"}
    except Exception as exc:  # the hook boundary: fail open, a Cairn bug must not break the session
        from cairn import disk

        failure = disk.error(exc, str(getattr(exc, "filename", None) or root), "")
        if failure is not None:  # full, read-only, not ours to write: plain words
            _log(root, event, failure)
            return {"systemMessage": f"Cairn: {failure.message[:300]} (fix: {failure.hint})"}
        where = _log(root, event, exc)
        return {"systemMessage": f"Cairn: internal error in the {event} hook (logged to {where})."}


def _offline(hook: Hook, raw: bytes, exc: StoreUnreachable) -> Output:
    """The shared store cannot be reached: keep the event for the next process that can
    (`cairn.store.offline`), and tell the session once."""
    import sqlite3

    from cairn.store.offline import fetch_driver, mark_down, record

    _log(hook.root, hook.event, exc)
    with contextlib.suppress(OSError, CairnError):
        mark_down(hook.root)
    if hook.event == "stop":  # a heartbeat is worth nothing later: not kept
        return None
    try:
        first = record(hook.root, hook.event, raw, hook.project, hook.text("session_id"))
    except (OSError, sqlite3.Error, CairnError) as err:
        return {"systemMessage": f"Cairn: {exc.message[:300]}; this {hook.event} event could not be kept locally "
                f"either ({str(err)[:200]}), so it is lost"}
    fetching = ""
    if isinstance(exc, DriverMissing) and fetch_driver(hook.env):
        fetching = " psycopg is being installed into the plugin's environment: later hooks will reach the store."
    if not first:
        return None
    return {"systemMessage": f"Cairn: {exc.message[:300]}. Working offline: this session's hook events are kept in "
            f"{hook.root}/offline.db and sent, merged without duplicates, by the next `cairn` command that "
            f"reaches the store.{fetching}"}


def _log(root: Path, event: str, exc: BaseException) -> str:
    from cairn.errlog import log_error

    try:
        return str(log_error(root, f"hook {event}", exc))
    except (OSError, CairnError):
        return "nowhere: the log could not be written"


# ------------------------------------------------------------------ Stop / PreCompact / SessionEnd


def stop(hook: Hook) -> Output:
    """Every turn: a heartbeat of the session's workflow (no checkpoint, no fsync). Claude
    Code's Stop runs hooks/run.sh, which does this from the shell (the liveness file);
    this is the same for `python -m cairn.hooks stop`."""
    sid = hook.text("session_id")
    if not sid or not (hook.root / ".running").exists():
        return None
    from cairn.errors import DiskError

    try:
        beat = hook.manager().workflows.heartbeat(sid)
    except DiskError:  # a disk that refuses writes: a lost heartbeat costs nothing, say nothing each turn
        return None
    if beat:
        from cairn.live import mark_live

        mark_live(hook.root, sid)
    return None


def pre_compact(hook: Hook) -> Output:
    sid = hook.text("session_id")
    if not sid or not (hook.root / ".running").exists():
        return None
    m = hook.manager()
    with m.store.read() as r:
        wids = r.session_workflows(sid, [Status.RUNNING])
    for wid in wids:
        m.touch(wid, session_id=sid, checkpoint_type="precompact")
    return None


def session_end(hook: Hook) -> Output:
    sid = hook.text("session_id")
    if not sid or not (hook.root / ".running").exists():
        return None
    m = hook.manager()
    with m.store.read() as r:
        wids = [(w, r.last_session(w)) for w in r.session_workflows(sid, [Status.RUNNING])]
    why = f"{INTERRUPTED_PREFIX}the Claude session ended (reason: {hook.text('reason')[:40] or 'other'})"
    for wid, last in wids:
        m.workflows.release(wid, sid)
        if last is not None and last[0] == sid:  # not when another session works on it since
            m.pause(wid, why)
    from cairn.live import drop_live

    drop_live(hook.root, sid)
    return None


HANDLERS: dict[str, Callable[[Hook], Output]] = {
    "session-start": session_start,
    "pre-tool-use": pre_tool_use,
    "post-tool-use": post_tool_use,
    "post-edit": post_edit,
    "subagent-start": subagent_start,
    "subagent-stop": subagent_stop,
    "stop": stop,
    "pre-compact": pre_compact,
    "session-end": session_end,
    "bash-pre": bash_pre,
    "bash-post": bash_post,
    "stop-failure": stop_failure,
}


def _replay_one(event: str, raw: bytes, project: Path, env: Mapping[str, str], at: datetime) -> None:
    """One kept event through its handler, its changes recorded at the time it was kept."""
    handler = HANDLERS.get(event)
    if handler is not None:  # no on_reach: a replayed event does not replay in turn
        handler(Hook(event, parse(raw), project, {**env, "CLAUDE_PROJECT_DIR": str(project)}, clock=lambda: at))


def replay_kept(root: Path) -> list[str]:
    """The shared store was reached: send what hooks kept while it was not
    (`cairn.store.offline`), through the same handlers; what to tell."""
    from cairn.store.offline import reached

    return reached(root, os.environ, _replay_one)


def main(argv: list[str], stdin: BinaryIO, stdout: TextIO, env: Mapping[str, str]) -> int:
    event = argv[0] if argv else ""
    try:
        raw = stdin.read(MAX_STDIN + 1)
    except (OSError, ValueError):
        raw = b""
    out = run(event, raw, env)
    if out is not None:
        stdout.write(json.dumps(out) + "\n")
    return 0


if __name__ == "__main__":  # `python -m cairn.hooks EVENT`, for installs without hooks/
    sys.exit(main(sys.argv[1:], sys.stdin.buffer, sys.stdout, os.environ))
