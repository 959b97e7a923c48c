"""Fixtures for the end-to-end tests that drive the real Claude Code CLI.

Every test collected under ``tests/e2e`` is marked ``e2e`` (select them with
``-m e2e``, leave them out with ``-m 'not e2e'``). Tests that need the client
call ``harness.claude_bin()`` (the ``claude_env`` fixture does), which skips
them when the pinned client is not installed (``bash .ci/install-claude.sh``).
The reasons of skipped e2e tests are printed at the end of every run, ``-q``
included, so a green run that tested nothing says so.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

from fake_api import FakeAnthropic  # noqa: E402
from harness import ClaudeEnv, claude_bin, which_git  # noqa: E402

_SKIPPED: Counter[tuple[str, str]] = Counter()  # (test file, reason) -> skipped tests


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: drives the real Claude Code CLI against a fake Messages API"
    )


def _is_e2e(config: pytest.Config, relpath: str) -> bool:
    return _HERE in (config.rootpath / relpath).resolve().parents


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2]).removeprefix("Skipped: ")
        _SKIPPED[(report.location[0], reason)] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    mine: Counter[str] = Counter()
    for (path, reason), n in _SKIPPED.items():
        if _is_e2e(config, path):
            mine[reason] += n
    if not mine:
        return
    terminalreporter.section("e2e tests skipped", yellow=True)
    for reason, n in mine.most_common():
        terminalreporter.write_line(f"{n} e2e test(s) skipped: {reason}", yellow=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture
def fake_api() -> Iterator[FakeAnthropic]:
    """A running :class:`FakeAnthropic`; its request log is printed if the test fails."""
    with FakeAnthropic() as api:
        yield api


@pytest.fixture
def claude_env(tmp_path: Path, fake_api: FakeAnthropic) -> ClaudeEnv:
    """Temporary HOME (never the real one) and a project directory with ``git init``."""
    binary = claude_bin()  # skips the test when the client is missing
    git = which_git()
    home = tmp_path / "home"
    project = tmp_path / "project"
    home.mkdir()
    project.mkdir()
    subprocess.run([git, "init", "-q", str(project)], check=True)
    for key, value in (("user.email", "e2e@example.com"), ("user.name", "e2e")):
        subprocess.run([git, "-C", str(project), "config", key, value], check=True)
    return ClaudeEnv(home=home, project=project, bin=binary, api=fake_api)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call" and report.failed:
        api = item.funcargs.get("fake_api") if hasattr(item, "funcargs") else None
        if isinstance(api, FakeAnthropic):
            report.sections.append(("fake Anthropic API requests", api.dump() or "(none)"))
