"""A project's Cairn state: opening its database safely, importing what older versions
wrote on the first open, and repairing projections. Standard library only."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from cairn import safefs
from cairn.errors import CairnError, ConfinementError, DriverMissing
from cairn.model import FORMAT
from cairn.pipeline import Settings, default_pipeline
from cairn.sitepkgs import importable
from cairn.store import Store, address, projection
from cairn.store.sqlite import DB_FILE, SqliteStore, SqliteTx

TYPE_CHECKING = False  # the importer is needed only when a database is created (not on hook paths)
if TYPE_CHECKING:
    from cairn.model import Workflow
    from cairn.store.importer import ImportReport


def check_root(root: Path) -> None:
    """`.claude/artifacts` and `.claude` must be real folders: a symlinked one (planted in
    a cloned repository) would make Cairn write elsewhere."""
    for path in (root, root.parent):
        if os.path.islink(path):
            raise ConfinementError(f"{path} is a symbolic link; Cairn does not write through links",
                                   hint="replace it with a real folder (it may come from a cloned repository)")


def has_store(root: Path) -> bool:
    return os.path.isfile(root / DB_FILE) and not os.path.islink(root / DB_FILE)


def open_shared(found: str, project_dir: Path | None, settings: Settings, env: Mapping[str, str], *,
                connect_timeout: int = 5) -> Store:
    """The project's scope on the shared server at `found`. StoreUnreachable when the
    server cannot be reached or psycopg cannot be imported here (a hook's interpreter
    without the plugin's packages): hooks then record offline (`cairn.store.offline`)."""
    from cairn.scope import project_scope

    scope = project_scope(project_dir, settings.project_key, env)
    try:
        from cairn.store.postgres import PgStore
    except ImportError:
        if not importable("psycopg"):
            raise DriverMissing(f"{address.public(found)} needs psycopg, which this Python cannot import",
                                hint="pip install 'psycopg[binary]' into the Python that runs Cairn") from None
        from cairn.store.postgres import PgStore
    return PgStore(found, scope, password=address.password(env), connect_timeout=connect_timeout)


def open_store(root: Path, *, project_dir: Path | None = None, settings: Settings | None = None,
               env: Mapping[str, str] | None = None, connect_timeout: int = 5) -> tuple[Store, ImportReport | None]:
    """The project's store: a shared server when one is configured (`cairn.store.address`),
    else its SQLite file, opened by `open_local`."""
    env = os.environ if env is None else env
    found = address.configured(env, (settings or Settings()).store)
    if found is not None:
        return open_shared(found[0], project_dir, settings or Settings(), env, connect_timeout=connect_timeout), None
    return open_local(root)


def open_local(root: Path) -> tuple[SqliteStore, ImportReport | None]:
    """Open (creating if needed) `<root>/cairn.db`. On its first creation every workflow
    folder written by an older Cairn (3.0) or autonomous-dev (2.0) is imported, in the
    transaction that creates the tables: a process killed during the import leaves a
    database the next open initialises again, never one that silently skipped the import.
    The report is None when the database already existed."""
    check_root(root)
    safefs.ensure_dir(root)
    reports: list[ImportReport] = []

    def first_open(tx: SqliteTx) -> None:
        from cairn.store.importer import import_folders

        reports.append(import_folders(tx, root, default_pipeline()))
    store = SqliteStore(root / DB_FILE, init=first_open)
    report = reports[0] if reports else None
    if report is not None and report.imported:
        from cairn.workflow import Workflows  # the projections of what was imported, in format 3.2

        writer = Workflows(store, root)
        for wid in report.imported:
            with store.read() as r:
                wf = r.workflow(wid)
            if wf is not None:
                writer.project(wf, force=True)
        report.notes += writer.warnings
    return store, report


def rebuild(root: Path) -> ImportReport:
    """`cairn doctor`: a damaged database is moved aside (kept) and rebuilt from the
    projections; a missing one is recreated the same way."""
    check_root(root)
    db = root / DB_FILE
    if db.exists():
        n = 1
        while (root / f"{DB_FILE}.damaged-{n}").exists():
            n += 1
        os.replace(db, root / f"{DB_FILE}.damaged-{n}")
        for side in ("-wal", "-shm"):
            if (root / (DB_FILE + side)).exists():
                os.replace(root / (DB_FILE + side), root / f"{DB_FILE}.damaged-{n}{side}")
    store, report = open_local(root)
    store.close()
    assert report is not None
    if report.imported:
        # what a session holds, not what a workflow is (docs/architecture.md, "What a rebuild keeps")
        report.notes.append("not in the projections, so not recovered: which session each workflow was bound "
                            "to (run /cairn:resume in the session), pending Agent dispatches, leases, and the "
                            "record of hook deliveries already handled")
    return report


def projection_state(root: Path, workflow_id: str, seq: int, uid: str) -> str | None:
    """Why the folder's checkpoint.json must be rewritten (missing, damaged, behind, or
    another workflow's), or None when it shows this checkpoint."""
    found = projection.seen(root / workflow_id)
    if found is None:
        return "missing or unreadable"
    if found["uid"] is None:
        return "in an older format, or without its workflow_uid"
    if found["uid"] != uid:
        return "written for another workflow (a copied folder)"
    if found["seq"] != seq:
        return f"at checkpoint {found['seq']}, the database at {seq}"
    if found["version"] != FORMAT:  # written before an upgrade: it may lack facts a rebuild needs (3.1: breakpoints)
        return f"in format {found['version']}, the current one being {FORMAT}"
    return None


# Fields a heartbeat moves without a new checkpoint (so without a rewrite of the file).
_LIVE_FIELDS = ("last_activity", "sessions")


def projection_edits(root: Path, wf: Workflow) -> list[str]:
    """The top-level fields in which the folder's checkpoint.json, at the database's
    checkpoint, says something else than the database (a hand or a tool edited it: its
    pipeline's stage names, its request...). Empty when it says the same, or when it is
    not at this checkpoint (`projection_state` tells that)."""
    try:
        found = projection.read_raw(root / wf.workflow_id)
    except (OSError, ValueError, CairnError):
        return []
    if found.get("seq") != wf.seq or found.get("workflow_uid") != wf.uid:
        return []
    expected = json.loads(projection.encode(wf))
    keys = sorted((set(found) | set(expected)) - set(_LIVE_FIELDS))
    return [k for k in keys if found.get(k) != expected.get(k)]
