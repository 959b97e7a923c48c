"""`cairn store migrate --to ADDRESS`: copy the project's state from the store it uses
now to a shared PostgreSQL server (`postgresql://...`) or back to its SQLite file
(`sqlite`), checked by comparing every workflow's projection in both."""

from __future__ import annotations

import argparse
import os
import sys

from cairn.cmd.common import Subparsers, emit_json, manager
from cairn.errors import EXIT_OK, UsageError
from cairn.store import Store, address

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cairn.manager import CheckpointManager


def _target(to: str, m: CheckpointManager) -> Store:
    from cairn import safefs
    from cairn.project import check_root, open_shared
    from cairn.store.sqlite import DB_FILE, SqliteStore

    if to == "sqlite":
        check_root(m.root)
        safefs.ensure_dir(m.root)
        return SqliteStore(m.root / DB_FILE)  # no import of older folders: the copy is what fills it
    if not address.is_shared(to):
        raise UsageError(f"--to {address.public(to)!r} is neither `sqlite` nor a postgresql:// address",
                         hint="cairn store migrate --to postgresql://USER@HOST:PORT/DATABASE (or --to sqlite)")
    return open_shared(to, m.project_dir, m.settings, os.environ)


def cmd_migrate(args: argparse.Namespace) -> int:
    from cairn.store.transfer import copy

    m = manager(args)
    src = m.store
    dst = _target(args.to, m)
    try:
        if dst.describe() == src.describe():
            raise UsageError(f"the project already uses {src.describe()}", hint="name another store with --to")
        done = copy(src, dst, m.root, m.settings.artifact_max_bytes)
    finally:
        dst.close()
    switch = ("set CAIRN_STORE to that address (or settings.store in .claude/cairn.yaml, without a password)"
              if args.to != "sqlite" else "unset CAIRN_STORE and remove settings.store from .claude/cairn.yaml")
    if args.json:
        emit_json({"from": src.describe(), "to": dst.describe(), "workflows": done.workflows, "rows": done.rows,
                   "artifacts_carried": done.artifacts, "notes": done.notes})
    else:
        print(f"Copied {done.workflows} workflow(s) ({done.rows} rows) from {src.describe()} to {dst.describe()}; "
              "every workflow's projection reads the same from both.")
        if dst.shared:
            print(f"  {done.artifacts} artifact(s) carried for other machines.")
        print(f"  To use it: {switch}. The old store is left as it was.")
    for note in done.notes:
        print(f"cairn: note: {note}", file=sys.stderr)
    return EXIT_OK


def register(sub: Subparsers) -> None:
    p = sub.add_parser(
        "store", help="the project's store: copy it to a shared PostgreSQL server and back",
        description="Cairn keeps a project's state in .claude/artifacts/cairn.db (SQLite) unless a shared "
        "PostgreSQL store is configured (CAIRN_STORE or settings.store).")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", parser_class=type(p))
    mg = verbs.add_parser(
        "migrate", help="copy every workflow to another store, checked projection by projection",
        description="Copy the project's workflows, with their history, audit trail, sessions and leases, from "
        "the store it uses now into an empty one: `--to postgresql://USER@HOST:PORT/DB` (the password from "
        "PGPASSWORD or ~/.pgpass) or `--to sqlite` (the project's .claude/artifacts/cairn.db). One transaction: "
        "nothing is written unless every workflow's projection reads the same from both.",
        epilog="Exit codes: 0 copied, 1 the copy did not check out (nothing written), 2 usage error.")
    mg.add_argument("--to", required=True, metavar="ADDRESS", help="postgresql://... or sqlite")
    mg.add_argument("--json", action="store_true", help="machine-readable output (docs/cli.md)")
    mg.set_defaults(handler=cmd_migrate)
