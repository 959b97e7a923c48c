"""Import on the first open of a project's database: workflows of Cairn's file store
(format 3.0, fixtures written by that version's own code: fixtures/legacy/make_v3.py) and
of autonomous-dev (2.0); copies and foreign folders refused and reported; `project.rebuild`
recovering a lost or damaged database from the projections (3.1)."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cairn.checks.stale import last_git
from cairn.errors import CairnError, MigrationError, StoreError
from cairn.manager import CheckpointManager
from cairn.migrate import is_legacy, upgrade
from cairn.model import Workflow, parse_iso
from cairn.operations import Operation
from cairn.pipeline import default_pipeline
from cairn.project import rebuild
from cairn.resumer import WorkflowResumer
from cairn.status import Status
from cairn.store import projection

LEGACY_FIXTURES = Path(__file__).resolve().parent / "fixtures" / "legacy"  # not from conftest (ambiguous)

V2 = LEGACY_FIXTURES / "checkpoint-v2.json"
V3 = LEGACY_FIXTURES / "v3"
V3_IDS = ["v3-completed", "v3-midway", "v3-rerun", "v3-rollback-bug"]
Complete = Callable[..., Path]


def raw_of(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def v3_root(root: Path) -> Path:
    for wid in V3_IDS:
        shutil.copytree(V3 / wid, root / wid)
    return root


def load(root: Path, wid: str) -> Workflow:
    return CheckpointManager(root).load(wid)


# ------------------------------------------------------------------ format 3.0


def test_every_3_0_workflow_is_imported_on_first_open(v3_root: Path) -> None:
    m = CheckpointManager(v3_root)
    rows = m.list_workflows(include_finished=True)
    assert sorted(s.workflow_id for s in rows) == V3_IDS
    assert m.notes[0] == f"imported 4 workflow(s) into {v3_root}/cairn.db"
    assert not any(n.startswith("not imported") for n in m.notes)
    again = CheckpointManager(v3_root)  # the import happens once
    again.list_workflows()
    assert again.notes == []


@pytest.mark.parametrize("wid", V3_IDS)
def test_a_3_0_workflow_keeps_every_field(v3_root: Path, wid: str) -> None:
    raw = raw_of(V3 / wid / "checkpoint.json")
    wf = load(v3_root, wid)
    assert wf.workflow_id == wid and wf.request == raw["request"]
    assert wf.created_at == parse_iso(raw["created_at"]) and wf.updated_at == parse_iso(raw["updated_at"])
    assert wf.status.value == raw["status"] and wf.status_reason == raw["status_reason"]
    old_git = raw["metadata"].pop("git")  # the file store kept its newest git state there
    assert wf.metadata == raw["metadata"] and wf.parameters == raw["parameters"]
    holder = [a for a in wf.agents[old_git["stage"]].attempts if a.git][-1]
    assert json.loads(holder.git or "") == {k: v for k, v in old_git.items() if k != "stage"}
    newest = last_git(wf)
    if holder.outcome == "completed":  # an undone completion's git state no longer counts
        assert newest is not None and newest["head"] == old_git["head"] and newest["stage"] == old_git["stage"]
    assert wf.pipeline.to_dict() == raw["pipeline"]
    assert wf.completed_agents == raw["completed_agents"] and wf.skipped_agents == raw["skipped_agents"]
    assert wf.current_agent == raw["current_agent"]
    assert {p: r.sha256 for p, r in wf.artifacts.items()} == {p: r["sha256"] for p, r in raw["artifacts"].items()}
    assert {p: r.agent for p, r in wf.artifacts.items()} == {p: r["agent"] for p, r in raw["artifacts"].items()}
    assert wf.seq == raw["seq"] and wf.checkpoint_type == raw["checkpoint_type"]
    kinds = sorted(p.name for p in (V3 / wid / "checkpoints").iterdir())
    assert [f"{m.seq:08d}-{m.type}.json" for m in wf.marks] == kinds
    for stage, state in raw["agents"].items():
        mine = wf.agents[stage].attempts[:len(state["attempts"])]
        for old, new in zip(state["attempts"], mine, strict=True):
            assert (new.number, new.agent_id, new.session_id, new.error) == (
                old["number"], old["agent_id"], old["session_id"], old["error"])
            assert new.started_at == parse_iso(old["started_at"])
            assert new.outcome == old["outcome"] or (old["outcome"] == "invalidated" and stage in wf.done)
    assert [(e.action, e.detail) for e in wf.audit][:len(raw["audit"])] == [
        (e["action"], e["detail"]) for e in raw["audit"]]
    assert wf.audit[-1].action == "imported" and "format 3.0" in wf.audit[-1].detail
    assert [(s.session_id, s.first_seen, s.last_seen) for s in wf.sessions] == [
        (s["session_id"], parse_iso(s["first_seen"]), parse_iso(s["last_seen"])) for s in raw["sessions"]]


@pytest.mark.parametrize("wid", V3_IDS)
def test_the_imported_history_answers_as_the_file_store_did(v3_root: Path, wid: str) -> None:
    """Each history entry of 3.0 is a checkpoint; `as_of(seq)` of the import shows it."""
    wf = load(v3_root, wid)
    for entry in sorted((V3 / wid / "checkpoints").iterdir()):
        then = raw_of(entry)
        view = wf.as_of(then["seq"])
        assert view.completed_agents == then["completed_agents"], entry.name
        assert view.skipped_agents == then["skipped_agents"], entry.name
        assert view.current_agent == then["current_agent"], entry.name
        assert sorted(view.artifacts) == sorted(then["artifacts"]), entry.name
        assert len(view.audit) >= len(then["audit"]) and view.seq == then["seq"]


@pytest.mark.parametrize("wid", V3_IDS)
def test_files_are_kept(v3_root: Path, wid: str) -> None:
    before = files(V3 / wid)
    wf = load(v3_root, wid)
    after = files(v3_root / wid)
    assert after.pop("checkpoints/original-checkpoint.json") == before["checkpoint.json"]
    assert after.pop("checkpoint.json") == projection.encode(wf)  # the projection took its place
    del before["checkpoint.json"]
    assert after == before  # history entries and artifacts untouched


def test_the_old_rollback_bug_is_straightened_on_import(v3_root: Path) -> None:
    """3.0 said: completed_agents [orchestrator], its only attempt "invalidated". The import
    trusts the list and records the completion as an attempt, saying so."""
    wf = load(v3_root, "v3-rollback-bug")
    assert wf.completed_agents == ["orchestrator"] and list(wf.artifacts) == ["manifest.json"]
    last = wf.agents["orchestrator"].last
    assert last is not None and last.outcome == "completed" and wf.effective("orchestrator") is last
    assert [a.outcome for a in wf.agents["orchestrator"].attempts] == ["invalidated", "completed"]
    assert [a.outcome for a in wf.agents["researcher"].attempts] == ["invalidated"]
    assert any(e.action == "import_reconciled" and e.detail.startswith("orchestrator") for e in wf.audit)
    plan = WorkflowResumer(CheckpointManager(v3_root)).plan("v3-rollback-bug")
    assert plan.completed_agents == ["orchestrator"] and plan.next_agent == "researcher"


def test_imported_workflows_resume_where_they_stopped(v3_root: Path) -> None:
    m = CheckpointManager(v3_root)
    r = WorkflowResumer(m)
    midway = r.plan("v3-midway", report=r.validate("v3-midway", stale=False))
    assert midway.problems == [] and midway.can_resume and midway.next_agent == "test-master"
    assert midway.interrupted == ["test-master"]
    rerun = r.plan("v3-rerun", report=r.validate("v3-rerun", stale=False))
    assert rerun.problems == [] and rerun.status == "failed" and rerun.next_agent == "implementer"
    assert rerun.skipped_agents == ["test-master"]
    done = r.plan("v3-completed")
    assert not done.can_resume and done.progress.percent == 100


def test_rollback_to_a_checkpoint_written_by_the_file_store(v3_root: Path) -> None:
    m = CheckpointManager(v3_root)
    op = Operation(rollback=5, reason="back before the planner")
    wf = m.apply("v3-midway", op.change, op.name())
    assert wf.completed_agents == ["orchestrator", "researcher"]
    assert sorted(wf.artifacts) == ["manifest.json", "research.json"]
    assert wf.seq == 11 and wf.status == Status.RUNNING
    op = Operation(rerun_from="planner")
    wf = m.apply("v3-rerun", op.change, op.name())
    assert wf.completed_agents == ["orchestrator", "researcher"] and wf.skipped_agents == []


def test_a_damaged_checkpoint_json_is_imported_from_the_newest_history_entry(root: Path) -> None:
    shutil.copytree(V3 / "v3-midway", root / "v3-midway")
    damaged = (root / "v3-midway" / "checkpoint.json").read_bytes()[:300]
    (root / "v3-midway" / "checkpoint.json").write_bytes(damaged)
    m = CheckpointManager(root)
    wf = m.load("v3-midway")
    assert wf.seq == 10 and wf.completed_agents == ["orchestrator", "researcher", "planner"]
    assert wf.parameters == {"target": "py311"}
    assert "unreadable" in wf.audit[-1].detail and "history entry 10" in wf.audit[-1].detail
    assert (root / "v3-midway" / "checkpoints" / "original-checkpoint.json").read_bytes() == damaged


def test_a_checkpoint_json_behind_its_history_is_rolled_forward(root: Path) -> None:
    """The file store killed between its history entry and checkpoint.json."""
    shutil.copytree(V3 / "v3-midway", root / "v3-midway")
    older = (root / "v3-midway" / "checkpoints" / "00000007-agent_completion.json").read_bytes()
    (root / "v3-midway" / "checkpoint.json").write_bytes(older)
    wf = load(root, "v3-midway")
    assert wf.seq == 10 and wf.status == Status.PAUSED and wf.parameters == {"target": "py311"}
    assert "rolled forward to history entry 10" in wf.audit[-1].detail


def test_an_unreadable_folder_is_reported_and_the_others_imported(v3_root: Path) -> None:
    bad = v3_root / "v3-garbage"
    bad.mkdir()
    (bad / "checkpoint.json").write_bytes(b"\x00garbage")
    m = CheckpointManager(v3_root)
    assert len(m.list_workflows(include_finished=True)) == 4
    [note] = [n for n in m.notes if n.startswith("not imported")]
    assert str(bad) in note and "unreadable" in note
    assert (bad / "checkpoint.json").read_bytes() == b"\x00garbage"


# ------------------------------------------------------------------ format 2.0


def v2() -> dict[str, Any]:
    return raw_of(V2)


@pytest.fixture
def placed(root: Path) -> tuple[str, Path]:
    data = v2()
    wid = data["workflow_id"]
    (root / wid).mkdir()
    (root / wid / "checkpoint.json").write_bytes(V2.read_bytes())
    for name in ("manifest.json", "research.json"):  # architecture.json is missing
        (root / wid / name).write_text(json.dumps({"workflow_id": wid, "from": "autonomous-dev"}))
    return wid, root / wid


def test_fixture_is_format_two() -> None:
    data = v2()
    assert data["version"] == "2.0" and is_legacy(data)
    assert data["completed_agents"] == ["orchestrator", "researcher", "planner"]
    assert data["current_agent"] == "test-master"


def test_a_2_0_workflow_is_imported_with_every_field(mgr: CheckpointManager, placed: tuple[str, Path]) -> None:
    wid, folder = placed
    data = v2()
    wf = mgr.load(wid)
    assert wf.status == Status.PAUSED and "format 2.0" in (wf.status_reason or "")
    assert wf.completed_agents == data["completed_agents"]
    assert wf.created_at.isoformat().startswith("2025-10-02T10:15:00.123456")
    assert wf.request == data["metadata"]["request"] and wf.metadata == data["metadata"]
    assert [(m.seq, m.type) for m in wf.marks] == [(1, data["checkpoint_type"])]
    assert wf.agents["test-master"].last is not None
    assert wf.agents["test-master"].last.outcome == "interrupted"  # its current_agent
    assert "current_agent" in (wf.agents["test-master"].last.error or "")
    for name in ("manifest.json", "research.json"):
        rec = wf.artifacts[name]
        assert rec.check == "pending" and rec.schema is not None
        assert rec.sha256 == hashlib.sha256((folder / name).read_bytes()).hexdigest()
    assert "architecture.json" not in wf.artifacts
    assert (folder / "checkpoints" / "original-checkpoint.json").read_bytes() == V2.read_bytes()
    assert wf.audit[-1].action == "imported" and "format 2.0" in wf.audit[-1].detail
    plan = WorkflowResumer(mgr).plan(wid)
    assert plan.can_resume and plan.next_agent == "test-master"
    assert plan.remaining_agents == default_pipeline().names[3:]
    assert plan.interrupted == ["test-master"]


def test_the_2_0_import_says_what_it_could_not_record(root: Path, placed: tuple[str, Path]) -> None:
    from cairn.project import open_store

    store, report = open_store(root)
    store.close()
    assert report is not None and report.imported == [placed[0]]
    assert any("architecture.json" in n and "cannot be read" in n for n in report.notes), report.notes


def test_a_finished_2_0_workflow_is_completed(root: Path) -> None:
    data = {**v2(), "workflow_id": "legacy-done", "completed_agents": default_pipeline().names,
            "current_agent": None}
    (root / "legacy-done").mkdir()
    (root / "legacy-done" / "checkpoint.json").write_text(json.dumps(data))
    wf = load(root, "legacy-done")
    assert wf.status == Status.COMPLETED and wf.completed_agents == default_pipeline().names


def test_a_malformed_2_0_checkpoint_is_reported_not_imported(mgr: CheckpointManager, root: Path) -> None:
    (root / "legacy-bad").mkdir()
    text = json.dumps({**v2(), "workflow_id": "legacy-bad", "created_at": "not a time"})
    (root / "legacy-bad" / "checkpoint.json").write_text(text)
    assert mgr.list_workflows(include_finished=True) == []
    [note] = mgr.notes[1:]
    assert note.startswith("not imported") and "created_at" in note
    assert (root / "legacy-bad" / "checkpoint.json").read_text() == text
    assert not (root / "legacy-bad" / "checkpoints").exists()


MALFORMED = [
    pytest.param({"workflow_id": None}, "workflow_id", id="no-id"),
    pytest.param({"created_at": "yesterday"}, "created_at", id="bad-time"),
    pytest.param({"created_at": 12}, "created_at", id="time-not-string"),
    pytest.param({"completed_agents": "planner"}, "completed_agents", id="agents-not-list"),
    pytest.param({"artifacts_created": [1, 2]}, "artifacts_created", id="artifacts-not-strings"),
    pytest.param({"metadata": ["x"]}, "metadata", id="metadata-not-object"),
    pytest.param({"current_agent": 7}, "current_agent", id="current-not-string"),
]


@pytest.mark.parametrize(("change", "field"), MALFORMED)
def test_malformed_legacy_raises_migration_error(change: dict[str, Any], field: str) -> None:
    with pytest.raises(MigrationError) as info:
        upgrade({**v2(), **change}, default_pipeline())
    assert isinstance(info.value, CairnError)
    assert field in info.value.message and info.value.hint


def test_upgrade_refuses_unknown_version() -> None:
    with pytest.raises(MigrationError):
        upgrade({**v2(), "version": "9.9"}, default_pipeline())


# ------------------------------------------------------------------ copies and foreign folders


@pytest.fixture
def project_state(mgr: CheckpointManager, complete: Complete) -> dict[str, Workflow]:
    """Workflows that went through most of what can happen to one."""
    a = mgr.create("first", workflow_id="wf-a", session_id="sess-1", metadata={"k": "v"}).workflow_id
    complete(mgr, a, "orchestrator")
    mgr.record_start(a, "researcher", agent_id="ag-r", session_id="sess-1")
    mgr.workflows.agent_launched("tu-1", "ag-r", json.dumps({"totalTokens": 1234}))
    complete(mgr, a, "researcher")
    op = Operation(rerun_from="researcher", params={"target": "py311"})
    mgr.apply(a, op.change, op.name(), session_id="sess-2")
    op = Operation(rollback=3)
    mgr.apply(a, op.change, op.name())
    op = Operation(skip=["planner"], reason="not needed")
    mgr.apply(a, op.change, op.name())
    mgr.record_failure(a, "test-master", "boom")
    b = mgr.create("second", workflow_id="wf-b").workflow_id
    mgr.cancel(b)
    c = mgr.create("third", workflow_id="wf-c").workflow_id
    mgr.touch(c, session_id="sess-3")
    return {w: mgr.load(w) for w in (a, b, c)}


def _same(before: Workflow, after: Workflow) -> None:
    def facts(wf: Workflow) -> dict[str, Any]:
        data = json.loads(projection.encode(wf))
        data["audit"] = [e for e in data["audit"] if e["action"] != "imported"]
        data.pop("last_activity")
        return data

    assert facts(after) == facts(before)
    assert len(after.attempts) == len(before.attempts)
    assert after.uid == before.uid and after.seq == before.seq


@pytest.mark.parametrize("damage", ["deleted", "garbage", "empty"])
def test_rebuild_recovers_the_database_from_the_projections(root: Path, project_state: dict[str, Workflow],
                                                            damage: str) -> None:
    db = root / "cairn.db"
    if damage == "deleted":
        for p in root.glob("cairn.db*"):
            p.unlink()
    else:
        for side in ("-wal", "-shm"):
            (root / f"cairn.db{side}").unlink(missing_ok=True)
        db.write_bytes(b"garbage " * 512 if damage == "garbage" else b"")
        if damage == "garbage":
            with pytest.raises(StoreError) as info:
                CheckpointManager(root).load("wf-a")
            assert "cairn doctor" in str(info.value)
    report = rebuild(root)
    assert sorted(report.imported) == ["wf-a", "wf-b", "wf-c"] and report.skipped == []
    assert any("not recovered" in n and "bound" in n for n in report.notes)
    m = CheckpointManager(root)
    for wid, before in project_state.items():
        after, warnings = m.load_with_warnings(wid)
        assert warnings == []
        _same(before, after)
    if damage == "garbage":
        assert (root / "cairn.db.damaged-1").read_bytes() == b"garbage " * 512
    wf = m.apply("wf-a", Operation().change, "resume")  # and it carries on
    assert wf.seq == project_state["wf-a"].seq + 1


def test_rebuild_says_what_it_could_not_recover(root: Path, project_state: dict[str, Workflow]) -> None:
    (root / "wf-c" / "checkpoint.json").write_bytes(b"{broken")
    shutil.copytree(root / "wf-a", root / "wf-a-copy")  # a copied folder: names wf-a
    renamed = root / "wf-d"
    shutil.copytree(root / "wf-b", renamed)  # a copy edited to another id: same workflow_uid
    raw = raw_of(renamed / "checkpoint.json")
    raw["workflow_id"] = "wf-d"
    (renamed / "checkpoint.json").write_text(json.dumps(raw))
    (root / "cairn.db").unlink()
    report = rebuild(root)
    assert sorted(report.imported) == ["wf-a", "wf-b"]
    why = {Path(line.split(":")[0]).name: line for line in report.skipped}
    assert set(why) == {"wf-a-copy", "wf-c", "wf-d"}
    assert "names workflow 'wf-a'" in why["wf-a-copy"]
    assert "copy of workflow 'wf-b'" in why["wf-d"]
    assert "unreadable" in why["wf-c"]
    m = CheckpointManager(root)
    assert sorted(s.workflow_id for s in m.list_workflows(include_finished=True)) == ["wf-a", "wf-b"]
    assert (root / "wf-c" / "checkpoint.json").read_bytes() == b"{broken"  # kept as found


def test_first_open_refuses_a_copy_and_a_foreign_folder(root: Path, tmp_path: Path,
                                                        complete: Complete) -> None:
    """Projections brought from elsewhere (a copied project without its database)."""
    other = tmp_path / "other" / ".claude" / "artifacts"
    m = CheckpointManager(other)
    m.create("original", workflow_id="wf-x")
    complete(m, "wf-x", "orchestrator")
    shutil.copytree(other / "wf-x", root / "wf-x")
    shutil.copytree(other / "wf-x", root / "wf-y")  # names wf-x
    mine = CheckpointManager(root)
    rows = mine.list_workflows(include_finished=True)
    assert [s.workflow_id for s in rows] == ["wf-x"] and rows[0].done == ("orchestrator",)
    [note] = [n for n in mine.notes if n.startswith("not imported")]
    assert "wf-y" in note and "names workflow 'wf-x'" in note
    assert mine.load("wf-x").uid == m.load("wf-x").uid


def test_processes_opening_a_fresh_project_at_once_import_it_once(v3_root: Path) -> None:
    """Hooks of parallel subagents may be the first to open a project: one of them
    imports, the others find the database ready."""
    import os
    import subprocess
    import sys

    lib = Path(__file__).resolve().parent.parent / "lib"
    code = ("import sys\nsys.path.insert(0, sys.argv[1])\nfrom pathlib import Path\n"
            "from cairn.project import open_store\nprint('ready', flush=True)\nsys.stdin.readline()\n"
            "store, report = open_store(Path(sys.argv[2]))\n"
            "print(len(report.imported) if report is not None else '-', flush=True)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(lib), str(v3_root)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={"PATH": os.environ.get("PATH", "")}) for _ in range(6)]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(out.strip())
    assert sorted(results) == ["-"] * 5 + ["4"]
    m = CheckpointManager(v3_root)
    for wid in V3_IDS:
        assert [e.action for e in m.load(wid).audit].count("imported") == 1


def test_a_history_too_large_to_replay_is_imported_from_its_newest_entries(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cairn.store.legacy as legacy

    monkeypatch.setattr(legacy, "HISTORY_BUDGET", 1000)
    shutil.copytree(V3 / "v3-midway", root / "v3-midway")
    wf = load(root, "v3-midway")
    assert wf.seq == 10 and wf.completed_agents == ["orchestrator", "researcher", "planner"]
    assert wf.status == Status.PAUSED and wf.parameters == {"target": "py311"}
    assert "too large to replay" in wf.audit[-1].detail
    assert [m.seq for m in wf.marks] == list(range(1, 11))
