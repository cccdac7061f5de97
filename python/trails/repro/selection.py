"""Which stages a command considers: its targets (stages, ``dvc.yaml``
files, folders with ``-R``, globs) and the options that widen them
(``--pipeline``, ``--downstream``, ``-s``), as ``repro``'s options say."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trails.errors import PipelineError
from trails.pipeline.graph import Graph
from trails.pipeline.stage import DVCFILE, Stage
from trails.project import Project


@dataclass(frozen=True)
class ReproOptions:
    targets: tuple[str, ...] = ()
    force: bool = False
    single_item: bool = False
    pipeline: bool = False
    all_pipelines: bool = False
    recursive: bool = False
    glob: bool = False
    interactive: bool = False
    downstream: bool = False
    force_downstream: bool = False
    dry: bool = False
    no_commit: bool = False
    no_run_cache: bool = False
    allow_missing: bool = False
    keep_going: bool = False
    ignore_errors: bool = False
    jobs: int = 1
    explain: bool = False


def _dvcfile_in(rel: str) -> str:
    return DVCFILE if rel == "." else f"{rel}/{DVCFILE}"


def cwd_folder(project: Project) -> str:
    """The current folder, repo-relative: targets are read from it first
    (``.`` when it is the root or not inside the project)."""
    rel = project.rel(Path.cwd())
    return "." if rel == ".." or rel.startswith("../") else rel


def select(
    graph: Graph, project: Project, opts: ReproOptions, cwd: str | None = None
) -> tuple[list[Stage], set[str]]:
    """The stages to consider, in order, and the explicitly named ones.
    ``cwd``: the repo-relative folder targets are read from (default: the
    process's current folder; a run folder passes ``.``, its targets being
    spelled from the root already)."""
    here = cwd_folder(project) if cwd is None else cwd
    named: list[Stage] = []
    if opts.all_pipelines:
        named = list(graph.stages)
    elif opts.targets:
        for t in opts.targets:
            if opts.recursive and (project.root / t).is_dir():
                named += graph.under(project.rel(project.root / t))
            else:
                named += graph.resolve(t, glob=opts.glob, cwd=here)
    else:
        default = _dvcfile_in(here)
        named = [s for s in graph.stages if s.dvcfile == default]
        if not named:
            raise PipelineError(
                f"no stages in '{default}'",
                hint="Name targets (a stage or a dvc.yaml), or use -P for every pipeline.",
            )
    names = {s.address for s in named}
    if opts.pipeline:
        chosen = set().union(*(graph.pipeline_of(a) for a in names))
    elif opts.single_item:
        chosen = set(names)
    elif opts.downstream:
        chosen = graph.descendants(names)
    else:
        chosen = graph.ancestors(names)
    return graph.order(chosen), names


def considered(
    project: Project, targets: tuple[str, ...], recursive: bool, glob: bool, *, single_item: bool
) -> tuple[Graph, list[Stage]]:
    """The graph and the stages that ``status``, ``dag``, ``checkout`` and
    ``commit`` look at: the targets (with their upstream stages unless
    ``single_item``), or every pipeline when none is named."""
    from trails.pipeline import load_graph

    graph = load_graph(project)
    opts = ReproOptions(targets=targets, recursive=recursive, glob=glob,
                        single_item=single_item, all_pipelines=not targets)  # fmt: skip
    return graph, select(graph, project, opts)[0]
