"""A project's own schema comes with its repository: a `pattern` that backtracks
catastrophically ("^(a+)+$" against "aaa…a!": 2^64 ways to fail) must not stall a check.
Each check below would run for longer than anyone waits without the time budget
(`cairn.checks.timebox`); with it they finish in seconds, failed, with a message that
names the schema file and the pattern and says what to do."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path

import pytest

from cairn.checks import timebox
from cairn.checks.schema import SchemaResult, check_artifact
from cairn.manager import CheckpointManager
from test_cli_support import ARTIFACTS, complete_stage, no_claude_session, run_cairn, write_artifact  # noqa: F401

pytest.importorskip("jsonschema")

CATASTROPHIC = "^(a+)+$"
SLOW = "a" * 64 + "!"


def project_schema(project: Path, name: str = "note.schema.json", base: dict[str, object] | None = None) -> Path:
    """`.claude/schemas/NAME`: `base` (an object schema) with a `note` held to CATASTROPHIC."""
    schema: dict[str, object] = dict(base or {"type": "object"})
    props = dict(schema.get("properties", {}))  # type: ignore[call-overload]
    props["note"] = {"type": "string", "pattern": CATASTROPHIC}
    schema["properties"] = props
    folder = project / ".claude" / "schemas"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(schema), encoding="utf-8")
    return path


def says_what_and_how(problem: str, seconds: str = "1") -> None:
    assert f"schema .claude/schemas/note.schema.json stopped after {seconds} s" in problem
    assert '"^(a+)+$" at $.properties.note.pattern backtracks catastrophically' in problem
    assert "rewrite it" in problem and "CAIRN_SCHEMA_BUDGET" in problem


@pytest.fixture
def budget(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CAIRN_SCHEMA_BUDGET", "1")


def check(schema: Path, data: object) -> tuple[SchemaResult, float]:
    t0 = time.monotonic()
    result = check_artifact(data, schema.name, schema, project_schema=True)
    return result, time.monotonic() - t0


@pytest.mark.usefixtures("budget")
def test_a_catastrophic_pattern_is_stopped_on_the_main_thread(tmp_path: Path) -> None:
    schema = project_schema(tmp_path)
    result, took = check(schema, {"note": SLOW})
    assert result.state == "failed" and len(result.problems) == 1 and took < 10
    says_what_and_how(result.problems[0])
    assert signal.getsignal(signal.SIGALRM) == signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    # the same schema on text it answers quickly: checked as usual, whatever the budget
    assert check(schema, {"note": "aaaa"})[0] == SchemaResult("ok")
    bad = check(schema, {"note": "ab"})[0]
    assert bad.state == "failed" and "does not match" in bad.problems[0]


@pytest.mark.usefixtures("budget")
def test_off_the_main_thread_the_check_runs_in_a_child_it_can_stop(tmp_path: Path) -> None:
    """A thread cannot be stopped: a schema with patterns is checked in a child process."""
    schema = project_schema(tmp_path)
    out: list[tuple[SchemaResult, float]] = []
    worker = threading.Thread(target=lambda: out.extend([check(schema, {"note": SLOW}), check(schema, {"note": "a"})]))
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive() and len(out) == 2
    (stopped, took), (fine, _) = out
    assert stopped.state == "failed" and took < 20
    says_what_and_how(stopped.problems[0])
    assert fine == SchemaResult("ok")


def test_someone_elses_timer_still_fires(tmp_path: Path) -> None:
    """The budget's timer borrows SIGALRM: a handler and a timer set before are put back
    (the timer still counting down, not fired early)."""
    schema = project_schema(tmp_path)
    fired: list[int] = []

    def handler(signum: int, frame: object) -> None:
        fired.append(signum)

    previous = signal.signal(signal.SIGALRM, handler)
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        assert check(schema, {"note": "aaa"})[0].ok
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 0 < left <= 30 and signal.getsignal(signal.SIGALRM) is handler and fired == []
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_the_suspect_pattern_is_named_first() -> None:
    schema = {"properties": {"id": {"pattern": "^[a-z]+$"}, "tags": {"items": {"pattern": "^(\\w+\\s?)*$"}}},
              "patternProperties": {"^x-(a|b+)+$": {}}}
    assert timebox.patterns(schema) == [("$.properties.id.pattern", "^[a-z]+$"),
                                        ("$.properties.tags.items.pattern", "^(\\w+\\s?)*$"),
                                        ('$.patternProperties["^x-(a|b+)+$"]', "^x-(a|b+)+$")]
    text = timebox.overrun_message(Path("/p/.claude/schemas/s.json"), schema, 5)
    assert 'pattern "^(\\\\w+\\\\s?)*$" at $.properties.tags.items.pattern' in text and "after 5 s" in text


def test_cairn_validate_finishes_and_says_which_pattern(tmp_path: Path) -> None:
    """`cairn validate` as a real process: a research.json recorded before the project added
    a schema with a catastrophic pattern is checked against it, and answers in seconds."""
    project = tmp_path / "project"
    m = CheckpointManager(project / ".claude" / "artifacts", project_dir=project)
    m.create("bounded schema checks", workflow_id="wf-re")
    complete_stage(m, "wf-re", "orchestrator")
    write_artifact(m, "wf-re", "researcher", note=SLOW)
    m.record_completion("wf-re", "researcher")
    shipped = json.loads((ARTIFACTS.parent / "schemas" / "research.schema.json").read_text())
    project_schema(project, "research.schema.json", shipped)
    t0 = time.monotonic()
    proc = run_cairn("--dir", str(m.root), "validate", "wf-re", "--json", env={"CAIRN_SCHEMA_BUDGET": "1"},
                     timeout=120)
    assert time.monotonic() - t0 < 30 and "Traceback" not in proc.stderr
    problems = [p for p in json.loads(proc.stdout)["problems"] if p["code"] == "artifact_invalid"]
    assert len(problems) == 1 and problems[0]["stage"] == "researcher", proc.stdout
    assert "schema .claude/schemas/research.schema.json stopped after 1 s" in problems[0]["message"]
    assert '"^(a+)+$" at $.properties.note.pattern' in problems[0]["message"]
    assert proc.returncode != 0


@pytest.mark.parametrize(("raw", "seconds"), [("", 5.0), ("2.5", 2.5), ("0", 5.0), ("-1", 5.0), ("soon", 5.0),
                                             ("1e9", 5.0), ("nan", 5.0)])
def test_the_budget_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, raw: str, seconds: float) -> None:
    """Nonsense in CAIRN_SCHEMA_BUDGET keeps the default: a check always has a bound."""
    monkeypatch.setenv("CAIRN_SCHEMA_BUDGET", raw)
    assert timebox.budget() == seconds
