"""`cairn demo`: a scripted pipeline in a throwaway project, interrupted and resumed.

The model side is simulated (the "agents" copy example artifacts shipped with Cairn);
everything else is real: the hook entry point Claude Code runs (`hooks/run.sh`, fed
payloads shaped like the client's), the `cairn` CLI as a subprocess, the files on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from cairn.errors import EXIT_OK, CairnError

_RUN_SH = Path(__file__).resolve().parents[3] / "hooks" / "run.sh"


class Demo:
    def __init__(self, project: Path) -> None:
        self.project = project
        self.env = {**os.environ, "CLAUDE_PROJECT_DIR": str(project),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.env.pop("CLAUDE_PLUGIN_DATA", None)

    def cli(self, *args: str) -> str:
        proc = subprocess.run([sys.executable, "-m", "cairn", *args], cwd=self.project, env=self.env,
                              capture_output=True, text=True, timeout=60)
        return (proc.stdout + proc.stderr).strip()

    def hook(self, event: str, session: str, **fields: Any) -> dict[str, Any] | None:
        name = "".join(p.title() for p in event.split("-"))
        payload = {"session_id": session, "cwd": str(self.project), "hook_event_name": name,
                   "transcript_path": str(self.project / f"{session}.jsonl"), **fields}
        cmd = (["sh", str(_RUN_SH), event] if _RUN_SH.is_file()
               else [sys.executable, "-m", "cairn.hooks", event])
        proc = subprocess.run(cmd, input=json.dumps(payload), cwd=self.project, env=self.env,
                              capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise CairnError(f"hook {event} exited {proc.returncode}: {proc.stderr[-300:]}")
        out = proc.stdout.strip()
        return json.loads(out) if out else None

    def write_artifact(self, wid: str, stage: str, path: str) -> None:
        example = resources.files("cairn").joinpath("data").joinpath("examples").joinpath(path)
        text = example.read_text(encoding="utf-8").replace("wf-example", wid)
        (self.project / ".claude" / "artifacts" / wid / path).write_text(text, encoding="utf-8")

    def run_stage(self, wid: str, session: str, stage: str, artifact: str, *, agent_id: str) -> None:
        start = self.hook("subagent-start", session, agent_type=f"cairn:{stage}", agent_id=agent_id)
        brief = (start or {}).get("hookSpecificOutput", {}).get("additionalContext", "")
        must = next((ln for ln in brief.splitlines() if ln.startswith("- /")), "")
        print(f"  [{stage}] SubagentStart told it to write {must[2:].split(' (')[0]}")
        self.write_artifact(wid, stage, artifact)
        stop = self.hook("subagent-stop", session, agent_type=f"cairn:{stage}", agent_id=agent_id,
                         stop_hook_active=False)
        print(f"  [{stage}] wrote {artifact}; SubagentStop recorded it" if stop is None
              else f"  [{stage}] SubagentStop answered {stop}")


def _say(title: str) -> None:
    print(f"\n== {title}")


def cmd_demo(args: argparse.Namespace) -> int:
    from cairn.pipeline import default_pipeline

    project = Path(tempfile.mkdtemp(prefix="cairn-demo-"))
    subprocess.run(["git", "init", "-q", str(project)], check=False, capture_output=True)
    demo = Demo(project)
    stages = [(s.name, s.artifacts[0].path) for s in default_pipeline().stages]
    half = len(stages) // 2
    try:
        print(f"Cairn demo in {project}\n(a simulation of the model side: scripted agents "
              "copy example artifacts; hooks and CLI are the real ones)")
        _say("Session 1: /cairn:start creates a workflow")
        wid = demo.cli("start", "Add a --dry-run flag to `tool export`", "--id", "wf-demo")
        print(f"  $ cairn start ... -> {wid}")
        demo.hook("session-start", "session-1", source="startup")
        for i, (stage, artifact) in enumerate(stages[: half - 1]):
            demo.run_stage(wid, "session-1", stage, artifact, agent_id=f"agent-{i}")
        stage, artifact = stages[half - 1]
        demo.hook("subagent-start", "session-1", agent_type=f"cairn:{stage}", agent_id="agent-x")
        block = demo.hook("subagent-stop", "session-1", agent_type=f"cairn:{stage}",
                          agent_id="agent-x", stop_hook_active=False)
        print(f"  [{stage}] tried to stop without its artifact; SubagentStop blocked it:\n"
              f"    {(block or {}).get('reason', block)}")
        demo.write_artifact(wid, stage, artifact)
        demo.hook("subagent-stop", "session-1", agent_type=f"cairn:{stage}", agent_id="agent-x",
                  stop_hook_active=True)
        print(f"  [{stage}] wrote {artifact}; recorded on its second stop")
        stage, _ = stages[half]
        demo.hook("subagent-start", "session-1", agent_type=f"cairn:{stage}", agent_id="agent-k")
        print(f"  [{stage}] started ... and the terminal is killed (SIGKILL: no hook runs)")
        print("\n  $ cairn list\n  " + demo.cli("list"))

        _say("Session 2: a new Claude session starts in the project")
        out = demo.hook("session-start", "session-2", source="startup") or {}
        print(f"  systemMessage: {out.get('systemMessage')}")
        print("  additionalContext injected into the session:")
        ctx = out.get("hookSpecificOutput", {}).get("additionalContext", "")
        print("\n".join("    " + line for line in ctx.splitlines()))

        _say("Session 2 continues from the interrupted stage to the end")
        for i, (stage, artifact) in enumerate(stages[half:]):
            demo.run_stage(wid, "session-2", stage, artifact, agent_id=f"agent-r{i}")
        print("\n  $ cairn list --all\n  " + demo.cli("list", "--all"))
        print("  $ cairn validate wf-demo\n  " + demo.cli("validate", "wf-demo"))
    finally:
        if args.keep:
            print(f"\nKept the demo project: {project}")
        else:
            shutil.rmtree(project, ignore_errors=True)
    return EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run a scripted pipeline in a throwaway project, interrupt "
                       "it and resume it (a simulation of the model side)")
    p.add_argument("--keep", action="store_true", help="keep the throwaway project")
    p.set_defaults(handler=cmd_demo)
