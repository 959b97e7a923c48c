"""A small index of all workflows under an artifacts folder, so that listing and the
hooks' hot paths cost O(active workflows), not O(every workflow ever run).

`<root>/.index.json` maps workflow ids to summaries. It is derived data: the
checkpoint files stay the source of truth. A writer marks a workflow dirty
(`<root>/.dirty/<id>`) before it writes a checkpoint and clears the mark after the
index is updated, so a crash in between is repaired by the next reader. Two marker
files let a shell hook decide without starting Python whether there is anything to do:
`.active` exists while any workflow is active (running or resumable), `.running` while
any is running. `.active` also holds the active workflows' summaries, stamped with the
index version they came from, so the hooks' reads cost O(active workflows) even with
10,000 finished ones in the index. Standard library only.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from cairn.errors import CairnError
from cairn.faults import point
from cairn.paths import LOCK_FILE
from cairn.status import ACTIVE, Status

TYPE_CHECKING = False  # `typing` costs a hook ~2 ms to import; annotations only need it
if TYPE_CHECKING:
    from typing import Any

# The writers' modules (atomic: tempfile; file_lock: socket; pipeline: dataclasses,
# hashlib, importlib.resources) are imported in the functions that write or repair: a
# hook that only reads a clean index (Stop, every turn) skips about 8 ms of imports.

INDEX_FILE = ".index.json"
INDEX_LOCK = ".index.lock"
DIRTY_DIR = ".dirty"
ACTIVE_MARK = ".active"  # exists while any workflow is active; holds their summaries
RUNNING_MARK = ".running"
INDEX_VERSION = 1

Summary = dict[str, "Any"]


def summarize(record: dict[str, Any]) -> Summary:
    """The index entry of a raw checkpoint record."""
    from cairn.pipeline import Pipeline

    pipeline = Pipeline.from_dict(record.get("pipeline") or {})
    completed = list(record.get("completed_agents") or [])
    skipped = list(record.get("skipped_agents") or [])
    ready = pipeline.ready([*completed, *skipped])
    total = len(pipeline)
    sessions = record.get("sessions") or []
    return {
        "status": record.get("status"),
        "request": str(record.get("request") or "")[:200],
        "created_at": record.get("created_at"),
        "updated_at": record.get("updated_at"),
        "last_activity": record.get("last_activity"),
        "completed": len([a for a in completed if pipeline.has(a)]),
        "skipped": len(skipped),
        "total": total,
        "next_agents": ready,
        "current_agent": record.get("current_agent"),
        "seq": record.get("seq"),
        "session_id": sessions[-1].get("session_id") if sessions else None,
    }


class Index:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def path(self) -> Path:
        return self.root / INDEX_FILE

    def mark_dirty(self, workflow_id: str) -> None:
        from cairn.atomic import ensure_dir

        d = self.root / DIRTY_DIR
        ensure_dir(self.root)  # create the root itself private, not as a parent of d
        ensure_dir(d)
        fd = os.open(d / workflow_id, os.O_WRONLY | os.O_CREAT, 0o600)
        os.close(fd)

    def _clear_dirty(self, workflow_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.root / DIRTY_DIR / workflow_id)

    def _read_raw(self) -> dict[str, Summary] | None:
        try:
            with open(self.path, "rb") as fh:
                data = json.loads(fh.read())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return None  # damaged: rebuilt from the checkpoints
        if not isinstance(data, dict) or data.get("version") != INDEX_VERSION:
            return None
        wf = data.get("workflows")
        if not isinstance(wf, dict):
            return None
        for summary in wf.values():  # an index edited by hand is rebuilt, not trusted
            status = summary.get("status") if isinstance(summary, dict) else None
            if not isinstance(status, str) or status not in _STATUS_VALUES:
                return None
        return wf

    def _write(self, workflows: dict[str, Summary]) -> None:
        from cairn.atomic import atomic_write

        body = {"version": INDEX_VERSION, "workflows": workflows}
        atomic_write(self.path, json.dumps(body, separators=(",", ":")).encode())
        self._sync_marks(workflows)

    def _sync_marks(self, workflows: dict[str, Summary]) -> None:
        active = {w: s for w, s in workflows.items() if s.get("status") in ACTIVE_VALUES}
        running = any(s.get("status") == Status.RUNNING.value for s in active.values())
        if active:
            self._write_active(active)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.root / ACTIVE_MARK)
        mark = self.root / RUNNING_MARK
        if running and not mark.exists():
            fd = os.open(mark, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
        elif not running:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(mark)

    def _write_active(self, active: dict[str, Summary]) -> None:
        """`.active` holds the active workflows' summaries and the stat of the index
        they came from, so hot paths read O(active) bytes, not the whole index. Not
        fsync'd: it is derived, and a reader that finds it out of step with the index
        (or unreadable) reads the index instead."""
        st = os.stat(self.path)
        body = {"version": INDEX_VERSION, "index": _stamp(st), "workflows": active}
        tmp = self.root / f"{ACTIVE_MARK}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(body, separators=(",", ":")).encode())
        finally:
            os.close(fd)
        os.replace(tmp, self.root / ACTIVE_MARK)

    def update(self, workflow_id: str, record: dict[str, Any] | None) -> None:
        """Set (or, with None, drop) one workflow's entry; clears its dirty mark."""
        from cairn.atomic import ensure_dir
        from cairn.file_lock import locked

        point("before_index")
        ensure_dir(self.root)
        with locked(self.root / INDEX_LOCK, purpose="index"):
            workflows = self._read_raw()
            if workflows is None:
                workflows = self._scan()
            if record is None:
                workflows.pop(workflow_id, None)
            else:
                workflows[workflow_id] = summarize(record)
            self._write(workflows)
            point("after_index_write")
            self._clear_dirty(workflow_id)

    def _scan(self) -> dict[str, Summary]:
        out: dict[str, Summary] = {}
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return out
        for e in entries:
            if e.name.startswith(".") or not e.is_dir(follow_symlinks=False):
                continue
            record = self._read_checkpoint(e.name)
            if record is not None:
                out[e.name] = summarize(record)
        return out

    def _read_checkpoint(self, workflow_id: str) -> dict[str, Any] | None:
        # Raw read for the summary only; a damaged file is reported by the manager
        # when the workflow is loaded, and left out of the index until then.
        from cairn.store import FileStore

        try:
            loaded = FileStore(self.root).load(workflow_id, _as_record)
        except (CairnError, OSError):
            return None
        return loaded.value

    def rebuild(self) -> dict[str, Summary]:
        from cairn.atomic import ensure_dir, fsync_dir
        from cairn.file_lock import locked

        ensure_dir(self.root)
        with locked(self.root / INDEX_LOCK, purpose="index rebuild"):
            workflows = self._scan()
            for name in self._dirty():
                self._repair(name, workflows)
            self._write(workflows)
            fsync_dir(self.root)
        return workflows

    def _repair(self, name: str, workflows: dict[str, Summary]) -> None:
        """Refresh one dirty workflow's entry (caller holds the index lock) and clear
        its mark, unless a writer of that workflow is in flight (holds its lock): that
        writer updates the index itself, and its mark must outlive it in case it dies
        before. Never waits for the workflow lock (writers take it before the index
        lock), so this cannot deadlock."""
        from cairn.file_lock import try_locked

        with try_locked(self.root / name / LOCK_FILE) as free:
            if not free:
                return
            record = self._read_checkpoint(name) if (self.root / name).is_dir() else None
            if record is not None:
                workflows[name] = summarize(record)
            else:
                workflows.pop(name, None)
            self._clear_dirty(name)

    def _dirty(self) -> list[str]:
        try:
            return os.listdir(self.root / DIRTY_DIR)
        except FileNotFoundError:
            return []

    def read_active(self) -> dict[str, Summary]:
        """The active workflows' summaries (pending, running, paused, failed, stale):
        from `.active` when it is in step with a clean index, else from `read()`."""
        try:
            with open(self.root / ACTIVE_MARK, "rb") as fh:
                raw = fh.read()
            st = os.stat(self.path)
        except FileNotFoundError:
            raw, st = None, None
        except OSError:
            return self._active_of(self.read())
        if st is None:
            if raw is None and self.path.exists() and not self._dirty():
                return {}  # no mark, a clean index: nothing is active
            return self._active_of(self.read())
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        if (not isinstance(data, dict) or data.get("version") != INDEX_VERSION
                or data.get("index") != _stamp(st) or not isinstance(data.get("workflows"), dict)
                or self._dirty()):
            return self._active_of(self.read())
        workflows: dict[str, Summary] = data["workflows"]
        return workflows

    @staticmethod
    def _active_of(workflows: dict[str, Summary]) -> dict[str, Summary]:
        return {w: s for w, s in workflows.items() if s.get("status") in ACTIVE_VALUES}

    def read(self) -> dict[str, Summary]:
        """All summaries, repaired from the checkpoints where the index is missing,
        damaged or behind (a writer died between its checkpoint and the index)."""
        workflows = self._read_raw()
        if workflows is None:
            if not self.root.is_dir():
                return {}
            return self.rebuild()
        dirty = self._dirty()
        if not dirty:
            return workflows
        from cairn.file_lock import locked

        with locked(self.root / INDEX_LOCK, purpose="index repair"):
            workflows = self._read_raw() or self._scan()
            for name in self._dirty():
                self._repair(name, workflows)
            self._write(workflows)
        return workflows


ACTIVE_VALUES = frozenset(s.value for s in ACTIVE)


def _stamp(st: os.stat_result) -> list[int]:
    """What identifies one version of the index file: a write replaces it (new inode)."""
    return [st.st_ino, st.st_size, st.st_mtime_ns]


_STATUS_VALUES = frozenset(s.value for s in Status)


def _as_record(raw: dict[str, Any]) -> dict[str, Any]:
    from cairn.migrate import is_legacy, upgrade

    if is_legacy(raw):
        from cairn.pipeline import default_pipeline

        return upgrade(raw, default_pipeline())
    if not isinstance(raw.get("workflow_id"), str) or "pipeline" not in raw:
        raise CairnError("not a Cairn checkpoint")
    status = raw.get("status")
    if not isinstance(status, str) or status not in _STATUS_VALUES:
        raise CairnError(f"not a Cairn checkpoint (status {str(status)[:40]!r})")
    try:  # the summary reads a raw record: a damaged one must fail here, typed
        summarize(raw)
    except (TypeError, KeyError, AttributeError, ValueError, IndexError) as exc:
        raise CairnError(f"not a Cairn checkpoint ({type(exc).__name__}: {str(exc)[:80]})") from None
    return raw
