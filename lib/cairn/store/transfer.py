"""`cairn store migrate`: a project's state copied from one store to another (its SQLite
file to a shared server, and back), table by table with every id, in one transaction
of the target, checked before it commits by comparing every workflow's projection in
both. Onto a shared store, the artifacts the folder holds travel too (`cairn.carried`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cairn import safefs
from cairn.errors import ConfinementError, StoreError, UsageError
from cairn.store import Store, projection
from cairn.store.schema import tables


@dataclass
class Copied:
    workflows: int = 0
    rows: int = 0
    artifacts: int = 0
    notes: list[str] = field(default_factory=list)


def copy(src: Store, dst: Store, root: Path, artifact_max_bytes: int) -> Copied:
    """Copy everything of `src` into the empty `dst`. Nothing is written to `dst` unless
    every workflow then renders the same projection from both."""
    out = Copied()
    with src.read() as r:
        data = [(t, *r.dump(t)) for t in tables()]
        ids = r.ids()
        expected = {wid: projection.render(wf) for wid in ids if (wf := r.workflow(wid)) is not None}
    with dst.write() as tx:
        there = tx.ids()
        if there:
            raise UsageError(f"{dst.describe()} already holds {len(there)} workflow(s) of this project; "
                             "`cairn store migrate` copies into an empty one",
                             hint="pick another database or project key, or move the existing one aside")
        for table, columns, rows in data:
            tx.load(table, columns, rows)
            out.rows += len(rows)
        for wid in ids:
            wf = tx.workflow(wid)
            if wf is None or projection.render(wf) != expected[wid]:
                raise StoreError(f"workflow {wid} reads differently from {dst.describe()} after the copy; "
                                 "nothing was written", hint="report this as a Cairn bug, with `cairn show --json`")
            if dst.shared:
                for path, rec in sorted(wf.artifacts.items()):
                    why = _carry(tx.put_body, root / wid, path, rec.sha256, rec.size, artifact_max_bytes)
                    if why is None:
                        out.artifacts += 1
                    else:
                        out.notes.append(f"{wid}/{path} not carried to the shared store: {why}")
        out.workflows = len(ids)
    return out


def _carry(put: Callable[[str, bytes], None], folder: Path, path: str, sha256: str, size: int,
           limit: int) -> str | None:
    """Store one artifact's content if the folder still holds what was recorded; else why not."""
    if size > limit:
        return f"{size} bytes, over settings.artifact_max_bytes ({limit})"
    try:
        data = safefs.read_in(folder, path, limit)
    except FileNotFoundError:
        return "missing from the folder"
    except (OSError, ConfinementError) as exc:
        return str(exc)
    if hashlib.sha256(data).hexdigest() != sha256:
        return "changed since its stage completed"
    put(sha256, data)
    return None
