"""Pipelines: the ``dvc.yaml`` model (``stage``), its loader (``dvcfile``,
with ``interpolate`` for vars/``${}``/foreach/matrix), the graph of stages
(``graph``) and the lock file (``lockfile``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from trails.pipeline.graph import Graph
    from trails.project import Project


def load_graph(project: Project, supposed: Mapping[str, str] | None = None) -> Graph:
    """Every pipeline file of the project, loaded and checked as one graph
    (``supposed``: params texts read instead of the files, see ``load_all``).
    Here, not in ``repro``, so read-only commands (``exp show``, ``metrics``)
    do not import the runner, the planner or the native core."""
    from trails.pipeline import dvcfile
    from trails.pipeline.graph import Graph
    from trails.tasks.graph import task_stages

    stages = dvcfile.load_all(project.root, supposed) + task_stages(project)
    return Graph(stages, project.root)
