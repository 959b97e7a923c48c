"""Checkpoint storage: one contract (`CheckpointStore`) and the file backend.

Layout of the file backend, per workflow::

    <root>/<workflow-id>/checkpoint.json          the latest checkpoint
    <root>/<workflow-id>/checkpoints/NNNNNNNN-<type>.json   every checkpoint, never overwritten
    <root>/<workflow-id>/.lock                    cross-process lock for read-modify-write

A put writes the history entry first, then replaces checkpoint.json. A crash between
the two leaves a history entry newer than checkpoint.json: reads roll it forward, so
nothing committed is lost and nothing half-written is ever read. Records are plain
JSON objects here; the manager gives them meaning (and validates them with pydantic).
This module uses the standard library only, so hooks can import it cheaply.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from cairn.atomic import atomic_write, ensure_dir, write_once
from cairn.errors import CairnError, CheckpointCorrupt, WorkflowExists, WorkflowNotFound
from cairn.faults import point
from cairn.file_lock import DEFAULT_TIMEOUT, locked
from cairn.paths import CHECKPOINT_FILE, HISTORY_DIR, LOCK_FILE, check_workflow_id
from cairn.redact import redact_json

T = TypeVar("T")
Record = dict[str, Any]
Validator = Callable[[Record], T]

_HISTORY_RE = re.compile(r"^(\d{8})-([a-z0-9_.-]+)\.json$")


@dataclass(frozen=True)
class HistoryEntry:
    seq: int
    checkpoint_type: str
    path: Path


@dataclass
class Loaded(Generic[T]):
    """A loaded checkpoint and how it was found."""

    value: T
    source: Path
    warnings: list[str] = field(default_factory=list)
    rolled_forward: bool = False
    latest_damaged: bool = False  # checkpoint.json exists but is unreadable


class CheckpointStore(Protocol):
    """What every checkpoint backend provides. All backends pass
    `tests/test_store_conformance.py`."""

    def exists(self, workflow_id: str) -> bool: ...
    def create(self, workflow_id: str, record: Record) -> None: ...
    def put(self, workflow_id: str, record: Record) -> None: ...
    def load(self, workflow_id: str, validate: Validator[T]) -> Loaded[T]: ...
    def history(self, workflow_id: str) -> list[HistoryEntry]: ...
    def archive_original(self, workflow_id: str) -> None: ...
    def load_seq(self, workflow_id: str, seq: int) -> Record: ...
    def list_ids(self) -> list[str]: ...
    def delete(self, workflow_id: str) -> None: ...
    def lock(self, workflow_id: str, purpose: str = "write") -> contextlib.AbstractContextManager[None]: ...
    def workflow_dir(self, workflow_id: str) -> Path: ...


def _read_json(path: Path) -> Record:
    with open(path, "rb") as fh:
        try:
            data = json.loads(fh.read().decode("utf-8"))
        except RecursionError:  # deeply nested: not a checkpoint
            raise ValueError("nested too deeply to be a checkpoint") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def encode(record: Record) -> bytes:
    text = json.dumps(record, indent=2, ensure_ascii=False)
    return (redact_json(text) + "\n").encode("utf-8")  # no credential reaches the disk


class FileStore:
    """Checkpoints as JSON files under `root` (normally `<project>/.claude/artifacts`)."""

    def __init__(self, root: Path, *, lock_timeout: float = DEFAULT_TIMEOUT) -> None:
        self.root = Path(root)
        self.lock_timeout = lock_timeout

    # -- paths
    def workflow_dir(self, workflow_id: str) -> Path:
        wdir = self.root / check_workflow_id(workflow_id)
        if wdir.is_symlink():  # reading through it would read outside the artifacts folder
            from cairn.errors import ConfinementError

            raise ConfinementError(f"workflow folder {wdir} is a symlink",
                                   hint="replace it with a real folder inside the artifacts folder")
        return wdir

    def _latest(self, workflow_id: str) -> Path:
        return self.workflow_dir(workflow_id) / CHECKPOINT_FILE

    def _history_dir(self, workflow_id: str) -> Path:
        return self.workflow_dir(workflow_id) / HISTORY_DIR

    # -- contract
    def exists(self, workflow_id: str) -> bool:
        d = self.workflow_dir(workflow_id)
        return (d / CHECKPOINT_FILE).is_file() or (d / HISTORY_DIR).is_dir()

    @contextlib.contextmanager
    def lock(self, workflow_id: str, purpose: str = "write") -> Iterator[None]:
        wdir = self.workflow_dir(workflow_id)
        if wdir.is_symlink():
            from cairn.errors import ConfinementError

            raise ConfinementError(f"workflow folder {wdir} is a symlink",
                                   hint="replace it with a real folder inside the artifacts folder")
        if not wdir.is_dir():  # locking must not create the folder of an unknown id
            raise WorkflowNotFound(workflow_id, str(self.root))
        with locked(wdir / LOCK_FILE, timeout=self.lock_timeout, purpose=purpose):
            yield

    def create(self, workflow_id: str, record: Record) -> None:
        ensure_dir(self.root)
        wdir = self.workflow_dir(workflow_id)
        try:
            wdir.mkdir(mode=0o700)
        except FileExistsError:
            raise WorkflowExists(workflow_id) from None
        with self.lock(workflow_id, "create"):
            self.put(workflow_id, record)

    def put(self, workflow_id: str, record: Record) -> None:
        """Commit `record` (caller holds the lock and has set a fresh `seq`)."""
        seq = int(record["seq"])
        ctype = re.sub(r"[^a-z0-9_.-]", "_", str(record.get("checkpoint_type", "checkpoint")).lower())
        data = encode(record)
        hist = self._history_dir(workflow_id)
        if not write_once(hist / f"{seq:08d}-{ctype}.json", data):
            raise CairnError(
                f"history entry {seq} of workflow {workflow_id!r} already exists",
                hint="a checkpoint was written without holding the workflow lock; retry",
            )
        point("after_history_write")
        atomic_write(self._latest(workflow_id), data)
        point("after_put")

    def archive_original(self, workflow_id: str) -> None:
        """Keep a checkpoint.json written by an older tool, before the first write in
        Cairn's format replaces it (`checkpoints/original-checkpoint.json`)."""
        latest = self._latest(workflow_id)
        try:
            data = latest.read_bytes()
        except FileNotFoundError:
            return
        write_once(self._history_dir(workflow_id) / "original-checkpoint.json", data)

    def preserve_damaged(self, workflow_id: str) -> Path | None:
        """Keep the bytes of an unreadable checkpoint.json (a hand edit gone wrong is
        still someone's data) as `checkpoints/damaged-<sha256>.json` before a commit
        replaces it. Not a history entry: loads never read it."""
        try:
            data = self._latest(workflow_id).read_bytes()
        except OSError:
            return None
        import hashlib

        path = self._history_dir(workflow_id) / f"damaged-{hashlib.sha256(data).hexdigest()[:16]}.json"
        write_once(path, data)
        return path

    def history(self, workflow_id: str) -> list[HistoryEntry]:
        hist = self._history_dir(workflow_id)
        entries: list[HistoryEntry] = []
        try:
            names = os.listdir(hist)
        except FileNotFoundError:
            return []
        for name in names:
            m = _HISTORY_RE.match(name)
            if m:
                entries.append(HistoryEntry(int(m.group(1)), m.group(2), hist / name))
        entries.sort(key=lambda e: e.seq)
        return entries

    def load_seq(self, workflow_id: str, seq: int) -> Record:
        for entry in self.history(workflow_id):
            if entry.seq == seq:
                return _read_json(entry.path)
        raise CairnError(f"workflow {workflow_id!r} has no checkpoint {seq} in its history",
                         hint="run `cairn show ID` to list its checkpoints")

    def load(self, workflow_id: str, validate: Validator[T]) -> Loaded[T]:
        """The latest valid checkpoint: checkpoint.json, rolled forward to a newer
        history entry if a write was cut short, or the newest valid history entry
        (with a warning naming the bad file) when checkpoint.json is damaged."""
        latest = self._latest(workflow_id)
        history = self.history(workflow_id)
        warnings: list[str] = []
        current: T | None = None
        current_seq = -1
        damaged = False
        if latest.is_file():
            try:
                raw = _read_json(latest)
                current = validate(raw)
                seq = raw.get("seq")
                current_seq = seq if isinstance(seq, int) and not isinstance(seq, bool) else 0
            except (OSError, ValueError, UnicodeDecodeError, CairnError) as exc:
                damaged = True
                warnings.append(f"{latest} is unreadable ({_short(exc)}); "
                                "using the newest valid checkpoint of its history")
        elif not history:
            raise WorkflowNotFound(workflow_id, str(self.root))
        else:
            warnings.append(f"{latest} is missing; using the newest valid checkpoint of its history")
        for entry in reversed(history):
            if entry.seq <= current_seq:
                break
            try:
                value = validate(_read_json(entry.path))
            except (OSError, ValueError, UnicodeDecodeError, CairnError) as exc:
                warnings.append(f"history entry {entry.path} is unreadable ({_short(exc)}); skipped")
                continue
            rolled = current is not None
            if rolled:
                warnings.append(f"{latest} lagged behind its history (an interrupted write); "
                                f"rolled forward to checkpoint {entry.seq}")
            return Loaded(value, entry.path, warnings, rolled_forward=True, latest_damaged=damaged)
        if current is None:
            raise CheckpointCorrupt(
                f"no valid checkpoint for workflow {workflow_id!r}: " + "; ".join(warnings),
                hint=f"inspect {self.workflow_dir(workflow_id)}; `cairn validate {workflow_id}` "
                "lists the problems",
            )
        return Loaded(current, latest, warnings)

    def list_ids(self) -> list[str]:
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        ids = []
        for e in entries:
            if e.name.startswith(".") or not e.is_dir(follow_symlinks=False):
                continue
            if os.path.exists(os.path.join(e.path, CHECKPOINT_FILE)) or os.path.isdir(
                os.path.join(e.path, HISTORY_DIR)
            ):
                ids.append(e.name)
        return sorted(ids)

    def delete(self, workflow_id: str) -> None:
        wdir = self.workflow_dir(workflow_id)
        if not wdir.is_dir() or wdir.is_symlink():
            raise WorkflowNotFound(workflow_id, str(self.root))
        # Rename first so a crash mid-delete never leaves a half-deleted workflow
        # that still looks like one.
        trash = self.root / f".deleting-{workflow_id}-{os.getpid()}"
        os.replace(wdir, trash)
        shutil.rmtree(trash)


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]
