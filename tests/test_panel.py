"""`cairn ui` over HTTP, as a real process: nothing answers without the token, from another
Host, or (for actions) from another Origin; hostile workflow ids change nothing; every
action is the CLI's library call. The cards' readiness checks and the history charts are
computed in-process on real git repositories and databases."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import socket
import time
from pathlib import Path

import pytest

from cairn import breakpoints
from cairn.manager import CheckpointManager
from cairn.model import Attempt
from cairn.web import charts, views
from panel_support import fleet, git, path_of, serve
from panel_support import run as run_stage
from test_cli_support import no_claude_session, run_cairn  # noqa: F401  (autouse)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path / "project"


def state(m: CheckpointManager) -> list[tuple[str, int, str]]:
    """Every workflow's id, checkpoint and status: what a refused request must not change."""
    with m.store.read() as r:
        return [(w.workflow_id, w.seq, w.status.value) for w in (r.workflow(i) for i in r.ids()) if w]


def other_address() -> str | None:
    """This machine's address on its default route (a UDP connect sends nothing), if any."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
        address = str(probe.getsockname()[0])
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") else address


def test_it_listens_on_loopback_only(project: Path) -> None:
    m = fleet(project)
    address = other_address()
    if address is None:
        pytest.skip("this machine has no address but loopback to try")
    with serve(m.root) as s:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((address, s.port), timeout=5).close()
        socket.create_connection(("127.0.0.1", s.port), timeout=5).close()


def test_nothing_answers_without_the_token_host_or_origin(project: Path) -> None:
    m = fleet(project)
    before = state(m)
    with serve(m.root) as s:
        assert s.url.startswith("http://127.0.0.1:") and len(s.token) >= 32
        code, page = s.request("GET", f"/{s.token}/")
        assert code == 200 and "wf-gate" in page and "Waiting for approval" in page
        wrong = s.token[:-1] + ("A" if s.token[-1] != "A" else "B")
        for path in ("/", "/history", f"/{wrong}/", f"/{s.token}x/", f"/{s.token[:-1]}/", f"/x/{s.token}/",
                     "/static/panel.js", f"/{wrong}/static/panel.js", f"/{wrong}/api/stamp"):
            code, text = s.request("GET", path)
            assert code == 403, (path, code)
            assert "wf-" not in text and s.token not in text
        code, text = s.request("GET", f"/{s.token}/../")  # past the token, nothing is there
        assert code == 404 and "wf-" not in text
        for host in ("evil.example:80", f"evil.example:{s.port}", f"127.0.0.1:{s.port + 1}", ""):
            code, text = s.request("GET", f"/{s.token}/", headers={"Host": host})
            assert code == 403 and "wrong Host" in text, host
        code, _ = s.request("GET", f"/{s.token}/", headers={"Host": f"localhost:{s.port}"})
        assert code == 200
        # actions: the Origin must be the panel's own, the body JSON
        for headers in ({}, {"Origin": "http://evil.example"}, {"Origin": f"http://127.0.0.1:{s.port + 1}"},
                        {"Origin": "null"}, {"Origin": s.origin, "Sec-Fetch-Site": "cross-site"}):
            code, text = s.request("POST", f"/{s.token}/api/w/wf-gate/approve", body={},
                                   headers={"Content-Type": "application/json", **headers})
            assert code == 403 and "Origin" in text, headers
        code, _ = s.request("POST", f"/{wrong}/api/w/wf-gate/approve", body={},
                            headers={"Origin": s.origin, "Content-Type": "application/json"})
        assert code == 403
        code, text = s.request("POST", f"/{s.token}/api/w/wf-gate/approve", raw=b"feedback=x",
                               headers={"Origin": s.origin, "Content-Type": "application/x-www-form-urlencoded"})
        assert code == 400 and "JSON" in json.loads(text)["message"]
        code, _ = s.request("GET", f"/{s.token}/api/w/wf-gate/approve")
        assert code == 405
        code, text = s.post("/api/w/wf-gate/approve", {"feedback": "x" * 20_000})
        assert code == 400 and "over 16384 bytes" in json.loads(text)["message"]
        assert state(m) == before
        code, headers_text = s.request("GET", f"/{s.token}/static/panel.js")
        assert code == 200 and "fetch(" in headers_text


HOSTILE = ["..", "../wf-auth", "..%2Fwf-auth", "%2e%2e", "wf-auth%00", "wf-auth%0aX",
           "%3Cscript%3Ealert(1)%3C%2Fscript%3E", "wf%20auth", "-rf", "x" * 300, "%C0%AE%C0%AE",
           "wf-auth%2F..%2F..", ".hidden", "wf-auth;rm"]


@pytest.mark.parametrize("verb", ["cleanup", "resume"])
def test_hostile_workflow_ids_are_refused(project: Path, verb: str) -> None:
    m = fleet(project)
    before = state(m)
    folders = sorted(p.name for p in m.root.iterdir())
    with serve(m.root) as s:
        for wid in HOSTILE:
            code, text = s.post(f"/api/w/{wid}/{verb}")
            assert code in (400, 404, 405), (wid, code, text)
            assert "<script>" not in text
            code, text = s.request("GET", f"/{s.token}/w/{wid}")
            assert code in (400, 403, 404), (wid, code)
            assert "<script>alert" not in text
        code, text = s.post("/api/w/wf-nope/cleanup")
        assert code == 404 and "no workflow 'wf-nope'" in json.loads(text)["message"]
        code, text = s.post("/api/w/wf-auth/explode")
        assert code == 400 and "unknown action" in json.loads(text)["message"]
    assert state(m) == before
    assert sorted(p.name for p in m.root.iterdir()) == folders


def test_actions_are_the_cli_library_calls(project: Path) -> None:
    m = fleet(project)
    with serve(m.root) as s:
        code, text = s.post("/api/w/wf-gate/approve", {"feedback": "check the migration"})
        data = json.loads(text)
        assert code == 200 and data["ok"] and data["command"] == "/cairn:resume wf-gate", data
        [bp] = m.load("wf-gate").breakpoints
        assert (bp.decision, bp.feedback) == ("approved", "check the migration")

        code, text = s.post("/api/w/wf-auth/resume")
        assert code == 200 and json.loads(text)["command"] == "/cairn:resume wf-auth"
        assert "Note:" not in json.loads(text)["message"]
        wf = m.load("wf-auth")
        assert wf.status.value == "running" and wf.checkpoint_type == "resume"

        m.workflows.acquire("wf-tests", "s-live", os.getpid())  # a live session holds it (this process)
        code, text = s.post("/api/w/wf-tests/resume")  # a missing artifact: resumable from the researcher
        assert code == 200, text
        assert "Note: session s-live (pid" in json.loads(text)["message"], text
        code, text = s.post("/api/w/wf-auth/restart", {"stage": "researcher"})
        assert code == 200 and "re-runs from researcher" in json.loads(text)["message"]
        assert m.load("wf-auth").completed_agents == ["orchestrator"]
        code, text = s.post("/api/w/wf-auth/restart", {"stage": "nope"})
        assert code == 400 and "use one of" in (json.loads(text)["fix"] or ""), text

        code, text = s.post("/api/w/wf-auth/reject", {"feedback": ""})
        assert code == 400 and "needs feedback" in json.loads(text)["message"]
        code, text = s.post("/api/w/wf-auth/reject", {"feedback": "redo"})
        assert code == 400 and "no breakpoint" in json.loads(text)["message"]

        code, text = s.post("/api/w/wf-auth/hold", {"stage": "reviewer"})
        assert code == 200 and "reviewer will wait for approval" in json.loads(text)["message"], text
        assert [(b.stage, b.source) for b in m.load("wf-auth").breakpoints] == [("reviewer", "panel")]
        code, text = s.post("/api/w/wf-auth/hold", {"stage": "orchestrator"})
        assert code == 400 and "already completed" in json.loads(text)["message"]

        code, text = s.post("/api/w/wf-tests/cleanup")
        assert code == 200 and "removed" in json.loads(text)["message"]
        assert not m.workflow_dir("wf-tests").exists() and "wf-tests" not in [w for w, *_ in state(m)]
        code, page = s.request("GET", f"/{s.token}/")
        assert "wf-tests" not in page and "Resumable workflows (2)" in page


def test_stamp_moves_with_each_commit(project: Path) -> None:
    m = fleet(project)
    with serve(m.root) as s:
        _, first = s.request("GET", f"/{s.token}/api/stamp")
        _, again = s.request("GET", f"/{s.token}/api/stamp")
        assert first == again  # reading changes nothing
        m.pause("wf-gate")
        _, after = s.request("GET", f"/{s.token}/api/stamp")
        assert json.loads(after)["stamp"] != json.loads(first)["stamp"]


def test_a_claude_session_cannot_start_the_panel(project: Path) -> None:
    """The panel approves breakpoints: started from the Bash tool of the session waiting at
    one, it would let the model release itself."""
    m = fleet(project)
    proc = run_cairn("--dir", str(m.root), "ui", env={"CLAUDE_CODE_SESSION_ID": "s-model"})
    assert proc.returncode == 2 and "is for the person" in proc.stderr and proc.stdout == "", proc


def test_port_taken_is_a_usage_error(project: Path) -> None:
    m = fleet(project)
    with serve(m.root) as s:
        proc = run_cairn("--dir", str(m.root), "ui", "--port", str(s.port))
    assert proc.returncode == 2 and f"cannot listen on 127.0.0.1:{s.port}" in proc.stderr, proc.stderr


def test_open_hands_the_url_to_the_browser(project: Path, tmp_path: Path) -> None:
    """`--open` gives the browser ($BROWSER, as Python's webbrowser reads it) the printed URL,
    and the server then answers it; Ctrl+C (SIGINT) ends it with exit 0."""
    m = fleet(project)
    opened = tmp_path / "opened.txt"
    opener = tmp_path / "browser.sh"
    opener.write_text(f'#!/bin/sh\nprintf "%s" "$1" > "{opened}"\n')
    opener.chmod(0o755)
    with serve(m.root, "--open", env_extra={"BROWSER": str(opener), "DISPLAY": ":0"}) as s:
        deadline = time.monotonic() + 20  # the URL is printed first, then the browser is started
        while not (opened.exists() and opened.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert opened.read_text() == s.url
        code, _ = s.request("GET", path_of(s.url))
        assert code == 200
        proc = s.proc
    assert proc.returncode == 0


# ---------------------------------------------------------------------- cards, in-process


def levels(card: views.Card) -> dict[str, str]:
    return {c.name: c.level for c in card.checks}


def test_card_readiness_checks_follow_the_world(project: Path) -> None:
    m = fleet(project)
    auth = views.card(m, "wf-auth")
    assert auth.level == "green" and levels(auth) == {"Artifacts": "green", "Git branch": "green",
                                                      "Worktree": "green", "Freshness": "green",
                                                      "Pinned agents": "green"}
    assert (auth.done, auth.total, auth.percent, auth.stop_label) == (3, 8, 38, "Paused at")
    assert auth.paused_at == "planner (3/8)" and auth.resume_from == "test-master"
    assert [s.state for s in auth.stages][:4] == ["completed", "completed", "completed", "next"]

    tests = views.card(m, "wf-tests")
    assert tests.level == "red" and levels(tests)["Artifacts"] == "red"
    assert "research.json was deleted" in next(c.text for c in tests.checks if c.name == "Artifacts")
    assert tests.stages[1].state == "invalidated" and tests.resume_from == "researcher"
    assert tests.resume_when.startswith("re-run: attempt 1 completed") and "artifacts changed" in tests.resume_when

    gate = views.card(m, "wf-gate")
    assert gate.waiting == ["reviewer"] and gate.level == "yellow" and gate.stages[5].state == "waiting"
    assert gate.stop_label == "Last checkpoint"

    git(project, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x")
    assert levels(views.card(m, "wf-auth"))["Git branch"] == "yellow"  # HEAD moved on
    git(project, "checkout", "-q", "-b", "other")
    git(project, "branch", "-q", "-D", "main")
    moved = views.card(m, "wf-auth")
    assert levels(moved)["Git branch"] == "red" and moved.level == "red"


def test_history_charts_are_escaped_svg(project: Path) -> None:
    m = fleet(project)
    with m.store.read() as r:
        workflows = [w for w in (r.workflow(i) for i in r.ids()) if w]
    wf = workflows[0]
    wf.attempts.append(Attempt(999, "<planner>", 1, wf.created_at, "completed", wf.created_at,
                               usage=json.dumps({"totalTokens": 1234})))
    data, drawn = charts.history(workflows, "db")
    by = {c.title: c for c in drawn}
    assert data["workflows"] == 3
    assert not by["Where runs fail"].empty and ">planner<" in by["Where runs fail"].svg
    assert "1,234" in by["Tokens per stage (as the client reported them)"].svg
    assert "&lt;planner&gt;" in by["Tokens per stage (as the client reported them)"].svg
    assert "<planner>" not in "".join(c.svg for c in drawn)
    assert by["Resumes and pauses per day"].svg.count("<rect") >= 1


def test_waiting_is_the_library_predicate(project: Path) -> None:
    m = fleet(project)
    assert breakpoints.waiting(m.load("wf-gate")) == ["reviewer"]
    assert breakpoints.waiting(m.load("wf-auth")) == []


def test_a_card_says_live_or_dead_like_the_dashboard(project: Path) -> None:
    """The same judgement as `cairn status` (cairn.liveness): wf-gate is marked running; once
    its lease names a process that is gone, its card says interrupted and how it ended."""
    import subprocess

    from board_support import put_lease

    m = fleet(project)
    holder = subprocess.Popen(["sleep", "60"])
    try:
        put_lease(m, "wf-gate", "sess-gate", holder.pid)
        live = views.card(m, "wf-gate")
        assert (live.status, live.state) == ("running", "executing") and "sess-gate" in (live.state_reason or "")
    finally:
        holder.kill()
        holder.wait(timeout=10)
    dead = views.card(m, "wf-gate")
    assert dead.state == "interrupted" and "ended without a clean stop" in (dead.state_reason or "")
    assert views.card(m, "wf-auth").state == "paused"  # paused by a person: the same word as its status


def card_html(page: str, wid: str) -> str:
    """The `<article>` of one workflow's card in a panel page."""
    start = page.index(f'data-workflow="{wid}"')
    return page[start:page.index("</article>", start)]


def check_li(card: str, name: str) -> str:
    found = re.search(rf'<li class="check (\w+)" title="[^"]*"><span class="dot \w+"></span><b>{name}</b> ([^<]*)</li>',
                      card)
    assert found, card
    return f"{found.group(1)}: {html.unescape(found.group(2))}"


def test_pinned_agents_check_names_the_stages_whose_prompt_changed(project: Path) -> None:
    """The agents a workflow started with (cairn.pins), on the served page: green while
    unchanged; a project override of a completed stage's agent turns it yellow naming the
    stage; a changed agent of a stage still to run is named, not a reason to look."""
    m = fleet(project)
    with serve(m.root) as s:
        code, page = s.request("GET", f"/{s.token}/")
        assert code == 200
        assert check_li(card_html(page, "wf-auth"), "Pinned agents").startswith("green: the agents of the completed")
        agents = project / ".claude" / "agents"
        agents.mkdir()
        (agents / "researcher.md").write_text("---\nname: researcher\n---\nResearch <less>.\n")
        (agents / "reviewer.md").write_text("---\nname: reviewer\n---\nReview strictly.\n")
        code, page = s.request("GET", f"/{s.token}/")
        auth = card_html(page, "wf-auth")
        assert check_li(auth, "Pinned agents") == (
            "yellow: the agent's prompt changed since the workflow started: researcher; reviewer (not run yet) "
            "will run with the new prompt")
        assert '<span class="dot yellow" title="yellow">' in auth and "cairn resume wf-auth --pinned" in auth
        code, page = s.request("GET", f"/{s.token}/w/wf-auth")  # the details page shows the same card
        assert code == 200 and "researcher; reviewer (not run yet)" in page
        (agents / "researcher.md").unlink()
        (agents / "reviewer.md").unlink()
        code, page = s.request("GET", f"/{s.token}/")
        assert check_li(card_html(page, "wf-auth"), "Pinned agents").startswith("green:")


def test_a_page_reads_the_git_state_once_for_all_cards(project: Path, tmp_path: Path) -> None:
    """Every card asks whether its worktree, branch and HEAD are as recorded: read from the
    .git files once per page. A `git` on PATH that logs each start (then runs the real
    one) shows that fifty cards start no git per card: at most the one `git status` of
    the code state a page shares (wf-gate's implementer read the code)."""
    real = shutil.which("git")
    assert real
    m = fleet(project)
    for i in range(47):
        wid = f"wf-more-{i:02d}"
        m.create(f"more work {i}", workflow_id=wid)
        for stage in ("orchestrator", "researcher"):
            run_stage(m, wid, stage, 100)
        m.pause(wid)
    shim, log = tmp_path / "bin", tmp_path / "git.log"
    shim.mkdir()
    (shim / "git").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    (shim / "git").chmod(0o755)
    env = {"PATH": f"{shim}{os.pathsep}{os.environ.get('PATH', '')}"}
    with serve(m.root, env_extra=env) as s:
        code, page = s.request("GET", f"/{s.token}/")  # the first page may import and set up
        assert code == 200 and page.count('class="card ') == 50
        before = log.read_text().splitlines() if log.exists() else []
        for _ in range(2):
            code, page = s.request("GET", f"/{s.token}/")
            assert code == 200 and page.count('<b>Git branch</b>') == 50
        started = (log.read_text().splitlines() if log.exists() else [])[len(before):]
    assert len(started) <= 2, started  # before: 3 per card (150 a page)
    assert all(" status " in line for line in started), started
