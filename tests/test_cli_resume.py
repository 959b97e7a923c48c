"""`cairn resume` modes, the interactive pick (in a real terminal, through tmux), and
`cairn pause` / `cairn cancel`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cairn.manager import CheckpointManager
from cairn.status import Status
from test_cli_support import complete_stage, db_rows, no_claude_session, run, run_json

__all__ = ["no_claude_session"]  # autouse: every test here runs as in a terminal

STAGES = ["orchestrator", "researcher", "planner", "test-master"]


def four_done(mgr: CheckpointManager, wid: str = "wf-r", *, pause: bool = True) -> None:
    mgr.create("resume modes", workflow_id=wid)
    for stage in STAGES:
        complete_stage(mgr, wid, stage)  # checkpoints 2..5
    if pause:
        mgr.pause(wid)  # checkpoint 6


def test_rollback_keeps_later_completions_in_the_audit_trail(
        capsys: pytest.CaptureFixture[str], root: Path, mgr: CheckpointManager) -> None:
    four_done(mgr)
    code, out = run_json(capsys, "--dir", str(root), "resume", "wf-r", "--rollback", "3",
                         "--reason", "planner misread the request", "--json")
    assert code == 0
    assert out["completed_agents"] == ["orchestrator", "researcher"]
    assert out["next_agent"] == "planner" and out["status"] == "running"
    assert out["operation"] == "rollback" and out["seq"] == 7
    assert "rolled back to checkpoint 3" in out["context"]
    for key in ("workflow_id", "request", "skipped_agents", "invalidated_agents", "remaining_agents",
                "next_agents", "progress", "can_resume", "reason", "interrupted_agents", "problems"):
        assert key in out
    cp = mgr.load("wf-r")
    assert cp.status == Status.RUNNING and "planner.json" not in cp.artifacts
    for stage in ("planner", "test-master"):
        last = cp.agents[stage].last
        assert last is not None and last.outcome == "invalidated" and last.invalidated_seq == 7
    invalidated = [a.detail for a in cp.audit if a.action == "invalidated"]
    assert len(invalidated) == 2 and all("planner misread the request" in d for d in invalidated)
    assert all("rolled back to checkpoint 3" in d for d in invalidated)
    assert any("architecture.json sha256:" in d for d in invalidated)
    assert [m.seq for m in cp.marks] == list(range(1, 8)) and cp.marks[-1].type == "rollback"
    # nothing deleted: the undone attempts and their artifact records are still in the database
    assert db_rows(root, "SELECT count(*) FROM attempts WHERE workflow_id = 'wf-r'") == [(4,)]
    assert db_rows(root, "SELECT count(*) FROM artifacts") == [(4,)]


def test_rollback_to_a_missing_checkpoint_is_a_usage_error(
        capsys: pytest.CaptureFixture[str], root: Path, mgr: CheckpointManager) -> None:
    four_done(mgr)
    code, _, err = run(capsys, "--dir", str(root), "resume", "wf-r", "--rollback", "99")
    assert code == 2 and "no checkpoint 99" in err and "1..6" in err
    assert mgr.load("wf-r").seq == 6


def test_from_invalidates_the_stage_and_downstream(
        capsys: pytest.CaptureFixture[str], root: Path, mgr: CheckpointManager) -> None:
    four_done(mgr)
    code, out = run_json(capsys, "--dir", str(root), "resume", "wf-r", "--from", "researcher", "--json")
    assert code == 0 and out["completed_agents"] == ["orchestrator"]
    assert out["next_agent"] == "researcher"
    cp = mgr.load("wf-r")
    assert [a.action for a in cp.audit].count("invalidated") == 3
    assert cp.audit[-2].action == "rerun_from"


def test_retry_the_failed_stage(capsys: pytest.CaptureFixture[str], root: Path,
                                mgr: CheckpointManager) -> None:
    four_done(mgr, pause=False)
    mgr.record_start("wf-r", "implementer")
    mgr.record_failure("wf-r", "implementer", "tests still failing")
    code, out = run_json(capsys, "--dir", str(root), "resume", "wf-r", "--retry", "--json")
    assert code == 0 and out["next_agent"] == "implementer" and out["status"] == "running"
    assert "retrying implementer" in out["context"]
    assert any(a.action == "retry" and a.detail == "implementer" for a in mgr.load("wf-r").audit)


def test_retry_without_a_failure_exits_1(capsys: pytest.CaptureFixture[str], root: Path,
                                         mgr: CheckpointManager) -> None:
    four_done(mgr)
    code, _, err = run(capsys, "--dir", str(root), "resume", "wf-r", "--retry")
    assert code == 1 and "no failed stage" in err


def test_skip_with_reason(capsys: pytest.CaptureFixture[str], root: Path, mgr: CheckpointManager) -> None:
    mgr.create("skip", workflow_id="wf-s")
    complete_stage(mgr, "wf-s", "orchestrator")
    code, out = run_json(capsys, "--dir", str(root), "resume", "wf-s", "--skip", "researcher",
                         "--reason", "research done by hand", "--json")
    assert code == 0 and out["skipped_agents"] == ["researcher"] and out["next_agent"] == "planner"
    cp = mgr.load("wf-s")
    last = cp.agents["researcher"].last
    assert last is not None and last.outcome == "skipped" and last.error == "research done by hand"
    code, _, err = run(capsys, "--dir", str(root), "resume", "wf-s", "--skip", "orchestrator")
    assert code == 2 and "already completed" in err


def test_set_parameters_and_refuse_secrets(capsys: pytest.CaptureFixture[str], root: Path,
                                           mgr: CheckpointManager) -> None:
    four_done(mgr)
    code, _ = run_json(capsys, "--dir", str(root), "resume", "wf-r", "--set", "target=py311",
                       "--set", "max_retries=3", "--json")
    assert code == 0
    cp = mgr.load("wf-r")
    assert cp.parameters == {"target": "py311", "max_retries": "3"}
    assert any(a.action == "set_param" and a.detail == "target: None -> 'py311'" for a in cp.audit)
    seq = cp.seq
    for bad in ("api_key=abc", "GITHUB_TOKEN=x", "db.password=hunter2", "note=sk-abcdef123",
                "novalue", "=x"):
        code, _, err = run(capsys, "--dir", str(root), "resume", "wf-r", "--set", bad)
        assert code == 2, bad
        assert "hunter2" not in err and "sk-abcdef" not in err
    cp = mgr.load("wf-r")
    assert cp.seq == seq and "hunter2" not in (root / "wf-r" / "checkpoint.json").read_text()
    assert b"hunter2" not in (root / "cairn.db").read_bytes()


def test_safe_refuses_on_a_modified_artifact(capsys: pytest.CaptureFixture[str], root: Path,
                                             mgr: CheckpointManager) -> None:
    four_done(mgr)
    target = root / "wf-r" / "research.json"
    target.write_text(target.read_text().replace("{", "{ ", 1))
    code, out, _ = run(capsys, "--dir", str(root), "resume", "wf-r", "--safe")
    assert code == 1
    assert "refusing to resume wf-r" in out and "[artifact_modified]" in out
    assert "re-run what the changes affect (researcher and what follows): cairn resume wf-r\n" in out
    assert "--rollback N" in out
    assert mgr.load("wf-r").status == Status.PAUSED
    code, data = run_json(capsys, "--dir", str(root), "resume", "wf-r", "--safe", "--json")
    assert code == 1 and data["refused"] is True and data["recovery"] and data["context"] is None


def test_safe_resumes_when_everything_checks_out(capsys: pytest.CaptureFixture[str], root: Path,
                                                 mgr: CheckpointManager) -> None:
    four_done(mgr)
    code, data = run_json(capsys, "--dir", str(root), "resume", "wf-r", "--safe", "--json")
    assert code == 0 and data["mode"] == "safe" and data["status"] == "running"


def test_fast_never_hashes(capsys: pytest.CaptureFixture[str], root: Path, mgr: CheckpointManager,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    four_done(mgr)

    def boom(*_a: object) -> None:
        raise AssertionError("hashed in --fast mode")

    monkeypatch.setattr("cairn.resumer.rehash", boom)
    code, data = run_json(capsys, "--dir", str(root), "resume", "wf-r", "--fast", "--json")
    assert code == 0 and data["mode"] == "fast" and data["next_agent"] == "implementer"


def test_dry_run_changes_nothing(capsys: pytest.CaptureFixture[str], root: Path,
                                 mgr: CheckpointManager) -> None:
    four_done(mgr)
    before = (root / "wf-r" / "checkpoint.json").read_bytes()
    code, data = run_json(capsys, "--dir", str(root), "resume", "wf-r", "--from", "planner",
                          "--dry-run", "--json")
    assert code == 0 and data["dry_run"] is True and data["next_agent"] == "planner"
    assert (root / "wf-r" / "checkpoint.json").read_bytes() == before


def test_a_cancelled_workflow_resumes_only_by_going_back(capsys: pytest.CaptureFixture[str], root: Path,
                                                          mgr: CheckpointManager) -> None:
    four_done(mgr, pause=False)
    mgr.cancel("wf-r")
    code, out, err = run(capsys, "--dir", str(root), "resume", "wf-r")
    assert code == 1 and "cancelled" in out + err and "--from STAGE" in out + err
    assert mgr.load("wf-r").status == Status.CANCELLED
    code, out, err = run(capsys, "--dir", str(root), "resume", "wf-r", "--from", "planner")
    wf = mgr.load("wf-r")
    assert code == 0 and wf.status == Status.RUNNING and wf.done == ["orchestrator", "researcher"]
    assert any(e.action == "status:cancelled->running" and e.detail.startswith("reopened") for e in wf.audit)


def test_a_completed_workflow_is_reopened_by_a_rerun(capsys: pytest.CaptureFixture[str], root: Path,
                                                     mgr: CheckpointManager, stages: list[str]) -> None:
    mgr.create("all done", workflow_id="wf-c")
    for stage in stages:
        complete_stage(mgr, "wf-c", stage)
    seq = mgr.load("wf-c").seq
    code, data = run_json(capsys, "--dir", str(root), "resume", "wf-c", "--json")
    assert code == 1 and data["can_resume"] is False and data["reason"] == "the workflow is completed"
    assert mgr.load("wf-c").seq == seq and mgr.load("wf-c").status == Status.COMPLETED
    code, data = run_json(capsys, "--dir", str(root), "resume", "wf-c", "--from", "reviewer", "--json")
    wf = mgr.load("wf-c")
    assert code == 0 and data["next_agents"] == ["reviewer"] and wf.status == Status.RUNNING
    assert wf.remaining_agents == ["reviewer", "security-auditor", "doc-master"]
    assert any(e.action == "status:completed->running" for e in wf.audit)


def test_no_id_off_a_terminal(capsys: pytest.CaptureFixture[str], root: Path,
                              mgr: CheckpointManager) -> None:
    four_done(mgr, "wf-one")
    code, data = run_json(capsys, "--dir", str(root), "resume", "--json")
    assert code == 0 and data["workflow_id"] == "wf-one"  # the only one: no question
    mgr.pause("wf-one")
    mgr.create("another", workflow_id="wf-two")
    complete_stage(mgr, "wf-two", "orchestrator")
    mgr.pause("wf-two")
    code, out, err = run(capsys, "--dir", str(root), "resume")
    assert code == 2 and out == ""
    assert "2 workflows can be resumed" in err and "wf-one" in err and "wf-two" in err


def test_pause_and_cancel_json(capsys: pytest.CaptureFixture[str], root: Path,
                               mgr: CheckpointManager) -> None:
    four_done(mgr, pause=False)
    code, data = run_json(capsys, "--dir", str(root), "pause", "wf-r", "--json")
    assert code == 0 and data == {"workflow_id": "wf-r", "status": "paused", "seq": 6}
    code, out, _ = run(capsys, "--dir", str(root), "cancel", "wf-r")
    assert code == 0 and out == "wf-r: cancelled\n"


def test_resume_context_in_json_is_the_printed_one(capsys: pytest.CaptureFixture[str], root: Path,
                                                   mgr: CheckpointManager) -> None:
    four_done(mgr)
    code, out, _ = run(capsys, "--dir", str(root), "resume", "wf-r", "--dry-run")
    code2, data = run_json(capsys, "--dir", str(root), "resume", "wf-r", "--dry-run", "--json")
    assert code == code2 == 0 and json.dumps(data["context"]) and out.strip() == data["context"]
