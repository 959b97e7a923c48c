"""The panel in a real browser: the system's Chromium (Debian's `chromium`, installed by
`.ci/install-chromium.sh`) driven by Playwright for Python, against `cairn ui` run as a
real process. Load, read the cards, press the actions (each asks for confirmation and
shows its result), watch the page follow a change made elsewhere, and keep screenshots.

Screenshots go to `$CAIRN_TEST_ARTIFACTS/panel` (default: under pytest's base temp folder,
outside the repository); the run's summary names the folder. `CAIRN_UPDATE_SCREENSHOT=1` also rewrites the
README's `docs/img/panel.png`. Skipped, with the reason, without Chromium or Playwright.
"""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.manager import CheckpointManager
from panel_support import SHOTS, Server, fleet, serve
from test_cli_support import REPO, no_claude_session  # noqa: F401  (autouse)

CHROMIUM = os.environ.get("CAIRN_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WAIT_MS = 10_000

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed "
                               "(pip install -e '.[dev]'); the panel's browser tests need it")
if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(f"no Chromium at {CHROMIUM}: run `bash .ci/install-chromium.sh` (or set CAIRN_CHROMIUM)",
                allow_module_level=True)


def shots(base: Path) -> Path:
    """Outside the repository (Claude Code copies the plugin folder whole) and outside the
    home: pytest's base temp folder (it keeps the last runs) unless CI names one."""
    folder = Path(os.environ.get("CAIRN_TEST_ARTIFACTS", base / "test-artifacts")) / "panel"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[sync_api.BrowserContext]:
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True, args=ARGS,
            viewport={"width": 1100, "height": 900})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def panel(tmp_path: Path) -> Iterator[tuple[Server, CheckpointManager]]:
    m = fleet(tmp_path / "project")
    with serve(m.root) as server:
        yield server, m


def confirm(page: sync_api.Page, *, feedback: str | None = None, stage: str | None = None) -> None:
    dialog = page.locator("dialog#confirm")
    sync_api.expect(dialog).to_be_visible()
    if feedback is not None:
        page.fill("#confirm-feedback", feedback)
    if stage is not None:
        page.select_option("#confirm-stage", stage)
    page.click("#confirm-ok")
    sync_api.expect(dialog).to_be_hidden()


def test_panel_in_chromium(browser: sync_api.BrowserContext, panel: tuple[Server, CheckpointManager],
                           request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> None:
    server, m = panel
    out = shots(tmp_path_factory.getbasetemp())
    request.config.stash[SHOTS] = out  # said at the end of the run
    browser.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.origin)
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    sync_api.expect.set_options(timeout=WAIT_MS)

    page.goto(server.url)
    sync_api.expect(page.locator("h1")).to_have_text("Resumable workflows (3)")
    auth = page.locator('article[data-workflow="wf-auth"]')
    # the request is text, never markup
    sync_api.expect(auth.locator(".request")).to_have_text("Add user authentication <b>with</b> OAuth")
    assert auth.locator(".request b").count() == 0
    sync_api.expect(auth).to_have_class("card green")
    sync_api.expect(auth.locator(".pct")).to_have_text("38% (3/8 stages)")
    sync_api.expect(auth.locator(".paused-at")).to_contain_text("planner (3/8)")
    sync_api.expect(auth.locator(".resume-from")).to_contain_text("test-master")
    assert auth.locator(".seg.st-completed").count() == 3
    sync_api.expect(page.locator('article[data-workflow="wf-tests"]')).to_have_class("card red")
    sync_api.expect(page.locator('article[data-workflow="wf-tests"] .check.red')).to_contain_text(
        "research.json was deleted")
    gate = page.locator('article[data-workflow="wf-gate"]')
    sync_api.expect(gate).to_have_class("card yellow")
    sync_api.expect(gate.locator(".waiting")).to_have_text(
        "Waiting for approval: reviewer is held at a breakpoint.")
    sync_api.expect(page.locator(".legend li")).to_have_count(3)
    page.screenshot(path=str(out / "panel.png"), full_page=True)
    if os.environ.get("CAIRN_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(out / "panel.png", REPO / "docs" / "img" / "panel.png")

    # Cancel changes nothing
    seq = m.load("wf-tests").seq
    page.locator('article[data-workflow="wf-tests"] button[data-action="cleanup"]').click()
    page.click("#confirm-cancel")
    sync_api.expect(page.locator("#results")).to_be_empty()
    assert m.load("wf-tests").seq == seq

    # Approve, with feedback: the dispatch is released and the card follows
    gate.locator('button[data-action="approve"]').click()
    sync_api.expect(page.locator("#confirm-text")).to_contain_text("Approve reviewer of wf-gate?")
    confirm(page, feedback="check the <migration> & the index")
    sync_api.expect(page.locator("#results .result.ok")).to_contain_text("wf-gate: approved with feedback")
    sync_api.expect(gate.locator(".waiting")).to_have_count(0)
    [bp] = m.load("wf-gate").breakpoints
    assert (bp.decision, bp.source, bp.feedback) == ("approved", "cli", "check the <migration> & the index")

    # Resume: marked, and the exact command to continue, with a copy button
    auth.locator('button[data-action="resume"]').click()
    confirm(page)
    result = page.locator("#results .result.ok")
    sync_api.expect(result.locator("code.command")).to_have_text("/cairn:resume wf-auth")
    result.locator("button.copy").click()
    sync_api.expect(result.locator("button.copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "/cairn:resume wf-auth"
    assert m.load("wf-auth").status.value == "running"
    sync_api.expect(auth.locator(".status")).to_have_text("running")
    page.screenshot(path=str(out / "panel-after-resume.png"), full_page=True)

    # A breakpoint set from the panel: the card says the stage is held
    auth.locator('button[data-action="hold"]').click()
    confirm(page, stage="reviewer")
    sync_api.expect(page.locator("#results .result.ok")).to_contain_text("reviewer will wait for approval")
    sync_api.expect(auth.locator(".held")).to_have_text("Breakpoint before reviewer.")

    # A change made elsewhere (another process's commit) reaches the page by itself
    m.pause("wf-gate", "paused from a terminal")
    sync_api.expect(gate.locator(".status")).to_have_text("paused")
    sync_api.expect(gate.locator(".reason")).to_have_text("(paused from a terminal)")

    # Details: stages, attempts, breakpoints with the feedback, history, audit trail
    gate.locator("a", has_text="View details").click()
    sync_api.expect(page.locator("h1")).to_have_text("Workflow wf-gate")
    sync_api.expect(page.locator("table.stages tbody tr")).to_have_count(8)
    sync_api.expect(page.locator("table.attempts tbody tr")).to_have_count(5)
    sync_api.expect(page.locator("table.breakpoints")).to_contain_text("check the <migration> & the index")
    sync_api.expect(page.locator("table.audit")).to_contain_text("approved")
    page.screenshot(path=str(out / "details.png"), full_page=True)
    page.locator('button[data-action="restart"]').click()
    confirm(page, stage="planner")
    sync_api.expect(page.locator("#results .result.ok")).to_contain_text("wf-gate re-runs from planner")
    assert m.load("wf-gate").completed_agents == ["orchestrator", "researcher"]

    # History: the charts, drawn on the server
    page.click("text=History")
    sync_api.expect(page.locator("h1")).to_have_text("History")
    sync_api.expect(page.locator("figure.chart")).to_have_count(4)
    assert page.locator("figure.chart svg").count() >= 3
    sync_api.expect(page.locator("figure.chart", has_text="Where runs fail").locator("svg")).to_contain_text(
        "planner")
    page.screenshot(path=str(out / "history.png"), full_page=True)

    # Cleanup: cancelled and removed; its card goes
    page.click("text=Resumable workflows")
    page.locator('article[data-workflow="wf-tests"] button[data-action="cleanup"]').click()
    confirm(page)
    sync_api.expect(page.locator("#results .result.ok")).to_contain_text("wf-tests was cancelled and removed")
    sync_api.expect(page.locator('article[data-workflow="wf-tests"]')).to_have_count(0)
    assert not m.workflow_dir("wf-tests").exists()
    assert problems == [], problems  # no script error, nothing the Content-Security-Policy refused


def test_refused_action_shows_why(browser: sync_api.BrowserContext,
                                  panel: tuple[Server, CheckpointManager]) -> None:
    server, m = panel
    page = browser.new_page()
    sync_api.expect.set_options(timeout=WAIT_MS)
    page.goto(server.url)
    gate = page.locator('article[data-workflow="wf-gate"]')
    gate.locator('button[data-action="reject"]').click()
    sync_api.expect(page.locator("#confirm-feedback")).to_have_attribute("required", "")
    m.cancel("wf-gate")  # meanwhile, from a terminal
    confirm(page, feedback="the plan misses the migration")
    failed = page.locator("#results .result.fail")
    sync_api.expect(failed).to_contain_text("workflow 'wf-gate' is cancelled")
    sync_api.expect(failed.locator(".hint")).to_contain_text("cairn start")
    sync_api.expect(page.locator('article[data-workflow="wf-gate"]')).to_have_count(0)  # and the page follows
    sync_api.expect(page.locator("#live")).to_have_text("live")
    server.proc.send_signal(signal.SIGINT)  # the panel stops: the page says it no longer updates
    assert server.proc.wait(timeout=15) == 0
    sync_api.expect(page.locator("#live")).to_have_text("not updating: is `cairn ui` still running?")
