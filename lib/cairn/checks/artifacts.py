"""A stage's artifacts on disk: read without following links, hashed, schema-checked,
and checked for the evidence they carry (`workflow_id`, `agent`). Standard library only:
shipped schemas use generated validators; a project's own schema is checked with
jsonschema when the plugin's environment has it, else the check is recorded "pending".
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cairn import safefs
from cairn.errors import CairnError
from cairn.model import ArtifactRecord, utcnow
from cairn.paths import DATA_DIR
from cairn.pipeline import PROJECT_SCHEMAS, Stage

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Checked:
    """One artifact as found: its record (None when unreadable) and its problems."""

    path: str
    record: ArtifactRecord | None
    problems: tuple[str, ...]


def schema_file(schema: str, project_dir: Path | None) -> tuple[Path | None, bool]:
    """Where a stage's schema lives and whether it is the project's own (`.claude/schemas/`
    first, so a project can tighten a builtin), else the package's."""
    if project_dir is not None:
        local = project_dir / PROJECT_SCHEMAS / schema
        if os.path.isfile(local) and not os.path.islink(local):
            return local, True
    builtin = DATA_DIR / "schemas" / schema
    if builtin.is_file():
        return builtin, False
    return None, False


def inspect(folder: Path, rel: str, stage: Stage, workflow_id: str, project_dir: Path | None,
            *, check_schema: bool = True) -> Checked:
    """Read, hash and check `folder/rel` as an artifact of `stage` of `workflow_id`."""
    try:
        fd = safefs.open_in(folder, rel)
    except FileNotFoundError:
        return Checked(rel, None, (f"{folder / rel} does not exist",))
    except (OSError, CairnError) as exc:
        return Checked(rel, None, (str(exc).splitlines()[0][:300],))
    h = hashlib.sha256()
    chunks: list[bytes] = []
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
            if check_schema:
                chunks.append(chunk)
    spec = next((a for a in stage.artifacts if a.path == rel), None)
    schema = spec.schema if spec else None
    problems: list[str] = []
    check = "none"
    if check_schema and rel.endswith(".json"):
        try:
            data = json.loads(b"".join(chunks).decode("utf-8"))
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            problems.append(f"{rel} is not valid JSON: {str(exc)[:200]}")
            data = None
        if isinstance(data, dict):
            problems += _evidence(rel, data, workflow_id, stage.name)
        if schema and data is not None:
            check, found = _schema(rel, data, schema, project_dir)
            problems += found
    record = ArtifactRecord(rel, stage.name, h.hexdigest(), st.st_size, st.st_mtime, st.st_ino, schema,
                            check, utcnow())
    return Checked(rel, record, tuple(problems))


def _evidence(rel: str, data: dict[str, object], workflow_id: str, stage: str) -> list[str]:
    """An artifact naming another workflow or stage is not this stage's output."""
    out = []
    wid, agent = data.get("workflow_id"), data.get("agent")
    if wid is not None and wid != workflow_id:
        out.append(f"{rel}: workflow_id is {str(wid)[:80]!r}, not {workflow_id!r}")
    if agent is not None and agent != stage and agent != f"cairn:{stage}":
        out.append(f"{rel}: agent is {str(agent)[:80]!r}, not {stage!r}")
    return out


def _schema(rel: str, data: object, schema: str, project_dir: Path | None) -> tuple[str, list[str]]:
    from cairn.checks.schema import check_artifact

    path, own = schema_file(schema, project_dir)
    if path is None:
        return "failed", [f"schema {schema} of {rel} is not found"]
    result = check_artifact(data, schema, path, project_schema=own)
    if result.state == "pending":
        return "pending", []
    return ("ok" if result.state == "ok" else "failed"), [f"{rel}: {p}" for p in result.problems]


def inspect_stage(folder: Path, stage: Stage, workflow_id: str, project_dir: Path | None,
                  paths: list[str] | None = None, *, check_schema: bool = True) -> list[Checked]:
    rels = paths if paths is not None else [a.path for a in stage.artifacts]
    return [inspect(folder, rel, stage, workflow_id, project_dir, check_schema=check_schema) for rel in rels]


def unchanged_by_stat(folder: Path, rec: ArtifactRecord) -> bool:
    """Size, mtime and inode as recorded: trusted without re-hashing (hot paths, `--fast`)."""
    try:
        st = os.stat(folder / rec.path, follow_symlinks=False)
    except OSError:
        return False
    return st.st_size == rec.size and st.st_mtime == rec.mtime and (rec.inode is None or st.st_ino == rec.inode)


def rehash(folder: Path, rel: str) -> str:
    """sha256 of `folder/rel` read without following links (raises on problems)."""
    fd = safefs.open_in(folder, rel)
    h = hashlib.sha256()
    with os.fdopen(fd, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()
