"""Run the real Claude Code CLI against :class:`fake_api.FakeAnthropic`.

The client is the npm package ``@anthropic-ai/claude-code`` pinned in
``.ci/install-claude.sh`` and installed outside the repository (the repository is
the plugin, which Claude Code copies whole): ``claude_bin()`` finds it through
``$CAIRN_CLAUDE_BIN`` (set by ``.ci/run``), ``$CAIRN_E2E_PREFIX``, a ``<repo>/.e2e/``
(git-ignored; older checkouts and worktrees that link one), or the script's default
``${XDG_CACHE_HOME:-~/.cache}/cairn-ci/claude-<version>/``, and skips the calling test
with the places it looked when it is missing.

Every run gets an isolated environment built from scratch (``claude_env_vars``):
nothing of the caller's environment leaks in except PATH/LANG/TMPDIR-like
basics, so variables of an outer Claude Code session (CLAUDECODE,
CLAUDE_CODE_*, ANTHROPIC_*) never reach the client under test. HOME is a
temporary directory; the client creates ``$HOME/.claude.json`` and
``$HOME/.claude/`` itself. In ``-p`` mode no onboarding state is needed (checked
with 2.1.328: a bare empty HOME works, no prompt appears).

Necessary variables (all set by ``claude_env_vars``): ANTHROPIC_BASE_URL,
ANTHROPIC_API_KEY, HOME, IS_SANDBOX=1 (``--dangerously-skip-permissions`` refuses
to run as root without it), and for hygiene CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC,
DISABLE_TELEMETRY, DISABLE_AUTOUPDATER. Also set: CLAUDE_CODE_TMPDIR and TMPDIR
= ``$HOME/tmp`` (the client otherwise writes task output to ``/tmp/claude-<uid>/``
and a socket dir to ``/tmp/cc-socks``), CLAUDE_CODE_MAX_RETRIES=2 and
API_TIMEOUT_MS=30000 so a broken fake fails fast. CLAUDE_CONFIG_DIR is left
unset so paths match real installs (``~/.claude/plugins/data/<plugin>-inline``,
``~/.claude/projects/...``); pass it in ``env_extra`` if a test wants it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fake_api import FakeAnthropic

__all__ = [
    "DEFAULT_TIMEOUT",
    "PINNED_CLAUDE_VERSION",
    "REPO_ROOT",
    "ClaudeEnv",
    "claude_args",
    "claude_bin",
    "claude_env_vars",
    "find_result",
    "kill_claude",
    "parse_stream_json",
    "run_claude",
    "start_claude",
    "wait_for_file",
    "which_git",
    "write_plugin",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
PINNED_CLAUDE_VERSION = "2.1.328"
DEFAULT_TIMEOUT = 60.0

# Environment variables copied from the caller when set; everything else is dropped.
_PASSTHROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TERM", "NODE_EXTRA_CA_CERTS")


def _default_prefix() -> Path:
    """Where ``.ci/install-claude.sh`` installs by default. Computed once, at import:
    the tests' fixtures point HOME at a temporary folder."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    version = os.environ.get("CAIRN_CLAUDE_VERSION") or PINNED_CLAUDE_VERSION
    return Path(cache) / "cairn-ci" / f"claude-{version}"


_DEFAULT_PREFIX = _default_prefix()
_BIN = Path("node_modules") / ".bin" / "claude"


def claude_candidates() -> list[Path]:
    """Where the pinned client may be, in the order ``claude_bin()`` looks."""
    if os.environ.get("CAIRN_CLAUDE_BIN"):
        return [Path(os.environ["CAIRN_CLAUDE_BIN"])]
    if os.environ.get("CAIRN_E2E_PREFIX"):
        return [Path(os.environ["CAIRN_E2E_PREFIX"]) / _BIN]
    return [REPO_ROOT / ".e2e" / _BIN, _DEFAULT_PREFIX / _BIN]


def claude_bin() -> Path:
    """Path of the pinned ``claude`` binary; ``pytest.skip`` when it is not installed."""
    places = claude_candidates()
    for path in places:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    pytest.skip(f"the Claude Code CLI is not installed (looked for {' and '.join(map(str, places))}): run "
                "`bash .ci/install-claude.sh`, or set CAIRN_CLAUDE_BIN to a claude binary")


def claude_env_vars(
    *,
    home: Path,
    api: FakeAnthropic | str,
    env_extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The complete, isolated environment for one client run.

    ``api`` is the fake server or a base URL. ``env_extra`` is applied last and
    may override anything (set a value to "" to blank it).
    """
    home = Path(home)
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    base_url = api if isinstance(api, str) else api.base_url
    env: dict[str, str] = {k: os.environ[k] for k in _PASSTHROUGH if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    env.update(
        {
            "HOME": str(home),
            "USER": os.environ.get("USER", "root"),
            "SHELL": "/bin/bash",
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": "sk-ant-fake-e2e-key",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_ERROR_REPORTING": "1",
            "IS_SANDBOX": "1",
            # A failing fake must fail fast rather than be retried for minutes.
            "API_TIMEOUT_MS": "30000",
            "CLAUDE_CODE_MAX_RETRIES": "2",
            # Task output files would otherwise go to /tmp/claude-<uid>/.
            "CLAUDE_CODE_TMPDIR": str(home / "tmp"),
            "TMPDIR": str(home / "tmp"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
        }
    )
    if env_extra:
        env.update(env_extra)
    return env


def claude_args(
    prompt: str,
    *,
    plugin_dirs: Sequence[Path | str] = (),
    extra: Sequence[str] = (),
    output_format: str = "stream-json",
) -> list[str]:
    """Standard ``-p`` arguments: prompt, plugin dirs, stream-json output, no permission prompts."""
    args = ["-p", prompt]
    for d in plugin_dirs:
        args += ["--plugin-dir", str(d)]
    args += ["--output-format", output_format]
    if output_format == "stream-json":
        args.append("--verbose")
    args.append("--dangerously-skip-permissions")
    args += list(extra)
    return args


def run_claude(
    args: Sequence[str],
    *,
    cwd: Path | str,
    home: Path | str,
    api: FakeAnthropic | str,
    env_extra: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``claude *args`` to completion and return its output (text mode).

    Raises ``subprocess.TimeoutExpired`` (after killing the whole process group)
    when it outlives ``timeout``. Standard input is ``input`` or /dev/null.
    """
    env = claude_env_vars(home=Path(home), api=api, env_extra=env_extra)
    cmd = [str(claude_bin()), *args]
    proc = subprocess.Popen(
        cmd,
        cwd=str(cwd),
        env=env,
        stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_claude(proc, signal.SIGKILL)
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(cmd, timeout, output=out, stderr=err) from None
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def start_claude(
    args: Sequence[str],
    *,
    cwd: Path | str,
    home: Path | str,
    api: FakeAnthropic | str,
    env_extra: Mapping[str, str] | None = None,
    stdout: Any = subprocess.PIPE,
    stderr: Any = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """Start ``claude *args`` in its own process group and return at once.

    For tests that interrupt the client (``kill_claude(proc, signal.SIGKILL)``).
    Pass files as ``stdout``/``stderr`` if the test does not read the pipes
    while the client runs (a full pipe would block it). The caller must wait
    for or kill the process.
    """
    env = claude_env_vars(home=Path(home), api=api, env_extra=env_extra)
    return subprocess.Popen(
        [str(claude_bin()), *args],
        cwd=str(cwd),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        text=True,
        start_new_session=True,
    )


def kill_claude(
    proc: subprocess.Popen[str], sig: int = signal.SIGKILL, *, wait: float = 10.0
) -> int | None:
    """Send ``sig`` to the client's process group (its hooks included) and wait.

    SIGKILL kills the group, so hook processes the client started die too, like
    on a machine crash. For SIGTERM/SIGINT/SIGHUP only the client itself gets the
    signal, so it can run its SessionEnd hooks. Returns the exit code, or None
    if it is still running after ``wait`` seconds.
    """
    if proc.poll() is None:
        try:
            if sig == signal.SIGKILL:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except ProcessLookupError:
            pass
    try:
        return proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        return None


def parse_stream_json(stdout: str) -> list[dict[str, Any]]:
    """The JSON objects of ``--output-format stream-json`` output (non-JSON lines skipped)."""
    events: list[dict[str, Any]] = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            events.append(obj)
    return events


def find_result(events: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The final ``{"type": "result", ...}`` event of a stream-json run, if any."""
    for ev in reversed(events):
        if ev.get("type") == "result":
            return dict(ev)
    return None


def write_plugin(
    root: Path,
    *,
    name: str,
    version: str = "0.0.1",
    hooks: Mapping[str, Any] | None = None,
    agents: Mapping[str, str] | None = None,
    files: Mapping[str, str] | None = None,
) -> Path:
    """Create a throwaway plugin directory for tests and return it.

    ``hooks`` is the ``hooks`` object of ``hooks/hooks.json`` (event -> list of
    matcher groups); ``agents`` maps agent file stems to their full markdown;
    ``files`` maps relative paths to extra file contents (scripts get chmod +x
    when they start with "#!").
    """
    root = Path(root)
    (root / ".claude-plugin").mkdir(parents=True, exist_ok=True)
    (root / ".claude-plugin" / "plugin.json").write_text(
        json.dumps({"name": name, "version": version}, indent=2) + "\n"
    )
    if hooks is not None:
        (root / "hooks").mkdir(exist_ok=True)
        (root / "hooks" / "hooks.json").write_text(json.dumps({"hooks": hooks}, indent=2) + "\n")
    for stem, text in (agents or {}).items():
        (root / "agents").mkdir(exist_ok=True)
        (root / "agents" / f"{stem}.md").write_text(text)
    for rel, text in (files or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if text.startswith("#!"):
            path.chmod(0o755)
    return root


def wait_for_file(path: Path, timeout: float = 10.0) -> bool:
    """Poll until ``path`` exists (hooks may finish after the client returns)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(0.05)
    return path.exists()


def which_git() -> str:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    return git


@dataclass
class ClaudeEnv:
    """An isolated place to run the client: a tmp HOME and a git-initialised project."""

    home: Path
    project: Path
    bin: Path
    api: FakeAnthropic
    env_extra: dict[str, str] = field(default_factory=dict)
    starts: int = 0

    @property
    def stdout_path(self) -> Path:
        """Where the last ``start()`` sends the client's stdout."""
        return self.home / f"claude-{self.starts}.stdout"

    @property
    def stderr_path(self) -> Path:
        return self.home / f"claude-{self.starts}.stderr"

    def run(
        self,
        prompt: str,
        *,
        plugin_dirs: Sequence[Path | str] = (),
        extra_args: Sequence[str] = (),
        env_extra: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> subprocess.CompletedProcess[str]:
        """``claude -p prompt`` in the project with the standard flags."""
        return run_claude(
            claude_args(prompt, plugin_dirs=plugin_dirs, extra=extra_args),
            cwd=self.project,
            home=self.home,
            api=self.api,
            env_extra={**self.env_extra, **(env_extra or {})},
            timeout=timeout,
        )

    def start(
        self,
        prompt: str,
        *,
        plugin_dirs: Sequence[Path | str] = (),
        extra_args: Sequence[str] = (),
        env_extra: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[str]:
        """Start ``claude -p prompt`` without waiting.

        Its stdout/stderr go to ``self.stdout_path``/``self.stderr_path`` (files in
        HOME, numbered per start). Stop it with ``kill_claude(proc, sig)``.
        """
        self.starts += 1
        out = self.stdout_path.open("w")
        err = self.stderr_path.open("w")
        try:
            return start_claude(
                claude_args(prompt, plugin_dirs=plugin_dirs, extra=extra_args),
                cwd=self.project,
                home=self.home,
                api=self.api,
                env_extra={**self.env_extra, **(env_extra or {})},
                stdout=out,
                stderr=err,
            )
        finally:
            out.close()
            err.close()
