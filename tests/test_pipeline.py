"""The pipeline as data: the shipped default (`lib/cairn/data/pipeline.json`), project
overrides (`.claude/cairn.yaml`, PyYAML), config errors that name the file, the line and a
fix, settings read without PyYAML (hooks), and the status state machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cairn.checks.artifacts import schema_file
from cairn.config import _settings_without_yaml, load_project_config, load_settings
from cairn.errors import ConfigError, IllegalTransition, UnknownAgent
from cairn.pipeline import (
    Pipeline,
    Settings,
    default_pipeline,
)
from cairn.status import RESUMABLE, Status, can_transition, check_transition

EXPECTED_ORDER = ["orchestrator", "researcher", "planner", "test-master", "implementer",
                  "reviewer", "security-auditor", "doc-master"]


LIB = Path(__file__).resolve().parent.parent / "lib"


def _shipped() -> dict:  # type: ignore[type-arg]
    text = resources.files("cairn").joinpath("data/pipeline.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


def _config(project: Path, text: str) -> Path:
    cfg = project / ".claude" / "cairn.yaml"
    cfg.write_text(text, encoding="utf-8")
    return cfg


# ---------------------------------------------------------------- default pipeline


def test_default_pipeline_has_the_eight_stages_in_order() -> None:
    assert default_pipeline().names == EXPECTED_ORDER


def test_default_pipeline_matches_the_shipped_file() -> None:
    raw = _shipped()["stages"]
    p = default_pipeline()
    assert [s["name"] for s in raw] == p.names
    for entry, stage in zip(raw, p.stages, strict=True):
        assert stage.agent == entry["agent"]
        assert [(a.path, a.schema) for a in stage.artifacts] == [
            (a["path"], a["schema"]) for a in entry["artifacts"]]
    # A stage without depends_on depends on the one before it.
    assert p.stages[0].depends_on == ()
    for prev, stage in zip(p.stages, p.stages[1:], strict=False):
        assert stage.depends_on == (prev.name,)
    assert not resources.files("cairn").joinpath("data/pipeline.yaml").is_file()  # one copy only


def test_the_default_pipeline_and_settings_need_no_yaml(project: Path) -> None:
    """What hooks run (`python -I -S`: no site-packages, so no PyYAML)."""
    _config(project, "# the project's own\nsettings:\n  expiry_days: 3   # short\n  context_bytes: 2048\n"
                     "pipeline:\n  remove: [doc-master]\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "from pathlib import Path\nfrom cairn.pipeline import default_pipeline\n"
            "from cairn.manager import CheckpointManager\n"
            "p = default_pipeline(); m = CheckpointManager(Path(sys.argv[2]) / '.claude' / 'artifacts')\n"
            "print(len(p), m.settings.expiry_days, m.settings.context_bytes, 'yaml' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code, str(LIB), str(project)], capture_output=True,
                         text=True, timeout=60, check=True, env={"PATH": os.environ.get("PATH", "")})
    assert out.stdout.split() == ["8", "3.0", "2048", "False"]
    assert load_settings(project) == Settings(expiry_days=3.0, context_bytes=2048)  # with PyYAML: the same


@pytest.mark.parametrize(("text", "expected"), [
    ("settings:\n  expiry_days: 3\n  context_bytes: 2048\n  lock_timeout: 0.5\n",
     Settings(expiry_days=3.0, context_bytes=2048, lock_timeout=0.5)),
    ("settings: {expiry_days: 5, context_bytes: 1000}  # flow style\n", Settings(expiry_days=5.0, context_bytes=1000)),
    ("pipeline:\n  remove: [doc-master]\nsettings:\n\n  # a comment\n  expiry_days: 2\nother: 1\n",
     Settings(expiry_days=2.0)),
    ("settings:\n  expiry_days: -1\n  context_bytes: lots\n  unknown: 5\n", Settings()),
    ("pipeline:\n  settings:\n    expiry_days: 1\n", Settings()),  # not the top-level key
    ("", Settings()),
    ("settings: [1, 2]\n", Settings()),
])
def test_settings_without_yaml(text: str, expected: Settings) -> None:
    assert _settings_without_yaml(text) == expected

def test_every_default_schema_exists_and_every_fixture_validates() -> None:
    import jsonschema

    fixtures = Path(__file__).parents[1] / "lib" / "cairn" / "data" / "examples"
    for stage in default_pipeline().stages:
        for spec in stage.artifacts:
            assert spec.schema is not None
            sfile = schema_file(spec.schema, None)[0]
            assert sfile is not None and sfile.is_file(), spec.schema
            schema = json.loads(sfile.read_text())
            jsonschema.validate(json.loads((fixtures / spec.path).read_text()), schema)


def test_ready_and_downstream_follow_dependencies() -> None:
    p = default_pipeline()
    assert p.ready([]) == ["orchestrator"]
    assert p.ready(EXPECTED_ORDER[:3]) == ["test-master"]
    assert p.ready(EXPECTED_ORDER) == []
    assert p.downstream("implementer") == EXPECTED_ORDER[4:]
    with pytest.raises(UnknownAgent):
        p.stage("nobody")


def test_snapshot_round_trip_keeps_digest() -> None:
    p = default_pipeline()
    again = Pipeline.from_dict(json.loads(json.dumps(p.to_dict())))
    assert again.names == p.names and again.digest == p.digest
    assert again.stages == p.stages


# ---------------------------------------------------------------- project overrides


def test_no_config_gives_default_and_default_settings(project: Path) -> None:
    p, s = load_project_config(project)
    assert p.names == EXPECTED_ORDER and s == Settings()


def test_override_stage_artifacts(project: Path) -> None:
    _config(project, "pipeline:\n  stages:\n    - name: reviewer\n"
                     "      artifacts: [{path: review.md}]\n")
    p, _ = load_project_config(project)
    assert p.names == EXPECTED_ORDER
    assert [a.path for a in p.stage("reviewer").artifacts] == ["review.md"]
    assert p.stage("reviewer").artifacts[0].schema is None
    assert p.stage("reviewer").depends_on == ("implementer",)


def test_insert_stage_after_and_before(project: Path) -> None:
    _config(project, """\
pipeline:
  stages:
    - name: perf
      after: implementer
      artifacts: [perf.json]
    - name: triage
      before: researcher
      artifacts: [triage.json]
""")
    p, _ = load_project_config(project)
    names = p.names
    assert names.index("perf") == names.index("implementer") + 1
    assert names.index("triage") == names.index("researcher") - 1
    assert p.stage("perf").depends_on == ("implementer",)
    # Builtin stages have implicit "after the previous stage" dependencies, so an
    # inserted stage joins the chain instead of running beside it.
    assert p.stage("reviewer").depends_on == ("perf",)
    assert p.stage("triage").depends_on == ("orchestrator",)
    assert p.stage("researcher").depends_on == ("triage",)


def test_remove_stage(project: Path) -> None:
    _config(project, "pipeline:\n  remove: [security-auditor, researcher]\n")
    p, _ = load_project_config(project)
    assert p.names == [n for n in EXPECTED_ORDER if n not in ("security-auditor", "researcher")]
    # Dependants of a removed stage fall back to the stage before them.
    assert p.stage("planner").depends_on == ("orchestrator",)
    assert p.ready(["orchestrator"]) == ["planner"]


def test_replace_and_several_dependencies(project: Path) -> None:
    _config(project, """\
pipeline:
  replace: true
  name: fan
  stages:
    - {name: a, artifacts: [a.json], depends_on: []}
    - {name: b, artifacts: [b.json], depends_on: [a]}
    - {name: c, artifacts: [c.json], depends_on: [a]}
    - {name: d, artifacts: [d.json], depends_on: [b, c]}
""")
    p, _ = load_project_config(project)
    assert p.name == "fan" and p.names == ["a", "b", "c", "d"]
    assert p.ready(["a"]) == ["b", "c"]
    assert p.ready(["a", "b"]) == ["c"]  # d waits for c too
    assert p.ready(["a", "c"]) == ["b"]
    assert p.ready(["a", "b", "c"]) == ["d"]
    assert p.downstream("b") == ["b", "d"]


def test_settings(project: Path) -> None:
    _config(project, "settings:\n  expiry_days: 3\n  context_bytes: 2048\n  lock_timeout: 0.5\n")
    p, s = load_project_config(project)
    assert s == Settings(expiry_days=3.0, context_bytes=2048, lock_timeout=0.5)
    assert p.names == EXPECTED_ORDER


def test_empty_config_is_the_default(project: Path) -> None:
    _config(project, "# nothing yet\n")
    assert load_project_config(project)[0].names == EXPECTED_ORDER


def test_project_schema_shadows_builtin(project: Path) -> None:
    (project / ".claude" / "schemas").mkdir()
    local = project / ".claude" / "schemas" / "review.schema.json"
    local.write_text("{}")
    assert schema_file("review.schema.json", project) == (local, True)
    assert schema_file("review.schema.json", None)[0] != local
    assert schema_file("nope.schema.json", project) == (None, False)


# ---------------------------------------------------------------- config errors

BAD_CONFIGS = [
    pytest.param("pipeline:\n  stages:\n    - name: reviewer\n      colour: red\n", 4, "colour",
                 id="unknown-stage-key"),
    pytest.param("version: 1\npipelin:\n  stages: []\n", 2, "pipelin", id="unknown-top-key"),
    pytest.param("settings:\n  expiry_days: 2\n  retention: 3\n", 3, "retention",
                 id="unknown-setting"),
    pytest.param("settings:\n  expiry_days: -1\n", 2, "expiry_days", id="negative-setting"),
    pytest.param("pipeline:\n  stages:\n    - name: x\n      artifacts: [x.json]\n"
                 "      depends_on: [ghost]\n", 3, "ghost", id="unknown-depends-on"),
    pytest.param("pipeline:\n  stages:\n    - name: x\n      artifacts: [x.json]\n"
                 "      after: ghost\n", 5, "ghost", id="unknown-after"),
    pytest.param("pipeline:\n  stages:\n    - name: x\n      artifacts: [x.json]\n"
                 "      before: ghost\n", 5, "ghost", id="unknown-before"),
    pytest.param("version: 1\npipeline:\n  remove: [ghost]\n", 3, "ghost", id="unknown-remove"),
    pytest.param("pipeline:\n  replace: true\n  stages:\n"
                 "    - {name: a, artifacts: [a.json], depends_on: [b]}\n"
                 "    - {name: b, artifacts: [b.json], depends_on: [a]}\n", 4, "cycle", id="cycle"),
    pytest.param("pipeline:\n  replace: true\n  stages:\n"
                 "    - {name: a, artifacts: [a.json]}\n"
                 "    - {name: a, artifacts: [b.json]}\n", 5, "duplicate stage", id="duplicate-name"),
    pytest.param("pipeline:\n  stages: []\npipeline:\n  remove: []\n", 3, "duplicate key",
                 id="duplicate-yaml-key"),
    pytest.param("pipeline:\n  stages:\n    - name: [unclosed\n", 4, "YAML", id="bad-yaml"),
    pytest.param("pipeline:\n  stages:\n    - name: x\n      artifacts: [../x.json]\n", 4, "x.json",
                 id="artifact-escapes"),
    pytest.param("pipeline:\n  stages:\n    - name: x\n      artifacts: [x.json]\n"
                 "      after: reviewer\n    - name: y\n      depends_on: []\n", 6, "no artifacts",
                 id="new-stage-without-artifacts"),
]


@pytest.mark.parametrize(("text", "line", "word"), BAD_CONFIGS)
def test_bad_config_names_file_line_and_fix(project: Path, text: str, line: int, word: str) -> None:
    cfg = _config(project, text)
    with pytest.raises(ConfigError) as info:
        load_project_config(project)
    err = info.value
    assert err.path == str(cfg)
    assert err.line == line, str(err)
    assert f"{cfg}:{line}:" in str(err)
    assert word in err.message
    assert err.hint, "every config error carries a fix"
    assert "fix:" in str(err)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=200))
def test_loader_never_fails_with_anything_but_config_error(project: Path, text: str) -> None:
    cfg = _config(project, text)
    try:
        pipeline, s = load_project_config(project)
    except ConfigError as exc:
        assert exc.path == str(cfg) and exc.hint
        return
    assert len(pipeline) >= 1 and isinstance(s, Settings)


stage_names = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(stage_names, min_size=1, max_size=6, unique=True), st.data())
def test_loader_accepts_any_dag_in_topological_order(project: Path, names: list[str],
                                                     data: st.DataObject) -> None:
    lines = ["pipeline:", "  replace: true", "  stages:"]
    deps: dict[str, list[str]] = {}
    for i, n in enumerate(names):
        d = data.draw(st.lists(st.sampled_from(names[:i]), unique=True) if i else st.just([]))
        deps[n] = d
        quoted = ", ".join(f'"{x}"' for x in d)  # `no`, `on`, `y` would be YAML booleans
        lines.append(f'    - {{name: "{n}", artifacts: [{n}.json], depends_on: [{quoted}]}}')
    _config(project, "\n".join(lines) + "\n")
    p, _ = load_project_config(project)
    assert sorted(p.names) == sorted(names)
    pos = {n: i for i, n in enumerate(p.names)}
    for n, d in deps.items():
        assert p.stage(n).depends_on == tuple(d)
        assert all(pos[x] < pos[n] for x in d)
    assert p.ready([]) == [n for n in p.names if not deps[n]]


# ---------------------------------------------------------------- status machine

LEGAL = [
    (Status.PENDING, Status.RUNNING), (Status.PENDING, Status.CANCELLED), (Status.PENDING, Status.PAUSED),
    (Status.RUNNING, Status.PAUSED), (Status.RUNNING, Status.COMPLETED),
    (Status.RUNNING, Status.FAILED), (Status.RUNNING, Status.CANCELLED),
    (Status.RUNNING, Status.STALE), (Status.PAUSED, Status.RUNNING),
    (Status.PAUSED, Status.CANCELLED), (Status.PAUSED, Status.STALE),
    (Status.FAILED, Status.RUNNING), (Status.FAILED, Status.CANCELLED),
    (Status.STALE, Status.RUNNING), (Status.STALE, Status.CANCELLED),
    # reopened (a rollback, a re-run, an invalidation: cairn.operations); found outdated (checks/stale.py)
    (Status.COMPLETED, Status.RUNNING), (Status.CANCELLED, Status.RUNNING), (Status.COMPLETED, Status.STALE),
    (Status.FAILED, Status.STALE), (Status.STALE, Status.PAUSED), (Status.STALE, Status.COMPLETED),
]


@pytest.mark.parametrize(("a", "b"), [(a, b) for a in Status for b in Status])
def test_transitions(a: Status, b: Status) -> None:
    if (a, b) in LEGAL:
        assert can_transition(a, b)
        check_transition(a, b, "wf")
    else:
        assert not can_transition(a, b)
        with pytest.raises(IllegalTransition) as info:
            check_transition(a, b, "wf-x")
        assert info.value.current == a.value and info.value.target == b.value
        assert "wf-x" in str(info.value)


def test_resume_takes_paused_failed_stale_back_to_running() -> None:
    assert {Status.PAUSED, Status.FAILED, Status.STALE} == RESUMABLE
    for s in RESUMABLE:
        assert can_transition(s, Status.RUNNING)
    for s in (Status.COMPLETED, Status.CANCELLED):  # only reopened by going back (test_reopen.py)
        assert s not in RESUMABLE


def test_a_stage_named_like_a_yaml_boolean_gets_a_quoting_hint(project: Path) -> None:
    _config(project, "pipeline:\n  stages:\n    - name: no\n      artifacts: [x.json]\n")
    with pytest.raises(ConfigError) as err:
        load_project_config(project)
    assert err.value.line == 3
    assert "quote" in str(err.value.hint)
