"""What ``status`` says: each stage, and each ``trails add``-ed file when no
target is named, that changed since it was recorded, with its reasons."""

from __future__ import annotations

from trails import rootlink
from trails.pipeline.graph import Graph
from trails.pipeline.stage import Stage
from trails.project import Project
from trails.repro.outputs import Outputs
from trails.repro.plan import reasons


def changed(
    project: Project, graph: Graph, stages: list[Stage], *, tracked_data: bool
) -> dict[str, list[str]]:
    """``{address or .dvc file: reasons}`` of what changed; frozen stages
    are never reported."""
    rep = Outputs(project, graph)
    report: dict[str, list[str]] = {}
    for s in stages:
        if s.frozen:
            continue
        entry = rep.lock(s).get(s.name)
        why = reasons(s, entry, rep.ws)
        if why and entry is not None:
            why += rootlink.stage_notes(project, s, entry)
        if why:
            report[s.address] = why
    if tracked_data:
        from trails import data

        for t in data.tracked(project):
            why = data.changes(project, t)
            if why:
                report[t.dvcfile] = why
    return report
