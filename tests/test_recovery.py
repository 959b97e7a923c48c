"""Every recovery option Cairn offers is a command that, run as printed, removes the
problem it was offered for: for each stale reason, each option is run in a fresh copy of
the situation, then `cairn validate` is clean (or says what remains) and the workflow is
no longer `stale`. Real git repositories."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from freezegun import freeze_time

from cairn.cli import main
from cairn.manager import CheckpointManager
from cairn.model import utcnow
from test_cli_support import complete_stage, no_claude_session, run_json

pytestmark = [pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed"),
              pytest.mark.usefixtures("no_claude_session")]
__all__ = ["no_claude_session"]
WID = "wf-rec"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), "-c", "user.email=t@x", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


def setup(project: Path, stages: int = 8) -> CheckpointManager:
    git(project, "init", "-q", "-b", "main")
    (project / ".gitignore").write_text(".claude/artifacts/\n")
    (project / "app.py").write_text("x = 1\n")
    (project / ".claude" / "agents").mkdir()
    (project / ".claude" / "agents" / "reviewer.md").write_text("review\n")
    git(project, "add", "-A")
    git(project, "commit", "-qm", "one")
    git(project, "checkout", "-q", "-b", "feature")
    m = CheckpointManager(project / ".claude" / "artifacts")
    m.create("recover", workflow_id=WID)
    for stage in m.load(WID).pipeline.names[:stages]:
        complete_stage(m, WID, stage)
    if stages < 8:
        m.pause(WID)
    return m


def code_edit(project: Path) -> CheckpointManager:
    m = setup(project)
    (project / "app.py").write_text("x = 2\n")
    return m


def code_commit(project: Path) -> CheckpointManager:
    m = setup(project)
    (project / "lib.py").write_text("y = 1\n")
    git(project, "add", "lib.py")
    git(project, "commit", "-qm", "outside the workflow")
    return m


def artifact_edit(project: Path) -> CheckpointManager:
    m = setup(project, 4)
    research = m.workflow_dir(WID) / "research.json"
    research.write_text(research.read_text().replace("{", "{ ", 1))
    return m


def agent_edit(project: Path) -> CheckpointManager:
    m = setup(project)
    (project / ".claude" / "agents" / "reviewer.md").write_text("review gently\n")
    return m


def pipeline_edit(project: Path) -> CheckpointManager:
    m = setup(project, 4)
    (project / ".claude" / "cairn.yaml").write_text("pipeline:\n  stages:\n    - name: planner\n"
                                                    "      description: plans differently now\n")
    return m


def branch_deleted(project: Path) -> CheckpointManager:
    m = setup(project, 4)
    git(project, "checkout", "-q", "main")
    git(project, "branch", "-q", "-D", "feature")
    return m


SCENARIOS: dict[str, tuple[Callable[[Path], CheckpointManager], str]] = {
    "code": (code_edit, "code_changed"), "commit": (code_commit, "git_head_moved"),
    "artifact": (artifact_edit, "artifact_modified"),
    "agent": (agent_edit, "agent_changed"), "pipeline": (pipeline_edit, "pipeline_changed"),
    "branch": (branch_deleted, "git_branch_deleted"),
}


def validate(capsys: pytest.CaptureFixture[str], m: CheckpointManager) -> tuple[int, dict[str, object]]:
    return run_json(capsys, "--dir", str(m.root), "validate", WID, "--json")


def options(capsys: pytest.CaptureFixture[str], make: Callable[[Path], CheckpointManager], code: str,
            where: Path) -> list[str]:
    m = make(where)
    status, report = validate(capsys, m)
    problems = report["problems"]
    assert status == 1 and isinstance(problems, list) and code in {p["code"] for p in problems}
    assert m.load(WID).status.value == "stale"
    recovery = report["recovery"]
    assert isinstance(recovery, list) and recovery
    return [str(o) for o in recovery]


def run_option(capsys: pytest.CaptureFixture[str], m: CheckpointManager, option: str) -> None:
    command = option[option.rindex(": cairn ") + 2:]
    for part in command.split(" && "):
        argv = shlex.split(part)
        assert argv[0] == "cairn"
        assert main(["--dir", str(m.root), *argv[1:]]) == 0, part
    capsys.readouterr()


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_option_removes_its_problem(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make, code = SCENARIOS[name]
    offered = options(capsys, make, code, _project(tmp_path, "first"))
    assert any("--accept" in o for o in offered) and any(o.startswith("clean up") for o in offered)
    for i, option in enumerate(offered):
        m = make(_project(tmp_path, f"option{i}"))
        assert validate(capsys, m)[0] == 1  # what a person does first: the check that offers the options
        run_option(capsys, m, option)
        if option.startswith("clean up"):
            with m.store.read() as r:
                assert WID not in r.ids()
            continue
        _, report = validate(capsys, m)
        left = {str(p["code"]) for p in report["problems"]}  # type: ignore[union-attr]
        # a restart re-runs every stage under the workflow's own pipeline: a changed definition remains, said so
        expected = {"pipeline_changed"} if name == "pipeline" and "restart" in option else set()
        assert left == expected, (option, report["problems"])
        assert m.load(WID).status.value != "stale" or expected, option
        if "--accept" in option:  # continuing as is: even --safe has nothing to refuse now
            _, safe = run_json(capsys, "--dir", str(m.root), "resume", WID, "--safe", "--dry-run", "--json")
            assert safe["refused"] is False and safe["problems"] == [], safe


def _project(tmp_path: Path, name: str) -> Path:
    p = tmp_path / name
    (p / ".claude" / "artifacts").mkdir(parents=True)
    return p


def test_an_expired_workflow_is_stale_and_resuming_clears_it(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    m = setup(_project(tmp_path, "p"), 4)
    with freeze_time(utcnow() + timedelta(days=30)):
        status, report = validate(capsys, m)
        assert status == 1 and [p["code"] for p in report["problems"]] == ["checkpoint_expired"]  # type: ignore[union-attr]
        assert m.load(WID).status.value == "stale"
        options = [str(o) for o in report["recovery"]]  # type: ignore[union-attr]
        accept = next(o for o in options if "--accept" in o)
        run_option(capsys, m, accept)
        assert validate(capsys, m)[0] == 0 and m.load(WID).status.value == "running"


def test_a_cancelled_workflow_is_offered_only_what_takes_it_back(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    def make(where: Path) -> CheckpointManager:
        m = setup(where, 6)  # through the reviewer, which reads the code
        m.cancel(WID)
        (where / "app.py").write_text("x = 3\n")
        return m

    m = make(_project(tmp_path, "first"))
    status, report = validate(capsys, m)
    assert status == 1 and [p["code"] for p in report["problems"]] == ["code_changed"]  # type: ignore[index]
    offered = [str(o) for o in report["recovery"]]  # type: ignore[union-attr]
    assert offered == [
        f"re-run what the changes affect (reviewer and what follows): cairn resume {WID} --from reviewer",
        f"restart: cairn resume {WID} --from orchestrator", f"clean up: cairn cleanup {WID}"]
    for i, option in enumerate(offered):
        m = make(_project(tmp_path, f"option{i}"))
        run_option(capsys, m, option)
        if option.startswith("clean up"):
            with m.store.read() as r:
                assert WID not in r.ids()
            continue
        assert validate(capsys, m)[0] == 0 and m.load(WID).status.value == "running"
