"""`cairn log`: golden markdown, escaping, and `--append-to` leaving every other byte
of the file as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from freezegun import freeze_time

from cairn.cmd.log import cell, splice
from cairn.manager import CheckpointManager
from test_cli_support import NOW, build_fleet, golden, no_claude_session, run, run_json

__all__ = ["no_claude_session"]  # autouse: every test here runs as in a terminal


@pytest.fixture
def fleet(mgr: CheckpointManager) -> dict[str, str]:
    return build_fleet(mgr)


def test_log_golden(capsys: pytest.CaptureFixture[str], root: Path, fleet: dict[str, str]) -> None:
    with freeze_time(NOW):
        code, out, _ = run(capsys, "--dir", str(root), "log", "wf-failed")
    assert code == 0
    golden("log-failed.md", out)
    with freeze_time(NOW):
        code, out, _ = run(capsys, "--dir", str(root), "log", "wf-done")
    golden("log-done.md", out)


def test_log_json_shape(capsys: pytest.CaptureFixture[str], root: Path, fleet: dict[str, str]) -> None:
    code, data = run_json(capsys, "--dir", str(root), "log", "wf-done", "--json")
    assert code == 0
    assert set(data) == {"workflow_id", "request", "started_at", "duration_seconds", "status",
                         "status_reason", "stages", "markdown"}
    assert data["stages"][0] == {"stage": "orchestrator", "status": "completed", "attempts": 1,
                                 "started_at": "2025-03-01T09:00:00Z", "duration_seconds": 300.0,
                                 "artifacts": ["manifest.json"]}
    assert data["markdown"].startswith("## Execution Log\n")


def test_cells_are_escaped_and_shortened() -> None:
    assert cell("a|b") == "a\\|b"
    assert cell("line\nbreak") == "line break"
    assert cell("x" * 100, 20) == "x" * 17 + "..."
    assert cell("") == "-" and cell(None) == "-"
    assert cell("back\\slash|") == "back\\\\slash\\|"


def test_request_with_pipes_stays_one_row(capsys: pytest.CaptureFixture[str], root: Path,
                                          fleet: dict[str, str]) -> None:
    _, out, _ = run(capsys, "--dir", str(root), "log", "wf-failed")
    assert "Migrate the \\| billing tables to the new schema" in out
    rows = [ln for ln in out.splitlines() if ln.startswith("| ")]
    assert all(ln.count(" | ") == 5 for ln in rows[1:])


DOC = ("# Project notes\r\n\r\nIntro with trailing spaces   \r\n\r\n## Execution Log\r\n\r\nold log\r\n"
       "| stale | table |\r\n\r\n```\r\n## Execution Log  (inside a fence: not a heading)\r\n```\r\n"
       "\r\n## Next section\r\nkept \u00e9 text\r\n### deeper\r\nno final newline")


def test_splice_replaces_only_the_section() -> None:
    section = "## Execution Log\n\nnew\n"
    out, replaced = splice(DOC, section)
    assert replaced
    before = DOC[:DOC.index("## Execution Log")]
    after = DOC[DOC.index("## Next section"):]
    assert out == before + "## Execution Log\r\n\r\nnew\r\n\r\n" + after
    assert splice(out, section) == (out, True)  # idempotent


def test_splice_appends_when_there_is_no_section() -> None:
    assert splice("", "## Execution Log\n") == ("## Execution Log\n", False)
    assert splice("# T\n", "## Execution Log\n") == ("# T\n\n## Execution Log\n", False)
    assert splice("# T", "## Execution Log\n") == ("# T\n\n## Execution Log\n", False)
    fenced = "```\n## Execution Log\n```\n"
    assert splice(fenced, "## Execution Log\n")[0] == fenced + "\n## Execution Log\n"


def test_append_to_keeps_the_rest_byte_identical(capsys: pytest.CaptureFixture[str], root: Path,
                                                  fleet: dict[str, str], tmp_path: Path) -> None:
    doc = tmp_path / "PR.md"
    head = "# PR\n\nSome *text* with unicode \u2713 and trailing spaces  \n\n".encode()
    tail = b"## Reviewers\n\n- someone\n"
    doc.write_bytes(head + b"## Execution Log\n\nplaceholder\n\n" + tail)
    doc.chmod(0o664)
    code, out, err = run(capsys, "--dir", str(root), "log", "wf-done", "--append-to", str(doc))
    assert code == 0 and out == "" and "replaced" in err
    data = doc.read_bytes()
    assert data.startswith(head) and data.endswith(b"\n\n" + tail)
    assert b"placeholder" not in data and b"| 8 | doc-master | completed |" in data
    assert doc.stat().st_mode & 0o777 == 0o664
    first = data
    run(capsys, "--dir", str(root), "log", "wf-done", "--append-to", str(doc))
    assert doc.read_bytes() == first

    other = tmp_path / "NOTES.md"
    other.write_bytes(b"notes without a final newline")
    code, _, err = run(capsys, "--dir", str(root), "log", "wf-done", "--append-to", str(other))
    assert code == 0 and "appended" in err
    assert other.read_bytes().startswith(b"notes without a final newline\n\n## Execution Log\n")


def test_log_latest_and_unknown(capsys: pytest.CaptureFixture[str], root: Path,
                                fleet: dict[str, str]) -> None:
    code, out, _ = run(capsys, "--dir", str(root), "log", "latest")
    assert code == 0 and "`wf-running`" in out
    code, _, err = run(capsys, "--dir", str(root), "log", "wf-missing")
    assert code == 1 and "fix:" in err


def test_append_to_refuses_a_link_and_leaves_no_temp_file(capsys: pytest.CaptureFixture[str], root: Path,
                                                         fleet: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.md"
    target.write_text("# not to be touched\n")
    link = tmp_path / "LINK.md"
    link.symlink_to(target)
    code, _, err = run(capsys, "--dir", str(root), "log", "wf-done", "--append-to", str(link))
    assert code == 2 and "symbolic link" in err and "fix:" in err
    assert target.read_text() == "# not to be touched\n" and link.is_symlink()
    doc = tmp_path / "NEW.md"
    code, _, err = run(capsys, "--dir", str(root), "log", "wf-done", "--append-to", str(doc))
    assert code == 0 and "appended" in err
    assert doc.read_text().startswith("## Execution Log\n") and doc.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["LINK.md", "NEW.md", "elsewhere.md"]
