"""Claude Code hook adapters: payload in, one library call, JSON out.

Standard library only, on every path: Claude Code installs no package for a plugin.
`run(event, stdin, env)` never raises: a Cairn problem must not block or break a
session. Bad input and internal errors become one line in `<artifacts>/.logs/cairn.log`
and, at most, a short `systemMessage`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from cairn.errors import CairnError
from cairn.status import Status

TYPE_CHECKING = False  # `typing` costs a hook ~2 ms to import; annotations only need it
if TYPE_CHECKING:
    from typing import BinaryIO, TextIO

    from cairn.manager import CheckpointManager
    from cairn.model import Summary, Workflow

MAX_STDIN = 1 << 20  # hook payloads are small; anything bigger is not one
FIELD_TYPES: dict[str, type] = {
    "session_id": str, "cwd": str, "source": str, "agent_id": str, "agent_type": str, "reason": str,
    "stop_hook_active": bool, "tool_name": str, "tool_use_id": str, "tool_input": dict,
    "agent_transcript_path": str,
}
Json = dict[str, object]
Output = Json | None
ARTIFACTS = Path(".claude") / "artifacts"


class BadPayload(CairnError):
    """The hook's stdin is not a payload Cairn understands."""


class Hook:
    """One hook call. (A plain class: `dataclasses` costs a hook ~4 ms of imports.)"""

    __slots__ = ("env", "event", "payload", "project", "root")

    def __init__(self, event: str, payload: Json, project: Path, env: Mapping[str, str]) -> None:
        self.event = event
        self.payload = payload
        self.project = project
        self.root = project / ARTIFACTS
        self.env = env

    def text(self, key: str) -> str:
        value = self.payload.get(key)
        return value if isinstance(value, str) else ""

    def manager(self) -> CheckpointManager:
        from cairn.manager import CheckpointManager

        return CheckpointManager(self.root, project_dir=self.project)


def parse(raw: bytes) -> Json:
    if len(raw) > MAX_STDIN:
        raise BadPayload(f"stdin is {len(raw)} bytes; a hook payload is at most {MAX_STDIN}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: [[[[...
        raise BadPayload(f"stdin is not JSON: {str(exc)[:100]}") from None
    if not isinstance(data, dict):
        raise BadPayload(f"stdin is JSON {type(data).__name__}, not an object")
    wrong = [f"{k} is {type(data[k]).__name__}" for k, t in FIELD_TYPES.items()
             if k in data and not isinstance(data[k], t)]
    if wrong:
        raise BadPayload("stdin has fields of the wrong type: " + ", ".join(wrong))
    return data


def project_dir(payload: Json, env: Mapping[str, str]) -> Path:
    project = env.get("CLAUDE_PROJECT_DIR")
    if not project:
        cwd = payload.get("cwd")
        project = cwd if isinstance(cwd, str) and cwd else os.getcwd()
    return Path(project)


def run(event: str, raw: bytes, env: Mapping[str, str]) -> Output:
    handler = HANDLERS.get(event)
    root = Path(env.get("CLAUDE_PROJECT_DIR") or os.getcwd()) / ARTIFACTS
    try:
        if handler is None:
            raise BadPayload(f"unknown hook event {event!r}")
        payload = parse(raw)
        hook = Hook(event, payload, project_dir(payload, env), env)
        root = hook.root
        return handler(hook)
    except BadPayload as exc:
        _log(root, event, exc)
        return None
    except CairnError as exc:
        _log(root, event, exc)
        fix = f" (fix: {exc.hint[:200]})" if exc.hint else ""
        return {"systemMessage": f"Cairn: {exc.message[:300]}{fix}"}
    except Exception as exc:  # the hook boundary: fail open, a Cairn bug must not break the session
        where = _log(root, event, exc)
        return {"systemMessage": f"Cairn: internal error in the {event} hook (logged to {where})."}


def _log(root: Path, event: str, exc: BaseException) -> str:
    from cairn.errlog import log_error

    try:
        return str(log_error(root, f"hook {event}", exc))
    except (OSError, CairnError):
        return "nowhere: the log could not be written"


def _open_rows(m: CheckpointManager) -> list[Summary]:
    return m.list_workflows()


def _say(text: str) -> Output:
    return {"systemMessage": f"Cairn: {text[:600]}"} if text else None


# ------------------------------------------------------------------ SessionStart


def session_start(hook: Hook) -> Output:
    if not (hook.root / ".open").exists():
        return None
    from cairn import offer
    from cairn.resumer import WorkflowResumer

    m = hook.manager()
    stamp = offer.db_stamp(str(hook.root))  # before reading: a commit meanwhile makes the cache stale
    rows = m.resumable()
    if not rows:
        return None
    sid = hook.text("session_id")
    with m.store.read() as r:
        bound = r.binding(sid) if sid else None
        own = r.session_workflows(sid, [s.status for s in rows]) if sid else []
    # The session's own workflow (it ran `cairn start`/`resume` or dispatched its stages, e.g.
    # before a compaction), else the newest resumable one: offered, not bound.
    mine = bound if bound is not None else (own[0] if own else None)
    chosen = next((s for s in rows if s.workflow_id == mine), rows[0])
    wid = chosen.workflow_id
    # The same event delivered twice (the hook configured twice): inject once. Keyed by the
    # transcript's size, so a later compaction of the same session injects again.
    if not offer.first_delivery(str(hook.root), offer.delivery_key(sid, hook.text("source"),
                                                                   hook.text("transcript_path"))):
        return None
    resumer = WorkflowResumer(m)
    wf = m.load(wid)
    report = resumer.validate(wid, hashes=False, schemas=False, cp=wf)
    plan = resumer.plan(wid, report=report, cp=wf)
    if not plan.can_resume:
        return None
    held = _held_elsewhere(m, wid, sid)
    last = None
    if not held and wf.status.value == "running" and mine != wid:
        with m.store.read() as r:
            last = r.last_session(wid)
        seen = wf.last_seen  # its session's latest heartbeat, database or liveness file
        if last is not None and seen is not None and seen > last[1]:
            last = (last[0], seen)

    def note(since: Callable[[datetime], str]) -> str | None:
        notes = [held] if held else []
        if last is not None:
            notes.append(f"its session {last[0][:12]} was last seen {since(last[1])} and did not end cleanly "
                         "(closed or killed), unless it still runs elsewhere")
        if bound != wid:
            notes.append(f"not yet bound to this session: run /cairn:resume {wid} to continue it")
        return "; ".join(notes) or None
    others = [f"{s.workflow_id}: {s.status.value}, {s.completed}/{s.total} done, next "
              f"{(s.next_agents or ['-'])[0]}" for s in rows if s.workflow_id != wid][:10]

    def answer(context: str) -> Json:
        return {"systemMessage": f"Cairn: workflow {wid} is {plan.progress.completed}/{plan.progress.total} "
                                 f"done, next: {plan.next_agent or '-'} — "
                                 + (held[:200] if held else f"/cairn:resume {wid}"),
                "hookSpecificOutput": {"hookEventName": "SessionStart", "additionalContext": context}}
    if hook.text("source") == "startup" and mine is None and not held and stamp is not None:
        # the same answer serves every new session until something it depends on changes
        def later(dt: datetime) -> str:
            return offer.placeholder(dt.timestamp())
        cached = resumer.render_context(plan, wf, others=others, note=note(later), since=later)
        _keep_offer(hook, m, wf, stamp, json.dumps(answer(cached)))
    from cairn.humanize import ago
    from cairn.model import utcnow

    now = utcnow()
    return answer(resumer.render_context(plan, wf, others=others, note=note(lambda dt: ago(dt, now))))


def _keep_offer(hook: Hook, m: CheckpointManager, wf: Workflow, stamp: str, output: str) -> None:
    """Write `.claude/artifacts/.offer` for cairn.offer.serve (best effort: it is a cache)."""
    from cairn import offer, safefs
    from cairn.checks.gitstate import sources

    files = sources(hook.project)
    if files is None:
        return  # a git layout only git can read: no cache
    config = hook.project / ".claude" / "cairn.yaml"
    files.append((str(config), offer._read_file(str(config)) or ""))
    stats = []
    folder = m.workflow_dir(wf.workflow_id)
    for rel in wf.artifacts:
        try:
            st = os.lstat(folder / rel)
        except OSError:
            return
        stats.append((st.st_size, st.st_mtime_ns, st.st_ino, str(folder / rel)))
    from cairn.live import LIVE_DIR

    for s in wf.sessions if wf.status.value == "running" else ():
        try:  # a heartbeat of the session that runs it changes what is said about it
            st = os.lstat(hook.root / LIVE_DIR / s.session_id)
        except (OSError, ValueError):
            continue
        stats.append((st.st_size, st.st_mtime_ns, st.st_ino, str(hook.root / LIVE_DIR / s.session_id)))
    expires = wf.last_activity.timestamp() + m.settings.expiry_days * 86400
    text = offer.write(output, stamp, stats, files, expires)
    if text is not None:
        try:
            safefs.replace_in(hook.root, offer.OFFER_FILE, text.encode("utf-8"))
        except (OSError, CairnError):
            return


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size if path else 0
    except OSError:
        return 0


def _held_elsewhere(m: CheckpointManager, wid: str, session_id: str) -> str | None:
    from cairn import lease
    from cairn.model import utcnow

    with m.store.read() as r:
        current = r.lease(wid)
    if current is None or current.session_id == session_id or not lease.alive(current, utcnow()):
        return None
    return (f"another live Claude session holds this workflow: {current.describe()}; do not resume it "
            "here unless that session has ended")


# ------------------------------------------------------------------ PreToolUse / PostToolUse (Agent)


def _agent_call(hook: Hook) -> tuple[str, str] | None:
    if hook.text("tool_name") not in ("Agent", "Task"):
        return None
    tool_input = hook.payload.get("tool_input")
    if not isinstance(tool_input, dict):
        return None
    agent_type, prompt = tool_input.get("subagent_type"), tool_input.get("prompt")
    if not isinstance(agent_type, str) or not agent_type or not isinstance(prompt, str):
        return None
    return agent_type, prompt


def _deny(reason: str) -> Output:
    return {"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny",
                                   "permissionDecisionReason": f"Cairn: {reason[:1500]}"}}


def pre_tool_use(hook: Hook) -> Output:
    """Guard the dispatch of a pipeline stage, and keep it as evidence."""
    call = _agent_call(hook)
    if call is None or not (hook.root / ".open").exists():
        return None
    from cairn.evidence import Unattributed, for_dispatch

    agent_type, prompt = call
    m = hook.manager()
    sid = hook.text("session_id")
    rows = _open_rows(m)
    with m.store.read() as r:
        found = for_dispatch(r, rows, sid, agent_type, prompt)
    if isinstance(found, Unattributed):
        return _deny(found.reason) if found.reason else None
    row = next(s for s in rows if s.workflow_id == found.workflow_id)
    stage = row.pipeline.stage(found.stage)
    held = _held_elsewhere(m, row.workflow_id, sid)
    if held:
        return _deny(f"workflow {row.workflow_id}: {held}")
    missing = [d for d in stage.depends_on if d not in row.done]
    if missing:
        return _deny(f"{stage.name} of workflow {row.workflow_id} depends on {', '.join(missing)}, which "
                     f"{'is' if len(missing) == 1 else 'are'} not complete; run "
                     f"{', '.join(row.next_agents) or 'the earlier stages'} first")
    tool_use = hook.text("tool_use_id")
    if tool_use and sid:
        m.workflows.dispatch(tool_use, sid, row.workflow_id, stage.name)
    return None


def post_tool_use(hook: Hook) -> Output:
    """The Agent call returned (or launched in the background): tie its agent id to the
    dispatch, and record what the client reported it cost."""
    if _agent_call(hook) is None or not (hook.root / ".open").exists():
        return None
    response = hook.payload.get("tool_response")
    if not isinstance(response, dict):
        return None
    agent_id, tool_use = response.get("agentId"), hook.text("tool_use_id")
    if not isinstance(agent_id, str) or not agent_id or not tool_use:
        return None
    usage = {k: response[k] for k in ("totalTokens", "totalDurationMs", "totalToolUseCount", "usage")
             if k in response}
    hook.manager().workflows.agent_launched(tool_use, agent_id, json.dumps(usage) if usage else None)
    return None


# ------------------------------------------------------------------ SubagentStart / SubagentStop


def _attribute(hook: Hook, m: CheckpointManager) -> tuple[str, str] | str | list[tuple[str, str]] | None:
    """(workflow, stage); None (not Cairn's); the one-line reason nothing is recorded; or, at
    SubagentStart of parallel dispatches, the candidate (workflow, stage) pairs."""
    from cairn.evidence import Unattributed, for_subagent
    from cairn.status import ACTIVE

    agent_id = hook.text("agent_id")
    with m.store.read() as r:
        mine = r.attempt_of_agent(agent_id) if agent_id else None
        # its own attempt (the usual SubagentStop): only that workflow's row is needed
        rows = [s for s in r.summaries(ids=[mine[0]]) if s.status in ACTIVE] if mine else None
    if rows is None:
        rows = _open_rows(m)
    with m.store.read() as r:
        found = for_subagent(r, rows, hook.text("session_id"), agent_id, hook.text("agent_type"),
                             hook.text("agent_transcript_path") or None)
    if isinstance(found, Unattributed):
        if found.candidates and hook.event == "subagent-start":
            return list(found.candidates)
        return found.reason or None
    if not any(s.workflow_id == found.workflow_id for s in rows):
        return f"workflow {found.workflow_id} is no longer open; {found.stage} was not recorded"
    held = _held_elsewhere(m, found.workflow_id, hook.text("session_id"))
    if held:
        return f"workflow {found.workflow_id}: {held}; {found.stage} was not recorded here"
    return found.workflow_id, found.stage


def subagent_start(hook: Hook) -> Output:
    if not hook.text("agent_type") or not (hook.root / ".open").exists():
        return None
    from cairn.evidence import claimable
    from cairn.resumer import WorkflowResumer

    m = hook.manager()
    target = _attribute(hook, m)
    if isinstance(target, list):  # parallel dispatches: brief each; the stop decides from the transcript
        resumer = WorkflowResumer(m)
        briefs = [resumer.stage_brief(m.load(wid), stage) for wid, stage in target]
        head = ("Several workflows dispatched this stage at once; your prompt's 'cairn-workflow:' line says "
                "which one is yours. Follow only that workflow's brief:")
        return {"hookSpecificOutput": {"hookEventName": "SubagentStart",
                                       "additionalContext": "\n".join([head, *briefs])}}
    if not isinstance(target, tuple):
        return _say(target or "")
    wid, stage = target
    sid = hook.text("session_id")
    with m.store.read() as r:
        dispatch = claimable(r, sid, wid, stage) if sid else None
    wf = m.workflows.start_stage(wid, stage, agent_id=hook.text("agent_id") or None, session_id=sid or None,
                                 dispatch=dispatch)
    return {"hookSpecificOutput": {"hookEventName": "SubagentStart",
                                   "additionalContext": WorkflowResumer(m).stage_brief(wf, stage)}}


def subagent_stop(hook: Hook) -> Output:
    if not hook.text("agent_type") or not (hook.root / ".open").exists():
        return None
    from cairn.checks.artifacts import inspect_stage
    from cairn.checks.gitstate import git_state

    m = hook.manager()
    target = _attribute(hook, m)
    if not isinstance(target, tuple):
        return _say(target if isinstance(target, str) else "")
    wid, stage = target
    wf = m.load(wid)
    agent_id, sid = hook.text("agent_id") or None, hook.text("session_id") or None
    found = inspect_stage(m.workflow_dir(wid), wf.pipeline.stage(stage), wid, m.project_dir)
    problems = [p for c in found for p in c.problems]
    if not problems:
        records = [c.record for c in found if c.record is not None]
        try:
            m.workflows.complete_stage(wid, stage, records, agent_id=agent_id, session_id=sid,
                                       git=git_state(m.project_dir))
        except CairnError as exc:  # e.g. a re-run that did not rewrite its artifact
            problems = [exc.message]
        else:
            pending = [c.path for c in found if c.record is not None and c.record.check == "pending"]
            return _say(f"{stage} recorded on {wid}; schema check of {', '.join(pending)} pending (no "
                        "validator available here yet; the next `cairn` command checks it)") if pending else None
    reason = (f"Cairn: the {stage} stage of workflow {wid} is not done: " + "; ".join(problems[:5])[:1500]
              + ". Fix or write the file(s), then stop again.")
    if hook.payload.get("stop_hook_active") is not True:
        return {"decision": "block", "reason": reason}
    m.workflows.fail_stage(wid, stage, "; ".join(problems), agent_id=agent_id, session_id=sid)
    return _say(f"{stage} failed in workflow {wid}: {problems[0][:200]}")


# ------------------------------------------------------------------ Stop / PreCompact / SessionEnd


def stop(hook: Hook) -> Output:
    """Every turn: a heartbeat of the session's workflow (no checkpoint, no fsync). Claude
    Code's Stop runs hooks/run.sh, which does this from the shell (the liveness file);
    this is the same for `python -m cairn.hooks stop`."""
    sid = hook.text("session_id")
    if not sid or not (hook.root / ".running").exists():
        return None
    if hook.manager().workflows.heartbeat(sid):
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
    why = f"interrupted: the Claude session ended (reason: {hook.text('reason')[:40] or 'other'})"
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
    "subagent-start": subagent_start,
    "subagent-stop": subagent_stop,
    "stop": stop,
    "pre-compact": pre_compact,
    "session-end": session_end,
}


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
