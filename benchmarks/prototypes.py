#!/usr/bin/env python3
"""Measures the fixes docs/benchmarks.md proposes, as throw-away prototypes, against
today's hooks on the same data: how much each would save, before anyone changes
lib/ or hooks/. Nothing here is Cairn code; every prototype is marked as such.

    python benchmarks/prototypes.py          # ~1 minute
    python benchmarks/prototypes.py --quick  # small N

Each row is timed in alternation with `<hook python> -I -S -c pass` (the ratio's base).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("cairn_bench_run", HERE / "run.py")
assert _spec is not None and _spec.loader is not None
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench
_spec.loader.exec_module(bench)

REPO = bench.REPO

# P2: Stop with no Python: the bound session's liveness file, touched by a shell builtin.
SHELL_STOP = r"""
root="${CLAUDE_PROJECT_DIR:-$PWD}/.claude/artifacts"
[ -f "$root/.running" ] || exit 0
IFS= read -r line || [ -n "$line" ] || exit 0
rest=${line#*\"session_id\"}
[ "$rest" = "$line" ] && exit 0
rest=${rest#*\"}
sid=${rest%%\"*}
case $sid in *[!0-9a-fA-F-]*|'') exit 0 ;; esac
[ -f "$root/.live/$sid" ] && : > "$root/.live/$sid"
exit 0
"""

# P4: Stop's heartbeat on sqlite3 alone (no cairn import), for reference.
SQLITE_STOP = r"""
import os, sys, time
raw = sys.stdin.buffer.read(1 << 20)
i = raw.find(b'"session_id"')
j = raw.find(b'"', raw.find(b":", i + 12) + 1)
sid = raw[j + 1:raw.find(b'"', j + 1)].decode()
import sqlite3
root = os.path.join(os.environ["CLAUDE_PROJECT_DIR"], ".claude", "artifacts")
db = sqlite3.connect(f"file:{root}/cairn.db?nofollow=1", uri=True, isolation_level=None, timeout=30)
db.execute("PRAGMA synchronous = NORMAL")
t = time.time()
now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)
db.execute("BEGIN IMMEDIATE")
row = db.execute("SELECT workflow_id FROM bindings WHERE session_id = ?", (sid,)).fetchone()
if row:
    db.execute("UPDATE sessions SET last_seen = ? WHERE workflow_id = ? AND session_id = ?", (now, row[0], sid))
    db.execute("UPDATE leases SET heartbeat_at = ? WHERE workflow_id = ? AND session_id = ?", (now, row[0], sid))
db.execute("COMMIT")
db.close()
sys.stdout.flush()
os._exit(0)
"""

# P5: SessionStart from a context the last writer rendered: stat the artifacts it names,
# fill the one slot that depends on the moment, print. Standard library, no cairn import.
PRECOMPUTED_START = r"""
import os, sys, time
root = os.path.join(os.environ["CLAUDE_PROJECT_DIR"], ".claude", "artifacts")
sys.stdin.buffer.read(1 << 20)
with open(os.path.join(root, ".resume"), "rb") as fh:
    head, _, out = fh.read().partition(b"\n\n")
for line in head.split(b"\n")[1:]:
    path, size, mtime_ns, ino = line.rsplit(b"\t", 3)
    st = os.stat(path)
    if st.st_size != int(size) or st.st_mtime_ns != int(mtime_ns) or st.st_ino != int(ino):
        sys.exit(3)  # the real hook would fall back to the full path
ago = int(time.time() - float(head.split(b"\n")[0]))
sys.stdout.buffer.write(out.replace(b"@@AGO@@", b"%d minutes ago" % (ago // 60)))
sys.stdout.flush()
os._exit(0)
"""

EXIT_CODES = {
    "normal exit": "import sys; sys.path.insert(0, {lib!r}); import cairn.hooks, cairn.manager, cairn.resumer",
    "gc.freeze() before exit": "import sys, gc; sys.path.insert(0, {lib!r}); import cairn.hooks, cairn.manager, "
                               "cairn.resumer; gc.freeze()",
    "os._exit(0) after flushing": "import sys, os; sys.path.insert(0, {lib!r}); import cairn.hooks, cairn.manager, "
                                  "cairn.resumer; sys.stdout.flush(); os._exit(0)",
    "gc.disable() first, os._exit(0)": "import gc; gc.disable(); import sys, os; sys.path.insert(0, {lib!r}); "
                                       "import cairn.hooks, cairn.manager, cairn.resumer; sys.stdout.flush(); "
                                       "os._exit(0)",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    c = bench.Config.make(args.quick)
    reps = c.repeats
    with bench.workdir(False) as tmp:
        e = bench.make_env(tmp, c, None)
        base = {"bare": e.bases[e.hook_base]}
        rows: list[tuple[str, float, float]] = []

        def row(label: str, thunk: bench.Thunk) -> None:
            med, got = bench.alternate(thunk, base, reps)
            rows.append((label, med, got["bare"]))

        def sh(project: Path, command: str, stdin: bytes, env: dict[str, str] | None = None,
               check: bytes | None = None) -> bench.Thunk:
            full = {**(env or e.env), "CLAUDE_PROJECT_DIR": str(project)}

            def go() -> float:
                elapsed, p = bench.run(["/bin/sh", "-c", command], full, stdin, cwd=project)
                if check is not None and check not in p.stdout:
                    raise bench.BenchError(f"{command[:60]}: {p.stdout[:200]!r}")
                return elapsed
            return go

        root_sh = f'sh "{REPO}/hooks/run.sh"'
        # P1: nothing open, the marker tested in hooks.json's own command (one shell)
        idle = bench.populate(tmp / "idle", c.n_main, 0, running=False)
        stop_in = bench.payload("Stop", idle.path)
        row("P1 Stop, nothing open: today (hooks.json runs sh run.sh)", sh(idle.path, e.hook_cmd["Stop"], stop_in))
        row("P1 Stop, nothing open: the marker tested in hooks.json's command",
            sh(idle.path, '[ -f "$CLAUDE_PROJECT_DIR/.claude/artifacts/.running" ] || exit 0; '
               f"exec {root_sh} stop", stop_in))
        # P2-P4: a workflow running, the session bound to it
        busy = bench.populate(tmp / "busy", c.n_main, c.n_resumable)
        live = busy.root / ".live"
        live.mkdir()
        (live / bench.SESSION).touch()
        stop_busy = bench.payload("Stop", busy.path)
        (tmp / "shell_stop.sh").write_text(SHELL_STOP)
        (tmp / "sqlite_stop.py").write_text(SQLITE_STOP)
        row("P2 Stop, a workflow running: today", sh(busy.path, e.hook_cmd["Stop"], stop_busy))
        row("P2 Stop, a workflow running: no Python (liveness file touched by sh)",
            sh(busy.path, f'sh "{tmp}/shell_stop.sh"', stop_busy))
        row("P2 the same, inline in hooks.json's command (one shell)",
            sh(busy.path, f'. "{tmp}/shell_stop.sh"', stop_busy))
        row("P4 Stop, a workflow running: sqlite3-only Python, os._exit",
            sh(busy.path, '[ -f "$CLAUDE_PROJECT_DIR/.claude/artifacts/.running" ] || exit 0; '
               f'exec "{e.venv_py}" -I -S "{tmp}/sqlite_stop.py"', stop_busy))
        # P3: the cost of exiting after cairn's imports
        for label, code in EXIT_CODES.items():
            row(f"P3 import cairn.hooks/manager/resumer, {label}",
                bench.baseline(e.venv_py, "-I", "-S", "-c", code.format(lib=str(bench.LIB)), env=e.env))
        # P5: SessionStart from a precomputed context
        start_body = lambda: bench.payload("SessionStart-startup", busy.path,  # noqa: E731
                                           session_id=str(uuid.uuid4()))
        env = {**e.env, "CLAUDE_PROJECT_DIR": str(busy.path)}
        _, p = bench.run(["/bin/sh", "-c", e.hook_cmd["SessionStart"]], env, start_body(), cwd=busy.path)
        out = json.loads(p.stdout)
        wid = out["hookSpecificOutput"]["additionalContext"].split('workflow="', 1)[1].split('"', 1)[0]
        lines = [str(__import__("time").time())]
        for f in sorted((busy.root / wid).glob("*.json")):
            st = f.stat()
            lines.append(f"{f}\t{st.st_size}\t{st.st_mtime_ns}\t{st.st_ino}")
        (busy.root / ".resume").write_bytes(("\n".join(lines) + "\n\n").encode() + p.stdout)
        (tmp / "start.py").write_text(PRECOMPUTED_START)
        row("P5 SessionStart injecting a context: today", bench.session_start_thunk(e, busy))
        row("P5 SessionStart from a context precomputed by the writer (stat check, one slot)",
            sh(busy.path, '[ -f "$CLAUDE_PROJECT_DIR/.claude/artifacts/.open" ] || exit 0; '
               f'exec "{e.venv_py}" -I -S "{tmp}/start.py"', start_body(), check=b"cairn-resume-context"))
        # P6: a project schema: jsonschema (import + check_schema) vs generated stdlib code
        schema = bench.project_schema()
        sfile = tmp / "project.schema.json"
        sfile.write_text(json.dumps(schema))
        doc = tmp / "doc.json"
        doc.write_bytes(bench._padded_artifact("wf-x", c.artifact_bytes, 0))
        js = (f"import sys, json, site; site.main(); import jsonschema; s = json.load(open({str(sfile)!r})); "
              "cls = jsonschema.validators.validator_for(s); cls.check_schema(s); "
              f"v = cls(s, format_checker=jsonschema.FormatChecker()); d = json.load(open({str(doc)!r})); "
              "assert not list(v.iter_errors(d))")
        row("P6 a project schema, 1 document: site + jsonschema + check_schema (venv)",
            bench.baseline(e.venv_py, "-I", "-S", "-c", js, env=e.env))
        try:
            import fastjsonschema
        except ImportError:
            print("(P6: fastjsonschema is not installed here: `pip install -e '.[dev]'`; row skipped)")
        else:
            # as scripts/gen_validators.py does: the exceptions from cairn's own _errors.py
            unnamed = {k: v for k, v in schema.items() if k != "$id"}  # so its function is `validate`
            code = fastjsonschema.compile_to_code(unnamed).replace(
                "from fastjsonschema import", "from cairn.checks.generated._errors import")
            (tmp / "gen_validator.py").write_text(code)
            stdlib = (f"import sys, json; sys.path[:0] = [{str(tmp)!r}, {str(bench.LIB)!r}]; import gen_validator; "
                      f"gen_validator.validate(json.load(open({str(doc)!r})))")
            row("P6 reference: the same process without the check (json.load of the document)",
                bench.baseline(e.venv_py, "-I", "-S", "-c", f"import json; json.load(open({str(doc)!r}))",
                               env=e.env))
            row("P6 the same schema compiled ahead of time (fastjsonschema code, stdlib only)",
                bench.baseline(e.venv_py, "-I", "-S", "-c", stdlib, env=e.env))
        print(f"# Prototypes of the proposed fixes (median of {reps}, alternating with "
              f"`{e.hook_base}`)\n")
        print("\n".join(bench.machine(e)))
        print("\n| prototype | median | bare start | ratio |\n|---|---|---|---|")
        for label, med, b in rows:
            print(f"| {label} | {bench.fmt_time(med)} | {bench.fmt_time(b)} | {med / b:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
