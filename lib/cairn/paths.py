"""Where Cairn's files live, and the rules that keep input paths inside them."""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path

from cairn.errors import ConfinementError

ARTIFACTS_SUBDIR = Path(".claude") / "artifacts"
# The package's data (pipeline.json, schemas, examples). A path from __file__, not
# importlib.resources: that import costs a hook ~7 ms, and the package is a plain folder.
DATA_DIR = Path(__file__).resolve().parent / "data"
CHECKPOINT_FILE = "checkpoint.json"
HISTORY_DIR = "checkpoints"
LOCK_FILE = ".lock"

# Ids name folders: a conservative charset keeps them portable and shell-safe.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")  # used with fullmatch: `$` accepts a final "\n"


def default_artifacts_dir(env: dict[str, str] | None = None) -> Path:
    """`$CLAUDE_PROJECT_DIR/.claude/artifacts`, else `./.claude/artifacts`."""
    env = dict(os.environ) if env is None else env
    project = env.get("CLAUDE_PROJECT_DIR")
    base = Path(project) if project else Path.cwd()
    return base / ARTIFACTS_SUBDIR


def new_id(now: datetime) -> str:
    """A fresh workflow id: when it was made, and 6 random hex digits."""
    return f"wf-{now:%Y%m%d-%H%M%S}-{os.urandom(3).hex()}"


def check_workflow_id(workflow_id: str) -> str:
    if not isinstance(workflow_id, str) or not _ID_RE.fullmatch(workflow_id) or ".." in workflow_id:
        raise ConfinementError(
            f"invalid workflow id {workflow_id!r}",
            hint="ids are 1-128 characters of letters, digits, '.', '_' or '-', "
            "start with a letter or digit, and contain no '..' or path separators",
        )
    return workflow_id


def confine_artifact(workflow_dir: Path, rel: str) -> Path:
    """Resolve an artifact path given relative to the workflow folder, refusing escapes.

    Absolute paths, `..` components, NUL bytes and symlinks that lead outside the
    workflow folder are refused; the returned path is the real location.
    """
    if not isinstance(rel, str) or not rel or "\x00" in rel:
        raise ConfinementError(f"invalid artifact path {rel!r}", hint="give a relative file name")
    candidate = Path(rel)
    if candidate.is_absolute() or ".." in candidate.parts:
        raise ConfinementError(
            f"artifact path {rel!r} leaves the workflow folder",
            hint="artifact paths are relative to the workflow folder, without '..'",
        )
    root = workflow_dir.resolve()
    resolved = (root / candidate).resolve()
    if resolved != root and root not in resolved.parents:
        raise ConfinementError(
            f"artifact path {rel!r} resolves outside the workflow folder ({resolved})",
            hint="replace the symlink with a regular file inside the workflow folder",
        )
    return resolved


def normalize_artifact(workflow_dir: Path, path: str) -> str:
    """Turn a user-given artifact path (relative, or absolute inside the workflow
    folder) into the canonical relative POSIX form stored in checkpoints."""
    p = Path(path)
    if p.is_absolute():
        root = workflow_dir.resolve()
        try:
            rel = p.resolve().relative_to(root)
        except ValueError:
            raise ConfinementError(
                f"artifact {path!r} is not inside the workflow folder {root}",
                hint="write artifacts into the workflow folder and pass their names",
            ) from None
        path = rel.as_posix()
    confine_artifact(workflow_dir, path)
    return Path(path).as_posix()
