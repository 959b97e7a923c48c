"""What the stale checks compare a workflow with, read once for a pass over many
workflows of one project (a panel page shows fifty cards): the git state of each
worktree, the code state, the project's pipeline, and the current digests of the agent
definitions. A single check makes its own; nothing is kept beyond the pass, so a page
rendered later sees the world as it is then. Standard library only."""

from __future__ import annotations

from functools import cached_property

from cairn.checks.gitstate import GitLook
from cairn.errors import CairnError
from cairn.pipeline import Pipeline

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cairn.manager import CheckpointManager


class Survey:
    def __init__(self, manager: CheckpointManager) -> None:
        self.manager = manager
        self.git = GitLook()
        self._agents: dict[str, dict[str, str]] = {}

    @cached_property
    def project(self) -> Pipeline | None:
        """The project's pipeline now, None when its cairn.yaml cannot be read (reported where it is loaded)."""
        try:
            return self.manager.project_pipeline()
        except (CairnError, ImportError):
            return None

    @cached_property
    def code(self) -> str | None:
        """The project's code state (`cairn.codestate.snapshot`: one `git status`)."""
        from cairn import codestate

        return codestate.snapshot(self.manager.project_dir)

    def agents(self, pipeline: Pipeline) -> dict[str, str]:
        """The current pins of `pipeline` (`cairn.pins.current`: a sha256 per stage's agent)."""
        from cairn import pins

        key = pipeline.digest
        if key not in self._agents:
            self._agents[key] = pins.current(pipeline, self.manager.project_dir)
        return self._agents[key]
