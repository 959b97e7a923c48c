"""Artifacts that travel with the checkpoint on a shared store. Standard library only.

When a stage completes on a shared store, the contents of its artifacts are stored by
their hash beside the records (`Tx.put_body`), up to `settings.artifact_max_bytes` each.
A machine that loads the workflow without them (another clone, a new CI runner)
restores them into `.claude/artifacts/<id>/` before anything reads them or the resume
context is injected, checking each hash. What cannot be restored, or was too large to
carry, is said, never skipped in silence.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from cairn import safefs
from cairn.errors import ArtifactError, ConfinementError
from cairn.model import ArtifactRecord, Workflow


def pack(folder: Path, records: Sequence[ArtifactRecord], limit: int) -> tuple[dict[str, bytes], list[str]]:
    """(contents by hash, what is left behind) of a completing stage's artifacts. A file
    that no longer has the hash just checked changed under the completion: it is refused
    rather than carried with a record that does not describe it."""
    bodies: dict[str, bytes] = {}
    notes: list[str] = []
    for r in records:
        if r.size > limit:
            notes.append(f"{r.path} is {r.size} bytes, over settings.artifact_max_bytes ({limit}): it stays on "
                         "this machine; a resume elsewhere will report it missing")
            continue
        data = safefs.read_in(folder, r.path, limit)
        if hashlib.sha256(data).hexdigest() != r.sha256:
            raise ArtifactError(f"{r.path} changed while its completion was being recorded", path=str(folder),
                                hint="record the completion again once the file is final")
        bodies[r.sha256] = data
    return bodies, notes


def restore(folder: Path, wf: Workflow, body: Callable[[str], bytes | None]) -> list[str]:
    """Write every completed stage's artifact missing from `folder` from its stored
    content, verified against its hash. Returns what the reader must be told."""
    restored: list[str] = []
    notes: list[str] = []
    for path, record in sorted(wf.artifacts.items()):
        if os.path.lexists(folder / path):
            continue
        data = body(record.sha256)
        if data is None:
            notes.append(f"{path} ({record.agent}) is missing here and the shared store does not carry it (too "
                         "large, or recorded before artifacts travelled): re-run that stage or copy the file")
            continue
        if hashlib.sha256(data).hexdigest() != record.sha256 or len(data) != record.size:
            notes.append(f"{path} ({record.agent}): the stored content does not match its recorded hash; not "
                         "restored — re-run that stage")
            continue
        try:
            parts = path.split("/")
            target = folder
            safefs.ensure_dir(folder)
            for part in parts[:-1]:  # each level checked: none may be a planted link
                target = target / part
                safefs.ensure_dir(target)
            safefs.replace_in(target, parts[-1], data, durable=True)
            # the recorded time too: the file is the one the stage wrote, not a later edit
            os.utime(target / parts[-1], (record.mtime, record.mtime), follow_symlinks=False)
        except (OSError, ConfinementError) as exc:
            notes.append(f"{path} ({record.agent}) could not be restored: {exc}")
            continue
        restored.append(path)
    if restored:
        notes.insert(0, f"restored {len(restored)} artifact(s) from the shared store, each hash checked: "
                     + ", ".join(restored))
    return notes
