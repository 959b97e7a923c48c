"""`cairn demo`: a scripted pipeline in a throwaway project, interrupted and resumed.

The model side is simulated (the "agents" copy example artifacts shipped with Cairn);
everything else is real: the hook entry point Claude Code runs (`hooks/run.sh`, fed
payloads shaped like the client's: PreToolUse/PostToolUse on the Agent tool with the
`cairn-workflow: <id>` line in its prompt, SubagentStart/SubagentStop), the `cairn` CLI
as a subprocess run as Claude Code's Bash tool runs it (CLAUDE_CODE_SESSION_ID set), and
the files on disk.
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

from cairn.cmd.common import PID_ENV, SESSION_ENV, Subparsers
from cairn.context import workflow_marker
from cairn.errors import EXIT_OK, CairnError

_RUN_SH = Path(__file__).resolve().parents[3] / "hooks" / "run.sh"
_LIB = Path(__file__).resolve().parents[2]  # the folder that holds the `cairn` package
Json = dict[str, object]


class Demo:
    def __init__(self, project: Path) -> None:
        self.project = project
        self.env = {**os.environ, "CLAUDE_PROJECT_DIR": str(project),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                    "PYTHONPATH": str(_LIB) + (os.pathsep + os.environ["PYTHONPATH"]
                                               if os.environ.get("PYTHONPATH") else "")}
        for name in ("CLAUDE_PLUGIN_DATA", SESSION_ENV, PID_ENV):
            self.env.pop(name, None)
        self.tools = 0

    def cli(self, *args: str, session: str | None = None) -> str:
        env = dict(self.env)
        if session is not None:  # as Claude Code's Bash tool runs it, inside that session
            env[SESSION_ENV], env[PID_ENV] = session, str(os.getpid())
        proc = subprocess.run([sys.executable, "-m", "cairn", *args], cwd=self.project, env=env,
                              capture_output=True, text=True, timeout=60)
        return (proc.stdout + proc.stderr).strip()

    def hook(self, event: str, session: str, **fields: object) -> Json | None:
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
        value = json.loads(out) if out else None
        return value if isinstance(value, dict) else None

    def write_artifact(self, wid: str, path: str) -> None:
        example = resources.files("cairn").joinpath("data").joinpath("examples").joinpath(path)
        text = example.read_text(encoding="utf-8").replace("wf-example", wid)
        (self.project / ".claude" / "artifacts" / wid / path).write_text(text, encoding="utf-8")

    def dispatch(self, wid: str, session: str, stage: str) -> str:
        """The Agent tool call the model makes (PreToolUse sees it first); its tool_use_id."""
        self.tools += 1
        tool_use = f"toolu_demo_{self.tools:02d}"
        prompt = f"Run the {stage} stage of the Cairn workflow.\n{workflow_marker(wid)}"
        answer = self.hook("pre-tool-use", session, tool_name="Agent", tool_use_id=tool_use,
                           tool_input={"subagent_type": f"cairn:{stage}", "prompt": prompt,
                                       "description": f"cairn {stage}"})
        if answer is not None:
            raise CairnError(f"PreToolUse refused the {stage} dispatch: {answer}")
        return tool_use

    def returned(self, session: str, stage: str, tool_use: str, agent_id: str) -> None:
        self.hook("post-tool-use", session, tool_name="Agent", tool_use_id=tool_use,
                  tool_input={"subagent_type": f"cairn:{stage}", "prompt": ""},
                  tool_response={"agentId": agent_id, "totalTokens": 1200, "totalDurationMs": 4000})

    def run_stage(self, wid: str, session: str, stage: str, artifact: str, *, agent_id: str) -> None:
        tool_use = self.dispatch(wid, session, stage)
        start = self.hook("subagent-start", session, agent_type=f"cairn:{stage}", agent_id=agent_id)
        specific = (start or {}).get("hookSpecificOutput")
        brief = str(specific.get("additionalContext", "")) if isinstance(specific, dict) else ""
        must = next((ln for ln in brief.splitlines() if ln.startswith("- /")), "")
        print(f"  [{stage}] SubagentStart told it to write {must[2:].split(' (')[0]}")
        self.write_artifact(wid, artifact)
        stop = self.hook("subagent-stop", session, agent_type=f"cairn:{stage}", agent_id=agent_id,
                         stop_hook_active=False)
        self.returned(session, stage, tool_use, agent_id)
        print(f"  [{stage}] wrote {artifact}; SubagentStop recorded it" if stop is None
              else f"  [{stage}] SubagentStop answered {stop}")


def _say(title: str) -> None:
    print(f"\n== {title}")


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


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
        demo.hook("session-start", "session-1", source="startup")
        wid = demo.cli("start", "Add a --dry-run flag to `tool export`", "--id", "wf-demo", session="session-1")
        print(f"  $ cairn start ... -> {wid}  (run in session-1: the workflow is bound to it)")
        for i, (stage, artifact) in enumerate(stages[: half - 1]):
            demo.run_stage(wid, "session-1", stage, artifact, agent_id=f"agent-{i}")
        stage, artifact = stages[half - 1]
        tool_use = demo.dispatch(wid, "session-1", stage)
        demo.hook("subagent-start", "session-1", agent_type=f"cairn:{stage}", agent_id="agent-x")
        block = demo.hook("subagent-stop", "session-1", agent_type=f"cairn:{stage}",
                          agent_id="agent-x", stop_hook_active=False)
        print(f"  [{stage}] tried to stop without its artifact; SubagentStop blocked it:\n"
              f"    {(block or {}).get('reason', block)}")
        demo.write_artifact(wid, artifact)
        demo.hook("subagent-stop", "session-1", agent_type=f"cairn:{stage}", agent_id="agent-x",
                  stop_hook_active=True)
        demo.returned("session-1", stage, tool_use, "agent-x")
        print(f"  [{stage}] wrote {artifact}; recorded on its second stop")
        stage, _ = stages[half]
        demo.dispatch(wid, "session-1", stage)
        demo.hook("subagent-start", "session-1", agent_type=f"cairn:{stage}", agent_id="agent-k")
        print(f"  [{stage}] started ... and the terminal is killed (SIGKILL: no hook runs)")
        print("\n  $ cairn list\n" + _indent(demo.cli("list")))

        _say("Session 2: a new Claude session starts in the project")
        out = demo.hook("session-start", "session-2", source="startup") or {}
        print(f"  systemMessage: {out.get('systemMessage')}")
        print("  additionalContext injected into the session:")
        specific = out.get("hookSpecificOutput")
        ctx = str(specific.get("additionalContext", "")) if isinstance(specific, dict) else ""
        print("\n".join("    " + line for line in ctx.splitlines()))

        _say("Session 2: /cairn:resume, then the pipeline continues from the interrupted stage")
        plan = json.loads(demo.cli("resume", wid, "--json", session="session-2"))
        print(f"  $ cairn resume {wid} -> {plan['status']}, next: {plan['next_agent']} "
              "(session-2 is bound to it and holds its lease)")
        for i, (stage, artifact) in enumerate(stages[half:]):
            demo.run_stage(wid, "session-2", stage, artifact, agent_id=f"agent-r{i}")
        print("\n  $ cairn list --all\n" + _indent(demo.cli("list", "--all")))
        print("  $ cairn validate wf-demo\n" + _indent(demo.cli("validate", "wf-demo")))
    finally:
        if args.keep:
            print(f"\nKept the demo project: {project}")
        else:
            shutil.rmtree(project, ignore_errors=True)
    return EXIT_OK


def register(sub: Subparsers) -> None:
    p = sub.add_parser("demo", help="run a scripted pipeline in a throwaway project, interrupt "
                       "it and resume it (a simulation of the model side)")
    p.add_argument("--keep", action="store_true", help="keep the throwaway project")
    p.set_defaults(handler=cmd_demo)
