"""What the stale checks compare a workflow with, read once for a pass over many
workflows of one project (a panel page shows fifty cards): the git state of each
worktree, the code state, the project's pipeline, and the current digests of the agent
definitions. A single check makes its own; nothing is kept beyond the pass, so a page
rendered later sees the world as it is then. Standard library only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cairn.checks.gitstate import GitLook
from cairn.errors import CairnError
from cairn.pipeline import Pipeline

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cairn.manager import CheckpointManager

T = TypeVar("T")


class Survey:
    def __init__(self, manager: CheckpointManager) -> None:
        self.manager = manager
        self.git = GitLook()
        self._memo: dict[str, object] = {}

    def _once(self, key: str, read: Callable[[], T]) -> T:
        if key not in self._memo:
            self._memo[key] = read()
        return self._memo[key]  # type: ignore[return-value]  # stored by this key's reader

    def project(self) -> Pipeline | None:
        """The project's pipeline now, None when its cairn.yaml cannot be read (reported where it is loaded)."""
        def read() -> Pipeline | None:
            try:
                return self.manager.project_pipeline()
            except (CairnError, ImportError):
                return None
        return self._once("project", read)

    def code(self) -> str | None:
        """The project's code state (`cairn.codestate.snapshot`: one `git status`)."""
        from cairn import codestate

        project_dir: Path | None = self.manager.project_dir
        return self._once("code", lambda: codestate.snapshot(project_dir))

    def agents(self, pipeline: Pipeline) -> dict[str, str]:
        """The current pins of `pipeline` (`cairn.pins.current`: a sha256 per stage's agent)."""
        from cairn import pins

        return self._once(f"pins:{pipeline.digest}", lambda: pins.current(pipeline, self.manager.project_dir))
