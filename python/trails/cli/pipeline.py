"""Pipeline commands: ``init``, ``repro``, ``status``, ``dag``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from trails.cli import prompt
from trails.cli.context import context
from trails.cli.tasks import run_options, selection_options, summary_line

if TYPE_CHECKING:
    from trails.pipeline.graph import Graph
    from trails.pipeline.stage import Stage
    from trails.project import Project
    from trails.repro.status import Summary


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


def scope_flags(f: F) -> F:
    """``-a``/``-T``/``-A`` of ``status --cloud`` (as push and pull take them)."""
    for short, long, whose in reversed(
        [("-a", "--all-branches", "branch head"), ("-T", "--all-tags", "tag"),
         ("-A", "--all-commits", "commit")]
    ):  # fmt: skip
        f = click.option(short, long, is_flag=True, help=f"With --cloud: also every {whose}.")(f)
    return f


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
@selection_options
@run_options
def repro(targets: tuple[str, ...], **flags: bool | int | str | None) -> None:
    """Run the stages of the pipeline whose dependencies, params, command or
    outputs changed, in order, and record the results in dvc.lock."""
    from trails.pipeline import load_graph
    from trails.repro.builder import Builder
    from trails.repro.selection import ReproOptions, select
    from trails.repro.status import EchoStatus, check_declined
    from trails.runner import SubprocessRunner

    opts = ReproOptions(targets=targets, **flags)  # type: ignore[arg-type]
    project, _ = context()
    graph = load_graph(project)
    stages, _ = select(graph, project, opts)
    confirm = prompt.confirm if opts.interactive else None
    printed: list[str] = []

    def echo(line: str) -> None:
        printed.append(line)
        click.echo(line)

    rep = Builder(project, graph, opts, SubprocessRunner(), EchoStatus(echo), confirm)
    started = time.monotonic()
    timed = -1
    try:
        summary = rep.run(stages)
    finally:
        line = summary_line(rep.summary, time.monotonic() - started)
        if line and not opts.dry:
            timed = len(printed)
            echo(line)
    for lock in summary.locks_written:
        echo(f"Updating lock file '{lock}'")
    check_declined(summary, "the pipeline is not fully reproduced")
    if _repro_footer(project, summary, echo, dry=opts.dry) and not confirm:
        from trails import noop

        if timed >= 0:  # a replay prints its own time
            printed[timed] = printed[timed].rsplit(" in ", 1)[0] + f" in {noop.SECONDS} s"
        checked = [s for s in stages if not s.frozen]
        paths = [d.repo_path for s in checked for d in s.deps]
        paths += [o.repo_path for s in checked for o in s.outs]
        noop.keep(project.root, "".join(f"{ln}\n" for ln in printed), paths)


def _repro_footer(
    project: Project, summary: Summary, echo: Callable[[str], None], *, dry: bool
) -> bool:
    """What to run next, or that nothing had to run (True)."""
    if summary.locks_written and project.has_scm and not dry:
        files = " ".join(sorted({*summary.locks_written, *summary.gitignores}))
        echo(f"\nTo track the changes with git, run:\n\n\tgit add {files}")
    if summary.locks_written or summary.gitignores or dry:
        return False
    if not summary.ran and not summary.restored and not summary.failed:
        echo("Data and pipelines are up to date.")
        return True
    return False


@click.command()
@_targets
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@selection_options
@click.option("-c", "--cloud", is_flag=True, help="Compare the cache with a remote instead.")
@click.option(
    "-r", "--remote", "remote_name", help="The remote for --cloud (default: core.remote)."
)
@click.option("-j", "--jobs", type=click.IntRange(min=1), help="Parallel requests for --cloud.")
@scope_flags
def status(targets: tuple[str, ...], recursive: bool, glob: bool, as_json: bool,
           keyword: str | None, marker: str | None, cloud: bool,
           remote_name: str | None, jobs: int | None, **scope: bool) -> None:  # fmt: skip
    """Show which stages changed since they last ran, and why (with
    --cloud: which cached outputs the cache or the remote lacks)."""
    if cloud:
        from trails.cli.transfer import cloud_status

        cloud_status(targets=targets, remote_name=remote_name, jobs=jobs, **scope)
    else:
        _stage_status(targets, recursive, glob, as_json, keyword, marker)


def _stage_status(targets: tuple[str, ...], recursive: bool, glob: bool, as_json: bool,
                  keyword: str | None, marker: str | None) -> None:  # fmt: skip
    from trails.repro.check import changes
    from trails.repro.selection import considered

    # -k/-m report exactly what they match, not what those stages need.
    only = bool(keyword or marker)
    project, _ = context()
    graph, stages = considered(project, targets, recursive, glob, single_item=only,
                               keyword=keyword, marker=marker)  # fmt: skip
    with_data = not (targets or only)
    report = changes(project, graph, stages, data=with_data)
    if not report:
        text = json.dumps(report, indent=2) if as_json else "Data and pipelines are up to date."
        click.echo(text)
        _keep_answer(project, graph, with_data, text + "\n")
        _keep_no_op(project, stages, with_data, text + "\n")
    elif as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        for address, why in report.items():
            click.echo(f"{address}:")
            for r in why:
                click.echo(f"\t{r}")


def _keep_answer(project: Project, graph: Graph, with_data: bool, text: str) -> None:
    """An up-to-date answer, for the file watcher's fast path to replay
    while nothing it read changes (``trails.fsmonitor.answers``)."""
    from trails import data
    from trails.fsmonitor import answers

    if answers.pending is None:
        return
    tracked = data.tracked(project) if with_data else []
    paths = [t.dvcfile for t in tracked] + [t.repo_path for t in tracked]
    for s in graph.stages:
        paths += [s.dvcfile, s.lock_path, *(d.repo_path for d in s.deps)]
        paths += [o.repo_path for o in s.outs] + [p.repo_path for p in s.params]
    answers.record(project.root, paths, text)


def _keep_no_op(project: Project, stages: list[Stage], with_data: bool, text: str) -> None:
    """An up-to-date answer, for ``trails.noop`` to replay while all it
    read keeps its stamp: the trees are those ``changes`` hashed."""
    from trails import data, noop

    checked = [s for s in stages if not s.frozen]
    paths = [d.repo_path for s in checked for d in s.deps]
    paths += [o.repo_path for s in checked for o in s.outs]
    paths += [t.repo_path for t in data.tracked(project)] if with_data else []
    noop.keep(project.root, text, paths)


@click.command()
@_targets
@click.option("--dot", "fmt", flag_value="dot", help="Graphviz dot format.")
@click.option("--mermaid", "fmt", flag_value="mermaid", help="Mermaid flowchart.")
@click.option("--md", "fmt", flag_value="md", help="Mermaid flowchart in a Markdown code block.")
def dag(targets: tuple[str, ...], recursive: bool, glob: bool, fmt: str | None) -> None:
    """Show the stages and their dependencies."""
    from trails.repro.selection import considered

    graph, stages = considered(context()[0], targets, recursive, glob, single_item=False)
    names = {s.address for s in stages}
    edges = [(u, s.address) for s in stages for u in graph.upstream[s.address] if u in names]
    if fmt == "dot":
        lines = ["strict digraph {"]
        lines += [f'\t"{a}";' for a in names]
        lines += [f'\t"{u}" -> "{d}";' for u, d in edges]
        click.echo("\n".join([*lines, "}"]))
    elif fmt in ("mermaid", "md"):
        ids = {s.address: f"node{i}" for i, s in enumerate(stages)}
        lines = ["flowchart TD"] + [f'\t{ids[s.address]}["{s.address}"]' for s in stages]
        lines += [f"\t{ids[u]}-->{ids[d]}" for u, d in edges]
        if fmt == "md":
            lines = ["```mermaid", *lines, "```"]
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
    from trails.repro import outputs

    changes = outputs.checkout(context()[0], targets, recursive, glob)
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
    from trails.repro import outputs
    from trails.repro.selection import considered

    project, _ = context()
    graph, stages = considered(project, targets, recursive, glob, single_item=True)
    confirm = (lambda _question: True) if force else prompt.confirm
    done = outputs.commit(project, graph, stages, confirm, click.echo)
    for address in done.stages:
        click.echo(f"Committed stage '{address}'")
    for lock in done.locks:
        click.echo(f"Updating lock file '{lock}'")
    if not done.stages:
        click.echo("Nothing to commit.")
