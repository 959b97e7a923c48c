#!/usr/bin/env python3
"""Cairn's benchmark suite: hook latency, 10,000 workflows, artifact hashing.

    python benchmarks/run.py            # the full suite (a few minutes, ~1.1 GB of temp files)
    python benchmarks/run.py --quick    # small N, few repeats, tiny files (CI: < 60 s)

It builds its own data in a temporary folder and prints markdown tables of medians.
Every hook case is a whole process started exactly as hooks/hooks.json starts it
(`/bin/sh -c 'sh "${CLAUDE_PLUGIN_ROOT}/hooks/run.sh" EVENT'`, the payload on stdin,
CLAUDE_PROJECT_DIR set), timed in alternation with its baseline (`python3 -c pass`,
the interpreter the hooks run on) so that both see the same machine noise. Ratios are
case median / baseline median (for throughput: cairn's throughput / the peer's).

Quick mode asserts nothing about time: it exists so the suite never rots (see
tests/test_benchmarks_quick.py). Run it with the interpreter that has Cairn's
dependencies (`.ci/venv/bin/python`, or any Python where `pip install -e .[bench]` ran).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import re
import shutil
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
sys.path.insert(0, str(REPO / "lib"))
PAYLOADS = Path(__file__).resolve().parent / "payloads"

# Stable case names (the quick test checks that each one prints a row).
STOP_IDLE = "Stop hook, no workflow running"
STOP_RUNNING = "Stop hook, a workflow running"
START_IDLE = "SessionStart, none resumable"
START_CONTEXT = "SessionStart, resumable, injecting context"
SUBAGENT_STOP = "SubagentStop, 10 artifacts, schema check, fsync'd checkpoint"
STATUS = "cairn status --json"
VALIDATE = "validating artifacts (full hash)"
REVALIDATE = "re-validating unchanged artifacts (stat cache)"
CHECKPOINT_RW = "in-process checkpoint write + read"
CASES = [STOP_IDLE, STOP_RUNNING, START_IDLE, START_CONTEXT, SUBAGENT_STOP, STATUS, VALIDATE,
         REVALIDATE, CHECKPOINT_RW]

MB = 1 << 20


@dataclass(frozen=True)
class Config:
    quick: bool
    n_main: int
    n_resumable: int
    scale: tuple[int, ...]
    repeats: int
    slow_repeats: int
    artifact_bytes: int
    validate_bytes: int
    validate_files: int
    inproc_repeats: int

    @classmethod
    def make(cls, quick: bool) -> Config:
        if quick:
            return cls(True, 200, 10, (10, 100), 3, 3, 16 * 1024, 8 * MB, 8, 10)
        return cls(False, 10_000, 100, (10, 100, 1_000, 10_000), 21, 11, MB, 1024 * MB, 256, 200)


@dataclass
class Row:
    case: str
    median: float
    base: float
    ratio: float
    target: str
    met: bool | None
    unit: str = "s"          # how to print median/base: "s" (times) or "MB/s"
    base_label: str = ""
    note: str = ""


@dataclass
class Env:
    tmp: Path
    python3: str             # the real interpreter `python3` resolves to (no pyenv shim)
    env: dict[str, str]      # environment of every hook / CLI process
    py: str                  # the interpreter run.sh picks: "python3" or the plugin's venv
    py_label: str
    hook_cmd: dict[str, str] = field(default_factory=dict)


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------------- timing


def run(cmd: list[str], env: dict[str, str], stdin: bytes = b"", cwd: Path | None = None,
        ok: tuple[int, ...] = (0,)) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    t0 = time.perf_counter()
    p = subprocess.run(cmd, input=stdin, capture_output=True, env=env,
                       cwd=cwd, check=False)
    elapsed = time.perf_counter() - t0
    if p.returncode not in ok:
        raise BenchError(f"{cmd} exited {p.returncode}: {p.stderr.decode(errors='replace')[-800:]}")
    return elapsed, p


def alternate(case: Callable[[], float], base: Callable[[], float], repeats: int,
              warmup: int = 1) -> tuple[float, float]:
    """Medians of `case` and `base`, run in alternation (after `warmup` rounds)."""
    cs, bs = [], []
    for i in range(warmup + repeats):
        b = base()
        c = case()
        if i >= warmup:
            cs.append(c)
            bs.append(b)
    return statistics.median(cs), statistics.median(bs)


def fmt_time(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 0.001:
        return f"{s * 1e3:.1f} ms"
    return f"{s * 1e6:.0f} µs"


# ---------------------------------------------------------------------- environment


def resolve_python3() -> str:
    """The binary `python3` really runs (pyenv and friends put a shell shim first on
    PATH; timing the shim would inflate the baseline)."""
    exe = shutil.which("python3")
    if exe is None:
        raise BenchError("no python3 on PATH")
    out = subprocess.run([exe, "-c", "import sys; print(sys.executable)"], capture_output=True,
                         text=True, check=True).stdout.strip()
    return out or exe


def has_deps(python: str) -> bool:
    probe = subprocess.run([python, "-I", "-c", "import pydantic, jsonschema, yaml"],
                           capture_output=True, check=False)
    return probe.returncode == 0


def make_env(tmp: Path, interpreter: str) -> Env:
    real = resolve_python3()
    bindir = tmp / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to(real)
    plugin_data = tmp / "plugin-data"   # dependencies set up: run.sh's stamp is there
    plugin_data.mkdir()
    stamp = re.search(r"^DEPS_STAMP=(\S+)", (REPO / "hooks" / "run.sh").read_text(), re.M)
    (plugin_data / f"{stamp.group(1) if stamp else 'deps-1'}.ok").touch()
    if interpreter == "auto":
        interpreter = "python3" if has_deps(real) else "venv"
    if interpreter == "venv":
        # The bootstrapped plugin venv, as hooks/bootstrap.py leaves it: here, the venv
        # this suite runs in (it has Cairn's dependencies).
        if sys.prefix == sys.base_prefix:
            raise BenchError("--interpreter venv: run the suite with a virtualenv's python")
        (plugin_data / "venv").symlink_to(sys.prefix, target_is_directory=True)
        py, label = str(plugin_data / "venv" / "bin" / "python"), "venv python -c pass"
    else:
        py, label = "python3", "python3 -c pass"
    home = tmp / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PYTHON", "CLAUDE", "VIRTUAL_ENV", "PYENV"))}
    env.update(PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}", HOME=str(home),
               CLAUDE_PLUGIN_ROOT=str(REPO), CLAUDE_PLUGIN_DATA=str(plugin_data),
               CLAUDE_CONFIG_DIR=str(home / ".claude"))
    hooks = json.loads((REPO / "hooks" / "hooks.json").read_text())["hooks"]
    cmds = {}
    for event, groups in hooks.items():
        cmds[event] = groups[0]["hooks"][0]["command"]
    return Env(tmp, real, env, py, label, cmds)


def project_env(e: Env, project: Path) -> dict[str, str]:
    return {**e.env, "CLAUDE_PROJECT_DIR": str(project)}


def payload(name: str, project: Path, **changes: Any) -> bytes:
    data = json.loads((PAYLOADS / f"{name}.json").read_text())["stdin"]
    data["cwd"] = str(project)
    data.update(changes)
    return json.dumps(data).encode()


def hook(e: Env, event: str, project: Path, body: Callable[[], bytes],
         check: Callable[[bytes], None] | None = None) -> Callable[[], float]:
    """A thunk running one hook process exactly as Claude Code does."""
    cmd = ["/bin/sh", "-c", e.hook_cmd[event]]
    env = project_env(e, project)

    def go() -> float:
        elapsed, p = run(cmd, env, body(), cwd=project)
        if check is not None:
            check(p.stdout)
        return elapsed
    return go


def baseline(e: Env, *args: str) -> Callable[[], float]:
    """`<the hooks' interpreter> ARGS`."""
    cmd = [e.py, *args]

    def go() -> float:
        return run(cmd, e.env)[0]
    return go


def cli(e: Env, project: Path, *args: str, check: Callable[[bytes], None] | None = None,
        ok: tuple[int, ...] = (0,)) -> Callable[[], float]:
    """`cairn ARGS` through bin/cairn, the way slash commands and the model run it."""
    cmd = ["sh", str(REPO / "bin" / "cairn"), *args]
    env = project_env(e, project)

    def go() -> float:
        elapsed, p = run(cmd, env, cwd=project, ok=ok)
        if check is not None:
            check(p.stdout)
        return elapsed
    return go


# ---------------------------------------------------------------------- data


REQUEST = ("Add a token-bucket rate limiter to the public HTTP API: per-key limits from the "
           "settings table, 429 responses with Retry-After, metrics, and docs for operators.")


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _artifact_json(wid: str, agent: str, nbytes: int, seed: int = 0) -> bytes:
    """A JSON artifact of about `nbytes`, valid against bulk.schema.json: a list of
    files with their content, the shape of an implementation stage's output."""
    files = []
    chunk = 10_000
    line = f"def handler_{seed}(request):  # rate limited\n    return limiter.check(request.key)\n"
    text = (line * (chunk // len(line) + 1))[:chunk]
    for i in range(max(1, nbytes // (chunk + 40))):
        files.append({"path": f"src/module_{seed}_{i}.py", "content": text})
    doc = {"workflow_id": wid, "agent": agent, "summary": "generated for the benchmark",
           "files": files}
    return json.dumps(doc).encode()


BULK_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["workflow_id", "agent", "summary", "files"],
    "properties": {
        "workflow_id": {"type": "string", "minLength": 1},
        "agent": {"type": "string"},
        "summary": {"type": "string", "maxLength": 2000},
        "files": {"type": "array", "items": {
            "type": "object", "required": ["path", "content"], "additionalProperties": False,
            "properties": {"path": {"type": "string", "pattern": "^[^/].*$"},
                           "content": {"type": "string"}}}},
    },
}


def template(scratch: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """One real checkpoint written through CheckpointManager: created, two stages run
    with their artifacts, then paused as a closed session leaves it."""
    from cairn.manager import CheckpointManager

    project = scratch / "template"
    m = CheckpointManager(project / ".claude" / "artifacts", project_dir=project)
    wid = "wf-template"
    cp = m.create(REQUEST, workflow_id=wid, session_id="11111111-aaaa-bbbb-cccc-000000000000")
    files: dict[str, bytes] = {}
    for stage in m.pipeline_of(cp).stages[:3]:
        m.record_start(wid, stage.name, agent_id=f"a{stage.name[:8]}",
                       session_id="11111111-aaaa-bbbb-cccc-000000000000")
        for spec in stage.artifacts:
            body = json.dumps({"workflow_id": wid, "agent": stage.name,
                               "summary": "x" * 400, "items": list(range(50))}).encode()
            (m.workflow_dir(wid) / spec.path).write_bytes(body)
            files[spec.path] = body
        m.record_completion(wid, stage.name, session_id="11111111-aaaa-bbbb-cccc-000000000000",
                            check_schemas=False)
    m.pause(wid, "interrupted: the Claude session ended (reason: other)")
    record = json.loads((m.workflow_dir(wid) / "checkpoint.json").read_text())
    return record, files


def populate(project: Path, tmpl: tuple[dict[str, Any], dict[str, bytes]], total: int,
             resumable: int, *, running: int = 1) -> Path:
    """`total` workflows under project/.claude/artifacts, cloned from the template: the
    most recent `resumable` are paused (the newest `running` of them running, its
    session gone), with their artifacts on disk; the rest completed. Then the index is
    rebuilt from the files, as a reader would."""
    from cairn.index import Index
    from cairn.store import encode

    record, files = tmpl
    root = project / ".claude" / "artifacts"
    root.mkdir(parents=True, mode=0o700)
    names = [s["name"] for s in record["pipeline"]["stages"]]
    t0 = time.time() - total * 60 - 3600
    for i in range(total):
        wid = f"wf-bench-{i:05d}"
        wdir = root / wid
        wdir.mkdir(mode=0o700)
        r = json.loads(json.dumps(record))
        r["workflow_id"] = wid
        r["request"] = f"{REQUEST} (#{i})"
        when = _iso(t0 + i * 60)
        r["created_at"] = _iso(t0 + i * 60 - 1800)
        r["updated_at"] = r["last_activity"] = when
        live = i >= total - resumable
        if not live:
            r["status"], r["status_reason"], r["current_agent"] = "completed", None, None
            r["completed_agents"] = names
        else:
            if i >= total - running:
                r["status"], r["status_reason"] = "running", None
            for rel, body in files.items():
                p = wdir / rel
                p.write_bytes(body)
                st = p.stat()
                a = r["artifacts"][rel]
                a["size"], a["mtime"], a["inode"] = st.st_size, st.st_mtime, st.st_ino
        (wdir / "checkpoint.json").write_bytes(encode(r))
    Index(root).rebuild()
    return root


# ---------------------------------------------------------------------- cases


def must_be_empty(out: bytes) -> None:
    if out.strip():
        raise BenchError(f"expected no output, got {out[:300]!r}")


def must_inject(out: bytes) -> None:
    try:
        ctx = json.loads(out)["hookSpecificOutput"]["additionalContext"]
    except (ValueError, KeyError, TypeError):
        raise BenchError(f"SessionStart injected no context: {out[:300]!r}") from None
    if "cairn-resume-context" not in ctx:
        raise BenchError("SessionStart context lacks the resume block")


def fresh_session(project: Path) -> Callable[[], bytes]:
    # A new session each time: the same session is served once per 30 s.
    return lambda: payload("SessionStart-startup", project, session_id=str(uuid.uuid4()))


def stop_running_thunk(e: Env, project: Path) -> Callable[[], float]:
    root = project / ".claude" / "artifacts"
    if not (root / ".running").exists():
        raise BenchError(f"{project}: no .running mark")
    return hook(e, "Stop", project, lambda: payload("Stop", project), must_be_empty)


def hook_cases(e: Env, c: Config, tmpl: Any, rows: list[Row]) -> None:
    base = baseline(e, "-c", "pass")
    n = c.n_main

    idle = e.tmp / "idle"
    populate(idle, tmpl, n, 0, running=0)
    for name in (".active", ".running"):
        if (idle / ".claude" / "artifacts" / name).exists():
            raise BenchError(f"idle project has {name}")
    med, b = alternate(hook(e, "Stop", idle, lambda: payload("Stop", idle), must_be_empty), base,
                       c.repeats)
    rows.append(Row(f"{STOP_IDLE} ({n:,} finished on disk)", med, b, med / b, "≤ 0.5×",
                    med / b <= 0.5))
    med, b = alternate(hook(e, "SessionStart", idle, fresh_session(idle), must_be_empty), base,
                       c.repeats)
    rows.append(Row(f"{START_IDLE} ({n:,} on disk)", med, b, med / b, "≤ 1.5×", med / b <= 1.5))

    busy = e.tmp / "busy"
    populate(busy, tmpl, n, c.n_resumable)
    med, b = alternate(stop_running_thunk(e, busy), base, c.repeats)
    rows.append(Row(f"{STOP_RUNNING} ({n:,} on disk)", med, b, med / b, "≤ 1.5×", med / b <= 1.5))
    med, b = alternate(hook(e, "SessionStart", busy, fresh_session(busy), must_inject), base,
                       c.repeats)
    rows.append(Row(f"{START_CONTEXT} ({n:,} on disk, {c.n_resumable} resumable)", med, b,
                    med / b, "≤ 4×", med / b <= 4))


def subagent_stop_case(e: Env, c: Config, rows: list[Row]) -> None:
    from cairn.manager import CheckpointManager

    project = e.tmp / "subagent"
    (project / ".claude" / "schemas").mkdir(parents=True)
    (project / ".claude" / "schemas" / "bulk.schema.json").write_text(json.dumps(BULK_SCHEMA))
    arts = "\n".join(f"        - {{path: a{i:02d}.json, schema: bulk.schema.json}}" for i in range(10))
    (project / ".claude" / "cairn.yaml").write_text(
        "pipeline:\n  replace: true\n  name: bench\n  stages:\n"
        f"    - name: bulk\n      agent: cairn:writer\n      artifacts:\n{arts}\n"
        "    - name: final\n      artifacts: [final.json]\n")
    m = CheckpointManager(project / ".claude" / "artifacts", project_dir=project)
    wid = "wf-subagent"
    m.create(REQUEST, workflow_id=wid)
    m.record_start(wid, "bulk", agent_id="a14469f274a2cc320")
    wdir = m.workflow_dir(wid)
    for i in range(10):
        (wdir / f"a{i:02d}.json").write_bytes(_artifact_json(wid, "bulk", c.artifact_bytes, i))
    seq = [m.load(wid).seq]

    def check(out: bytes) -> None:
        must_be_empty(out)
        now = json.loads((wdir / "checkpoint.json").read_bytes())["seq"]
        if now != seq[0] + 1:
            raise BenchError(f"SubagentStop wrote no checkpoint (seq {seq[0]} -> {now})")
        seq[0] = now

    thunk = hook(e, "SubagentStop", project, lambda: payload("SubagentStop", project), check)
    med, b = alternate(thunk, baseline(e, "-c", "pass"), c.slow_repeats)
    size = c.artifact_bytes / MB
    rows.append(Row(f"{SUBAGENT_STOP} (10 × {size:g} MB)", med, b, med / b, "≤ 6×", med / b <= 6))


def status_args(e: Env, project: Path) -> list[str]:
    """`status --json` where this Cairn has it, else `list --json`."""
    _, p = run(["sh", str(REPO / "bin" / "cairn"), "--help"], project_env(e, project))
    return ["status", "--json"] if re.search(rb"\bstatus\b", p.stdout) else ["list", "--json"]


def must_be_json(out: bytes) -> None:
    json.loads(out)


def scale_cases(e: Env, c: Config, tmpl: Any, rows: list[Row], scale: list[list[str]]) -> None:
    base = baseline(e, "-c", "pass")
    args: list[str] | None = None
    for n in c.scale:
        project = e.tmp / f"scale-{n}"
        resumable = min(n, 10)
        populate(project, tmpl, n, resumable)
        args = args or status_args(e, project)
        stop_med, stop_b = alternate(stop_running_thunk(e, project), base, c.slow_repeats)
        ss_med, ss_b = alternate(hook(e, "SessionStart", project, fresh_session(project), must_inject),
                                 base, c.slow_repeats)
        st_med, st_b = alternate(cli(e, project, *args, check=must_be_json), base, c.slow_repeats)
        scale.append([f"{n:,}", str(resumable), f"{fmt_time(stop_med)} ({stop_med / stop_b:.2f}×)",
                      f"{fmt_time(ss_med)} ({ss_med / ss_b:.2f}×)",
                      f"{fmt_time(st_med)} ({st_med / st_b:.2f}×)"])
        if n == c.scale[-1]:
            rows.append(Row(f"`cairn {' '.join(args)}` ({n:,} on disk, {resumable} resumable)",
                            st_med, st_b, st_med / st_b, "≤ 3×", st_med / st_b <= 3))


def validation_cases(e: Env, c: Config, rows: list[Row]) -> None:
    from cairn.manager import CheckpointManager
    from cairn.resumer import WorkflowResumer

    project = e.tmp / "blobs"
    project.joinpath(".claude").mkdir(parents=True)
    names = [f"blob-{i:03d}.bin" for i in range(c.validate_files)]
    (project / ".claude" / "cairn.yaml").write_text(
        "pipeline:\n  replace: true\n  name: blobs\n  stages:\n"
        f"    - name: blobs\n      agent: cairn:writer\n      artifacts: [{', '.join(names)}]\n"
        "    - name: final\n      artifacts: [final.json]\n")
    m = CheckpointManager(project / ".claude" / "artifacts", project_dir=project)
    wid = "wf-blobs"
    m.create(REQUEST, workflow_id=wid)
    wdir = m.workflow_dir(wid)
    per_file = c.validate_bytes // c.validate_files
    block = os.urandom(min(per_file, 4 * MB))
    for i, name in enumerate(names):
        with open(wdir / name, "wb") as fh:
            left = per_file
            fh.write(i.to_bytes(8, "little"))
            left -= 8
            while left > 0:
                fh.write(block[:left])
                left -= len(block[:left])
    m.record_completion(wid, "blobs", check_schemas=False)
    total = sum((wdir / n).stat().st_size for n in names)
    gb = total / (1 << 30)

    def sha() -> float:
        return run(["sha256sum", *names], e.env, cwd=wdir)[0]

    full = cli(e, project, "validate", wid, "--json")
    med, b = alternate(full, sha, max(3, c.slow_repeats // 2))
    ratio = b / med  # throughput ratio: cairn's bytes/s over sha256sum's
    rows.append(Row(f"{VALIDATE}, {gb:.3g} GB in {len(names)} files (`cairn validate`: "
                    f"{total / med / MB:,.0f} MB/s; sha256sum {total / b / MB:,.0f} MB/s)",
                    med, b, ratio, "≥ 0.8× sha256sum throughput", ratio >= 0.8,
                    base_label="sha256sum"))

    r = WorkflowResumer(m)
    cp = m.load(wid)

    def inproc(hashes: bool) -> Callable[[], float]:
        def go() -> float:
            t0 = time.perf_counter()
            rep = r.validate(wid, hashes=hashes, schemas=False, cp=cp)
            elapsed = time.perf_counter() - t0
            if not rep.valid:
                raise BenchError(f"validation found problems: {rep.problems[:2]}")
            return elapsed
        return go

    med, b = alternate(inproc(False), inproc(True), max(3, c.slow_repeats // 2))
    rows.append(Row(f"{REVALIDATE}, {len(names)} files (in process)", med, b, med / b,
                    "≤ 0.05× a full re-hash", med / b <= 0.05, base_label="full re-hash"))
    fast = cli(e, project, "validate", wid, "--fast", "--json")
    med, b = alternate(fast, full, max(3, c.slow_repeats // 2))
    rows.append(Row("(info) `cairn validate --fast` vs `cairn validate`, whole processes", med, b,
                    med / b, "-", None, base_label="cairn validate"))


def checkpoint_case(e: Env, c: Config, tmpl: Any, rows: list[Row]) -> None:
    try:
        import sqlite3

        from langgraph.checkpoint.base import empty_checkpoint
        from langgraph.checkpoint.base.id import uuid6
        from langgraph.checkpoint.sqlite import SqliteSaver
    except ImportError:
        print(f"\nSKIP {CHECKPOINT_RW}: langgraph-checkpoint-sqlite is not installed "
              "(`pip install -e '.[bench]'`)\n")
        rows.append(Row(f"{CHECKPOINT_RW} vs LangGraph SqliteSaver put + get_tuple", 0, 0, 0,
                        "faster than SqliteSaver", None, note="skipped: langgraph-checkpoint-sqlite "
                        "not installed"))
        return
    from cairn.manager import CheckpointManager

    record = tmpl[0]
    project = e.tmp / "rw"
    m = CheckpointManager(project / ".claude" / "artifacts", project_dir=project)
    wid = "wf-rw"
    m.create(REQUEST, workflow_id=wid)
    sid = "b7d76f10-2312-430d-b826-7d0dc6e95391"

    def cairn_rw(mgr: CheckpointManager, w: str) -> Callable[[], float]:
        def go() -> float:
            t0 = time.perf_counter()
            mgr.touch(w, session_id=sid)
            mgr.load(w)
            return time.perf_counter() - t0
        return go

    conn = sqlite3.connect(str(e.tmp / "langgraph.sqlite"), check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()
    thread = {"configurable": {"thread_id": "bench", "checkpoint_ns": ""}}
    step = [0]

    def lg_rw() -> float:
        step[0] += 1
        ckpt = empty_checkpoint()
        ckpt["id"] = str(uuid6(clock_seq=step[0]))
        ckpt["channel_values"] = {"state": record}
        ckpt["channel_versions"] = {"state": step[0]}
        t0 = time.perf_counter()
        cfg = saver.put(thread, ckpt, {"source": "loop", "step": step[0], "parents": {}},
                        {"state": step[0]})
        got = saver.get_tuple(cfg)
        elapsed = time.perf_counter() - t0
        if got is None:
            raise BenchError("SqliteSaver returned nothing")
        return elapsed

    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    sync = conn.execute("PRAGMA synchronous").fetchone()[0]
    med, b = alternate(cairn_rw(m, wid), lg_rw, c.inproc_repeats, warmup=3)
    rows.append(Row(f"{CHECKPOINT_RW} (1 workflow in the folder) vs LangGraph SqliteSaver put + "
                    f"get_tuple (journal {mode}, synchronous={sync})", med, b, med / b,
                    "< 1× (faster)", med < b, base_label="SqliteSaver"))
    big = e.tmp / "busy" / ".claude" / "artifacts"
    if big.is_dir():
        m2 = CheckpointManager(big, project_dir=big.parent.parent)
        w2 = sorted(p.name for p in big.iterdir() if p.name.startswith("wf-"))[-1]
        med, b = alternate(cairn_rw(m2, w2), lg_rw, max(5, c.inproc_repeats // 10), warmup=2)
        rows.append(Row(f"(info) {CHECKPOINT_RW} with {c.n_main:,} workflows in the folder", med, b,
                        med / b, "-", None, base_label="SqliteSaver"))
    conn.close()


# ---------------------------------------------------------------------- report


def machine(e: Env) -> list[str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ver = subprocess.run([e.python3, "--version"], capture_output=True, text=True).stdout.strip()
    fs = "?"
    with contextlib.suppress(OSError, subprocess.SubprocessError, IndexError):
        fs = subprocess.run(["df", "-T", str(e.tmp)], capture_output=True, text=True,
                            check=True).stdout.splitlines()[1].split()[1]
    return [f"- date: {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC",
            f"- nproc: {os.cpu_count()}; CPU: {cpu}",
            f"- python3: {e.python3} ({ver}); suite run by {sys.executable}",
            f"- temp folder: {e.tmp} ({fs})", f"- /bin/sh: {os.path.realpath('/bin/sh')}"]


def print_rows(rows: list[Row], base: str) -> None:
    print("| case | median | baseline median | ratio | target | met? |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if r.note:
            print(f"| {r.case} | - | - | - | {r.target} | {r.note} |")
            continue
        met = "-" if r.met is None else ("yes" if r.met else "**no**")
        print(f"| {r.case} | {fmt_time(r.median)} | {fmt_time(r.base)} ({r.base_label or base}) | "
              f"{r.ratio:.3g}× | {r.target} | {met} |")


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
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small N, few repeats, tiny files (CI)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder")
    ap.add_argument("--interpreter", choices=("auto", "python3", "venv"), default="auto",
                    help="what the hooks run on: `python3` from PATH (run.sh's default), or the "
                    "plugin's bootstrapped venv (here: the venv running this suite); auto = python3 "
                    "when it has Cairn's dependencies")
    args = ap.parse_args(argv)
    c = Config.make(args.quick)
    started = time.perf_counter()
    with workdir(args.keep) as tmp:
        e = make_env(tmp, args.interpreter)
        print(f"# Cairn benchmarks{' (quick mode: figures are not meaningful)' if c.quick else ''}\n")
        print("\n".join(machine(e)))
        print(f"- hooks run on: {e.py} (baseline: `{e.py_label}`)")
        print("\n## Baselines (median of "
              f"{c.repeats}, for information)\n")
        print("| interpreter start | median |")
        print("|---|---|")
        venv_py = Path(sys.executable)
        for label, cmd in (("`python3 -c pass`", ["python3", "-c", "pass"]),
                           ("`python3 -I -c pass` (as run.sh starts it)", ["python3", "-I", "-c", "pass"]),
                           ("`python3 -I -S -c pass` (no site)", ["python3", "-I", "-S", "-c", "pass"]),
                           (f"`{venv_py} -c pass` (the suite's venv python)", [str(venv_py), "-c", "pass"]),
                           (f"`{venv_py} -I -S -c pass`", [str(venv_py), "-I", "-S", "-c", "pass"]),
                           ("`sh -c true`", ["/bin/sh", "-c", "true"])):
            ts = [run(cmd, e.env)[0] for _ in range(c.repeats + 1)][1:]
            print(f"| {label} | {fmt_time(statistics.median(ts))} |")
        sys.stdout.flush()
        tmpl = template(tmp)
        rows: list[Row] = []
        scale: list[list[str]] = []
        hook_cases(e, c, tmpl, rows)
        subagent_stop_case(e, c, rows)
        scale_cases(e, c, tmpl, rows, scale)
        validation_cases(e, c, rows)
        checkpoint_case(e, c, tmpl, rows)
        print(f"\n## Targets (hooks: median of {c.repeats}; others: {c.slow_repeats})\n")
        print_rows(rows, e.py_label)
        print(f"\n## Scale: time (ratio to {e.py_label}) by workflows on disk\n")
        print("| workflows on disk | resumable | Stop (a workflow running) | SessionStart (context) "
              "| cairn status --json |")
        print("|---|---|---|---|---|")
        for s in scale:
            print("| " + " | ".join(s) + " |")
        missed = [r.case for r in rows if r.met is False]
        print(f"\n{len([r for r in rows if r.met])} targets met, {len(missed)} missed"
              f"{' (quick mode: not meaningful)' if c.quick else ''}; "
              f"suite took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
