"""Pipeline commands: ``init``, ``repro``, ``status``, ``dag``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from trails.cli import prompt
from trails.project import Project

if TYPE_CHECKING:
    from trails.pipeline.graph import Graph
    from trails.pipeline.stage import Stage
    from trails.repro.selection import ReproOptions


@click.command()
@click.option("--no-scm", is_flag=True, help="Initialise without Git.")
@click.option("-f", "--force", is_flag=True, help="Reinitialise an existing project.")
def init(no_scm: bool, force: bool) -> None:
    """Make the current folder a trails project (creates .dvc/)."""
    from trails import project

    proj, created = project.init(Path.cwd(), no_scm=no_scm, force=force)
    click.echo(f"Initialized trails project in {proj.root}")
    if created and not no_scm:
        click.echo("You can now commit the changes to git:\n\n\tgit commit -m 'Initialize trails'")


_target_args = [
    click.argument("targets", nargs=-1),
    click.option(
        "-R", "--recursive", is_flag=True, help="Targets are folders: every pipeline in them."
    ),
    click.option("--glob", is_flag=True, help="Targets are shell patterns over stage names."),
]


F = TypeVar("F", bound=Callable[..., Any])


def _selection(
    targets: tuple[str, ...],
    recursive: bool,
    glob: bool,
    *,
    single_item: bool = False,
    project: Project | None = None,
) -> tuple[Project, Graph, ReproOptions, list[Stage]]:
    """The stages that status, dag, checkout and commit look at: the
    targets (with their upstream stages unless ``single_item``), or every
    pipeline when none is named."""
    from trails.pipeline import load_graph
    from trails.repro.selection import ReproOptions, select

    project = project or Project.find()
    graph = load_graph(project)
    opts = ReproOptions(targets=targets, recursive=recursive, glob=glob,
                        single_item=single_item, all_pipelines=not targets)  # fmt: skip
    stages, _ = select(graph, project, opts)
    return project, graph, opts, stages


def _targets(f: F) -> F:
    """The target arguments shared by repro, status and dag."""
    for deco in reversed(_target_args):
        f = deco(f)
    return f


@click.command()
@_targets
@click.option("-f", "--force", is_flag=True, help="Run even the stages that did not change.")
@click.option(
    "-s",
    "--single-item",
    "--single-stage",  # the guide's spelling
    "single_item",
    is_flag=True,
    help="Run only the targets, not their upstream stages.",
)
@click.option(
    "-p", "--pipeline", is_flag=True, help="Run the whole pipeline each target belongs to."
)
@click.option("-P", "--all-pipelines", is_flag=True, help="Run every pipeline of the project.")
@click.option("-i", "--interactive", is_flag=True, help="Ask before running each stage.")
@click.option(
    "--downstream", is_flag=True, help="Run the targets and the stages that depend on them."
)
@click.option(
    "--force-downstream", is_flag=True, help="Run everything downstream of a stage that runs."
)
@click.option("--dry", is_flag=True, help="Print the commands that would run; run nothing.")
@click.option("--no-commit", is_flag=True, help="Do not store outputs in the cache.")
@click.option(
    "--no-run-cache", is_flag=True, help="Never restore outputs from earlier identical runs."
)
@click.option(
    "--allow-missing", is_flag=True, help="Skip stages whose only change is missing data."
)
@click.option(
    "-k",
    "--keep-going",
    is_flag=True,
    help="After a failure, go on with the stages that do not depend on it.",
)
@click.option("--ignore-errors", is_flag=True, help="Ignore failures: go on and exit 0.")
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Run up to N independent stages at once.",
)
@click.option("--explain", is_flag=True, help="Print why each stage runs.")
def repro(targets: tuple[str, ...], **flags: bool | int) -> None:
    """Run the stages of the pipeline whose dependencies, params, command or
    outputs changed, in order, and record the results in dvc.lock."""
    from trails.pipeline import load_graph
    from trails.repro.builder import Builder
    from trails.repro.selection import ReproOptions, select
    from trails.repro.status import EchoStatus, check_declined
    from trails.runner import SubprocessRunner

    opts = ReproOptions(targets=targets, **flags)  # type: ignore[arg-type]
    project = Project.find()
    graph = load_graph(project)
    stages, _ = select(graph, project, opts)
    confirm = prompt.confirm if opts.interactive else None
    rep = Builder(project, graph, opts, SubprocessRunner(), EchoStatus(click.echo), confirm)
    summary = rep.run(stages)
    for lock in summary.locks_written:
        click.echo(f"Updating lock file '{lock}'")
    check_declined(summary, "the pipeline is not fully reproduced")
    if summary.locks_written and project.has_scm and not opts.dry:
        files = " ".join(sorted({*summary.locks_written, *summary.gitignores}))
        click.echo(f"\nTo track the changes with git, run:\n\n\tgit add {files}")
    if not summary.ran and not summary.restored and not summary.failed and not opts.dry:
        click.echo("Data and pipelines are up to date.")


@click.command()
@_targets
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def status(targets: tuple[str, ...], recursive: bool, glob: bool, as_json: bool) -> None:
    """Show which stages changed since they last ran, and why."""
    from trails import rootlink
    from trails.repro.outputs import Outputs
    from trails.repro.plan import reasons

    project, graph, _, stages = _selection(targets, recursive, glob)
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
    tracked = []
    if not targets:
        from trails import data

        tracked = data.tracked(project)
        for t in tracked:
            why = data.changes(project, t)
            if why:
                report[t.dvcfile] = why
    if not report:
        text = json.dumps(report, indent=2) if as_json else "Data and pipelines are up to date."
        click.echo(text)
        _keep_answer(project, graph, tracked, text + "\n")
    elif as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for address, why in report.items():
            click.echo(f"{address}:")
            for r in why:
                click.echo(f"\t{r}")


def _keep_answer(project: Project, graph: Graph, tracked: list[Any], text: str) -> None:
    """An up-to-date answer, for the file watcher's fast path to replay
    while nothing it read changes (``trails.fsmonitor.answers``)."""
    from trails.fsmonitor import answers

    if answers.pending is None:
        return
    paths = [t.dvcfile for t in tracked] + [t.repo_path for t in tracked]
    for s in graph.stages:
        paths += [s.dvcfile, s.lock_path, *(d.repo_path for d in s.deps)]
        paths += [o.repo_path for o in s.outs] + [p.repo_path for p in s.params]
    answers.record(project.root, paths, text)


@click.command()
@_targets
@click.option("--dot", "fmt", flag_value="dot", help="Graphviz dot format.")
@click.option("--mermaid", "fmt", flag_value="mermaid", help="Mermaid flowchart.")
def dag(targets: tuple[str, ...], recursive: bool, glob: bool, fmt: str | None) -> None:
    """Show the stages and their dependencies."""

    _, graph, _, stages = _selection(targets, recursive, glob)
    names = {s.address for s in stages}
    edges = [(u, s.address) for s in stages for u in graph.upstream[s.address] if u in names]
    if fmt == "dot":
        lines = ["strict digraph {"]
        lines += [f'\t"{a}";' for a in names]
        lines += [f'\t"{u}" -> "{d}";' for u, d in edges]
        click.echo("\n".join([*lines, "}"]))
    elif fmt == "mermaid":
        ids = {s.address: f"node{i}" for i, s in enumerate(stages)}
        lines = ["flowchart TD"] + [f'\t{ids[s.address]}["{s.address}"]' for s in stages]
        lines += [f"\t{ids[u]}-->{ids[d]}" for u, d in edges]
        click.echo("\n".join(lines))
    else:
        for s in stages:
            ups = ", ".join(graph.upstream[s.address]) or "-"
            click.echo(f"{s.address}  <- {ups}")


@click.command()
@_targets
def checkout(targets: tuple[str, ...], recursive: bool, glob: bool) -> None:
    """Restore the stages' cached outputs from the cache as dvc.lock records
    them (only files that differ are touched)."""
    from trails import data
    from trails.repro.outputs import Outputs

    project = Project.find()
    dvc_targets = [t for t in targets if t.endswith(data.SUFFIX)]
    stage_targets = tuple(t for t in targets if not t.endswith(data.SUFFIX))
    # Every .dvc file is read (and its path checked) before anything is written.
    items = (
        [data.read(project, data.target(project, t, "checkout")) for t in dvc_targets]
        if targets
        else data.tracked(project)
    )
    changes: list[tuple[str, str]] = []
    if stage_targets or not targets:
        _, graph, _, stages = _selection(
            stage_targets, recursive, glob, single_item=True, project=project
        )
        rep = Outputs(project, graph)
        changes += [c for s in stages for c in rep.checkout_outputs(s)]
    for item in items:
        existed = (project.root / item.repo_path).exists()
        if data.checkout(project, item):
            changes.append(("M" if existed else "A", item.repo_path))
    for letter, path in changes:
        click.echo(f"{letter}\t{path}")
    if not changes:
        click.echo("Everything is up to date.")


@click.command()
@_targets
@click.option("-f", "--force", is_flag=True, help="Commit without asking, even changed stages.")
def commit(targets: tuple[str, ...], recursive: bool, glob: bool, force: bool) -> None:
    """Record the stages' current dependencies and outputs in dvc.lock (and
    outputs in the cache) without running them."""
    from trails.repro.outputs import Outputs
    from trails.repro.plan import preflight, reasons

    project, graph, _, stages = _selection(targets, recursive, glob, single_item=True)
    rep = Outputs(project, graph)
    committed = []
    written: list[str] = []
    preflight(project.root, graph, rep.ws, stages, running=False)
    try:
        for s in stages:
            why = reasons(s, rep.lock(s).get(s.name), rep.ws)
            if not why:
                continue
            question = f"Stage '{s.address}' changed ({'; '.join(why)}). Commit it anyway?"
            if rep.lock(s).get(s.name) is not None and not force and not prompt.confirm(question):
                continue
            if rep.commit_stage(s):
                committed.append(s.address)
    finally:
        written = rep.locks.write(click.echo)
    for address in committed:
        click.echo(f"Committed stage '{address}'")
    for lock in written:
        click.echo(f"Updating lock file '{lock}'")
    if not committed:
        click.echo("Nothing to commit.")
