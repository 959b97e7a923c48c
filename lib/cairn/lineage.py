"""Lineage: what each completed stage consumed, and what a change since then affects.

A completion records the sha256 of every artifact of the stages it depends on, as they
were (`consumed`), and the code state it saw (`cairn.codestate`, in the attempt's git
record). An attempt also records the files it changed: its own edits (PostToolUse on
Write/Edit/MultiEdit/NotebookEdit, `cairn.edits`) and what git shows changed between
its start and its stop.

On resume and `cairn validate`:
- `upstream_changed`: an artifact a completed stage read now has another recorded
  content (its writer re-ran, or the change was accepted): that stage and everything
  downstream re-run;
- `code_changed`: the code changed after a completed stage whose pipeline entry says it
  `reads_code`; files changed by the workflow's own later stages do not count (a
  doc-master editing the docs does not undo the review). The stage and everything
  downstream re-run; stages that do not read the code stay done.
Standard library only.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from cairn import codestate
from cairn.model import Attempt, Problem, Workflow

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cairn.store import Tx

UPSTREAM_CHANGED = "upstream_changed"
CODE_CHANGED = "code_changed"
CODES = (UPSTREAM_CHANGED, CODE_CHANGED)
SHOWN_FILES = 5


def consumed(wf: Workflow, stage: str) -> dict[str, str]:
    """path -> sha256 of the artifacts of `stage`'s upstream stages, as recorded now."""
    out: dict[str, str] = {}
    for dep in wf.pipeline.stage(stage).depends_on:
        eff = wf.effective(dep)
        if eff is not None:
            out.update({r.path: r.sha256 for r in eff.artifacts})
    return out


def record(tx: Tx, wf: Workflow, stage: str, attempt_id: int, changed: Sequence[tuple[str, str]]) -> None:
    """Inside a completion's transaction: what the attempt read (the upstream artifacts as
    recorded now) and the files it changed, (path, how), the first `how` of a path kept."""
    tx.set_lineage(attempt_id, json.dumps(consumed(wf, stage), sort_keys=True))
    for how in dict.fromkeys(h for _, h in changed):
        tx.add_changes(attempt_id, [p for p, h in changed if h == how], how)


def files(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOWN_FILES])
    return shown + (f" and {len(names) - SHOWN_FILES} more" if len(names) > SHOWN_FILES else "")


def consumed_of(a: Attempt) -> dict[str, str]:
    try:
        raw = json.loads(a.consumed) if a.consumed else {}
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def upstream_problems(wf: Workflow) -> list[Problem]:
    current = wf.artifacts
    out = []
    for stage in wf.completed_agents:
        a = wf.effective(stage)
        if a is None:
            continue
        for path, sha in sorted(consumed_of(a).items()):
            now = current.get(path)
            if now is not None and now.sha256 != sha:
                out.append(Problem(UPSTREAM_CHANGED, path, f"{path} changed since {stage} read it (sha256 "
                                   f"{sha[:12]}… is now {now.sha256[:12]}…, recorded by {now.agent}): {stage} "
                                   "and what follows re-run", stage))
                break
    return out


def baseline(wf: Workflow, a: Attempt) -> dict[str, object] | None:
    """The code state a completed stage is judged against: what it saw, or a later
    accepted baseline (`cairn resume --accept`)."""
    pinned = codestate.load(wf.pins.get("code"))
    accepted = pinned.get("accepted_seq") if pinned is not None else None
    if pinned is not None and isinstance(accepted, int) and accepted > (a.ended_seq or 0):
        return pinned
    return codestate.load(a.git)


def code_problems(wf: Workflow, now_text: str | None) -> list[Problem]:
    """Stages that read the code and completed before it changed. `now_text` is the
    current code state (`codestate.snapshot`); nothing is reported without one."""
    now = codestate.load(now_text)
    if now is None:
        return []
    effective = [a for s in wf.completed_agents if (a := wf.effective(s)) is not None]
    reading = [a for a in effective if wf.pipeline.has(a.stage) and wf.pipeline.stage(a.stage).reads_code]
    if not reading:
        return []
    states = [(a.ended_seq or 0, st) for a in effective if (st := baseline(wf, a)) is not None]
    if not states:
        return []
    last = max(states, key=lambda x: x[0])[1]
    external = set(codestate.changed_files(last, now))
    out = []
    for a in reading:
        then = baseline(wf, a)
        if then is None or codestate.fingerprint(then) == codestate.fingerprint(now):
            continue
        own = {p for b in effective if (b.ended_seq or 0) > (a.ended_seq or 0) for p, _ in b.changed}
        changed = [p for p in codestate.changed_files(then, now) if p not in own or p in external]
        if changed:
            out.append(Problem(CODE_CHANGED, str(now.get("worktree") or ""),
                               f"the code changed after {a.stage} read it: {files(changed)}; {a.stage} "
                               "and what follows re-run", a.stage))
    return out


def check(wf: Workflow, project_dir: Path | None, code: Callable[[], str | None] | None = None) -> list[Problem]:
    """Every lineage problem of `wf` (one `git status` when a stage reads the code; `code`
    gives the code state instead, when a pass over many workflows shares one)."""
    out = upstream_problems(wf)
    if any(wf.pipeline.has(s) and wf.pipeline.stage(s).reads_code for s in wf.completed_agents):
        out += code_problems(wf, code() if code is not None else codestate.snapshot(project_dir))
    return out


def attempt_changes(start: str | None, end: str | None) -> list[str]:
    """Files git shows changed between an attempt's start and stop (Bash edits included;
    with stages running in parallel, theirs too)."""
    then, now = codestate.load(start), codestate.load(end)
    if then is None or now is None:
        return []
    return [p for p in codestate.changed_files(then, now) if not p.startswith("(")]


def stop_facts(attempts: Sequence[Attempt], stage: str, agent_id: str | None, project_dir: Path | None,
               edits: Sequence[tuple[str, str]] = ()) -> tuple[str | None, list[tuple[str, str]]]:
    """At a completion: the code state now, and (path, how) of the files the stage changed:
    its own edits (`edits`, from the edit hook), then what git shows changed since its
    running attempt started (among `attempts`: the workflow's, or the stage's)."""
    code = codestate.snapshot(project_dir)
    running = [a for a in attempts if a.stage == stage and a.outcome in ("running", "interrupted")
               and (agent_id is None or a.agent_id in (agent_id, None))]
    start = running[-1].code_start if running else None
    return code, [*edits, *((p, "git") for p in attempt_changes(start, code))]


def rerun_reason(wf: Workflow, stage: str) -> str | None:
    """Why `stage` runs again, when its last completion was undone (the reason its
    `invalidated` audit entry gives: the changed files, a re-run asked for), else None."""
    if stage in wf.done or not any(a.stage == stage and a.outcome == "invalidated" for a in wf.attempts):
        return None
    for ev in reversed(wf.audit):
        if ev.action == "invalidated" and (ev.detail.startswith(f"{stage} (") or ev.detail.startswith(f"{stage};")):
            return ev.detail.partition("; reason: ")[2] or None
    return None
