"""Lineage (`cairn.lineage`) against real git repositories: what each completion consumed
(upstream artifacts, the code it saw), the files each attempt changed, and exactly which
stages a change makes re-run — in `cairn validate`, `cairn resume --dry-run` and the
resume itself."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cairn.edits import read_edits
from cairn.hooks import run as run_hook
from cairn.manager import CheckpointManager
from cairn.resumer import WorkflowResumer
from cairn.status import Status
from test_cli_support import complete_stage, no_claude_session, run, run_json, write_artifact

pytestmark = [pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
              pytest.mark.usefixtures("no_claude_session")]
WID = "wf-lin"
DOWNSTREAM = ["reviewer", "security-auditor", "doc-master"]
__all__ = ["no_claude_session"]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), "-c", "user.email=t@x", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(project: Path) -> Path:
    git(project, "init", "-q", "-b", "main")
    (project / ".gitignore").write_text(".claude/artifacts/\n")
    (project / "src").mkdir()
    (project / "src" / "app.py").write_text("def f():\n    return 1\n")
    (project / "docs.md").write_text("# docs\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "one")
    return project


@pytest.fixture
def m(repo: Path) -> CheckpointManager:
    return CheckpointManager(repo / ".claude" / "artifacts")


def run_all(m: CheckpointManager, stages: list[str] | None = None) -> None:
    m.create("lineage", workflow_id=WID)
    for stage in stages or m.load(WID).pipeline.names:
        complete_stage(m, WID, stage)


def problems(m: CheckpointManager) -> list[tuple[str, str | None]]:
    return [(p.code, p.stage) for p in WorkflowResumer(m).validate(WID).problems]


def test_each_completion_records_what_it_consumed_and_the_code_it_saw(m: CheckpointManager, repo: Path) -> None:
    run_all(m, ["orchestrator", "researcher", "planner"])
    wf = m.load(WID)
    planner = wf.effective("planner")
    assert planner is not None and json.loads(planner.consumed or "") == {
        "research.json": wf.artifacts["research.json"].sha256}
    code = json.loads(planner.git or "")
    assert code["head"] == git(repo, "rev-parse", "HEAD") and code["dirty"] == {}


def test_an_uncommitted_edit_after_the_implementer_reruns_exactly_the_stages_that_read_the_code(
        m: CheckpointManager, repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_all(m)
    assert m.load(WID).status == Status.COMPLETED and problems(m) == []
    (repo / "src" / "app.py").write_text("def f():\n    return 2\n")
    assert problems(m) == [("code_changed", s) for s in DOWNSTREAM]
    root = str(m.root)
    code, out, _ = run(capsys, "--dir", root, "validate", WID)
    assert code == 1 and "[code_changed]" in out and "the code changed after reviewer read it: src/app.py" in out
    assert m.load(WID).status == Status.STALE  # the check that found it says so
    code, data = run_json(capsys, "--dir", root, "resume", WID, "--dry-run", "--json")
    assert code == 0 and data["invalidated_agents"] == DOWNSTREAM and data["next_agents"] == ["reviewer"]
    assert "src/app.py" in data["context"] and "Must re-run because of those problems: reviewer, " \
        "security-auditor, doc-master" in data["context"]
    assert m.load(WID).status == Status.STALE  # a dry run changes nothing
    code, data = run_json(capsys, "--dir", root, "resume", WID, "--json")
    wf = m.load(WID)
    assert code == 0 and wf.status == Status.RUNNING
    assert wf.done == ["orchestrator", "researcher", "planner", "test-master", "implementer"]
    assert [e.detail.split(" (")[0] for e in wf.audit if e.action == "invalidated"] == DOWNSTREAM
    assert problems(m) == []  # the re-runs are pending: nothing is outdated any more
    brief = WorkflowResumer(m).stage_brief(m.load(WID), "reviewer")
    assert "This stage runs again because: the code changed after reviewer read it: src/app.py" in brief
    for stage in DOWNSTREAM:
        m.record_start(WID, stage)
        complete_stage(m, WID, stage)
    assert "runs again" not in WorkflowResumer(m).stage_brief(m.load(WID), "reviewer")
    assert m.load(WID).status == Status.COMPLETED and problems(m) == []


def test_a_commit_after_the_workflow_names_its_files(m: CheckpointManager, repo: Path) -> None:
    run_all(m)
    (repo / "src" / "new.py").write_text("x = 1\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "outside")
    found = WorkflowResumer(m).validate(WID).problems
    assert [p.code for p in found] == ["git_head_moved", "code_changed", "code_changed", "code_changed"]
    assert "src/new.py" in found[1].message


def test_an_edit_between_stages_is_seen_by_the_later_ones(m: CheckpointManager, repo: Path) -> None:
    run_all(m, ["orchestrator", "researcher", "planner", "test-master", "implementer"])
    (repo / "src" / "app.py").write_text("def f():\n    return 3\n")  # before the reviewer runs
    for stage in DOWNSTREAM:
        complete_stage(m, WID, stage)
    assert problems(m) == []


def test_the_workflows_own_later_edits_do_not_outdate_a_review(m: CheckpointManager, repo: Path) -> None:
    run_all(m, ["orchestrator", "researcher", "planner", "test-master", "implementer", "reviewer",
                "security-auditor"])
    m.record_start(WID, "doc-master")
    (repo / "docs.md").write_text("# docs\n\nf() returns 1.\n")  # the doc-master's own work (say, via Bash)
    complete_stage(m, WID, "doc-master")
    doc = m.load(WID).effective("doc-master")
    assert doc is not None and doc.changed == (("docs.md", "git"),)
    assert problems(m) == []
    (repo / "docs.md").write_text("# docs\n\nchanged by a person\n")
    assert problems(m) == [("code_changed", s) for s in DOWNSTREAM]


def test_a_changed_upstream_artifact_reruns_its_consumers_and_what_follows(
        m: CheckpointManager, capsys: pytest.CaptureFixture[str]) -> None:
    run_all(m, ["orchestrator", "researcher", "planner", "test-master"])
    complete_stage(m, WID, "researcher")  # the researcher re-recorded alone, with other content
    wf = m.load(WID)
    write_artifact(m, WID, "researcher", summary="a different finding")
    m.record_completion(WID, "researcher")
    found = WorkflowResumer(m).validate(WID).problems
    assert [(p.code, p.stage, p.path) for p in found] == [("upstream_changed", "planner", "research.json")]
    assert "research.json changed since planner read it" in found[0].message
    code, data = run_json(capsys, "--dir", str(m.root), "resume", WID, "--json")
    assert code == 0 and data["invalidated_agents"] == ["planner", "test-master"]
    assert m.load(WID).done == ["orchestrator", "researcher"] and wf.seq < m.load(WID).seq


def test_accepting_the_change_records_a_new_baseline(m: CheckpointManager, repo: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    run_all(m)
    (repo / "src" / "app.py").write_text("def f():\n    return 2\n")
    research = m.workflow_dir(WID) / "research.json"
    research.write_text(research.read_text().replace("{", "{ ", 1))
    assert {c for c, _ in problems(m)} == {"code_changed", "artifact_modified"}
    code, out, _ = run(capsys, "--dir", str(m.root), "resume", WID, "--accept")
    assert code == 0 and "Cannot resume: the workflow is completed" in out  # nothing to run: all stages stand
    wf = m.load(WID)
    assert problems(m) == [] and wf.done == m.load(WID).pipeline.names
    accepted = [e.detail for e in wf.audit if e.action == "accept"]
    assert len(accepted) == 1 and "research.json sha256" in accepted[0] and "1 uncommitted file" in accepted[0]


def test_files_a_subagent_edits_are_recorded_on_its_attempt(m: CheckpointManager, repo: Path) -> None:
    run_all(m, ["orchestrator", "researcher", "planner", "test-master"])
    m.record_start(WID, "implementer", agent_id="agent-impl")
    env = {"CLAUDE_PROJECT_DIR": str(repo)}

    def edit(tool: str, path: str, agent: str | None = "agent-impl") -> None:
        payload: dict[str, object] = {"session_id": "s1", "cwd": str(repo), "hook_event_name": "PostToolUse",
                                      "tool_name": tool, "tool_input": {"file_path": path, "content": "x"}}
        if tool == "NotebookEdit":
            payload["tool_input"] = {"notebook_path": path, "new_source": "x"}
        if agent:
            payload["agent_id"] = agent
        assert run_hook("post-edit", json.dumps(payload).encode(), env) is None

    edit("Write", str(repo / "src" / "app.py"))
    edit("Edit", "src/util.py")
    edit("NotebookEdit", str(repo / "nb.ipynb"))
    edit("Write", str(repo / "main-thread.py"), agent=None)        # the main conversation: not a stage's
    edit("Write", str(m.workflow_dir(WID) / "implementation.json"))  # an artifact: its own record
    edit("Write", str(repo / "src" / "app.py"))                    # twice: once
    assert read_edits(m.root, "agent-impl") == [("src/app.py", "Write"), ("src/util.py", "Edit"),
                                                ("nb.ipynb", "NotebookEdit")]
    assert not (m.root / ".edits" / "main-thread").exists() and len(list((m.root / ".edits").iterdir())) == 1
    (repo / "src" / "app.py").write_text("changed\n")
    (repo / "made-by-bash.txt").write_text("x")  # not through an edit tool: git shows it
    write_artifact(m, WID, "implementer")
    m.record_completion(WID, "implementer", agent_id="agent-impl")
    done = m.load(WID).effective("implementer")
    assert done is not None and done.changed == (("made-by-bash.txt", "git"), ("nb.ipynb", "NotebookEdit"),
                                                  ("src/app.py", "Write"), ("src/util.py", "Edit"))
    assert not (m.root / ".edits" / "agent-impl").exists()  # recorded, then removed


def test_a_person_at_a_terminal_is_told_what_reruns_and_why(m: CheckpointManager, repo: Path) -> None:
    from cairn.cmd.picker import summary

    run_all(m)
    (repo / "src" / "app.py").write_text("def f():\n    return 2\n")
    resumer = WorkflowResumer(m)
    plan = resumer.plan(WID, report=resumer.validate(WID))
    text = summary(plan, m, dry_run=True, note=None)
    assert "Re-runs: reviewer, security-auditor, doc-master" in text
    assert "the code changed after reviewer read it: src/app.py" in text
    assert "Next stage: reviewer" in text and "Nothing was changed (--dry-run)" in text
