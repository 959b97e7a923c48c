"""The core `cairn` commands: start, checkpoint, validate. (list, status, show, resume,
pause and cancel live in `status.py` and `resume_modes.py`.) One function per command,
each returning an exit code."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cairn.errors import EXIT_OK, EXIT_PROBLEM
from cairn.paths import default_artifacts_dir


def artifacts_root(args: argparse.Namespace) -> Path:
    d: Path | None = getattr(args, "dir", None)
    return d if d is not None else default_artifacts_dir()


def manager(args: argparse.Namespace) -> Any:
    from cairn.manager import CheckpointManager

    return CheckpointManager(artifacts_root(args))


def emit_json(data: object) -> None:
    json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def summary_row(wid: str, s: dict[str, Any]) -> dict[str, Any]:
    total = int(s.get("total") or 0)
    done = int(s.get("completed") or 0) + int(s.get("skipped") or 0)
    nxt = s.get("next_agents") or []
    return {
        "workflow_id": wid, "status": s.get("status"), "request": s.get("request"),
        "completed_agents": done, "next_agent": nxt[0] if nxt else None,
        "progress": {"completed": done, "total": total,
                     "percent": round(100 * done / total) if total else 100},
        "current_agent": s.get("current_agent"), "created_at": s.get("created_at"),
        "updated_at": s.get("updated_at"), "last_activity": s.get("last_activity"),
    }


# ---------------------------------------------------------------------- commands


def cmd_start(args: argparse.Namespace) -> int:
    cp = manager(args).create(args.request, workflow_id=args.id)
    if args.json:
        emit_json({"workflow_id": cp.workflow_id, "status": cp.status.value,
                   "stages": [s.name for s in cp.pipeline.stages],
                   "folder": str(artifacts_root(args) / cp.workflow_id)})
    else:
        print(cp.workflow_id)
    return EXIT_OK


def cmd_checkpoint(args: argparse.Namespace) -> int:
    m = manager(args)
    cp = m.record_completion(args.workflow_id, args.agent, artifacts=args.artifact or None,
                             check_schemas=not args.no_schema)
    pipeline = m.pipeline_of(cp)
    nxt = pipeline.ready(cp.done)
    if args.json:
        emit_json({"workflow_id": cp.workflow_id, "seq": cp.seq, "status": cp.status.value,
                   "completed_agents": cp.completed_agents, "next_agent": nxt[0] if nxt else None,
                   "artifacts": {k: v.sha256 for k, v in cp.artifacts.items()}})
    else:
        print(f"{cp.workflow_id}: {args.agent} completed (checkpoint {cp.seq}); "
              f"{len(cp.done)}/{len(pipeline)} done; next: {', '.join(nxt) or 'nothing'}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from cairn.resumer import WorkflowResumer

    m = manager(args)
    wid = m.latest_id() if args.workflow_id == "latest" else args.workflow_id
    m.load(wid)  # raises WorkflowNotFound / CheckpointCorrupt with a fix
    report = WorkflowResumer(m).validate(wid, hashes=not args.fast)
    from cairn.stale import recovery

    options = recovery(wid, report.problems, m.pipeline_of(m.load(wid)))
    if args.json:
        emit_json({**report.to_dict(), "recovery": options})
    elif report.valid:
        print(f"{wid}: valid ({report.artifacts_checked} artifacts checked)")
    else:
        print_problems(f"{wid}: {len(report.problems)} problem(s)", report.problems, options)
    return EXIT_OK if report.valid else EXIT_PROBLEM


def print_problems(title: str, problems: list[Any], options: list[str]) -> None:
    print(title)
    for p in problems:
        print(f"  [{p.code}] {p.path}: {p.message}")
    print("Recovery options:")
    for o in options:
        print(f"  {o}")


def register(sub: Any) -> None:
    p = sub.add_parser("start", help="create a workflow and print its id")
    p.add_argument("request", help="what the pipeline should do")
    p.add_argument("--id", help="choose the workflow id (default: generated)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_start)

    p = sub.add_parser("checkpoint", help="record that an agent completed")
    p.add_argument("workflow_id", metavar="ID")
    p.add_argument("--agent", required=True, help="the pipeline stage that completed")
    p.add_argument("--artifact", action="append", metavar="PATH",
                   help="artifact it wrote, relative to the workflow folder (repeatable; "
                   "default: the stage's artifacts)")
    p.add_argument("--no-schema", action="store_true", help="skip the schema check")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_checkpoint)

    p = sub.add_parser("validate", help="check a workflow's checkpoint and artifacts")
    p.add_argument("workflow_id", metavar="ID|latest", nargs="?", default="latest")
    p.add_argument("--fast", action="store_true", help="trust size+mtime, skip hashing")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_validate)
