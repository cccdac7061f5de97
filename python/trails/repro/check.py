"""The no-op check behind ``trails status``: which stages and which
``trails add``-ed data changed since they were recorded, and why.

One function, so that another source of "what changed" (a file watcher)
plugs in at one place. Every path the check hashes is hashed in one batch
(one stat-index load, one parallel pass), stages and data together: a data
folder that is also a stage's dependency is walked once."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trails.pipeline.graph import Graph
    from trails.pipeline.stage import Stage
    from trails.project import Project


def changes(
    project: Project, graph: Graph, stages: list[Stage], *, data: bool
) -> dict[str, list[str]]:
    """``{stage address or .dvc file: reasons}`` for what changed (frozen
    stages are not checked); ``data``: the ``.dvc``-tracked data too."""
    from trails import data as data_mod
    from trails import rootlink
    from trails.repro.outputs import Outputs
    from trails.repro.plan import reasons

    rep = Outputs(project, graph)
    checked = [s for s in stages if not s.frozen]
    tracked = data_mod.tracked(project) if data else []
    paths = [d.repo_path for s in checked for d in s.deps]
    paths += [o.repo_path for s in checked for o in s.outs]
    rep.ws.prefetch(paths + [t.repo_path for t in tracked])
    report: dict[str, list[str]] = {}
    for s in checked:
        entry = rep.lock(s).get(s.name)
        why = reasons(s, entry, rep.ws)
        if why and entry is not None:
            why += rootlink.stage_notes(project, s, entry)
        if why:
            report[s.address] = why
    for t in tracked:
        why = data_mod.changes(project, t, rep.ws.hash(t.repo_path))
        if why:
            report[t.dvcfile] = why
    return report
