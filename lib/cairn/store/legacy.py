"""What older versions left in a workflow folder, read without following links:
`checkpoint.json` (3.2 and 3.1 projections, 3.0 file store, 2.0 autonomous-dev) and, for 3.0, the
history entries `checkpoints/NNNNNNNN-<type>.json`. Standard library only."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cairn import safefs
from cairn.errors import CairnError
from cairn.model import parse_iso
from cairn.store.projection import CHECKPOINT_FILE

_HISTORY_RE = re.compile(r"(\d{8})-([a-z0-9_.-]+)\.json")
HISTORY_DIR = "checkpoints"
ARCHIVE = "original-checkpoint.json"
JSON = dict[str, object]


@dataclass
class Found:
    """What a folder holds: the record to import, and (3.0) its history entries."""

    raw: JSON
    original: bytes | None  # checkpoint.json as found, archived after the import
    snapshots: dict[int, JSON] = field(default_factory=dict)
    kinds: dict[int, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _ts(value: object, fallback: datetime) -> datetime:
    if isinstance(value, str):
        try:
            return parse_iso(value)
        except (ValueError, OverflowError):
            return fallback
    return fallback


def _s(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _i(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def _dict(value: object) -> JSON:
    return value if isinstance(value, dict) else {}


def _parse(data: bytes) -> JSON:
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"not UTF-8 JSON: {str(exc)[:80]}") from None
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def _history(folder: Path) -> dict[int, str]:
    try:
        names = os.listdir(folder / HISTORY_DIR)
    except OSError:
        return {}
    out: dict[int, str] = {}
    for name in sorted(names):
        m = _HISTORY_RE.fullmatch(name)
        if m:
            out.setdefault(int(m.group(1)), m.group(2))
    return out


HISTORY_BUDGET = 32 << 20  # bytes of 3.0 history entries replayed per workflow


def _size(path: Path) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def read_folder(folder: Path) -> Found | None:
    """The record to import from `folder`: its checkpoint.json, else (3.0) the newest
    readable history entry, which also wins when checkpoint.json is behind it (a file
    store killed between the two writes). None when the folder is not a workflow's."""
    kinds = _history(folder)
    original: bytes | None = None
    raw: JSON | None = None
    notes: list[str] = []
    try:
        original = safefs.read_in(folder, CHECKPOINT_FILE)
        raw = _parse(original)
    except FileNotFoundError:
        if not kinds:
            return None
        notes.append("checkpoint.json is missing")
    except (OSError, ValueError, CairnError) as exc:
        notes.append(f"checkpoint.json is unreadable ({str(exc).splitlines()[0][:120]})")
    snapshots: dict[int, JSON] = {}
    if kinds and (raw is None or str(raw.get("version")) == "3.0"):
        replay = list(kinds.items())
        size = sum(_size(folder / HISTORY_DIR / f"{seq:08d}-{kind}.json") for seq, kind in replay)
        if size > HISTORY_BUDGET:  # the first open may be a hook's: read the newest entries only
            notes.append(f"its history ({len(replay)} entries, {size >> 20} MiB) is too large to replay: "
                         "checkpoints before the import show its state as of the newest entries")
            replay = replay[-3:]
        for seq, kind in replay:
            name = f"{HISTORY_DIR}/{seq:08d}-{kind}.json"
            try:
                snap = _parse(safefs.read_in(folder, name))
            except (OSError, ValueError, CairnError) as exc:
                notes.append(f"history entry {name} is unreadable ({str(exc).splitlines()[0][:80]})")
                continue
            if str(snap.get("version")) == "3.0" and _i(snap.get("seq")) == seq:
                snapshots[seq] = snap
            else:
                notes.append(f"history entry {name} is not a format 3.0 checkpoint of seq {seq}")
    if snapshots:
        newest = max(snapshots)
        if raw is None:
            raw = snapshots[newest]
            notes.append(f"imported from history entry {newest}")
        elif (_i(raw.get("seq")) or 0) < newest:
            notes.append(f"checkpoint.json was at checkpoint {_i(raw.get('seq'))}; rolled forward to history "
                         f"entry {newest}")
            raw = snapshots[newest]
    if raw is None:
        raise ValueError("; ".join(notes) + "; no readable history entry either")
    return Found(raw, original, snapshots, kinds, notes)
