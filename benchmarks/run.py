#!/usr/bin/env python3
"""Cairn's benchmark suite (core v2: the SQLite store): hooks, the CLI, checkpoint
write + read against LangGraph's SqliteSaver, and concurrent completions.

    python benchmarks/run.py                 # full suite (several minutes)
    python benchmarks/run.py --quick         # small N, few repeats (CI: well under 60 s)
    python benchmarks/run.py --profile       # -X importtime and cProfile of each hook case
    python benchmarks/run.py --only stop,start   # some groups only (see --help)

It builds its data in a temporary folder, writing facts straight into a real database
through the store API (`cairn.project.open_store` + `store.write()` transactions), then
the checkpoint.json projections the cases read and the markers (`Workflows.update_marks`).

Every hook case is a whole process started exactly as hooks/hooks.json starts it
(`/bin/sh -c 'sh "${CLAUDE_PLUGIN_ROOT}/hooks/run.sh" EVENT'`, a captured payload on
stdin, CLAUDE_PROJECT_DIR and CLAUDE_PLUGIN_DATA set), timed in alternation with its
baselines (in a rotating order) so that machine noise hits both. Baselines: the
interpreter hooks/run.sh really picks (the plugin venv's python, as hooks/bootstrap.py
makes it) started bare, `<that python> -I -S -c pass`, and `python3 -c pass` (the real
binary behind a pyenv shim). The hook's output is checked every time.

Quick mode asserts nothing about time: it keeps the suite from rotting
(tests/test_benchmarks_quick.py). It needs no network: without a cached plugin venv it
uses a venv of the running interpreter.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import hashlib
import json
import os
import re
import secrets
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LIB = REPO / "lib"
sys.path.insert(0, str(LIB))
HERE = Path(__file__).resolve().parent
PAYLOADS = HERE / "payloads"
COMPLETER = HERE / "completer.py"
EXAMPLES = LIB / "cairn" / "data" / "examples"
SCHEMAS = LIB / "cairn" / "data" / "schemas"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cairn-bench"

# Stable case names: tests/test_benchmarks_quick.py checks that each prints a row.
STOP_IDLE = "Stop, nothing open"
START_IDLE = "SessionStart, nothing open"
STOP_RUNNING = "Stop, a workflow running"
START_CONTEXT = "SessionStart injecting a context"
EDIT_RUNNING = "PostToolUse Write in a subagent, a workflow running"
EDIT_MAIN = "PostToolUse Write in the main conversation, a workflow running"
SUBAGENT_STOP = "SubagentStop, 10 artifacts, full schema check, durable commit"
SUBAGENT_BARE = "SubagentStop on a bare python3"
STATUS = "cairn status --json"
CHECKPOINT_RW = "in-process checkpoint write + read"
CONCURRENT = "concurrent completions on one workflow"
BASH_PLAIN = "Bash hooks, a command with no trigger word"
BASH_RECORD = "PostToolUse on Bash, a stage's git commit recorded"
BASH_DENY = "PreToolUse on Bash, a repeated gh pr create denied"
CASES = [STOP_IDLE, START_IDLE, STOP_RUNNING, EDIT_RUNNING, EDIT_MAIN, START_CONTEXT, SUBAGENT_STOP,
         SUBAGENT_BARE, STATUS, CHECKPOINT_RW, CONCURRENT, BASH_PLAIN, BASH_RECORD, BASH_DENY]
GROUPS = ("idle", "running", "start", "subagent", "status", "rw", "concurrent", "bash", "scale")

SESSION = "b7d76f10-2312-430d-b826-7d0dc6e95391"   # the captured payloads' session
REQUEST = ("Add a token-bucket rate limiter to the public HTTP API: per-key limits from the "
           "settings table, 429 responses with Retry-After, metrics, and docs for operators.")
KB, MB = 1 << 10, 1 << 20


@dataclass(frozen=True)
class Config:
    quick: bool
    n_main: int            # workflows on disk in the main projects
    n_resumable: int       # of which open (one running, the rest paused)
    scale: tuple[int, ...]
    repeats: int           # fast hook cases
    slow_repeats: int      # SubagentStop, status
    artifact_bytes: int
    inproc_repeats: int
    conc_procs: int
    conc_per: int

    @classmethod
    def make(cls, quick: bool) -> Config:
        if quick:
            return cls(True, 300, 10, (10, 100), 3, 3, 32 * KB, 10, 8, 5)
        return cls(False, 10_000, 100, (10, 100, 1_000, 10_000), 21, 11, MB, 200, 8, 200)


@dataclass
class Row:
    case: str
    median: float
    base_label: str        # the baseline the target is about
    base: float
    target: str            # e.g. "≤ 1.5×"
    limit: float | None    # met when median / base <= limit (None: information only)
    others: list[tuple[str, float]] = field(default_factory=list)  # more baselines
    note: str = ""
    skipped: str = ""      # why there is no figure
    met_override: bool | None = None  # for targets that are not a ratio

    @property
    def ratio(self) -> float:
        return self.median / self.base if self.base else float("nan")

    @property
    def met(self) -> bool | None:
        if self.met_override is not None:
            return self.met_override
        return None if self.limit is None or self.skipped else self.ratio <= self.limit


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------- timing


def run(cmd: list[str], env: dict[str, str], stdin: bytes = b"", cwd: Path | None = None,
        ok: tuple[int, ...] = (0,)) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, input=stdin, capture_output=True, env=env, cwd=cwd, check=False)
    elapsed = time.perf_counter() - t0
    if p.returncode not in ok:
        raise BenchError(f"{cmd} exited {p.returncode}: {p.stderr.decode(errors='replace')[-1500:]}")
    return elapsed, p


Thunk = Callable[[], float]


def alternate(case: Thunk, bases: dict[str, Thunk], repeats: int, warmup: int = 1
              ) -> tuple[float, dict[str, float]]:
    """Medians of `case` and of each baseline, run in alternation: every round runs all
    of them, in an order that rotates from round to round."""
    thunks: list[tuple[str | None, Thunk]] = [(None, case), *bases.items()]
    times: dict[str | None, list[float]] = {k: [] for k, _ in thunks}
    for i in range(warmup + repeats):
        shift = i % len(thunks)
        for key, fn in thunks[shift:] + thunks[:shift]:
            t = fn()
            if i >= warmup:
                times[key].append(t)
    return statistics.median(times[None]), {k: statistics.median(v) for k, v in times.items()
                                            if k is not None}


def fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 0.001:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


# ---------------------------------------------------------------------- environment


@dataclass
class Env:
    tmp: Path
    python3: str            # the real binary `python3` runs (a pyenv shim resolved)
    venv_py: str            # the plugin venv's python: what run.sh picks
    venv_label: str
    bare_bin: Path          # bin/ of a `python3 -m venv --without-pip` venv
    env: dict[str, str]     # hooks and CLI: plugin data with the venv
    bare_env: dict[str, str]  # hooks on the bare venv's python3 (no plugin venv)
    hook_cmd: dict[str, str]
    deps_stamp: str
    cli_stamp: str | None
    bases: dict[str, Thunk] = field(default_factory=dict)

    @property
    def hook_base(self) -> str:
        return "hook python -I -S -c pass"


def resolve_python3() -> str:
    """The binary `python3` on PATH really runs (pyenv and friends put a shell shim
    first; timing the shim would inflate the baseline)."""
    exe = shutil.which("python3")
    if exe is None:
        raise BenchError("no python3 on PATH")
    out = subprocess.run([exe, "-c", "import sys; print(sys.executable)"], capture_output=True,
                         text=True, check=True).stdout.strip()
    return out or exe


def stamp_of(path: Path, var: str) -> str | None:
    found = re.search(rf"{var}=(\S+)", path.read_text())
    return found.group(1) if found else None


def cli_stamp() -> str | None:
    text = (REPO / "bin" / "cairn").read_text()
    found = re.search(r"DEPS_STAMP=(\S+)", text) or re.search(r'"\$data/(deps-[^".]+)\.ok"', text)
    return found.group(1) if found else None


def plugin_venv(real: str, stamp: str, quick: bool, explicit: str | None, tmp: Path) -> tuple[Path, str]:
    """The plugin venv hooks/bootstrap.py makes (`python3 -m venv` + pip install -r
    hooks/requirements.txt), cached between runs. Quick mode without a cached one: a
    venv of the running interpreter that sees its packages (no network needed)."""
    if explicit:
        return Path(explicit), f"{explicit} (given)"
    ver = subprocess.run([real, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    data = CACHE / f"plugin-data-{stamp}-py{ver}"
    venv = data / "venv"
    if (data / f"{stamp}.ok").exists() and (venv / "bin" / "python").exists():
        return venv, f"plugin venv made by hooks/bootstrap.py (cached in {data})"
    if not quick:
        print(f"(setting up the plugin venv with hooks/bootstrap.py in {data}: once)", flush=True)
        data.mkdir(parents=True, exist_ok=True)
        rc = subprocess.run([real, "-I", str(REPO / "hooks" / "bootstrap.py"), str(data), stamp],
                            check=False).returncode
        if rc == 0 and (venv / "bin" / "python").exists():
            return venv, f"plugin venv made by hooks/bootstrap.py (cached in {data})"
        print(f"(bootstrap failed, see {data}/bootstrap.log; using a venv of {sys.executable})")
    venv = tmp / "suite-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
                   check=True)
    return venv, f"venv of {sys.executable} with its packages (no cached plugin venv)"


def make_env(tmp: Path, c: Config, explicit_venv: str | None) -> Env:
    real = resolve_python3()
    stamp = stamp_of(REPO / "hooks" / "run.sh", "DEPS_STAMP") or "deps-1"
    venv, label = plugin_venv(real, stamp, c.quick, explicit_venv, tmp)
    bindir = tmp / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(real)
    home = tmp / "home"
    home.mkdir()
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "CLAUDE", "VIRTUAL_ENV", "PYENV"))}
    base.update(HOME=str(home), CLAUDE_PLUGIN_ROOT=str(REPO), CLAUDE_CONFIG_DIR=str(home / ".claude"),
                LC_ALL="C.UTF-8")
    # The plugin's data folder as hooks/bootstrap.py leaves it: the venv and its stamp
    # (and bin/cairn's stamp, should it differ: see the report).
    data = tmp / "plugin-data"
    data.mkdir()
    (data / "venv").symlink_to(venv, target_is_directory=True)
    cstamp = cli_stamp()
    for s in {stamp, cstamp or stamp}:
        (data / f"{s}.ok").write_text("ok\n")
    env = {**base, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
           "CLAUDE_PLUGIN_DATA": str(data)}
    # A bare python3 with no packages first on PATH, and no plugin venv (its stamp is
    # there, so run.sh does not start a bootstrap: it just uses python3).
    bare = tmp / "bare-venv"
    subprocess.run([real, "-m", "venv", "--without-pip", str(bare)], check=True)
    bare_data = tmp / "plugin-data-bare"
    bare_data.mkdir()
    (bare_data / f"{stamp}.ok").write_text("ok\n")
    bare_env = {**base, "PATH": f"{bare / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
                "CLAUDE_PLUGIN_DATA": str(bare_data)}
    hooks = json.loads((REPO / "hooks" / "hooks.json").read_text())["hooks"]
    cmds = {event: groups[0]["hooks"][0]["command"] for event, groups in hooks.items()}
    cmds.update({f"{event}:{g['matcher']}": g["hooks"][0]["command"] for event, groups in hooks.items()
                 for g in groups if g.get("matcher")})
    e = Env(tmp, real, str(data / "venv" / "bin" / "python"), label, bare / "bin", env, bare_env, cmds,
            stamp, cstamp)
    e.bases = {e.hook_base: baseline(e.venv_py, "-I", "-S", "-c", "pass", env=env),
               "python3 -c pass": baseline(real, "-c", "pass", env=env)}
    return e


def baseline(*cmd: str, env: dict[str, str]) -> Thunk:
    def go() -> float:
        return run(list(cmd), env)[0]
    return go


def payload(name: str, project: Path, **changes: Any) -> bytes:
    data = json.loads((PAYLOADS / f"{name}.json").read_text())["stdin"]
    data["cwd"] = str(project)
    data.update(changes)
    return json.dumps(data).encode()


def hook(e: Env, event: str, project: Path, body: Callable[[], bytes],
         check: Callable[[bytes], None] | None = None, *, env: dict[str, str] | None = None,
         before: Callable[[], None] | None = None) -> Thunk:
    """A thunk running one hook process exactly as Claude Code does (`before` runs
    untimed first)."""
    cmd = ["/bin/sh", "-c", e.hook_cmd[event]]
    full = {**(env or e.env), "CLAUDE_PROJECT_DIR": str(project)}

    def go() -> float:
        if before is not None:
            before()
        stdin = body()
        elapsed, p = run(cmd, full, stdin, cwd=project)
        if check is not None:
            check(p.stdout)
        return elapsed
    return go


# ---------------------------------------------------------------------- data


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Project:
    path: Path
    running: str | None = None      # the workflow bound to SESSION, running
    paused: list[str] = field(default_factory=list)

    @property
    def root(self) -> Path:
        return self.path / ".claude" / "artifacts"


def git_project(path: Path) -> str | None:
    """Make `path` a git repository with one commit, as a real project is (hooks read
    its state with `git rev-parse`); the state as Cairn records it."""
    path.mkdir(parents=True, exist_ok=True)
    git = ["git", "-C", str(path), "-c", "user.name=bench", "-c", "user.email=bench@example.com",
           "-c", "init.defaultBranch=main"]
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        subprocess.run([*git, "init", "-q"], check=True, capture_output=True)
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "init"], check=True, capture_output=True)
    from cairn.checks.gitstate import git_state

    return git_state(path)


def _stage_artifact(wid: str, stage: str, spec_path: str) -> bytes:
    """A small artifact for a stage of the default pipeline: the shipped example."""
    name = spec_path.rsplit(".", 1)[0]
    example = EXAMPLES / f"{name}.json"
    doc = json.loads(example.read_text()) if example.exists() else {"agent": stage}
    doc["workflow_id"] = wid
    return json.dumps(doc, indent=2).encode()


def populate(project: Path, total: int, open_: int, *, running: bool = True,
             finished_projections: bool = False) -> Project:
    """`total` workflows of the default pipeline in a real database: the newest `open_`
    open (the newest of them running, bound to SESSION, with a stage attempt under way;
    the others paused by a closed session), every 10th of the rest cancelled half-way,
    the rest completed (8 stages, 17 marks, an artifact record per stage). Facts go in
    through the store API in a few big transactions; then the projections (open
    workflows, plus finished ones if asked, with their artifact files) and the markers."""
    from cairn.model import ArtifactRecord, parse_iso
    from cairn.pipeline import default_pipeline
    from cairn.project import open_store
    from cairn.status import Status
    from cairn.store import projection
    from cairn.workflow import Workflows

    pr = Project(project)
    root = pr.root
    git = git_project(project)
    store, _ = open_store(root)
    pipeline = default_pipeline()
    stages = pipeline.stages
    t0 = time.time() - total * 600 - 3600
    bodies: dict[tuple[str, str], bytes] = {}
    for i0 in range(0, total, 2000):
        with store.write() as tx:
            for i in range(i0, min(total, i0 + 2000)):
                wid = f"wf-bench-{i:05d}"
                t = t0 + i * 600
                sid = SESSION if (running and i == total - 1) else str(uuid.UUID(int=i + 1))
                is_open = i >= total - open_
                is_running = running and i == total - 1
                tx.create_workflow(wid, secrets.token_hex(16), f"{REQUEST} (#{i})", parse_iso(_iso(t)),
                                   pipeline, {}, git)
                tx.add_mark(wid, "created", parse_iso(_iso(t)), sid, 1)
                tx.add_audit(wid, 1, parse_iso(_iso(t)), "created", f"pipeline default ({len(stages)} stages)")
                tx.touch_session(wid, sid, parse_iso(_iso(t)), "create")
                if is_running:
                    tx.bind(sid, wid, parse_iso(_iso(t)), "cairn start")
                if is_open:
                    n_done = 3
                elif i % 10 == 0:
                    n_done = 4
                else:
                    n_done = len(stages)
                seq = 1
                for k, st in enumerate(stages[:n_done]):
                    ts = parse_iso(_iso(t + 60 * (k + 1)))
                    seq += 1
                    aid = tx.start_attempt(wid, st.name, ts, seq, agent_id=f"a{i:05d}{k:02d}{secrets.token_hex(4)}",
                                           session_id=sid)
                    if seq == 2:
                        tx.add_audit(wid, seq, ts, "status:pending->running", f"agent {st.name} started")
                    tx.add_mark(wid, "agent_start", ts, sid, seq)
                    te = parse_iso(_iso(t + 60 * (k + 1) + 45))
                    seq += 1
                    tx.end_attempt(aid, "completed", te, seq, None)
                    recs = []
                    for spec in st.artifacts:
                        if is_open:
                            body = _stage_artifact(wid, st.name, spec.path)
                            bodies[(wid, spec.path)] = body
                            size, sha, mtime, inode = len(body), hashlib.sha256(body).hexdigest(), 0.0, None
                        else:
                            size, sha, mtime, inode = 600, hashlib.sha256(wid.encode() + spec.path.encode()
                                                                          ).hexdigest(), t + 60 * k, 1000 + i
                        recs.append(ArtifactRecord(spec.path, st.name, sha, size, mtime, inode, spec.schema,
                                                   "ok", te))
                    tx.add_artifacts(aid, recs)
                    if git:
                        tx.set_attempt_git(aid, git)
                    tx.add_mark(wid, "agent_completion", te, sid, seq)
                tend = parse_iso(_iso(t + 60 * (n_done + 1)))
                if is_running:
                    seq += 1
                    tx.start_attempt(wid, stages[n_done].name, tend, seq, agent_id=f"a{i:05d}run", session_id=sid)
                    tx.add_mark(wid, "agent_start", tend, sid, seq)
                    tx.set_status(wid, Status.RUNNING, None)
                    pr.running = wid
                elif is_open:
                    seq += 1
                    reason = "interrupted: the Claude session ended (reason: other)"
                    tx.add_audit(wid, seq, tend, "status:running->paused", reason)
                    tx.set_status(wid, Status.PAUSED, reason)
                    tx.add_mark(wid, "pause", tend, sid, seq)
                    pr.paused.append(wid)
                else:
                    seq += 1
                    target = Status.CANCELLED if n_done < len(stages) else Status.COMPLETED
                    why = "cancelled by user" if target == Status.CANCELLED else "every stage completed"
                    tx.add_audit(wid, seq, tend, f"status:running->{target.value}", why)
                    tx.set_status(wid, target, why if target == Status.CANCELLED else None)
                    tx.add_mark(wid, "cancel" if target == Status.CANCELLED else "agent_completion", tend, sid, seq)
                tx.touch_session(wid, sid, tend)
    # Open workflows: their artifact files on disk, recorded with their real stat facts.
    if bodies:
        with store.write() as tx:
            for (wid, rel), body in bodies.items():
                folder = root / wid
                folder.mkdir(mode=0o700, exist_ok=True)
                p = folder / rel
                p.write_bytes(body)
                st = os.stat(p)
                tx.db.execute("UPDATE artifacts SET mtime = ?, inode = ? WHERE path = ? AND attempt_id IN "  # type: ignore[attr-defined]
                              "(SELECT id FROM attempts WHERE workflow_id = ?)", (st.st_mtime, st.st_ino, rel, wid))
    wanted = [f"wf-bench-{i:05d}" for i in range(total)] if finished_projections else \
        [f"wf-bench-{i:05d}" for i in range(max(0, total - open_), total)]
    with store.read() as r:
        for wid in wanted:
            wf = r.workflow(wid)
            assert wf is not None
            projection.write(root, wf)
    Workflows(store, root).update_marks()
    if pr.running is not None:  # the running session's liveness file, as Workflows.live makes it
        from cairn.live import mark_live

        mark_live(root, SESSION)
    store.close()
    return pr


# ---------------------------------------------------------------------- checks


def must_be_empty(out: bytes) -> None:
    if out.strip():
        raise BenchError(f"expected no output, got {out[:400]!r}")


def must_inject(out: bytes) -> None:
    try:
        ctx = json.loads(out)["hookSpecificOutput"]["additionalContext"]
    except (ValueError, KeyError, TypeError):
        raise BenchError(f"SessionStart injected no context: {out[:400]!r}") from None
    if "<cairn-resume-context" not in ctx:
        raise BenchError(f"SessionStart context lacks the resume block: {ctx[:300]!r}")


def db_rows(project: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{project / '.claude' / 'artifacts' / 'cairn.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def sentinel_env(e: Env, tmp: Path, env: dict[str, str]) -> tuple[dict[str, str], Path]:
    """`env` where every interpreter run.sh could pick (python3 on PATH, the plugin venv's
    python) first leaves a sentinel file: to prove a case starts no Python."""
    trap = tmp / "trap"
    sentinel = trap / "python-started"
    if not trap.exists():
        (trap / "bin").mkdir(parents=True)
        (trap / "data" / "venv" / "bin").mkdir(parents=True)
        for script in (trap / "bin" / "python3", trap / "data" / "venv" / "bin" / "python"):
            script.write_text(f'#!/bin/sh\ntouch "{sentinel}"\nexec "{e.python3}" "$@"\n')
            script.chmod(0o755)
        (trap / "data" / f"{e.deps_stamp}.ok").write_text("ok\n")
    return {**env, "PATH": f"{trap / 'bin'}{os.pathsep}{env['PATH']}",
            "CLAUDE_PLUGIN_DATA": str(trap / "data")}, sentinel


def starts_python(e: Env, event: str, project: Path, body: bytes) -> bool:
    env, sentinel = sentinel_env(e, e.tmp, e.env)
    sentinel.unlink(missing_ok=True)
    run(["/bin/sh", "-c", e.hook_cmd[event]], {**env, "CLAUDE_PROJECT_DIR": str(project)}, body, cwd=project)
    return sentinel.exists()


# ---------------------------------------------------------------------- hook cases


def bash_body(pr: Project, event: str, command: str, output: str = "", tool_use: str = "toolu_bench") -> bytes:
    """The client's Bash payload (PostToolUse: `tool_response.stdout` holds stdout and
    stderr together) from the main agent of the session bound to the running workflow."""
    name = "PostToolUse-Bash" if event == "PostToolUse" else "PreToolUse-Bash"
    data = json.loads((PAYLOADS / f"{name}.json").read_text())["stdin"]
    data.update(cwd=str(pr.path), session_id=SESSION, tool_use_id=tool_use,
                tool_input={"command": command, "description": "bench"})
    if event == "PostToolUse":
        data["tool_response"] = {**data["tool_response"], "stdout": output}
    return json.dumps(data).encode()


def bash_cases(e: Env, c: Config, rows: list[Row], cache: dict[str, Project]) -> None:
    """The Bash hooks fire on every Bash call while a workflow runs."""
    pr = busy_project(e, c, cache)
    assert pr.running is not None
    bases = [("python3 -c pass", "python3 -c pass")]
    # 1. the common case: no trigger word in the command; 64 KB of output that has some
    plain = bash_body(pr, "PostToolUse", "pytest -q tests/", "git push; gh pr create; npm publish\n" * 1800)
    plain_pre = bash_body(pr, "PreToolUse", "pytest -q tests/")
    started = starts_python(e, "PostToolUse:Bash", pr.path, plain) or \
        starts_python(e, "PreToolUse:Bash", pr.path, plain_pre)
    med, times = alternate(hook(e, "PostToolUse:Bash", pr.path, lambda: plain, must_be_empty), e.bases, c.repeats)
    rows.append(Row(f"{BASH_PLAIN} (PostToolUse, 64 KB of output; PreToolUse alike)", med, e.hook_base,
                    times[e.hook_base], "no Python started, ≤ 0.6×", 0.6,
                    [(b, times[b]) for _, b in bases],
                    note="a Python process was started!" if started else "no Python started (checked)",
                    met_override=None if not started else False))
    # 2. a stage's commit, recorded: one durable checkpoint and the projection
    count = [0]

    def commit() -> bytes:
        count[0] += 1
        sha = hashlib.sha1(str(count[0]).encode()).hexdigest()[:7]
        return bash_body(pr, "PostToolUse", "git add -A && git commit -m 'bench'", f"[feat/bench {sha}] bench\n"
                         " 1 file changed, 1 insertion(+)\n", tool_use=f"toolu_bench{count[0]:06d}")
    med, times = alternate(hook(e, "PostToolUse:Bash", pr.path, commit, must_be_empty), e.bases, c.repeats)
    recorded = db_rows(pr.path, "SELECT count(*) FROM effects WHERE workflow_id = ? AND kind = 'commit'",
                       (pr.running,))[0][0]
    if recorded < count[0]:
        raise BenchError(f"{count[0]} commits made, {recorded} recorded")
    rows.append(Row(f"{BASH_RECORD} ({c.n_main:,} on disk)", med, e.hook_base, times[e.hook_base], "≤ 8×", 8,
                    [(b, times[b]) for _, b in bases], note=f"{recorded} commits in the ledger (checked)"))
    # 3. a second pull request for a branch: denied with the first one's URL
    opened = bash_body(pr, "PostToolUse", "gh pr create -H feat/bench --fill",
                       "https://github.com/acme/app/pull/7\n", tool_use="toolu_bench_pr")
    run(["/bin/sh", "-c", e.hook_cmd["PostToolUse:Bash"]], {**e.env, "CLAUDE_PROJECT_DIR": str(pr.path)}, opened,
        cwd=pr.path)

    def must_deny(out: bytes) -> None:
        try:
            why = json.loads(out)["hookSpecificOutput"]["permissionDecisionReason"]
        except (ValueError, KeyError, TypeError):
            raise BenchError(f"PreToolUse did not deny the repeat: {out[:300]!r}") from None
        if "pull/7" not in why:
            raise BenchError(f"the deny does not name the existing PR: {why[:300]}")
    again = bash_body(pr, "PreToolUse", "gh pr create -H feat/bench --fill")
    med, times = alternate(hook(e, "PreToolUse:Bash", pr.path, lambda: again, must_deny), e.bases, c.repeats)
    rows.append(Row(f"{BASH_DENY} ({c.n_main:,} on disk)", med, e.hook_base, times[e.hook_base], "≤ 8×", 8,
                    [(b, times[b]) for _, b in bases], note="denied with the PR's URL (checked)"))



def idle_cases(e: Env, c: Config, rows: list[Row]) -> None:
    n = c.n_main
    idle = populate(e.tmp / "idle", n, 0, running=False)
    for name in (".open", ".running"):
        if (idle.root / name).exists():
            raise BenchError(f"the idle project has {name}")
    for label, event, body in ((STOP_IDLE, "Stop", lambda: payload("Stop", idle.path)),
                               (START_IDLE, "SessionStart",
                                lambda: payload("SessionStart-startup", idle.path, session_id=str(uuid.uuid4())))):
        started = starts_python(e, event, idle.path, body())
        med, bases = alternate(hook(e, event, idle.path, body, must_be_empty), e.bases, c.repeats)
        rows.append(Row(f"{label} ({n:,} finished on disk)", med, e.hook_base, bases[e.hook_base],
                        "no Python started, ≤ 0.2×", 0.2,
                        [("python3 -c pass", bases["python3 -c pass"])],
                        note="a Python process was started!" if started else "no Python started (checked)",
                        met_override=None if not started else False))


def busy_project(e: Env, c: Config, cache: dict[str, Project]) -> Project:
    if "busy" not in cache:
        cache["busy"] = populate(e.tmp / "busy", c.n_main, c.n_resumable)
    return cache["busy"]


def stop_running_thunk(e: Env, pr: Project) -> Thunk:
    if not (pr.root / ".running").exists():
        raise BenchError(f"{pr.path}: no .running marker")
    return hook(e, "Stop", pr.path, lambda: payload("Stop", pr.path), must_be_empty)


def heartbeat_of(pr: Project) -> str:
    """The session's last heartbeat: its liveness file's mtime (the Stop hook touches it
    from the shell; cairn/live.py)."""
    try:
        return str(os.stat(pr.root / ".live" / SESSION).st_mtime_ns)
    except OSError:
        return ""


def session_start_thunk(e: Env, pr: Project) -> Thunk:
    return hook(e, "SessionStart", pr.path,
                lambda: payload("SessionStart-startup", pr.path, session_id=str(uuid.uuid4())), must_inject)


def running_cases(e: Env, c: Config, rows: list[Row], cache: dict[str, Project]) -> None:
    pr = busy_project(e, c, cache)
    live = pr.root / ".live" / SESSION
    os.utime(live, (1_000_000_000, 1_000_000_000))
    before = heartbeat_of(pr)
    with python_trap_control(e, pr):
        pass
    started = starts_python(e, "Stop", pr.path, payload("Stop", pr.path))
    med, bases = alternate(stop_running_thunk(e, pr), e.bases, c.repeats)
    after = heartbeat_of(pr)
    if not after or after == before:
        raise BenchError(f"the Stop hook recorded no heartbeat ({before} -> {after})")
    rows.append(Row(f"{STOP_RUNNING} ({c.n_main:,} on disk, the session bound to it)", med, e.hook_base,
                    bases[e.hook_base], "≤ 1.5×", 1.5, [("python3 -c pass", bases["python3 -c pass"])],
                    note="heartbeat recorded" + ("; a Python process was started" if started
                                                 else ", no Python started (checked)")))
    edit_cases(e, c, rows, pr)


EDIT_HOOK = "PostToolUse:Write|Edit|MultiEdit|NotebookEdit"  # hooks.json's entry for the edit tools


def edit_cases(e: Env, c: Config, rows: list[Row], pr: Project) -> None:
    """A subagent's file edit is appended to its edit log (recorded on its attempt at its
    stop); an edit of the main conversation starts no Python (run.sh finds no agent_id)."""
    agent = f"a{c.n_main - 1:05d}run"  # the running attempt populate() leaves
    n = [0]

    def body(agent_id: str | None) -> Callable[[], bytes]:
        def make() -> bytes:
            n[0] += 1
            tool_input = {"file_path": str(pr.path / "src" / f"edit{n[0]}.py"), "content": "x = 1\n"}
            data = json.loads(payload("PostToolUse-Write", pr.path, tool_input=tool_input, session_id=SESSION))
            if agent_id is None:
                data.pop("agent_id", None)
                data.pop("agent_type", None)
            else:
                data["agent_id"] = agent_id
            return json.dumps(data).encode()
        return make
    with_json = "hook python -I -S -c 'import json'"
    edit_bases = {**e.bases, with_json: baseline(e.venv_py, "-I", "-S", "-c", "import json", env=e.env)}
    med, bases = alternate(hook(e, EDIT_HOOK, pr.path, body(agent), must_be_empty), edit_bases, c.repeats)
    log = pr.root / ".edits" / agent
    recorded = len(log.read_text().splitlines()) if log.exists() else 0
    if not recorded:
        raise BenchError("the edit hook recorded no changed file")
    # The hook is the interpreter, `import json` (the payload is JSON) and one appended line: the
    # target is against the interpreter alone; the json baseline shows what is left of Cairn's own.
    rows.append(Row(f"{EDIT_RUNNING} ({c.n_main:,} on disk)", med, e.hook_base, bases[e.hook_base], "≤ 2×", 2,
                    [("python3 -c pass", bases["python3 -c pass"]), (with_json, bases[with_json])],
                    note=f"{recorded} files recorded"))
    started = starts_python(e, EDIT_HOOK, pr.path, body(None)())
    med, bases = alternate(hook(e, EDIT_HOOK, pr.path, body(None), must_be_empty), e.bases, c.repeats)
    rows.append(Row(EDIT_MAIN, med, e.hook_base, bases[e.hook_base], "≤ 1.5×", 1.5,
                    [("python3 -c pass", bases["python3 -c pass"])],
                    note="a Python process was started" if started else "no Python started (checked)"))


@contextlib.contextmanager
def python_trap_control(e: Env, pr: Project) -> Iterator[None]:
    """The sentinel trap must see the Python start of a hook that has work (else the
    'no Python started' checks would prove nothing)."""
    # a SubagentStart of an agent that is not Cairn's starts Python (a workflow is open) and changes nothing
    other = payload("SubagentStart", pr.path, agent_type="other:agent", agent_id="trap")
    if not starts_python(e, "SubagentStart", pr.path, other):
        raise BenchError("the Python-start trap saw nothing for an open workflow: it is broken")
    yield


def start_cases(e: Env, c: Config, rows: list[Row], cache: dict[str, Project]) -> None:
    pr = busy_project(e, c, cache)
    med, bases = alternate(session_start_thunk(e, pr), e.bases, c.repeats)
    rows.append(Row(f"{START_CONTEXT} ({c.n_main:,} on disk, {c.n_resumable} resumable)", med, e.hook_base,
                    bases[e.hook_base], "≤ 2×", 2, [("python3 -c pass", bases["python3 -c pass"])],
                    note="context injected"))


# ---------------------------------------------------------------------- SubagentStop


PARSE_HASH = """\
import hashlib, json, os, sys
folder = sys.argv[1]
for name in sorted(os.listdir(folder)):
    if name.startswith("implementation-") and name.endswith(".json"):
        with open(os.path.join(folder, name), "rb") as fh:
            data = fh.read()
        hashlib.sha256(data).hexdigest()
        json.loads(data)
"""

N_ARTIFACTS = 10
N_PROJECT_SCHEMA = 5   # of the 10, checked against the project's own schema


def _padded_artifact(wid: str, nbytes: int, k: int) -> bytes:
    """The shipped implementation example for `wid`, padded to `nbytes` inside `notes`,
    a string field both schemas allow (the shipped one through additionalProperties,
    the project's declares it): text with the escapes a real note has."""
    doc = json.loads((EXAMPLES / "implementation.json").read_text())
    doc["workflow_id"] = wid
    doc["summary"] = f"{doc['summary']} (part {k})"
    doc["notes"] = ""
    empty = len(json.dumps(doc, indent=2).encode())
    line = ('def limit(key: str) -> "Bucket":  # per-key bucket\n'
            '    return buckets.setdefault(key, Bucket(rate=settings["rate"]))\n\t')
    unit = len(json.dumps(line)) - 2
    reps = max(0, (nbytes - empty) // unit)
    doc["notes"] = line * reps
    out = json.dumps(doc, indent=2).encode()
    return out + b" " * max(0, nbytes - len(out))


def project_schema() -> dict[str, Any]:
    schema = json.loads((SCHEMAS / "implementation.schema.json").read_text())
    schema["$id"] = "https://example.com/schemas/implementation-bulk.schema.json"
    schema["title"] = "A project's own implementation record (with notes)"
    schema["properties"]["notes"] = {"type": "string", "description": "Free-form notes."}
    return schema


def subagent_project(e: Env, c: Config, name: str) -> tuple[Path, str]:
    from cairn.pipeline import Pipeline
    from cairn.project import open_store
    from cairn.workflow import Workflows

    project = e.tmp / name
    git = git_project(project)
    schemas = project / ".claude" / "schemas"
    schemas.mkdir(parents=True)
    (schemas / "implementation-bulk.schema.json").write_text(json.dumps(project_schema(), indent=2))
    arts = [{"path": f"implementation-{k:02d}.json",
             "schema": "implementation-bulk.schema.json" if k >= N_ARTIFACTS - N_PROJECT_SCHEMA
             else "implementation.schema.json"} for k in range(N_ARTIFACTS)]
    pipeline = Pipeline.from_dict({"name": "bench-subagent", "stages": [
        {"name": "implementer", "agent": "cairn:implementer", "artifacts": arts, "depends_on": []},
        {"name": "reviewer", "agent": "cairn:reviewer",
         "artifacts": [{"path": "review.json", "schema": "review.schema.json"}], "depends_on": ["implementer"]},
    ]})
    root = project / ".claude" / "artifacts"
    store, _ = open_store(root)
    wid = "wf-subagent"
    Workflows(store, root).create(REQUEST, pipeline, workflow_id=wid, session_id=SESSION, git=git)
    store.close()
    for k in range(N_ARTIFACTS):
        (root / wid / arts[k]["path"]).write_bytes(_padded_artifact(wid, c.artifact_bytes, k))
    (e.tmp / "parse_hash.py").write_text(PARSE_HASH)
    return project, wid


def subagent_case(e: Env, c: Config, rows: list[Row], *, bare: bool) -> None:
    project, wid = subagent_project(e, c, "subagent-bare" if bare else "subagent")
    env = e.bare_env if bare else e.env
    py = str(e.bare_bin / "python3") if bare else e.venv_py
    folder = project / ".claude" / "artifacts" / wid
    agent = [""]
    checks: list[str] = []
    messages: list[str] = []

    def start() -> None:
        agent[0] = "a" + secrets.token_hex(8) + "0"
        body = payload("SubagentStart", project, agent_id=agent[0], agent_type="cairn:implementer")
        _, p = run(["/bin/sh", "-c", e.hook_cmd["SubagentStart"]], {**env, "CLAUDE_PROJECT_DIR": str(project)},
                   body, cwd=project)
        if b"<cairn-stage" not in p.stdout:
            raise BenchError(f"SubagentStart did not brief the stage: {p.stdout[:400]!r}")

    def check(out: bytes) -> None:
        if out.strip():
            msg = json.loads(out)
            if "decision" in msg or "pending" not in msg.get("systemMessage", ""):
                raise BenchError(f"SubagentStop did not record the stage: {out[:600]!r}")
            messages.append(msg["systemMessage"])
        found = db_rows(project, "SELECT outcome, id FROM attempts WHERE agent_id = ?", (agent[0],))
        if not found or found[0][0] != "completed":
            raise BenchError(f"SubagentStop recorded no completion for {agent[0]}: {found}")
        arts = db_rows(project, 'SELECT "check" FROM artifacts WHERE attempt_id = ?', (found[0][1],))
        if len(arts) != N_ARTIFACTS:
            raise BenchError(f"SubagentStop recorded {len(arts)} artifacts, not {N_ARTIFACTS}")
        checks[:] = sorted(a[0] for a in arts)

    thunk = hook(e, "SubagentStop", project,
                 lambda: payload("SubagentStop", project, agent_id=agent[0], agent_type="cairn:implementer"),
                 check, env=env, before=start)
    label = "read + parse + hash (same python)"
    bases = {label: baseline(py, "-I", "-S", str(e.tmp / "parse_hash.py"), str(folder), env=env),
             "python3 -c pass": e.bases["python3 -c pass"]}
    med, got = alternate(thunk, bases, c.slow_repeats)
    size = c.artifact_bytes / MB
    states = ", ".join(f"{checks.count(s)} {s}" for s in sorted(set(checks)))
    name = (f"{SUBAGENT_BARE} (venv --without-pip; 10 × {size:g} MB)" if bare
            else f"{SUBAGENT_STOP} (10 × {size:g} MB, plugin venv)")
    full = all(s == "ok" for s in checks)
    note = f"recorded; schema checks: {states}"
    if not bare and not full:
        note += " — the full check did not happen"
    rows.append(Row(name, med, label, got[label], "≤ 1.5× (recorded)" if bare else "≤ 2×, full check",
                    1.5 if bare else 2, [("python3 -c pass", got["python3 -c pass"])], note=note,
                    met_override=False if (not bare and not full) else None))


# ---------------------------------------------------------------------- status


def status_case(e: Env, c: Config, rows: list[Row], cache: dict[str, Project]) -> None:
    pr = busy_project(e, c, cache)
    cmd = ["sh", str(REPO / "bin" / "cairn"), "status", "--json"]
    env = {**e.env, "CLAUDE_PROJECT_DIR": str(pr.path)}
    base_label = "venv python -c pass"
    label = f"`{STATUS}` ({c.n_main:,} workflows, {c.n_resumable} open)"
    try:
        _, p = run(cmd, env, cwd=pr.path)
        json.loads(p.stdout)
    except (BenchError, ValueError) as exc:
        last = str(exc).strip().splitlines()[-1][:160] if str(exc).strip() else type(exc).__name__
        rows.append(Row(label, 0, base_label, 0, "≤ 4×", 4, skipped=f"not run: the CLI failed ({last})"))
        return

    def go() -> float:
        elapsed, p = run(cmd, env, cwd=pr.path)
        out = json.loads(p.stdout)
        if isinstance(out, dict) and "total" in out and out["total"] != c.n_main:
            raise BenchError(f"cairn status --json counts {out['total']} workflows, not {c.n_main}")
        return elapsed
    med, got = alternate(go, {base_label: baseline(e.venv_py, "-c", "pass", env=e.env),
                              "python3 -c pass": e.bases["python3 -c pass"]}, c.slow_repeats)
    rows.append(Row(label, med, base_label, got[base_label], "≤ 4×", 4,
                    [("python3 -c pass", got["python3 -c pass"])], note="valid JSON, every workflow counted"))


# ---------------------------------------------------------------------- checkpoint write + read


def checkpoint_case(e: Env, c: Config, rows: list[Row], cache: dict[str, Project]) -> None:
    try:
        from langgraph.checkpoint.base import empty_checkpoint
        from langgraph.checkpoint.base.id import uuid6
        from langgraph.checkpoint.sqlite import SqliteSaver
    except ImportError:
        for n in (1, c.n_main):
            rows.append(Row(f"{CHECKPOINT_RW} ({n:,} on disk)", 0, "SqliteSaver", 0, "< 1× (faster)", None,
                            skipped="not run: langgraph-checkpoint-sqlite is not installed "
                                    "(`pip install -e '.[bench]'`)"))
        return
    from cairn.manager import CheckpointManager
    from cairn.store import projection

    one = populate(e.tmp / "rw-one", 1, 1, running=False)
    many = busy_project(e, c, cache)

    def cairn_rw(pr: Project) -> tuple[Thunk, dict[str, object], CheckpointManager]:
        m = CheckpointManager(pr.root, project_dir=pr.path)
        wid = pr.paused[-1]
        wfs = m.workflows
        sid = str(uuid.uuid4())
        seqs = [m.load(wid).seq]

        def go() -> float:
            t0 = time.perf_counter()
            wfs.touch(wid, "activity", session_id=sid)
            wf = m.load(wid)
            elapsed = time.perf_counter() - t0
            if wf.seq != seqs[-1] + 1:
                raise BenchError(f"touch + load: seq {seqs[-1]} -> {wf.seq}")
            seqs.append(wf.seq)
            return elapsed
        return go, projection.render(m.load(wid)), m

    def saver_for(path: Path, threads: int, record: dict[str, object]) -> tuple[Thunk, sqlite3.Connection]:
        conn = sqlite3.connect(str(path), check_same_thread=False)
        saver = SqliteSaver(conn)
        saver.setup()
        step = [0]

        def put(thread: str, sync: bool) -> Any:
            step[0] += 1
            ckpt = empty_checkpoint()
            ckpt["id"] = str(uuid6(clock_seq=step[0]))
            ckpt["channel_values"] = {"state": record}
            ckpt["channel_versions"] = {"state": step[0]}
            cfg = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
            return saver.put(cfg, ckpt, {"source": "loop", "step": step[0], "parents": {}}, {"state": step[0]})

        if threads > 1:  # the other workflows' checkpoints, written fast (not measured)
            conn.execute("PRAGMA synchronous = OFF")
            for t in range(threads - 1):
                put(f"wf-other-{t:05d}", False)
        conn.execute("PRAGMA synchronous = FULL")
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        sync = conn.execute("PRAGMA synchronous").fetchone()[0]
        if (mode, sync) != ("wal", 2):
            raise BenchError(f"SqliteSaver database is journal {mode}, synchronous {sync}")

        def go() -> float:
            t0 = time.perf_counter()
            cfg = put("wf-bench", True)
            got = saver.get_tuple(cfg)
            elapsed = time.perf_counter() - t0
            if got is None or got.checkpoint["channel_values"]["state"]["workflow_id"] != record["workflow_id"]:
                raise BenchError("SqliteSaver returned another checkpoint")
            return elapsed
        return go, conn

    for pr, n in ((one, 1), (many, c.n_main)):
        go, record, m = cairn_rw(pr)
        lg, conn = saver_for(e.tmp / f"langgraph-{n}.sqlite", n, record)
        reps = c.inproc_repeats if n == 1 else max(5, c.inproc_repeats // 2)
        med, got = alternate(go, {"SqliteSaver": lg}, reps, warmup=3)
        conn.close()
        m.store.close()
        size = len(json.dumps(record))
        rows.append(Row(f"{CHECKPOINT_RW} ({n:,} on disk): `Workflows.touch` + `CheckpointManager.load` vs "
                        f"SqliteSaver put + get_tuple (WAL, synchronous=FULL, {size / KB:.0f} KB record)",
                        med, "SqliteSaver", got["SqliteSaver"], "< 1× (faster)", None,
                        met_override=med < got["SqliteSaver"]))


# ---------------------------------------------------------------------- concurrency


def concurrent_case(e: Env, c: Config, rows: list[Row]) -> None:
    from cairn.pipeline import Pipeline
    from cairn.project import open_store
    from cairn.workflow import Workflows

    procs, per = c.conc_procs, c.conc_per
    project = e.tmp / "concurrent"
    git = git_project(project)
    root = project / ".claude" / "artifacts"
    stages: list[dict[str, Any]] = [{"name": f"w{i}", "artifacts": [], "depends_on": []} for i in range(procs)]
    stages.append({"name": "final", "artifacts": [{"path": "final.json"}],
                   "depends_on": [f"w{i}" for i in range(procs)]})
    store, _ = open_store(root)
    wid = "wf-conc"
    Workflows(store, root).create("concurrency", Pipeline.from_dict({"name": "parallel", "stages": stages}),
                                  workflow_id=wid, git=git)
    store.close()
    go = project / "go"
    env = {**e.env, "PYTHONPATH": str(LIB)}
    workers = [subprocess.Popen([sys.executable, str(COMPLETER), str(root), wid, f"w{i}", str(per), f"p{i}",
                                 str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
               for i in range(procs)]
    for w in workers:  # each prints "ready" once its imports are warm
        assert w.stdout is not None
        if w.stdout.readline().strip() != "ready":
            raise BenchError(f"a worker failed to start: {w.communicate()[1][-2000:]}")
    t0 = time.perf_counter()
    go.touch()
    seqs = []
    for w in workers:
        out, err = w.communicate(timeout=3600)
        if w.returncode != 0:
            raise BenchError(f"a worker failed: {err[-3000:]}")
        seqs.append([int(x) for x in out.split()])
    elapsed = time.perf_counter() - t0
    total = procs * per
    problems = []
    for mine in seqs:
        if mine != sorted(mine) or len(set(mine)) != len(mine):
            problems.append("a worker saw its seqs out of order")
    if sorted(s for mine in seqs for s in mine) != list(range(2, total + 2)):
        problems.append("seqs handed out twice or skipped")
    marks = [r[0] for r in db_rows(project, "SELECT seq FROM marks WHERE workflow_id = ? ORDER BY seq", (wid,))]
    if marks != list(range(1, total + 2)):
        problems.append(f"marks are not 1..{total + 1}")
    for i in range(procs):
        got = db_rows(project, "SELECT agent_id, number, outcome FROM attempts WHERE workflow_id = ? AND stage = ? "
                      "ORDER BY number", (wid, f"w{i}"))
        if [(a, n, o) for a, n, o in got] != [(f"p{i}-{k}", k + 1, "completed") for k in range(per)]:
            problems.append(f"stage w{i}: {len(got)} attempts, not {per} in order")
    recorded = db_rows(project, "SELECT count(*) FROM attempts WHERE workflow_id = ? AND outcome = 'completed'",
                       (wid,))[0][0]
    limit = 26.0 * total / 1600
    ok = not problems and recorded == total and elapsed < limit
    rows.append(Row(f"{procs} processes × {per} {CONCURRENT} (`record_completion`, durable commits, "
                    f"{_fs(e.tmp)})", elapsed, "", 0, f"{total:,} recorded, none lost, < {limit:g} s", None,
                    note=f"{recorded:,} recorded, " + ("none lost" if not problems else "; ".join(problems)),
                    met_override=ok))


def _fs(path: Path) -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError, IndexError):
        return subprocess.run(["df", "-T", str(path)], capture_output=True, text=True,
                              check=True).stdout.splitlines()[1].split()[1]
    return "?"


# ---------------------------------------------------------------------- scale


def scale_cases(e: Env, c: Config, scale: list[list[str]], cache: dict[str, Project]) -> None:
    for n in c.scale:
        pr = cache["busy"] if n == c.n_main and "busy" in cache and c.n_resumable == 10 else \
            populate(e.tmp / f"scale-{n}", n, min(n, 10))
        base = e.bases[e.hook_base]
        stop_med, b1 = alternate(stop_running_thunk(e, pr), {"b": base}, c.slow_repeats)
        ss_med, b2 = alternate(session_start_thunk(e, pr), {"b": base}, c.slow_repeats)
        scale.append([f"{n:,}", str(min(n, 10)), f"{fmt_time(stop_med)} ({stop_med / b1['b']:.2f}×)",
                      f"{fmt_time(ss_med)} ({ss_med / b2['b']:.2f}×)"])


# ---------------------------------------------------------------------- profiles


def profiles(e: Env, c: Config, cache: dict[str, Project]) -> None:
    """Where a hook's time goes: `-X importtime` (the heaviest imports, cumulative) and
    cProfile (top functions by cumulative time) of one run of each hook case."""
    pr = busy_project(e, c, cache)
    sub, _ = subagent_project(e, c, "subagent-profile")
    env_sub = {**e.env, "CLAUDE_PROJECT_DIR": str(sub)}
    script = str(REPO / "hooks" / "cairn_hook.py")

    def subagent_body() -> bytes:
        agent = "a" + secrets.token_hex(8) + "0"
        run(["/bin/sh", "-c", e.hook_cmd["SubagentStart"]], env_sub,
            payload("SubagentStart", sub, agent_id=agent, agent_type="cairn:implementer"), cwd=sub)
        return payload("SubagentStop", sub, agent_id=agent, agent_type="cairn:implementer")

    cases = [("Stop, a workflow running", "Stop", "stop", pr.path, lambda: payload("Stop", pr.path)),
             ("SessionStart injecting a context", "SessionStart", "session-start", pr.path,
              lambda: payload("SessionStart-startup", pr.path, session_id=str(uuid.uuid4()))),
             ("SubagentStop, 10 artifacts", "SubagentStop", "subagent-stop", sub, subagent_body)]
    # what hooks/run.sh exports when it runs the plugin venv's python
    site = {"CAIRN_SITE": "1"} if "CAIRN_SITE=1" in (REPO / "hooks" / "run.sh").read_text() else {}
    for title, hooks_event, event, project, body in cases:
        env = {**e.env, "CLAUDE_PROJECT_DIR": str(project), **site}
        for _ in range(2):  # warm the page cache and __pycache__
            run([e.venv_py, "-I", "-S", script, event], env, body(), cwd=project)
        whole = statistics.median(hook(e, hooks_event, project, body)() for _ in range(5))
        bare = statistics.median(e.bases[e.hook_base]() for _ in range(5))
        _, p = run([e.venv_py, "-I", "-S", "-X", "importtime", script, event], env, body(), cwd=project)
        imports = []
        for line in p.stderr.decode().splitlines():
            m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
            if m:
                imports.append((int(m.group(2)), len(m.group(3)) // 2, m.group(4)))
        total_us = sum(us for us, depth, _ in imports if depth == 0)
        print(f"\n### {title}\n\nWhole process as hooks.json starts it: {fmt_time(whole)} (median of 5); "
              f"`{e.hook_base}`: {fmt_time(bare)}; imports: {total_us / 1000:.1f} ms (`-X importtime`, "
              "top level); the rest is the work, `sh` and the interpreter's exit.\n")
        print("Heaviest imports (cumulative; depth = how deep in the import tree it was first imported):\n")
        print("| module | depth | cumulative |\n|---|---|---|")
        for us, depth, name in sorted(imports, reverse=True)[:20]:
            print(f"| {name} | {depth} | {us / 1000:.1f} ms |")
        out = e.tmp / f"profile-{event}.prof"
        # the hook ends with os._exit (no interpreter shutdown): profile it with that exit turned
        # into a normal one, so cProfile gets to write its file
        wrapper = (f"import os, sys, runpy, cProfile; sys.argv = [{str(script)!r}, {event!r}]; "
                   "os._exit = lambda code: (_ for _ in ()).throw(SystemExit(code)); "
                   f"p = cProfile.Profile(); p.enable()\ntry:\n    runpy.run_path({str(script)!r}, "
                   f"run_name='__main__')\nexcept SystemExit:\n    pass\np.disable(); p.dump_stats({str(out)!r})")
        run([e.venv_py, "-I", "-S", "-c", wrapper], env, body(), cwd=project)
        import io
        import pstats

        buf = io.StringIO()
        st = pstats.Stats(str(out), stream=buf)
        st.sort_stats("cumulative").print_stats(90)
        text = buf.getvalue()
        start = text.find("   ncalls")
        lines = [ln for ln in text[start:].rstrip().splitlines()
                 if "<frozen importlib" not in ln and "builtins.__import__" not in ln][:32]
        print(f"\n### {title}: cProfile (cumulative; import machinery left out)\n\n```\n"
              + "\n".join(lines) + "\n```")


# ---------------------------------------------------------------------- report


def machine(e: Env) -> list[str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ver = subprocess.run([e.python3, "--version"], capture_output=True, text=True).stdout.strip()
    head = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %s"], capture_output=True,
                          text=True).stdout.strip()[:90]
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "lib", "hooks", "bin"],
                           capture_output=True, text=True).stdout.strip()
    lines = [f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
             f"- Cairn at {head}" + (" (with uncommitted changes in lib/, hooks/ or bin/)" if dirty else ""),
             f"- nproc: {os.cpu_count()}; CPU: {cpu}; SQLite {sqlite3.sqlite_version}",
             f"- python3: {e.python3} ({ver}); the suite runs on {sys.executable}",
             f"- hooks run on: {e.venv_py} -> {os.path.realpath(e.venv_py)}: {e.venv_label}",
             f"- temp folder: {e.tmp} ({_fs(e.tmp)}); /bin/sh is {os.path.realpath('/bin/sh')}"]
    if e.cli_stamp != e.deps_stamp:
        lines.append(f"- NOTE: bin/cairn looks for `{e.cli_stamp}.ok` but hooks/run.sh writes "
                     f"`{e.deps_stamp}.ok`: without both stamps bin/cairn would run on python3, not on "
                     "the plugin venv (both are created here)")
    return lines


def interpreter_table(e: Env, c: Config) -> None:
    print(f"\n## Interpreter starts (median of {c.repeats}, for information)\n")
    print("| command | median |\n|---|---|")
    for label, cmd in (("`python3 -c pass`", [e.python3, "-c", "pass"]),
                       ("`python3 -I -S -c pass`", [e.python3, "-I", "-S", "-c", "pass"]),
                       ("`<plugin venv python> -c pass`", [e.venv_py, "-c", "pass"]),
                       ("`<plugin venv python> -I -S -c pass` (the hooks' interpreter, bare)",
                        [e.venv_py, "-I", "-S", "-c", "pass"]),
                       ("`<bare venv python3> -I -S -c pass`", [str(e.bare_bin / "python3"), "-I", "-S", "-c", "pass"]),
                       ("`sh -c true`", ["/bin/sh", "-c", "true"])):
        ts = [run(cmd, e.env)[0] for _ in range(c.repeats + 1)][1:]
        print(f"| {label} | {fmt_time(statistics.median(ts))} |")


def print_rows(rows: list[Row]) -> None:
    print("| case | median | baseline (median) | ratio | vs `python3 -c pass` | target | met? | checked |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.skipped:
            print(f"| {r.case} | - | - | - | - | {r.target} | {r.skipped} | - |")
            continue
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        other = "; ".join(f"{r.median / b:.3g}× ({fmt_time(b)})" for _, b in r.others) or "-"
        base = f"{fmt_time(r.base)} ({r.base_label})" if r.base else "-"
        ratio = f"{r.ratio:.3g}×" if r.base else "-"
        print(f"| {r.case} | {fmt_time(r.median)} | {base} | {ratio} | {other} | {r.target} | {met} | "
              f"{r.note or '-'} |")


@contextlib.contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    tmp = Path(tempfile.mkdtemp(prefix="cairn-bench-"))
    try:
        yield tmp
    finally:
        if keep:
            print(f"\n(kept {tmp})")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small N, few repeats, small files (CI)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    ap.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated groups of {', '.join(GROUPS)}")
    ap.add_argument("--profile", action="store_true", help="print import and cProfile profiles of the hook "
                    "cases instead of timing them")
    ap.add_argument("--plugin-venv", help="the venv hooks run on (default: one made by hooks/bootstrap.py, "
                    f"cached under {CACHE})")
    args = ap.parse_args(argv)
    c = Config.make(args.quick)
    only = {g.strip() for g in args.only.split(",") if g.strip()}
    if only - set(GROUPS):
        ap.error(f"unknown group(s): {', '.join(sorted(only - set(GROUPS)))}")
    started = time.perf_counter()
    with workdir(args.keep) as tmp:
        e = make_env(tmp, c, args.plugin_venv)
        print(f"# Cairn benchmarks{' (quick mode: figures are not meaningful)' if c.quick else ''}\n")
        print("\n".join(machine(e)))
        sys.stdout.flush()
        cache: dict[str, Project] = {}
        if args.profile:
            profiles(e, c, cache)
            return 0
        interpreter_table(e, c)
        sys.stdout.flush()
        rows: list[Row] = []
        scale: list[list[str]] = []
        steps: list[tuple[str, Callable[[], None]]] = [
            ("idle", lambda: idle_cases(e, c, rows)),
            ("running", lambda: running_cases(e, c, rows, cache)),
            ("start", lambda: start_cases(e, c, rows, cache)),
            ("subagent", lambda: subagent_case(e, c, rows, bare=False)),
            ("subagent", lambda: subagent_case(e, c, rows, bare=True)),
            ("status", lambda: status_case(e, c, rows, cache)),
            ("rw", lambda: checkpoint_case(e, c, rows, cache)),
            ("concurrent", lambda: concurrent_case(e, c, rows)),
            ("bash", lambda: bash_cases(e, c, rows, cache)),
            ("scale", lambda: scale_cases(e, c, scale, cache)),
        ]
        for group, step in steps:
            if group in only:
                t = time.perf_counter()
                step()
                print(f"({group}: {time.perf_counter() - t:.1f} s)", file=sys.stderr, flush=True)
        reps = f"hooks: median of {c.repeats}; SubagentStop, status and scale: {c.slow_repeats}; " \
               f"in-process: {c.inproc_repeats}"
        print(f"\n## Targets ({reps})\n")
        print_rows(rows)
        if scale:
            print(f"\n## Scale: time (ratio to `{e.hook_base}`) by workflows on disk\n")
            print("| workflows on disk | open (1 running) | Stop, a workflow running | SessionStart injecting "
                  "a context |")
            print("|---|---|---|---|")
            for s in scale:
                print("| " + " | ".join(s) + " |")
        missed = [r.case for r in rows if r.met is False]
        print(f"\n{len([r for r in rows if r.met])} targets met, {len(missed)} missed, "
              f"{len([r for r in rows if r.skipped])} not run"
              f"{' (quick mode: not meaningful)' if c.quick else ''}; "
              f"suite took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
