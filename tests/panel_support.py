"""Shared by the panel's tests: a project with workflows in the states a card shows (built
with the library), and `cairn ui` run as a real process, read back from the URL it prints."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from cairn.manager import CheckpointManager
from test_cli_support import LIB, SESSION_VARS, complete_stage

URL_RE = re.compile(r"http://127\.0\.0\.1:(\d+)/([A-Za-z0-9_-]+)/")
SHOTS = pytest.StashKey[Path]()  # where the browser tests left their screenshots (said at the end)


def git(project: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(project), *args], check=True, capture_output=True)


def run(m: CheckpointManager, wid: str, stage: str, tokens: int) -> None:
    """A stage run as the hooks record it: started by its agent, completed, its usage kept."""
    agent = f"ag-{wid}-{stage}"
    m.record_start(wid, stage, agent_id=agent)
    complete_stage(m, wid, stage)
    m.workflows.agent_launched(f"toolu-{agent}", agent, json.dumps({"totalTokens": tokens}))


def fleet(project: Path) -> CheckpointManager:
    """wf-auth paused after three stages (green), wf-tests failed with an artifact deleted
    (red), wf-gate running up to a breakpoint before the reviewer (waiting for approval)."""
    (project / ".claude" / "artifacts").mkdir(parents=True, exist_ok=True)
    git(project, "init", "-q", "-b", "main")
    git(project, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "init")
    m = CheckpointManager(project / ".claude" / "artifacts", project_dir=project)
    m.create("Add user authentication <b>with</b> OAuth", workflow_id="wf-auth")
    for i, stage in enumerate(("orchestrator", "researcher", "planner")):
        run(m, "wf-auth", stage, 1000 * (i + 2))
    m.pause("wf-auth")
    m.create("Fix broken tests in the export module", workflow_id="wf-tests")
    for stage in ("orchestrator", "researcher"):
        run(m, "wf-tests", stage, 1500)
    (m.workflow_dir("wf-tests") / "research.json").unlink()
    m.record_failure("wf-tests", "planner", "the planner timed out")
    m.create("Review gate: the reviewer waits for a person", workflow_id="wf-gate")
    for i, stage in enumerate(("orchestrator", "researcher", "planner", "test-master", "implementer")):
        run(m, "wf-gate", stage, 800 * (i + 1))
    m.hold("wf-gate", "reviewer")
    return m


@dataclass
class Server:
    url: str
    port: int
    token: str
    proc: subprocess.Popen[str]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, *, body: object = None, headers: dict[str, str] | None = None,
                raw: bytes | None = None) -> tuple[int, str]:
        """One HTTP request with exactly these headers (http.client adds Host unless given)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        given = dict(headers or {})
        conn.putrequest(method, path, skip_host="Host" in given, skip_accept_encoding=True)
        for k, v in given.items():
            conn.putheader(k, v)
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        resp = conn.getresponse()
        text = resp.read().decode("utf-8", "replace")
        conn.close()
        return resp.status, text

    def post(self, path: str, body: object = None, **headers: str) -> tuple[int, str]:
        base = {"Origin": self.origin, "Content-Type": "application/json"}
        base.update({k.replace("_", "-"): v for k, v in headers.items()})
        return self.request("POST", f"/{self.token}{path}", body=body if body is not None else {}, headers=base)


@contextmanager
def serve(root: Path, *extra: str, env_extra: dict[str, str] | None = None) -> Iterator[Server]:
    """`cairn --dir ROOT ui` as a real process; stopped with SIGINT (Ctrl+C) at the end."""
    env = {k: v for k, v in os.environ.items() if k not in SESSION_VARS}
    env["PYTHONPATH"] = str(LIB)
    env.update(env_extra or {})
    proc = subprocess.Popen([sys.executable, "-m", "cairn", "--dir", str(root), "ui", *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = URL_RE.search(line)
            if found:
                yield Server(found.group(0), int(found.group(1)), found.group(2), proc)
                break
        else:
            raise AssertionError(f"cairn ui printed no URL within 30 s: {lines}")
        if not lines or not URL_RE.search(lines[-1]):
            raise AssertionError(f"cairn ui ended without a URL: {lines} {proc.stderr.read() if proc.stderr else ''}")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def path_of(url: str) -> str:
    return urlsplit(url).path
