"""Confinement: workflow ids and artifact paths never lead outside their folders, and
nothing is written outside the artifacts folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cairn.errors import ArtifactError, CairnError, ConfinementError, UsageError
from cairn.manager import CheckpointManager
from cairn.paths import check_workflow_id, confine_artifact, default_artifacts_dir, normalize_artifact

BAD_IDS = ["a/b", "../x", "..", "a..b", "x\x00y", ".hidden", "-dash", "", "a" * 129, "sp ace",
           "back\\slash", "/abs", "wf\n", "wf-1\n", "\nwf", "wf\r\n", "wf\t"]


@pytest.mark.parametrize("wid", BAD_IDS)
def test_bad_ids_are_refused(wid: str, mgr: CheckpointManager, root: Path) -> None:
    with pytest.raises(ConfinementError) as info:
        check_workflow_id(wid)
    assert isinstance(info.value, UsageError) and info.value.hint
    with pytest.raises(ConfinementError):
        mgr.create("x", workflow_id=wid) if wid else check_workflow_id(wid)
    with pytest.raises(ConfinementError):
        mgr.load(wid)
    with pytest.raises(ConfinementError):
        mgr.pause(wid)
    assert not root.exists() or not any(root.iterdir())  # nothing created for it


@pytest.mark.parametrize("wid", ["a", "wf-20260101-000000-abcdef", "A.b_c-9", "a" * 128])
def test_good_ids(wid: str) -> None:
    assert check_workflow_id(wid) == wid


def test_default_artifacts_dir_uses_project_env(tmp_path: Path) -> None:
    assert default_artifacts_dir({"CLAUDE_PROJECT_DIR": str(tmp_path)}) == tmp_path / ".claude/artifacts"
    assert default_artifacts_dir({}) == Path.cwd() / ".claude/artifacts"
    assert default_artifacts_dir() == Path(os.environ["CLAUDE_PROJECT_DIR"]) / ".claude/artifacts"


@pytest.fixture
def wdir(tmp_path: Path) -> Path:
    d = tmp_path / "root" / "wf"
    d.mkdir(parents=True)
    return d


@pytest.mark.parametrize("rel", ["/etc/passwd", "../x.json", "sub/../../x.json", "a\x00b", ""])
def test_escaping_artifact_paths_refused(wdir: Path, rel: str) -> None:
    with pytest.raises(ConfinementError):
        confine_artifact(wdir, rel)


def test_symlinks_leading_outside_are_refused(wdir: Path, tmp_path: Path) -> None:
    outside_file = tmp_path / "secret.json"
    outside_file.write_text("{}")
    outside_dir = tmp_path / "elsewhere"
    outside_dir.mkdir()
    (wdir / "link.json").symlink_to(outside_file)
    (wdir / "linkdir").symlink_to(outside_dir, target_is_directory=True)
    with pytest.raises(ConfinementError):
        confine_artifact(wdir, "link.json")
    with pytest.raises(ConfinementError):
        confine_artifact(wdir, "linkdir/x.json")
    # A symlink that stays inside is fine, and resolves to its target.
    (wdir / "real.json").write_text("{}")
    (wdir / "alias.json").symlink_to(wdir / "real.json")
    assert confine_artifact(wdir, "alias.json") == (wdir / "real.json").resolve()


def test_normalize_artifact(wdir: Path, tmp_path: Path) -> None:
    (wdir / "sub").mkdir()
    assert normalize_artifact(wdir, str(wdir / "sub" / "a.json")) == "sub/a.json"
    assert normalize_artifact(wdir, "sub/a.json") == "sub/a.json"
    with pytest.raises(ConfinementError):
        normalize_artifact(wdir, str(tmp_path / "other.json"))


def _snapshot(top: Path, skip: Path) -> set[Path]:
    return {p for p in top.rglob("*") if skip not in p.parents and p != skip}


def test_manager_refuses_escaping_artifacts_and_writes_nothing_outside(
        mgr: CheckpointManager, root: Path, tmp_path: Path, write: Callable[..., Path]) -> None:
    wid = mgr.create("confined").workflow_id
    wdir = mgr.workflow_dir(wid)
    secret = tmp_path / "secret.json"
    secret.write_text('{"secret": true}')
    outside_dir = tmp_path / "outside"
    outside_dir.mkdir()
    (outside_dir / "manifest.json").write_text("{}")
    (wdir / "evil.json").symlink_to(secret)
    (wdir / "evildir").symlink_to(outside_dir, target_is_directory=True)
    before = _snapshot(tmp_path, root)
    for bad in [str(secret), "../secret.json", "evil.json", "evildir/manifest.json", "/etc/hostname"]:
        with pytest.raises((ConfinementError, ArtifactError)) as info:
            mgr.record_completion(wid, "orchestrator", artifacts=[bad])
        assert isinstance(info.value, CairnError)
        with pytest.raises(ConfinementError):
            mgr.record_completion(wid, "orchestrator", artifacts=[bad], check_schemas=False)
    assert mgr.load(wid).artifacts == {}
    assert mgr.load(wid).completed_agents == []
    assert _snapshot(tmp_path, root) == before
    assert secret.read_text() == '{"secret": true}'


def test_a_symlinked_workflow_folder_is_never_written(mgr: CheckpointManager, root: Path, tmp_path: Path) -> None:
    """The database is the truth: the change is recorded, its projection is not written
    through the link (a warning says so)."""
    wid = mgr.create("real").workflow_id
    mgr.record_start(wid, "orchestrator")
    target = tmp_path / "moved"
    os.replace(mgr.workflow_dir(wid), target)
    before = {p: p.read_bytes() for p in target.rglob("*")}
    (root / wid).symlink_to(target, target_is_directory=True)
    wf = mgr.pause(wid)
    assert wf.status.value == "paused" and any("not refreshed" in w for w in mgr.workflows.warnings)
    assert {p: p.read_bytes() for p in target.rglob("*")} == before
    (root / "wf-other").symlink_to(target, target_is_directory=True)
    with pytest.raises(ConfinementError):
        mgr.create("x", workflow_id="wf-other")  # a new workflow never starts in a linked folder
