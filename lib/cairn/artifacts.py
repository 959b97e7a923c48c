"""Artifacts on disk: hashing (with a stat cache) and schema checks.

jsonschema is imported only when a schema is actually checked, so code that merely
hashes stays on the standard library.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from cairn.errors import ArtifactError

_CHUNK = 1 << 20


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    size: int
    mtime: float
    inode: int


def hash_file(path: Path) -> FileFacts:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise ArtifactError(f"artifact {path} does not exist", path=str(path),
                            hint="the agent must write it before it stops") from None
    except OSError as exc:
        raise ArtifactError(f"artifact {path} cannot be read: {exc.strerror}", path=str(path),
                            hint="check the file's permissions") from None
    try:
        st = os.fstat(fd)
        h = hashlib.sha256()
        with os.fdopen(fd, "rb", closefd=False) as fh:
            while chunk := fh.read(_CHUNK):
                h.update(chunk)
    finally:
        os.close(fd)
    return FileFacts(h.hexdigest(), st.st_size, st.st_mtime, st.st_ino)


def unchanged_by_stat(path: Path, size: int, mtime: float, inode: int | None) -> bool:
    """True when size, mtime and inode all match the recorded ones: the file is
    then trusted without re-hashing (what `--fast` and hot paths rely on)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    return st.st_size == size and st.st_mtime == mtime and (inode is None or st.st_ino == inode)


@lru_cache(maxsize=64)
def _validator(schema_file: str) -> Any:
    import jsonschema

    with open(schema_file, encoding="utf-8") as fh:
        schema = json.load(fh)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_errors(path: Path, schema_file: Path, *, limit: int = 5) -> list[str]:
    """Human-readable schema violations of the JSON file at `path` (empty if valid)."""
    try:
        with open(path, "rb") as fh:
            data = json.loads(fh.read().decode("utf-8"))
    except FileNotFoundError:
        return [f"{path.name} does not exist"]
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"{path.name} is not valid JSON: {exc}"]
    validator = _validator(str(schema_file))
    errors = sorted(validator.iter_errors(data), key=lambda e: list(e.absolute_path))
    out = []
    for err in errors[:limit]:
        where = "/".join(str(p) for p in err.absolute_path) or "(top level)"
        out.append(f"{where}: {err.message[:300]}")
    if len(errors) > limit:
        out.append(f"... and {len(errors) - limit} more")
    return out
