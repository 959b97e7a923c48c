"""Shared fixtures of the core suite: every test runs in its own temporary project and
home, so nothing ever touches the real `~` or the repository's `.claude/`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import pgcluster
from cairn.manager import CheckpointManager
from cairn.pipeline import Pipeline, default_pipeline
from support import ARTIFACT_FIXTURES, run_cairn

if os.environ.get("CAIRN_HYPOTHESIS_DIR"):  # .ci/env.sh: Hypothesis's database outside the plugin's folder
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(os.environ["CAIRN_HYPOTHESIS_DIR"])


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and CLAUDE_PROJECT_DIR point at fresh temporary folders; cwd too."""
    home = tmp_path_factory.mktemp("home")
    proj = tmp_path_factory.mktemp("envproject")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", str(proj))
    monkeypatch.chdir(proj)
    return proj


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with an empty `.claude/artifacts`."""
    p = tmp_path / "project"
    (p / ".claude" / "artifacts").mkdir(parents=True)
    return p


@pytest.fixture
def root(project: Path) -> Path:
    return project / ".claude" / "artifacts"


@pytest.fixture
def mgr(root: Path) -> CheckpointManager:
    return CheckpointManager(root)


def fixture_for(pipeline: Pipeline, stage: str) -> tuple[str, Path]:
    """(artifact path, fixture file) of a stage, via the pipeline's ArtifactSpec."""
    spec = pipeline.stage(stage).artifacts[0]
    return spec.path, ARTIFACT_FIXTURES / Path(spec.path).name


def write_artifact(mgr: CheckpointManager, wid: str, stage: str, **overrides: object) -> Path:
    """Copy the example artifact of `stage` into the workflow folder, with its
    workflow_id replaced (and any top-level field overridden)."""
    cp = mgr.load(wid)
    rel, src = fixture_for(mgr.pipeline_of(cp), stage)
    data = json.loads(src.read_text(encoding="utf-8"))
    data["workflow_id"] = wid
    data.update(overrides)
    dest = mgr.workflow_dir(wid) / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return dest


def complete_stage(mgr: CheckpointManager, wid: str, stage: str, **overrides: object) -> Path:
    path = write_artifact(mgr, wid, stage, **overrides)
    mgr.record_completion(wid, stage)
    return path


@pytest.fixture
def write() -> Callable[..., Path]:
    return write_artifact


@pytest.fixture
def complete() -> Callable[..., Path]:
    return complete_stage


@pytest.fixture
def stages() -> list[str]:
    return default_pipeline().names


def three_stage_pipeline() -> Pipeline:
    """A small custom pipeline (reusing three builtin schemas/fixtures)."""
    return Pipeline.from_dict({
        "name": "tiny",
        "stages": [
            {"name": "orchestrator", "artifacts": [{"path": "manifest.json",
                                                    "schema": "manifest.schema.json"}],
             "depends_on": []},
            {"name": "researcher", "artifacts": [{"path": "research.json",
                                                  "schema": "research.schema.json"}],
             "depends_on": ["orchestrator"]},
            {"name": "planner", "artifacts": [{"path": "architecture.json",
                                               "schema": "architecture.schema.json"}],
             "depends_on": ["researcher"]},
        ],
    })


@pytest.fixture
def cairn_sub() -> Callable[..., subprocess.CompletedProcess[str]]:
    return run_cairn


@pytest.fixture
def tiny() -> Pipeline:
    return three_stage_pipeline()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Where the panel's browser tests left their screenshots, when they ran."""
    from panel_support import SHOTS

    folder = config.stash.get(SHOTS, None)
    if folder is not None:
        terminalreporter.write_line(f"panel screenshots: {folder}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[pgcluster.Cluster]:
    """A real PostgreSQL server for the session (the system's package), or a skip that
    says how to get one."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed: pip install -e '.[postgres]'")
    if pgcluster.binaries() is None:
        pytest.skip("no PostgreSQL server binaries (initdb): run .ci/install-postgres.sh")
    with pgcluster.cluster() as c:
        yield c


@pytest.fixture
def pg_url(pg_server: pgcluster.Cluster) -> str:
    return pg_server.url


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process standing for a Claude Code process (CLAUDE_PID)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc
    proc.kill()
    proc.wait(timeout=10)

