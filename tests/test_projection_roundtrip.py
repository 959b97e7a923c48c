"""checkpoint.json format 3.2 carries every durable fact of a workflow: a database rebuilt
from the projections (`cairn doctor`, `cairn.project.rebuild`) has the same rows, table by
table, and writes the same projection bytes. The workflow is made through the real paths:
a git repository, the Bash hook recording a commit and a pull request (the side-effect
ledger), a decided and a waiting breakpoint, lineage (consumed hashes, code states, files
changed) and pins. Session-scoped tables (bindings, dispatches, leases, deliveries) are
left out of the projection on purpose (docs/architecture.md)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cairn.hooks import run as run_hook
from cairn.manager import CheckpointManager
from cairn.operations import Operation
from cairn.project import rebuild
from cairn.store import schema
from cairn.store.projection import CHECKPOINT_FILE
from test_cli_support import complete_stage

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "bash-hooks"
WID = "wf-trip"
SID, SID2 = "5c1d2a7e-0000-4000-8000-000000000001", "5c1d2a7e-0000-4000-8000-000000000002"
AGENT = "a0c0ffee0000001"
PR_URL = "https://github.com/acme/app/pull/7"
SESSION_SCOPED = {"bindings", "dispatches", "leases", "deliveries"}  # not projected: a session's, not a workflow's
TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), "-c", "user.email=t@x", "-c", "user.name=t",
                           "-c", "commit.gpgsign=false", *args], check=True, capture_output=True, text=True).stdout


def bash_post(project: Path, command: str, output: str, n: int) -> None:
    """The PostToolUse Bash hook of a subagent, with the payload Claude Code sends."""
    body: dict[str, Any] = json.loads((FIXTURES / "PostToolUse-Bash-subagent.json").read_text())["stdin"]
    body = json.loads(json.dumps(body).replace("/home/user/project", str(project)))
    body.update(session_id=SID, agent_id=AGENT, agent_type="cairn:researcher", tool_use_id=f"toolu_trip{n}",
                tool_input={"command": command, "description": "run"})
    body["tool_response"] = {**body["tool_response"], "stdout": output}
    assert run_hook("bash-post", json.dumps(body).encode(), {"CLAUDE_PROJECT_DIR": str(project)}) is None


@pytest.fixture
def mgr(project: Path) -> CheckpointManager:
    git(project, "init", "-q", "-b", "feat/login")
    (project / ".gitignore").write_text(".claude/\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "init")
    return CheckpointManager(project / ".claude" / "artifacts", project_dir=project)


def build(mgr: CheckpointManager, project: Path) -> None:
    """A workflow with every kind of durable fact."""
    mgr.create("round trip", workflow_id=WID, session_id=SID)
    complete_stage(mgr, WID, "orchestrator")
    mgr.record_start(WID, "researcher", session_id=SID)
    mgr.record_failure(WID, "researcher", "rate limited")
    mgr.record_start(WID, "researcher", agent_id=AGENT, session_id=SID)
    (project / "login.py").write_text("x = 1\n")
    out = git(project, "add", "login.py") + git(project, "commit", "-m", "add login")
    bash_post(project, "git add login.py && git commit -m 'add login'", out, 1)
    bash_post(project, "gh pr create --fill", f"Creating pull request for feat/login into main\n{PR_URL}\n", 2)
    complete_stage(mgr, WID, "researcher")
    mgr.hold(WID, "planner")
    mgr.approve(WID, "keep it small")
    complete_stage(mgr, WID, "planner")
    mgr.hold(WID, "reviewer")  # waiting: it must hold after a rebuild too
    mgr.apply(WID, Operation(params={"tone": "terse"}).change, "set_params")
    mgr.touch(WID, session_id=SID2)


def facts(mgr: CheckpointManager) -> dict[str, list[tuple[object, ...]]]:
    """Every projected table's rows, surrogate ids replaced by what they stand for (an
    attempt by its stage and number; an effect, breakpoint or audit entry by its content):
    a rebuild may number them otherwise."""
    out: dict[str, list[tuple[object, ...]]] = {}
    with mgr.store.read() as r:
        cols, rows = r.dump("attempts")
        attempt = {row[cols.index("id")]: (row[cols.index("stage")], row[cols.index("number")]) for row in rows}
        for table in schema.tables():
            if table in SESSION_SCOPED:
                continue
            cols, rows = r.dump(table)
            named = []
            for row in rows:
                values = dict(zip(cols, row, strict=True))
                if table == "attempts":
                    values["id"] = attempt[values["id"]]
                elif "id" in values:
                    del values["id"]
                if "attempt_id" in values:
                    values["attempt_id"] = attempt[values["attempt_id"]]
                named.append(tuple(sorted(values.items())))
            out[table] = sorted(named, key=repr)
    return out


def test_a_rebuilt_database_has_the_same_rows_and_projection(mgr: CheckpointManager, project: Path) -> None:
    build(mgr, project)
    before, file = facts(mgr), mgr.root / WID / CHECKPOINT_FILE
    projected = file.read_bytes()
    with mgr.store.read() as r:
        assert [(e.stage, e.kind) for e in r.effects(WID)] == [("researcher", "commit"), ("researcher", "pr")]
    assert {t for t, rows in before.items() if not rows} <= {"artifact_bodies"}, "every projected table is exercised"
    mgr.store.close()
    for p in mgr.root.glob("cairn.db*"):
        p.unlink()

    report = rebuild(mgr.root)
    assert report.imported == [WID] and report.skipped == []
    after_mgr = CheckpointManager(mgr.root, project_dir=project)
    after = facts(after_mgr)
    for table in before:
        assert after[table] == before[table], table
    assert file.read_bytes() == projected
    wf = after_mgr.load(WID)
    assert [b.decision for b in wf.breakpoints] == ["approved", None] and wf.breakpoints[-1].stage == "reviewer"
    after_mgr.store.close()

    # a second rebuild (of the rebuilt database) changes nothing either
    for p in mgr.root.glob("cairn.db*"):
        p.unlink()
    rebuild(mgr.root)
    again = CheckpointManager(mgr.root, project_dir=project)
    assert facts(again) == before and file.read_bytes() == projected
    again.store.close()


def test_the_new_fields_are_redacted_in_the_projection(mgr: CheckpointManager, project: Path) -> None:
    """What the ledger or a breakpoint holds goes through the projection's redaction: no
    credential reaches checkpoint.json, even one stored before redaction knew its shape."""
    from cairn.model import Effect, utcnow

    build(mgr, project)
    with mgr.store.write() as tx:
        wf = tx.workflow(WID)
        assert wf is not None and wf.effective("researcher") is not None
        aid = wf.effective("researcher").id  # type: ignore[union-attr]
        tx.add_effect(WID, aid, Effect("push", f"https://x:{TOKEN}@github.com/acme/app main", None,
                                       {"command": f"git push https://x:{TOKEN}@github.com/acme/app"}, utcnow(),
                                       "toolu_secret"), utcnow())
    mgr.touch(WID)
    text = (mgr.root / WID / CHECKPOINT_FILE).read_text()
    assert TOKEN not in text and "toolu_secret" in text


def as_format_31(doc: dict[str, Any]) -> dict[str, Any]:
    """The same projection as Cairn wrote it before format 3.2."""
    doc = {k: v for k, v in doc.items() if k not in ("breakpoints", "pins_seq", "parameters_seq")}
    for state in doc["agents"].values():
        for a in state["attempts"]:
            a.pop("effects", None)
            a.pop("code_start", None)
    for s in doc["sessions"]:
        s.pop("host")
    return {**doc, "version": "3.1"}


def test_a_format_31_projection_is_still_rebuilt_as_before(mgr: CheckpointManager, project: Path) -> None:
    """A projection written before 3.2 imports as it did: its facts are kept, the rebuild
    says per workflow what such a file did not hold, and the trail records the import."""
    build(mgr, project)
    file = mgr.root / WID / CHECKPOINT_FILE
    file.write_text(json.dumps(as_format_31(json.loads(file.read_text()))))
    with mgr.store.read() as r:  # not `load`: it would rewrite the 3.1 file in 3.2
        want = r.workflow(WID)
    assert want is not None
    mgr.store.close()
    for p in mgr.root.glob("cairn.db*"):
        p.unlink()
    report = rebuild(mgr.root)
    assert report.imported == [WID] and report.skipped == []
    assert any(n.startswith(f"{WID}: ") and "format 3.1" in n and "side-effect ledger" in n for n in report.notes)
    after = CheckpointManager(mgr.root, project_dir=project)
    wf = after.load(WID)
    assert wf.breakpoints == () and wf.effects == ()
    assert [(a.stage, a.number, a.outcome, a.consumed, a.changed) for a in wf.attempts] == \
        [(a.stage, a.number, a.outcome, a.consumed, a.changed) for a in want.attempts]
    assert wf.pins == want.pins and set(wf.pin_seqs.values()) == {1} and wf.parameter_seqs == {"tone": want.seq}
    assert wf.audit[-1].action == "imported" and "(format 3.1)" in wf.audit[-1].detail
    assert json.loads(file.read_text())["version"] == "3.2"  # projected again, in the current format
    after.store.close()


def test_a_format_31_projection_at_the_current_checkpoint_is_rewritten_on_read(mgr: CheckpointManager,
                                                                                project: Path) -> None:
    """After an upgrade, a projection written in 3.1 at the database's checkpoint is not
    current: the next read rewrites it in 3.2 (and says so), so a database lost before the
    workflow's next change still comes back with its ledger and breakpoints."""
    build(mgr, project)
    file = mgr.root / WID / CHECKPOINT_FILE
    current = file.read_bytes()
    file.write_text(json.dumps(as_format_31(json.loads(current))))
    _, warnings = mgr.load_with_warnings(WID)
    assert any("was in format 3.1, the current one being 3.2; rewritten from the database" in w for w in warnings)
    assert file.read_bytes() == current and mgr.load_with_warnings(WID)[1] == []
