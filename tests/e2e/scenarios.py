"""Helpers for the Cairn end-to-end tests (core v2: the SQLite database is the truth).

They set a project up the way the library does (``CheckpointManager`` in this process,
valid artifacts copied from ``lib/cairn/data/examples`` with the workflow id replaced),
make the real client load this repository as a plugin (``--plugin-dir <repo>``), script
the model side, and read the outcome back with the library: the database
``.claude/artifacts/cairn.db`` first, the ``checkpoint.json`` projection second.

The plugin's hooks run ``python3`` from PATH (``hooks/run.sh``, with ``-I -S``: standard
library only). ``plugin_ready`` puts a wrapper of this interpreter first on the client's
PATH and pre-creates the dependency stamp in ``CLAUDE_PLUGIN_DATA``
(``~/.claude/plugins/data/cairn-inline`` for a ``--plugin-dir`` plugin), so no test but
the bare-interpreter one starts the background ``pip install``. ``bare_python`` makes
the interpreter that test runs the hooks on: a venv without pip or any package.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fake_api import Request, ResponderResult, Turn, text_turn, tool_turn
from harness import REPO_ROOT, ClaudeEnv

from cairn.manager import CheckpointManager
from cairn.model import Workflow

PLUGIN_DIR = REPO_ROOT
FIXTURES = REPO_ROOT / "lib" / "cairn" / "data" / "examples"
ARTIFACT_OF = {
    "orchestrator": "manifest.json",
    "researcher": "research.json",
    "planner": "architecture.json",
    "test-master": "tests.json",
    "implementer": "implementation.json",
    "reviewer": "review.json",
    "security-auditor": "security.json",
    "doc-master": "docs.json",
}
STAGES = list(ARTIFACT_OF)
WID = "wf-e2e-0001"
REQUEST = "Add a --dry-run option to the export command"
DB_FILE = "cairn.db"
MARKER = "cairn-workflow: {}"


# ------------------------------------------------------------------ project state


def artifacts_root(project: Path) -> Path:
    return project / ".claude" / "artifacts"


def db_path(project: Path) -> Path:
    return artifacts_root(project) / DB_FILE


def manager(project: Path) -> CheckpointManager:
    """A fresh manager (a new connection: sees everything the hooks committed)."""
    return CheckpointManager(artifacts_root(project), project_dir=project)


def load(project: Path, wid: str = WID) -> Workflow:
    """The workflow as the database has it."""
    return manager(project).load(wid)


def projection(project: Path, wid: str = WID) -> dict[str, Any]:
    """``checkpoint.json`` as it is on disk (read raw: loading could rewrite it)."""
    data: dict[str, Any] = json.loads((artifacts_root(project) / wid / "checkpoint.json").read_text())
    return data


def binding(project: Path, session_id: str) -> str | None:
    with manager(project).store.read() as r:
        return r.binding(session_id)


def dispatches(project: Path, session_id: str, stage: str) -> list[tuple[str, str, str | None]]:
    """(tool_use_id, workflow_id, claimed_by agent id) of the session's dispatches of ``stage``."""
    with manager(project).store.read() as r:
        return list(r.dispatches(session_id, stage))


def attempts(wf: Workflow, stage: str) -> list[tuple[int, str, str | None]]:
    """(number, outcome, agent_id) of each attempt at ``stage``."""
    return [(a.number, a.outcome, a.agent_id) for a in wf.attempts if a.stage == stage]


def completions(wf: Workflow, stage: str) -> int:
    return sum(1 for a in wf.attempts if a.stage == stage and a.outcome == "completed")


def fingerprint(wf: Workflow) -> tuple[Any, ...]:
    """What must not change on a workflow nobody worked on: seq, status, every attempt."""
    return (wf.seq, wf.status.value, wf.status_reason,
            [(a.stage, a.number, a.outcome, a.agent_id, a.session_id, a.ended_seq) for a in wf.attempts])


def artifact_path(project: Path, stage: str, wid: str = WID) -> Path:
    return artifacts_root(project) / wid / ARTIFACT_OF[stage]


def artifact_text(stage: str, wid: str = WID) -> str:
    """A valid artifact of ``stage`` for workflow ``wid`` (from the shipped examples)."""
    data = json.loads((FIXTURES / ARTIFACT_OF[stage]).read_text())
    data["workflow_id"] = wid
    return json.dumps(data, indent=2) + "\n"


def write_artifact(project: Path, stage: str, wid: str = WID) -> Path:
    path = artifact_path(project, stage, wid)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(artifact_text(stage, wid))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_workflow(project: Path, done: Sequence[str] = (), *, wid: str = WID, request: str = REQUEST,
                  pause: bool = False) -> Workflow:
    """A workflow made with the library in this process: ``create``, then for each of the
    stages ``done`` a valid artifact and ``record_completion`` (schema-checked), then
    ``pause`` if asked. No session: nothing binds it to the client's session."""
    m = manager(project)
    m.create(request, workflow_id=wid)
    for stage in done:
        write_artifact(project, stage, wid)
        m.record_completion(wid, stage)
    if pause:
        m.pause(wid, "paused by the e2e test")
    return m.load(wid)


def resume_in_session(project: Path, session_id: str, wid: str = WID) -> Workflow:
    """What ``cairn resume ID`` run inside the session does to the database (the library
    call, from this process): the workflow runs again, bound to ``session_id`` — the
    evidence SessionEnd and PreCompact act on. Pair it with ``--session-id``."""
    return manager(project).apply(wid, lambda tx, wf, seq, now: None, "resume", session_id=session_id)


def log_lines(project: Path) -> list[str]:
    """The hooks' error log (``.claude/artifacts/.logs/cairn.log``): one line per error."""
    log = artifacts_root(project) / ".logs" / "cairn.log"
    return log.read_text().splitlines() if log.exists() else []


# ------------------------------------------------------------------ the CLI (optional)


def cli(project: Path, *args: str, python: str = sys.executable,
        timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``cairn`` (``bin/cairn``'s module) on the project's artifacts folder."""
    return subprocess.run(
        [python, "-m", "cairn", "--dir", str(artifacts_root(project)), *args],
        capture_output=True, text=True, timeout=timeout,
        env={**os.environ, "CLAUDE_PROJECT_DIR": str(project),
             "PYTHONPATH": str(REPO_ROOT / "lib")},
    )


@functools.lru_cache(maxsize=1)
# ------------------------------------------------------------------ the client


def deps_stamp() -> str:
    """The dependency stamp ``hooks/run.sh`` checks (``DEPS_STAMP=deps-N``)."""
    found = re.search(r"^DEPS_STAMP=(\S+)$", (PLUGIN_DIR / "hooks" / "run.sh").read_text(), re.M)
    assert found, "hooks/run.sh no longer sets DEPS_STAMP"
    return found.group(1)


def plugin_data(env: ClaudeEnv) -> Path:
    """``CLAUDE_PLUGIN_DATA`` of a ``--plugin-dir`` plugin named cairn."""
    return env.home / ".claude" / "plugins" / "data" / "cairn-inline"


SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def plugin_ready(env: ClaudeEnv) -> None:
    """The client's PATH is ``<home>/pybin`` (only ``python3``/``python``: wrappers that
    exec this interpreter) then the system folders, so hooks and the Bash tool run this
    interpreter as ``python3`` and the Bash tool's ``cairn`` is the plugin's ``bin/cairn``
    (appended to PATH by the client), never a ``cairn`` installed in the caller's PATH.
    The dependency stamp exists, so no background ``pip install`` starts; there is no
    plugin venv, so run.sh keeps python3 (with ``-I -S``: no site-packages)."""
    pybin = env.home / "pybin"
    pybin.mkdir(exist_ok=True)
    for name in ("python3", "python"):
        wrapper = pybin / name
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        wrapper.chmod(0o755)
    env.env_extra["PATH"] = f"{pybin}{os.pathsep}{SYSTEM_PATH}"
    data = plugin_data(env)
    data.mkdir(parents=True, exist_ok=True)
    (data / f"{deps_stamp()}.ok").touch()


def bare_python(folder: Path) -> tuple[Path, Path]:
    """A venv without pip or any package (``python3 -m venv --without-pip``), whose
    ``bin/python3`` is a wrapper that appends its arguments to a log and execs the venv's
    own ``bin/python`` (so the interpreter still finds ``pyvenv.cfg``: a lone symlink
    elsewhere would not, see CLIENT_FACTS §6). Returns (venv, calls log)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=60)
    calls = folder / "python3-calls.log"
    wrapper = folder / "bin" / "python3"
    wrapper.unlink()
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{calls}"\n'
                       f'exec "{folder / "bin" / "python"}" "$@"\n')
    wrapper.chmod(0o755)
    return folder, calls


def offline_pip_env() -> dict[str, str]:
    """Environment that keeps pip from reaching any package source (no index, no
    config file with local find-links, proxies that go nowhere)."""
    dead = "http://127.0.0.1:9"
    return {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INDEX": "1",
        "PIP_INDEX_URL": f"{dead}/simple",
        "PIP_FIND_LINKS": "",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "1",
        "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "http_proxy": dead, "https_proxy": dead,
        "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
    }


def marker(wid: str) -> str:
    return MARKER.format(wid)


def agent_call(stage: str, wid: str | None = WID, *, prompt: str | None = None,
               background: bool = False, subagent_type: str | None = None) -> Turn:
    """An Agent tool call for ``cairn:<stage>``; the prompt names ``wid`` with the
    ``cairn-workflow: <id>`` line (``wid=None``: names no workflow at all)."""
    if prompt is None:
        prompt = f"Run the {stage} stage of the Cairn workflow."
        if wid is not None:
            prompt += "\n" + marker(wid)
    return tool_turn("Agent", {
        "description": f"Run the {stage} stage",
        "prompt": prompt,
        "subagent_type": subagent_type or f"cairn:{stage}",
        "run_in_background": background,
    })


def write_call(path: Path, content: str) -> Turn:
    return tool_turn("Write", {"file_path": str(path), "content": content})


def bash_call(command: str) -> Turn:
    return tool_turn("Bash", {"command": command, "description": "run a command"})


def pipeline_responder(
    project: Path, stage: str, *, wid: str = WID, write_first: bool = True,
    background: bool = False, main_done: str = "MAIN-DONE",
) -> Callable[[Request], ResponderResult]:
    """Main agent: one Agent call for ``stage`` (naming ``wid``), then done. Subagent:
    Write its artifact (at once, or only after Cairn blocked its first stop), then done."""
    target = artifact_path(project, stage, wid)

    def respond(req: Request) -> ResponderResult:
        if req.is_side_request:
            return None
        if req.is_subagent:
            wrote = any(u.get("name") == "Write" for u in req.all_tool_uses())
            if wrote:
                return text_turn(f"{stage.upper()}-DONE")
            if write_first or "Stop hook feedback" in req.messages_text():
                return write_call(target, artifact_text(stage, wid))
            return text_turn(f"{stage.upper()}-STOPPING-WITHOUT-ARTIFACT")
        # The turn's prompt (not the Agent result, nor a background agent's notice):
        # delegate. Judged on the last message only, so a `--continue`d conversation
        # holding an earlier Agent call still delegates again.
        if req.last_tool_result("Agent") is None and "<task-notification>" not in req.last_user_text:
            return agent_call(stage, wid, background=background)
        return text_turn(main_done)

    return respond


def hook_responses(events: Sequence[dict[str, Any]], prefix: str = "") -> list[dict[str, Any]]:
    """``hook_response`` events of a stream-json run (``--include-hook-events`` for all
    of them; without it only SessionStart's), optionally of hooks named ``prefix*``."""
    return [e for e in events if e.get("subtype") == "hook_response"
            and str(e.get("hook_name", "")).startswith(prefix)]


def tool_result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
    return ""
