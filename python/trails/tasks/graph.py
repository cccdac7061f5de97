"""The hook that puts the project's tasks into the one graph
(``pipeline.load_graph``): nothing is imported beyond the file listing
when the project has no task file."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trails.pipeline.stage import Stage
    from trails.project import Project


def task_stages(project: Project) -> list[Stage]:
    from trails.tasks import discover

    files = discover.task_files(project.root)
    if not files:
        return []
    from trails.tasks.cache import collect
    from trails.tasks.stage import to_stage

    return [to_stage(spec) for spec in collect(project, files)]
