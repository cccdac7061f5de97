"""``trails exp``: run, show, diff, apply, branch, list, remove, save."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from trails.cli.context import context
from trails.cli.pipeline import repro
from trails.cli.scope import keep_options, require_one
from trails.project import Project

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def exp() -> None:
    """Run experiments and compare them (kept as Git refs under refs/exps)."""


def _comma(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


# `exp run` takes every `repro` option plus its own.
_repro_params = [p for p in repro.params if p.name not in ("force",)]


@exp.command("run", params=list(_repro_params))
@click.option(
    "-S",
    "--set-param",
    "set_params",
    multiple=True,
    metavar="[FILE:]KEY=VALUE",
    help="Set a param before running (repeatable; comma lists and sweeps allowed).",
)
@click.option("-n", "--name", help="Experiment name (default: exp- and 5 hex of its content).")
@click.option("-m", "--message", help="Commit message of the experiment.")
@click.option(
    "-f",
    "--force",
    is_flag=True,
    help="Run every stage, and overwrite an experiment of the same name.",
)
@click.option("--strict-params", is_flag=True, help="A -S key missing from its file is an error.")
@click.option("--reset", is_flag=True, help="Discard earlier checkpoints and start over.")
@click.option(
    "-r",
    "--rev",
    "from_rev",
    metavar="CHECKPOINT",
    help="With --queue or --temp: continue from this checkpoint.",
)
@click.option("--queue", is_flag=True, help="Queue the experiment instead of running it.")
@click.option("--run-all", is_flag=True, help="Run every queued experiment (-j N at once).")
@click.option("--temp", is_flag=True, help="Run in a temporary folder, not the workspace.")
@click.option(
    "-C",
    "--copy-paths",
    multiple=True,
    metavar="PATH",
    help="Copy this untracked or ignored path into the temporary folder.",
)
def run(
    set_params: tuple[str, ...],
    name: str | None,
    message: str | None,
    force: bool,
    strict_params: bool,
    reset: bool,
    from_rev: str | None,
    queue: bool,
    run_all: bool,
    temp: bool,
    copy_paths: tuple[str, ...],
    targets: tuple[str, ...],
    **flags: Any,
) -> None:
    """Run the pipeline and record the result as an experiment (in the
    workspace, or queued, or in a temporary folder)."""
    if run_all:  # started by trails.entry already, unless called another way
        from trails.experiments import forkserver

        forkserver.start()
    _check_guide_usage(set_params, targets, bool(flags.get("dry")), queue or temp or run_all)
    if temp and queue:
        raise click.UsageError("--temp and --queue exclude each other: queued runs are temporary")
    if from_rev and reset:
        raise click.UsageError("--rev continues from a checkpoint; --reset starts over: pick one")
    if from_rev and not (queue or temp):
        raise click.UsageError(
            "--rev needs --queue or --temp (in the workspace: 'trails exp apply' it, then run)"
        )
    project = Project.find()
    if run_all and not (queue or temp):
        # Before importing the pipeline machinery: this process only
        # schedules, and the first experiment waits for it.
        _run_all(project, int(flags["jobs"]))
        return
    from trails.experiments.run import ExpRunOptions
    from trails.repro.selection import ReproOptions

    opts = ExpRunOptions(
        repro=ReproOptions(targets=targets, force=force, **flags),
        set_params=set_params,
        name=name,
        message=message,
        force=force,
        strict_params=strict_params,
        reset=reset,
    )
    if queue or temp:
        from trails.experiments.queue import enqueue_runs
        from trails.git import Git

        ids = enqueue_runs(project, Git(project.root), opts, from_rev, copy_paths,
                           echo=click.echo, announce=not temp)  # fmt: skip
        if temp:
            _run_temp(project, ids[0])
            return
    if run_all:
        _run_all(project, opts.repro.jobs)
        return
    if queue:
        return
    from trails.experiments.run import exp_run
    from trails.runner import SubprocessRunner

    confirm = (lambda q: click.confirm(q)) if opts.repro.interactive else None
    _, rec = exp_run(project, opts, SubprocessRunner(), click.echo, confirm)
    if rec is None:
        click.echo("\nDry run: nothing was run, written or recorded.")
        return
    if rec.new:
        click.echo(f"\nRan experiment(s): {rec.name}")
    else:
        click.echo(f"\nExperiment '{rec.name}' already records this workspace; nothing new.")
    click.echo("Experiment results have been applied to your workspace.")


def _check_guide_usage(
    set_params: tuple[str, ...], targets: tuple[str, ...], dry: bool, elsewhere: bool
) -> None:
    """Usage errors before anything is read. ``--dry`` changes nothing, so
    it cannot queue or start runs. The guide writes ``-S
    myparams.toml:learning_rate = 0.0001``: the shell makes that three
    words, and the last two would be read as stage names; say how to write
    it instead."""
    if dry and elsewhere:
        raise click.UsageError(
            "--dry changes nothing, so it cannot queue or start runs: drop --queue/--temp/--run-all"
        )
    at = next((i for i, t in enumerate(targets) if t.startswith("=")), None)
    if at is None:
        return
    key = set_params[-1] if set_params else "KEY"
    value = targets[at].removeprefix("=") or (targets[at + 1] if at + 1 < len(targets) else "VALUE")
    raise click.UsageError(
        f"-S takes key=value as one word (no spaces around '='): "
        f"write -S {key}={value}, or quote it: -S '{key}={value}'"
    )


def _run_temp(project: Project, ref: str) -> None:
    from trails.errors import TrailsError
    from trails.experiments import queue
    from trails.experiments.executor import run_entry
    from trails.git import Git
    from trails.runner import SubprocessRunner

    git = Git(project.root)
    sha = git.rev_parse(ref) or ""
    entry = queue.Entry(ref, sha, 0)
    try:
        # A recorded run deletes the entry's ref itself (one ref transaction).
        rec = run_entry(project, git, entry, SubprocessRunner(), click.echo)
    except (KeyboardInterrupt, TrailsError):
        queue.remove(git, entry)
        raise
    click.echo(f"\nRan experiment(s): {rec.name}")


def _live_display(ids: list[str], jobs: int) -> Any:
    """A live table on a terminal, else the plain lines."""
    from trails.cli.display import LiveQueueDisplay

    return LiveQueueDisplay(ids, jobs, click.echo)


def _run_all(project: Project, jobs: int) -> None:
    from trails.errors import TrailsError
    from trails.experiments import pool, queue
    from trails.git import Git

    git = Git(project.root)
    if not queue.entries(git):
        click.echo("No experiments in the queue.")
        return
    cpus = os.cpu_count() or 1
    if jobs > cpus:
        click.echo(f"Warning: --jobs {jobs} is more than the {cpus} CPUs of this machine.")
    try:
        result = pool.run_all(project, jobs, click.echo, show=_live_display)
    except KeyboardInterrupt:
        click.echo("Interrupted: unfinished experiments stay in the queue.", err=True)
        raise
    if result.done:
        click.echo("\nRan experiment(s): " + ", ".join(n for _, n in result.done))
    if result.failed:
        raise TrailsError(
            f"{len(result.failed)} experiment(s) failed: " + ", ".join(i for i, _ in result.failed),
            hint="'trails queue logs <id>' shows a log; the others were recorded.",
        )


def _show_options(f: F) -> F:
    opts = [
        click.option("--no-pager", is_flag=True, help="Never page the output."),
        click.option("--no-timestamp", is_flag=True, help="Hide the Created column."),
        click.option(
            "--include-metrics", multiple=True, help="Only these metrics (globs, commas)."
        ),
        click.option(
            "--exclude-metrics", multiple=True, help="Hide these metrics (globs, commas)."
        ),
        click.option("--include-params", multiple=True, help="Only these params (globs, commas)."),
        click.option("--exclude-params", multiple=True, help="Hide these params (globs, commas)."),
        click.option("--keep", help="Only columns matching this regex."),
        click.option("--drop", help="Hide columns matching this regex."),
        click.option("--param-deps", is_flag=True, help="Only params that stages depend on."),
        click.option("--only-changed", is_flag=True, help="Only columns whose values differ."),
        click.option("--sort-by", help="Sort experiments by this metric or param."),
        click.option(
            "--sort-order", type=click.Choice(["asc", "desc"]), default="asc", show_default=True
        ),
        click.option("-a", "--all-branches", is_flag=True, help="Baselines: every branch head."),
        click.option("-T", "--all-tags", is_flag=True, help="Baselines: every tag."),
        click.option("-A", "--all-commits", is_flag=True, help="Baselines: every commit."),
        click.option(
            "-n",
            "--num",
            type=int,
            default=1,
            show_default=True,
            help="Baselines: the last N commits of HEAD.",
        ),
        click.option("--rev", multiple=True, help="Baselines: these revisions."),
        click.option("--sha", is_flag=True, help="Show commit hashes instead of names."),
        click.option("--hide-queued", is_flag=True, help="Hide queued experiments."),
        click.option("--hide-failed", is_flag=True, help="Hide failed experiments."),
        click.option(
            "--precision",
            type=click.IntRange(min=1),
            help="Significant digits of numbers (default 5; --csv: as stored).",
        ),
        click.option("--json", "as_json", is_flag=True, help="Print rows as JSON."),
        click.option("--csv", "as_csv", is_flag=True, help="Print a CSV table."),
        click.option("--md", is_flag=True, help="Print a Markdown table."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@exp.command()
@_show_options
def show(
    no_pager: bool,
    as_json: bool,
    as_csv: bool,
    md: bool,
    all_branches: bool,
    all_tags: bool,
    all_commits: bool,
    num: int,
    rev: tuple[str, ...],
    sha: bool,
    hide_queued: bool,
    hide_failed: bool,
    **kw: Any,
) -> None:
    """Compare experiments: a table of their params and metrics per baseline."""
    from trails.experiments import table
    from trails.experiments.rows import collect_rows, rows_json, select_baselines

    project, git = context()
    baselines = select_baselines(git, all_branches, all_tags, all_commits, num, rev)
    rows, files = collect_rows(
        project, baselines, sha, queued=not hide_queued, failed=not hide_failed
    )
    if as_json:
        click.echo(json.dumps(rows_json(rows), indent=2, default=str))
        return
    for k in ("include_metrics", "exclude_metrics", "include_params", "exclude_params"):
        kw[k] = _comma(kw[k])
    precision = kw.pop("precision")
    opts = table.ShowOptions(sha=sha, precision=precision or 5, **kw)
    if as_csv:
        headers, cells = table.csv_table(rows, files, opts, precision)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(headers)
        w.writerows(cells)
        click.echo(buf.getvalue(), nl=False)
        return
    headers, cells = table.build(rows, files, opts)
    if md:
        click.echo("| " + " | ".join(headers) + " |")
        click.echo("|" + "|".join("---" for _ in headers) + "|")
        for r in cells:
            click.echo("| " + " | ".join(r) + " |")
        return
    _print_table(headers, cells, pager=not no_pager and sys.stdout.isatty())


def _print_table(headers: list[str], cells: list[list[str]], pager: bool) -> None:
    from trails.cli.render import table

    text = table(headers, cells)
    if pager:
        click.echo_via_pager(text + "\n")
    else:
        click.echo(text)


@exp.command()
@click.argument("a_rev", required=False)
@click.argument("b_rev", required=False)
@click.option("--all", "all_", is_flag=True, help="Show unchanged values too.")
@click.option("--param-deps", is_flag=True, help="Only params that stages depend on.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--md", is_flag=True, help="Print a Markdown table.")
@click.option("--precision", type=int, default=5, show_default=True)
def diff(
    a_rev: str | None,
    b_rev: str | None,
    all_: bool,
    param_deps: bool,
    as_json: bool,
    md: bool,
    precision: int,
) -> None:
    """Params and metrics that differ: HEAD vs the workspace, A vs the
    workspace, or A vs B (A and B: experiments or Git revisions)."""
    from trails.experiments.rows import diff_rows

    project, git = context()
    d = diff_rows(project, git, a_rev, b_rev, all_=all_, param_deps=param_deps,
                  precision=precision)  # fmt: skip
    if as_json:
        click.echo(json.dumps(d.doc, indent=2, default=str))
    elif not d.cells:
        click.echo(f"No changes between {d.a_name} and {d.b_name}.")
    elif md:
        click.echo(f"| Path | Key | {d.a_name} | {d.b_name} | Change |\n|---|---|---|---|---|")
        for r in d.cells:
            click.echo("| " + " | ".join(r) + " |")
    else:
        _print_table(["Path", "Key", d.a_name, d.b_name, "Change"], d.cells, pager=False)


@exp.command()
@click.argument("experiment")
@click.option(
    "-f",
    "--force/--no-force",
    default=True,
    help="Overwrite the workspace (the default; edits recorded nowhere are stashed first). "
    "--no-force: refuse if the workspace holds such edits.",
)
def apply(experiment: str, force: bool) -> None:
    """Put an experiment's files and outputs into the workspace."""
    from trails.experiments.apply import apply as apply_exp

    done = apply_exp(Project.find(), experiment, force=force, echo=click.echo)
    if done.stashed:
        click.echo(
            f"Saved your uncommitted changes as stash {done.stashed[:7]} "
            "('git stash apply' brings them back)."
        )
    click.echo(f"Changes for experiment '{done.exp.name}' have been applied to your workspace.")


@exp.command()
@click.argument("experiment")
@click.argument("branch", required=False)
def branch(experiment: str, branch: str | None) -> None:
    """Make a Git branch of an experiment (default name: <name>-branch)."""
    from trails.experiments import manage

    _, git = context()
    name, e = manage.branch(git, experiment, branch)
    click.echo(f"Git branch '{name}' has been created from experiment '{e.name}'.")
    click.echo(f"To switch to the new branch run:\n\n\tgit checkout {name}")


@exp.command("list")
@click.argument("git_remote", required=False)
@click.option("--rev", multiple=True, help="Experiments of these baselines.")
@click.option("-A", "--all-commits", is_flag=True, help="Experiments of every baseline.")
@click.option("-n", "--num", type=int, default=1, show_default=True)
@click.option("--name-only", is_flag=True, help="Only names.")
def list_cmd(
    git_remote: str | None, rev: tuple[str, ...], all_commits: bool, num: int, name_only: bool
) -> None:
    """List experiments by baseline (of this repo, or of GIT_REMOTE)."""
    from trails.experiments import manage, remote
    from trails.experiments.refs import list_exps
    from trails.experiments.rows import select_baselines

    _, git = context()
    if git_remote:
        exps = remote.list_remote(git, remote.resolve(git, git_remote))
    else:
        exps = list_exps(git)
    wanted = None if all_commits else set(select_baselines(git, False, False, False, num, rev))
    for base, names in manage.by_baseline(exps, wanted).items():
        if name_only:
            click.echo("\n".join(names))
        else:
            click.echo(f"{base[:7]}:")
            click.echo("\n".join(f"\t{n}" for n in names))


@exp.command()
@click.argument("experiments", nargs=-1)
@click.option("--rev", multiple=True, help="Remove the experiments of these baselines.")
@click.option("-A", "--all-commits", is_flag=True, help="Remove every experiment.")
@click.option("--queue", "queued", is_flag=True, help="Remove every queued experiment.")
def remove(
    experiments: tuple[str, ...], rev: tuple[str, ...], all_commits: bool, queued: bool
) -> None:
    """Remove experiments (their refs; cached outputs stay until gc)."""
    from trails.experiments import manage

    _, git = context()
    if not (experiments or rev or all_commits or queued):
        raise click.UsageError("name experiments, or use --rev, -A or --queue")
    manage.remove(git, experiments, rev, all_commits, queued, click.echo)


# The reference tool's short names.
exp.add_command(list_cmd, "ls")
exp.add_command(remove, "rm")


@exp.command()
@click.option("-n", "--name", help="Experiment name.")
@click.option(
    "-I",
    "--include-untracked",
    "include",
    multiple=True,
    help="Also record this ignored path (repeatable).",
)
@click.option("-m", "--message", help="Commit message.")
@click.option("-f", "--force", is_flag=True, help="Overwrite an experiment of the same name.")
def save(name: str | None, include: tuple[str, ...], message: str | None, force: bool) -> None:
    """Record the workspace as an experiment without running anything."""
    from trails.experiments.record import record

    _, git = context()
    rec = record(git, name=name, message=message, force=force, include=list(include))
    click.echo(
        f"Experiment has been saved as: {rec.name}"
        if rec.new
        else f"Experiment '{rec.name}' already records this workspace."
    )


@exp.command()
@click.argument("experiment")
@click.argument("new_name")
def rename(experiment: str, new_name: str) -> None:
    """Rename an experiment."""
    from trails.experiments import manage

    _, git = context()
    e = manage.rename(git, experiment, new_name)
    click.echo(f"Renamed experiment '{e.name}' to '{new_name}'")


@exp.command()
@keep_options("the experiments")
@click.option("--date", "since", help="Keep experiments of commits from this date on (YYYY-MM-DD).")
@click.option("--queued", is_flag=True, help="Remove every queued experiment (alone: only those).")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
def gc(
    workspace: bool,
    all_branches: bool,
    all_tags: bool,
    all_commits: bool,
    since: str | None,
    queued: bool,
    force: bool,
) -> None:
    """Remove every experiment whose baseline is not kept; with --queued
    alone, only empty the queue (the guide's way to clean it up)."""
    from trails.experiments import manage

    scoped = any((workspace, all_branches, all_tags, all_commits, since))
    if not queued:
        require_one(scoped, also=", --date, or --queued to empty the queue")
    _, git = context()
    d = manage.doomed(
        git,
        scoped=scoped,
        workspace=workspace,
        all_branches=all_branches,
        all_tags=all_tags,
        all_commits=all_commits,
        since=since,
        queued=queued,
    )
    doomed, entries = d.exps, d.entries
    if not doomed and not entries:
        click.echo("No experiments to remove." if scoped else "No experiments in the queue.")
        return
    question = f"Remove {len(doomed)} experiment(s)" + (
        f" and {len(entries)} queued" if entries else "") + "?"  # fmt: skip
    if not scoped:
        question = f"Remove {len(entries)} queued experiment(s)?"
    if not force and not click.confirm(question):
        return
    d.remove(git)
    if not scoped:
        click.echo(f"Removed {len(entries)} queued experiment(s).")
        return
    click.echo(f"Removed {len(doomed)} experiment(s)"
               + (f" and {len(entries)} queued" if entries else "") + ".")  # fmt: skip


@exp.command()
@click.argument("git_remote")
@click.argument("experiments", nargs=-1)
@click.option("-A", "--all-commits", is_flag=True, help="Push every experiment.")
@click.option("--rev", multiple=True, help="Push the experiments of these baselines.")
@click.option("-f", "--force", is_flag=True, help="Overwrite experiments on the remote.")
def push(
    git_remote: str,
    experiments: tuple[str, ...],
    all_commits: bool,
    rev: tuple[str, ...],
    force: bool,
) -> None:
    """Push experiment refs to a Git remote (plain 'git push' never sends them).
    Default: the experiments of HEAD."""
    from trails.experiments import remote

    _, git = context()
    to = remote.resolve(git, git_remote)
    exps = remote.to_push(git, experiments, all_commits, rev)
    if not exps:
        click.echo("No experiments to push.")
        return
    remote.push(git, to, exps, force=force)
    click.echo("Pushed experiment(s) " + ", ".join(e.name for e in exps) + f" to '{git_remote}'")


@exp.command()
@click.argument("git_remote")
@click.argument("experiments", nargs=-1)
@click.option("-A", "--all-commits", is_flag=True, help="Pull every experiment.")
@click.option("-f", "--force", is_flag=True, help="Overwrite local experiments.")
def pull(git_remote: str, experiments: tuple[str, ...], all_commits: bool, force: bool) -> None:
    """Fetch experiment refs from a Git remote. Default: those of HEAD."""
    from trails.experiments import remote
    from trails.experiments.refs import ExperimentError

    _, git = context()
    source = remote.resolve(git, git_remote)
    wanted = remote.to_pull(git, source, git_remote, experiments, all_commits)
    if not wanted:
        click.echo("No experiments to pull.")
        return
    refused = remote.fetch(git, source, wanted, force=force)
    for e in refused:
        click.echo(f"Not pulled: '{e.name}' on '{git_remote}' does not descend from its "
                   f"baseline {e.baseline[:7]}", err=True)  # fmt: skip
    pulled = [e for e in wanted if e not in refused]
    if pulled:
        click.echo("Pulled experiment(s) " + ", ".join(e.name for e in pulled))
    if refused:
        raise ExperimentError(
            f"{len(refused)} experiment(s) on '{git_remote}' were not pulled",
            hint="Their commits are not experiments of the baselines their names give; "
            "ask whoever pushed them, or pull the others by name.",
        )
