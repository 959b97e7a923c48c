"""Unlucky disks: a full disk (at each moment of a write), a read-only mount, a folder
this user may not write, a database another user owns. Each ends in one line that says
what and where, exit 1 (never "internal error"), and a command reports success if and
only if its change was committed. A half-created workflow never wedges its id; hooks on
a read-only project still inject the resume context.

The disks are real: a small tmpfs mounted for each case (root only; skipped with the
reason elsewhere), filled at a fault point by `cairn.faults` (`NAME@fill`), remounted
read-only, or used by another user through `setpriv`."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cairn.faults import POINTS
from support import ARTIFACT_FIXTURES, LIB

NOBODY = 65534
FULL_AT = ("already", *POINTS)  # "already": the disk was full before the command started
QUICK = ("already", "after_commit", "before_replace")  # the default run; every point with -m slow
FULL_CASES = [pytest.param(at, marks=() if at in QUICK else pytest.mark.slow) for at in FULL_AT]
WRITES = {
    "start": ["start", "second", "--id", "wf-b"],
    "pause": ["pause", "wf-a"],
    "cancel": ["cancel", "wf-a"],
    "set": ["resume", "wf-a", "--set", "target=py311"],
    "skip": ["resume", "wf-a", "--skip", "researcher"],
    "checkpoint": ["checkpoint", "wf-a", "--agent", "orchestrator"],
}
READS = [["list"], ["status"], ["status", "wf-a"], ["show", "wf-a"], ["validate", "wf-a"], ["log", "wf-a"],
         ["history"], ["list", "--json"]]
CASES: dict[str, int] = {}  # family -> cases tried (printed for the closing note)


def _mount(where: Path, *options: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(["size=4m", *options]), "tmpfs", str(where)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'}): the disk cases need one")


@pytest.fixture
def disk() -> Iterator[Path]:
    """A fresh 4 MiB tmpfs, reachable by another user (its parents are 0755)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    base = Path(tempfile.mkdtemp(prefix="cairn-disk-", dir="/tmp"))
    os.chmod(base, 0o755)
    mnt = base / "mnt"
    _mount(mnt, "mode=0755")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
        shutil.rmtree(base, ignore_errors=True)


def cairn(project: Path, *args: str, env: dict[str, str] | None = None, user: int | None = None,
          python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(project.parent / "home"),
         "PYTHONPATH": str(LIB), "CLAUDE_PROJECT_DIR": str(project), **(env or {})}
    cmd = [python, "-m", "cairn", *args]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, env=e, cwd=project, timeout=60, check=False)


def hook(project: Path, event: str, payload: dict[str, object], *, user: int | None = None,
         python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(LIB), "CLAUDE_PROJECT_DIR": str(project),
           "HOME": str(project.parent / "home")}
    cmd = [python, "-m", "cairn.hooks", event]
    if user is not None:
        cmd = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *cmd]
    return subprocess.run(cmd, input=json.dumps(payload), text=True,
                          capture_output=True, env=env, cwd=project, timeout=60, check=False)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with a running workflow wf-a whose orchestrator artifact is written."""
    project = tmp_path_factory.mktemp("tpl") / "proj"
    (project / ".claude").mkdir(parents=True)
    for args in (["start", "first", "--id", "wf-a"], ["resume", "wf-a"]):
        assert cairn(project, *args).returncode == 0
    data = json.loads((ARTIFACT_FIXTURES / "manifest.json").read_text())
    data["workflow_id"] = "wf-a"
    (project / ".claude" / "artifacts" / "wf-a" / "manifest.json").write_text(json.dumps(data))
    return project


def _copy(template: Path, mnt: Path) -> Path:
    project = mnt / "proj"
    shutil.copytree(template, project, symlinks=True)
    return project


def facts(project: Path) -> tuple[int, int]:
    """(wf-a's last checkpoint, whether wf-b exists), read straight from the database."""
    db = sqlite3.connect(project / ".claude" / "artifacts" / "cairn.db")
    try:
        seq = db.execute("SELECT max(seq) FROM marks WHERE workflow_id = 'wf-a'").fetchone()[0]
        b = db.execute("SELECT count(*) FROM workflows WHERE id = 'wf-b'").fetchone()[0]
        return int(seq), int(b)
    finally:
        db.close()


def plain(done: subprocess.CompletedProcess[str]) -> None:
    """No traceback, no internal error, a documented exit code."""
    text = done.stdout + done.stderr
    assert "Traceback" not in text and "internal error" not in text, text
    assert done.returncode in (0, 1), (done.returncode, text)


@pytest.mark.parametrize("at", FULL_CASES)
@pytest.mark.parametrize("name", list(WRITES))
def test_a_full_disk_at_each_moment_of_a_write(template: Path, disk: Path, name: str, at: str) -> None:
    project = _copy(template, disk)
    filler = disk / "filler"
    before = facts(project)
    env = {"CAIRN_FAULT_FILL": str(filler)}
    if at == "already":
        from cairn.faults import fill

        fill(str(filler))
    else:
        env["CAIRN_FAULT"] = f"{at}@fill"
    done = cairn(project, *WRITES[name], env=env)
    CASES["full disk"] = CASES.get("full disk", 0) + 1
    plain(done)
    filler.unlink(missing_ok=True)
    after = facts(project)
    committed = after != before
    assert (done.returncode == 0) == committed, (done.returncode, before, after, done.stderr)
    if done.returncode == 1:
        assert "is full" in done.stderr and str(disk) in done.stderr and "nothing was recorded" in done.stderr
        assert len(done.stderr.strip().splitlines()) <= 2  # the line, and its fix
    elif "not refreshed" in done.stderr:  # committed, the projection behind: said, and repaired next
        assert "the change is recorded" in done.stderr
    # with space again: the projection catches up, and a command not recorded can be run again
    shown = cairn(project, "show", "wf-a", "--json")
    assert shown.returncode == 0, shown.stderr
    on_disk = json.loads((project / ".claude" / "artifacts" / "wf-a" / "checkpoint.json").read_text())
    assert on_disk["seq"] == after[0]
    if not committed:
        again = cairn(project, *WRITES[name])
        assert again.returncode == 0, again.stderr  # never wedged (start --id wf-b included)
        assert facts(project) != before


def test_a_full_disk_for_readers_and_hooks(template: Path, disk: Path) -> None:
    project = _copy(template, disk)
    from cairn.faults import fill

    fill(str(disk / "filler"))
    for args in READS:
        done = cairn(project, *args)
        CASES["full disk"] = CASES.get("full disk", 0) + 1
        plain(done)
        assert done.returncode == 0 or args[0] == "validate", done.stderr
    appended = cairn(project, "log", "wf-a", "--append-to", str(disk / "notes.md"))  # a file on the full disk
    plain(appended)
    assert appended.returncode == 1 and "is full" in appended.stderr, appended.stderr
    answer = _session_start(project)  # SessionStart still injects the context
    assert "wf-a" in answer["hookSpecificOutput"]["additionalContext"]  # type: ignore[index]
    sub = hook(project, "subagent-stop", {"session_id": "s-new", "hook_event_name": "SubagentStop",
                                          "agent_id": "ag-1", "agent_type": "cairn:orchestrator",
                                          "cwd": str(project), "transcript_path": "/nonexistent"})
    assert sub.returncode == 0 and "internal error" not in sub.stdout and "Traceback" not in sub.stderr
    CASES["full disk"] += 3
    doctor = cairn(project, "doctor")
    plain(doctor)
    assert doctor.returncode == 1 and "is full" in doctor.stderr and "nothing was repaired" in doctor.stderr
    assert (project / ".claude" / "artifacts" / "cairn.db").is_file()  # never moved aside as "damaged"
    (disk / "filler").unlink()
    assert cairn(project, "doctor").returncode == 0
    assert facts(project)[0] >= 2


def _session_start(project: Path, user: int | None = None, python: str = sys.executable) -> dict[str, object]:
    done = hook(project, "session-start", {"session_id": "s-new", "cwd": str(project), "source": "startup",
                                            "hook_event_name": "SessionStart", "transcript_path": "/nonexistent"},
                user=user, python=python)
    assert done.returncode == 0 and "Traceback" not in done.stderr
    answer = json.loads(done.stdout)
    assert isinstance(answer, dict), done.stdout
    assert "hookSpecificOutput" in answer, answer
    return answer


def test_a_read_only_mount(template: Path, disk: Path) -> None:
    project = _copy(template, disk)
    before = facts(project)
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    for name, args in WRITES.items():
        done = cairn(project, *args)
        CASES["read-only"] = CASES.get("read-only", 0) + 1
        plain(done)
        assert done.returncode == 1 and "read-only file system" in done.stderr, (name, done.stderr)
        assert str(disk) in done.stderr and "nothing was recorded" in done.stderr
    for args in READS:
        done = cairn(project, *args)
        CASES["read-only"] = CASES.get("read-only", 0) + 1
        plain(done)
        assert done.returncode == 0 or args[0] == "validate", done.stderr
    doctor = cairn(project, "doctor")
    plain(doctor)
    assert doctor.returncode == 1 and "read-only" in doctor.stderr
    # the hooks: SessionStart still injects the context; Stop says nothing; a stop that
    # cannot be recorded says so in plain words
    answer = _session_start(project)
    context = answer["hookSpecificOutput"]["additionalContext"]  # type: ignore[index]
    assert "wf-a" in context and "<cairn-resume-context" in context
    stop = hook(project, "stop", {"session_id": "s-new", "hook_event_name": "Stop"})
    assert stop.returncode == 0 and stop.stdout.strip() == ""
    sub = hook(project, "subagent-stop", {"session_id": "s-new", "hook_event_name": "SubagentStop",
                                          "agent_id": "ag-1", "agent_type": "cairn:orchestrator",
                                          "cwd": str(project), "transcript_path": "/nonexistent"})
    assert sub.returncode == 0 and "internal error" not in sub.stdout
    CASES["read-only"] = CASES.get("read-only", 0) + 4
    subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    assert facts(project) == before


def _python_for(user: int) -> str:
    for python in (sys.executable, "/usr/bin/python3"):
        ok = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", python, "-c",
                             f"import sys; sys.path.insert(0, {str(LIB)!r}); import cairn.cli"],
                            capture_output=True, check=False)
        if ok.returncode == 0:
            return python
    pytest.skip(f"no Python that user {user} may run and that imports cairn from {LIB}")


def test_another_users_project(template: Path, disk: Path) -> None:
    """A project root owns, used by `nobody`: refused in one line, exit 1."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    python = _python_for(NOBODY)
    project = _copy(template, disk)
    for args in [*READS, *WRITES.values()]:
        done = cairn(project, *args, user=NOBODY, python=python)
        CASES["permissions"] = CASES.get("permissions", 0) + 1
        plain(done)
        assert done.returncode == 1, (args, done.stderr)
        assert "owned by another user" in done.stderr or "permission denied" in done.stderr, done.stderr


def test_a_folder_this_user_may_not_write(template: Path, disk: Path) -> None:
    """The user's own project with its artifacts folder made 0500: reads work, writes say
    why in one line; SessionStart still injects the context."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    python = _python_for(NOBODY)
    project = disk / "proj"
    project.mkdir()
    (project / ".claude").mkdir()
    shutil.chown(project, NOBODY, NOBODY)
    shutil.chown(project / ".claude", NOBODY, NOBODY)
    for args in (["start", "first", "--id", "wf-a"], ["resume", "wf-a"]):
        assert cairn(project, *args, user=NOBODY, python=python).returncode == 0
    root = project / ".claude" / "artifacts"
    shutil.copy(template / ".claude" / "artifacts" / "wf-a" / "manifest.json", root / "wf-a")
    shutil.chown(root / "wf-a" / "manifest.json", NOBODY, NOBODY)
    before = facts(project)
    os.chmod(root, 0o500)
    for args in READS:
        done = cairn(project, *args, user=NOBODY, python=python)
        CASES["permissions"] = CASES.get("permissions", 0) + 1
        plain(done)
        assert done.returncode == 0 or args[0] == "validate", (args, done.stderr)
    for name, args in WRITES.items():
        done = cairn(project, *args, user=NOBODY, python=python)
        CASES["permissions"] = CASES.get("permissions", 0) + 1
        plain(done)
        assert done.returncode == 1 and "permission denied to this user" in done.stderr, (name, done.stderr)
    context = _session_start(project, NOBODY, python)["hookSpecificOutput"]["additionalContext"]  # type: ignore[index]
    assert "wf-a" in context
    assert facts(project) == before


def test_zz_report_cases() -> None:
    print("disk cases tried:", CASES)
