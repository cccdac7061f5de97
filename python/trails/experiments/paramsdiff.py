"""``trails params diff``: the params that differ between two revisions
(commits, branches, tags, experiments, or the workspace), read the way
``exp show`` reads them (one ``cat-file --batch``, its per-commit cache)."""

from __future__ import annotations

from typing import Any

from trails.experiments import show
from trails.experiments.refs import resolve
from trails.git import Git
from trails.project import Project

WORKSPACE = "workspace"

#: ``(file, key, old, new)``
Row = tuple[str, str, Any, Any]


def params_diff(project: Project, git: Git, a_rev: str, b_rev: str, *, all_: bool) -> list[Row]:
    """The differing params (every param with ``all_``), in file then key order."""
    from trails.pipeline import load_graph

    files = show.files_of(project, load_graph(project))
    reader = show.CommitReader(project, git, files)

    def snap(rev: str) -> show.Snapshot:
        if rev == WORKSPACE:
            return show.workspace(project, files)
        sha = git.rev_parse(rev) or resolve(git, rev, git.rev_parse("HEAD")).sha
        return reader.read([sha])[sha]

    a, b = snap(a_rev), snap(b_rev)
    reader.save()
    rows = show.diff(a, b, files, all_=all_, param_deps=False)
    return [(f, k, x, y) for section, f, k, x, y, _ in rows if section == "params"]


def to_json(rows: list[Row]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{file: {key: {"old", "new"}}}``, the ``--json`` document."""
    doc: dict[str, dict[str, dict[str, Any]]] = {}
    for f, k, x, y in rows:
        doc.setdefault(f, {})[k] = {"old": x, "new": y}
    return doc
