"""SessionStart: the resume context of the session's own workflow, else of the newest
resumable one (offered, not bound), and the cache a new session's start is served from
(cairn.offer). Standard library only."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime

from cairn.errors import CairnError
from cairn.hookio import Hook, Json, Output, held_elsewhere

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cairn.manager import CheckpointManager
    from cairn.model import Workflow


def session_start(hook: Hook) -> Output:
    shared = _shared_address(hook)
    if shared is None and not (hook.root / ".open").exists():
        return None
    from cairn import offer
    from cairn.resumer import WorkflowResumer

    m = hook.manager()
    if shared is not None:
        _export_store(hook, shared)
    stamp = offer.db_stamp(str(hook.root))  # before reading: a commit meanwhile makes the cache stale
    rows = m.resumable()
    if not rows:
        return None
    sid = hook.text("session_id")
    # A forked conversation is a new session: it carries the original's history, not its
    # workflow binding or its lease (whatever id the client gives it).
    me = "" if hook.text("source") == "fork" else sid
    with m.store.read() as r:
        bound = r.binding(me) if me else None
        own = r.session_workflows(me, [s.status for s in rows]) if me else []
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
    wf, loaded = m.load_with_warnings(wid)  # on a shared store: artifacts restored before the context is built
    report = resumer.validate(wid, hashes=False, schemas=False, cp=wf)
    if report.problems and wf.status.value in ("paused", "failed"):  # the check found it outdated: say so
        m.mark_stale(wf, report.problems)
        # the answer (and the cache made of it) is of the database after our own write: stamp, then read
        stamp = offer.db_stamp(str(hook.root))
        rows = m.resumable()
        wf = m.load(wid)
    plan = resumer.plan(wid, report=report, cp=wf)
    if not plan.can_resume:
        return None
    held = held_elsewhere(m, wid, me)
    last = None
    # running with nobody holding it: its session is gone, unless this is that session going on
    # in the same process (a compaction, /clear); `--continue` after a kill is a new process
    if not held and wf.status.value == "running" and (mine != wid or hook.text("source") == "resume"):
        with m.store.read() as r:
            last = r.last_session(wid)
        seen = wf.last_seen  # its session's latest heartbeat, database or liveness file
        if last is not None and seen is not None and seen > last[1]:
            last = (last[0], seen)

    def note(since: Callable[[datetime], str]) -> str | None:
        notes = [held] if held else []
        notes += [w for w in loaded if "shared store" in w]  # restored, missing or too large to travel
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
    if hook.text("source") == "startup" and mine is None and not held and stamp is not None and shared is None:
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
    if any(wf.pipeline.has(st) and wf.pipeline.stage(st).reads_code for st in wf.completed_agents):
        return  # its answer depends on every file of the code (cairn.lineage): no stat list can watch that
    config = hook.project / ".claude" / "cairn.yaml"
    files.append((str(config), offer.read_file(str(config)) or ""))
    stats = []
    folder = m.workflow_dir(wf.workflow_id)
    for rel in wf.artifacts:
        try:
            st = os.lstat(folder / rel)
        except OSError:
            return
        stats.append((st.st_size, st.st_mtime_ns, st.st_ino, str(folder / rel)))
    from cairn.pins import agent_file

    # the agent definitions its pins compare (cairn.pins), and the folders a new override would appear in
    watched = [hook.project / ".claude", hook.project / ".claude" / "agents"]
    watched += [found[0] / found[1] for name in wf.done if wf.pipeline.has(name)
                if (found := agent_file(wf.pipeline.stage(name).agent, hook.project)) is not None]
    for path in watched:
        try:
            st = os.lstat(path)
        except OSError:
            continue
        stats.append((st.st_size, st.st_mtime_ns, st.st_ino, str(path)))
    from cairn.live import LIVE_DIR

    for s in wf.sessions if wf.status.value == "running" else ():
        try:  # a heartbeat of the session that runs it changes what is said about it
            st = os.lstat(hook.root / LIVE_DIR / s.session_id)
        except (OSError, ValueError):
            continue
        stats.append((st.st_size, st.st_mtime_ns, st.st_ino, str(hook.root / LIVE_DIR / s.session_id)))
    expires = wf.last_activity.timestamp() + m.settings.expiry_days * 86400
    with m.store.read() as r:
        sessions = r.open_session_ids()
    text = offer.write(output, stamp, stats, files, expires, sessions)
    if text is not None:
        try:
            safefs.replace_in(hook.root, offer.OFFER_FILE, text.encode("utf-8"))
        except (OSError, CairnError):
            return


def _shared_address(hook: Hook) -> str | None:
    """The shared store's address when one is configured (its workflows may come from other
    machines, so this folder's markers say nothing of them), else None."""
    from cairn.store.address import configured

    if not hook.env.get("CAIRN_STORE") and not hook.env.get("CLAUDE_PLUGIN_OPTION_STORE") \
            and not (hook.project / ".claude" / "cairn.yaml").is_file():
        return None
    found = configured(hook.env, hook.manager().settings.store)
    return None if found is None else found[0]


def _export_store(hook: Hook, found: str) -> None:
    """The plugin's `store` option reaches hooks only: the `cairn` commands the session runs
    (its Bash tool) learn the address from the session's env file. The address only: a
    password is never written (those commands use PGPASSWORD or ~/.pgpass)."""
    from cairn.store.address import public

    env_file = hook.env.get("CLAUDE_ENV_FILE")
    if not env_file or hook.env.get("CAIRN_STORE") or not hook.env.get("CLAUDE_PLUGIN_OPTION_STORE"):
        return
    import shlex

    try:
        with open(env_file, "a", encoding="utf-8") as fh:
            fh.write(f"export CAIRN_STORE={shlex.quote(public(found))}\n")
    except OSError:
        return  # the commands then say which store they use; nothing is lost
