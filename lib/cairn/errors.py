"""The one exception tree of Cairn.

Every error says what is wrong and what to do about it. The CLI maps the tree to exit
codes at a single boundary (``cli.main``); hooks map it to a fail-open answer.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_PROBLEM = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3


class CairnError(Exception):
    """Base of every error Cairn raises on purpose."""

    exit_code = EXIT_PROBLEM

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  fix: {self.hint}"
        return self.message


class UsageError(CairnError):
    """The command line or an argument is wrong."""

    exit_code = EXIT_USAGE


class ConfinementError(UsageError):
    """A workflow id or artifact path tries to leave its folder."""


class ConfigError(CairnError):
    """A pipeline definition (`.claude/cairn.yaml` or the default) is invalid."""

    def __init__(
        self, message: str, *, path: str, line: int | None = None, hint: str | None = None
    ) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = path
        self.line = line


class WorkflowNotFound(CairnError):
    """No workflow with that id exists under the artifacts folder."""

    def __init__(self, workflow_id: str, root: str) -> None:
        super().__init__(
            f"no workflow {workflow_id!r} under {root}",
            hint="run `cairn list --all` to see the workflows there, or pass --dir",
        )
        self.workflow_id = workflow_id


class WorkflowExists(CairnError):
    """A workflow with the requested id already exists."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(
            f"workflow {workflow_id!r} already exists",
            hint="choose another --id, or omit --id to get a generated one",
        )
        self.workflow_id = workflow_id


class CheckpointCorrupt(CairnError):
    """checkpoint.json and every entry of its history are unreadable."""


class LockTimeout(CairnError):
    """Another process held the workflow lock for longer than the timeout."""


class IllegalTransition(CairnError):
    """A status change the workflow state machine does not allow."""

    def __init__(self, current: str, target: str, workflow_id: str) -> None:
        super().__init__(
            f"workflow {workflow_id!r} cannot go from {current!r} to {target!r}",
            hint="see `cairn show ID` for its state; only paused, failed or stale "
            "workflows can be resumed",
        )
        self.current = current
        self.target = target


class UnknownAgent(CairnError):
    """An agent name that is not a stage of the workflow's pipeline."""

    def __init__(self, agent: str, stages: list[str]) -> None:
        super().__init__(
            f"{agent!r} is not a stage of this workflow's pipeline",
            hint="use one of: " + ", ".join(stages),
        )
        self.agent = agent


class ArtifactError(CairnError):
    """An artifact is missing, unreadable or violates its schema."""

    def __init__(self, message: str, *, path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.path = path


class NotResumable(CairnError):
    """The workflow cannot be resumed (finished, cancelled, or blocked by problems)."""


class MigrationError(CairnError):
    """A checkpoint in an older format could not be migrated."""


class StoreError(CairnError):
    """The database cannot be opened, read or written (busy, full, damaged, a link)."""


class DiskError(StoreError):
    """The disk refused a write or an open: full, read-only, or not this user's to write.
    The message says what, where, and whether anything was recorded (`cairn.disk`)."""

    def __init__(self, message: str, *, kind: str, path: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind
        self.path = path


class StoreUnreachable(StoreError):
    """The shared store's server cannot be reached (down, unreachable, or its driver,
    psycopg, is not importable here). Hooks record locally instead (`cairn.store.offline`)."""


class DriverMissing(StoreUnreachable):
    """psycopg cannot be imported by this interpreter (a hook's, before the plugin's
    environment has it)."""


class LeaseHeld(CairnError):
    """Another live session holds the workflow's lease."""

    def __init__(self, workflow_id: str, holder: str) -> None:
        super().__init__(
            f"workflow {workflow_id!r} is being worked on by another live session: {holder}",
            hint="continue it in that session, or end that session (its lease ends with its "
            "process) and resume again; `cairn resume --take-over` takes it on purpose")
        self.holder = holder
