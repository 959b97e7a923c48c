"""The code state a stage saw (`cairn.codestate`), against real git repositories: HEAD
plus the content of changed and untracked files, compared file by file."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cairn import codestate

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), "-c", "user.email=t@x", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    (r / "src").mkdir(parents=True)
    git(r, "init", "-q", "-b", "main")
    (r / "src" / "app.py").write_text("print(1)\n")
    (r / "README").write_text("hi\n")
    git(r, "add", "-A")
    git(r, "commit", "-q", "-m", "one")
    return r


def state(repo: Path) -> dict[str, object]:
    found = codestate.load(codestate.snapshot(repo))
    assert found is not None
    return found


def test_clean_repository_has_head_and_nothing_dirty(repo: Path) -> None:
    s = state(repo)
    assert s["head"] == git(repo, "rev-parse", "HEAD") and s["dirty"] == {} and s["branch"] == "main"


def test_not_a_repository_or_no_commit(tmp_path: Path) -> None:
    assert codestate.snapshot(tmp_path) is None
    git(tmp_path, "init", "-q")
    assert codestate.snapshot(tmp_path) is None


def test_uncommitted_edit_untracked_file_and_deletion_are_named(repo: Path) -> None:
    before = state(repo)
    (repo / "src" / "app.py").write_text("print(2)\n")
    (repo / "src" / "new.py").write_text("x = 1\n")
    (repo / "README").unlink()
    after = state(repo)
    assert after["dirty"] == {"src/app.py": git(repo, "hash-object", "src/app.py"),
                              "src/new.py": git(repo, "hash-object", "src/new.py"), "README": codestate.DELETED}
    assert codestate.fingerprint(before) != codestate.fingerprint(after)
    assert codestate.changed_files(before, after) == ["README", "src/app.py", "src/new.py"]


def test_artifacts_folder_is_not_code(repo: Path) -> None:
    before = state(repo)
    (repo / ".claude" / "artifacts" / "wf").mkdir(parents=True)
    (repo / ".claude" / "artifacts" / "wf" / "review.json").write_text("{}")
    assert codestate.fingerprint(state(repo)) == codestate.fingerprint(before)


def test_committing_the_same_content_changes_nothing(repo: Path) -> None:
    (repo / "src" / "app.py").write_text("print(2)\n")
    dirty = state(repo)
    git(repo, "commit", "-qam", "two")
    committed = state(repo)
    assert committed["head"] != dirty["head"]
    assert codestate.changed_files(dirty, committed) == []


def test_a_commit_after_is_named(repo: Path) -> None:
    before = state(repo)
    (repo / "lib.py").write_text("y = 2\n")
    git(repo, "add", "lib.py")
    git(repo, "commit", "-qm", "lib")
    assert codestate.changed_files(before, state(repo)) == ["lib.py"]


def test_reverting_an_edit_is_no_change(repo: Path) -> None:
    before = state(repo)
    (repo / "src" / "app.py").write_text("print(2)\n")
    (repo / "src" / "app.py").write_text("print(1)\n")
    assert codestate.changed_files(before, state(repo)) == []


def test_state_is_json_with_worktree(repo: Path) -> None:
    text = codestate.snapshot(repo / "src")
    assert text is not None and json.loads(text)["worktree"] == str(repo.resolve())


def test_a_hostile_repository_config_runs_nothing(repo: Path, tmp_path: Path) -> None:
    """A cloned project's .git/config can name commands (fsmonitor, clean filters): reading
    its code state runs none of them."""
    ran = tmp_path / "ran"
    git(repo, "config", "core.fsmonitor", f"touch {ran}/fsmonitor; false")
    git(repo, "config", "filter.evil.clean", f"touch {ran}/filter; cat")
    (repo / ".gitattributes").write_text("*.py filter=evil\n")
    ran.mkdir()
    (repo / "src" / "app.py").write_text("print(3)\n")
    (repo / "src" / "new.py").write_text("y = 2\n")
    before = state(repo)
    assert set(before["dirty"]) == {".gitattributes", "src/app.py", "src/new.py"}  # type: ignore[arg-type]
    (repo / "src" / "app.py").write_text("print(4)\n")
    assert codestate.changed_files(before, state(repo)) == ["src/app.py"]
    assert list(ran.iterdir()) == []


def test_a_filter_added_while_a_process_runs_is_switched_off_too(repo: Path, tmp_path: Path) -> None:
    """The filter drivers are looked up once per repository and process, and again as
    soon as its config changes: a filter named after the first state runs no more."""
    ran = tmp_path / "ran"
    ran.mkdir()
    (repo / "src" / "app.py").write_text("print(5)\n")
    assert state(repo)["dirty"]  # the drivers (none) are known for this repository now
    git(repo, "config", "filter.late.clean", f"touch {ran}/filter; cat")
    (repo / ".gitattributes").write_text("*.py filter=late\n")
    (repo / "src" / "app.py").write_text("print(6)\n")
    assert "src/app.py" in state(repo)["dirty"]  # type: ignore[operator]
    assert list(ran.iterdir()) == []
