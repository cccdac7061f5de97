"""``trails exp``: the group, and apply, branch, list, remove, save,
rename, gc, push, pull (``run``: ``exp_run.py``; ``show``, ``diff``:
``exp_show.py``). Each parses, calls ``experiments/``, prints."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from trails.cli import prompt
from trails.cli.context import context
from trails.cli.exp_run import run
from trails.cli.exp_show import diff, show
from trails.cli.scope import keep_options, require_one

if TYPE_CHECKING:
    from trails.experiments.manage import Doomed
    from trails.experiments.refs import Exp
    from trails.git import Git
    from trails.project import Project

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def exp() -> None:
    """Run experiments and compare them (kept as Git refs under refs/exps)."""


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

    done = apply_exp(context()[0], experiment, force=force, echo=click.echo)
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
    kept = (
        git.select_commits(head=workspace, branches=all_branches, tags=all_tags,
                           all_commits=all_commits, since=since)
        if scoped
        else None
    )  # fmt: skip
    d = manage.doomed(git, kept, queued=queued)
    if not d.exps and not d.entries:
        click.echo("No experiments to remove." if scoped else "No experiments in the queue.")
    elif force or prompt.confirm(_gc_summary(d, scoped, "Remove") + "?"):
        d.remove(git)
        click.echo(_gc_summary(d, scoped, "Removed") + ".")


def _gc_summary(d: Doomed, scoped: bool, verb: str) -> str:
    if not scoped:
        return f"{verb} {len(d.entries)} queued experiment(s)"
    queued = f" and {len(d.entries)} queued" if d.entries else ""
    return f"{verb} {len(d.exps)} experiment(s){queued}"


def _data_options(verb: str) -> Callable[[F], F]:
    """``--no-cache``, ``-r`` and ``-j`` of ``exp push``/``pull``."""
    opts = [
        click.option("--no-cache", is_flag=True, help=f"Do not {verb} cached outputs, only refs."),
        click.option(
            "-r", "--remote", "remote_name", help="The data remote (default: core.remote)."
        ),
        click.option("-j", "--jobs", type=click.IntRange(min=1), help="Parallel data transfers."),
    ]

    def add(f: F) -> F:
        for opt in reversed(opts):
            f = opt(f)
        return f

    return add


def _move_data(project: Project, git: Git, exps: list[Exp], remote_name: str | None,
               jobs: int | None, *, push: bool) -> None:  # fmt: skip
    """The experiments' outputs to (``push``) or from the data remote."""
    from trails.remote import transfer

    r = transfer.data_remote(project, remote_name, jobs)
    if r is None:
        click.echo("Note: no data remote is set ('trails remote add -d NAME URL'): "
                   "only the refs travel.", err=True)  # fmt: skip
        return
    wanted = transfer.experiment_data(git, [e.sha for e in exps], [e.baseline for e in exps])
    if push:
        click.echo(transfer.summary(transfer.push(project, r, wanted), "pushed", "already there"))
        return
    result = transfer.fetch(project, r, wanted)
    click.echo(transfer.summary(result, "fetched", "already in the cache"))
    transfer.check_fetched(project, r, wanted, result)


@exp.command()
@click.argument("git_remote")
@click.argument("experiments", nargs=-1)
@click.option("-A", "--all-commits", is_flag=True, help="Push every experiment.")
@click.option("--rev", multiple=True, help="Push the experiments of these baselines.")
@click.option("-f", "--force", is_flag=True, help="Overwrite experiments on the remote.")
@_data_options("push")
def push(
    git_remote: str,
    experiments: tuple[str, ...],
    all_commits: bool,
    rev: tuple[str, ...],
    force: bool,
    no_cache: bool,
    remote_name: str | None,
    jobs: int | None,
) -> None:
    """Push experiment refs to a Git remote (plain 'git push' never sends them),
    and first their cached outputs (and each checkpoint's) to the data remote.
    Default: the experiments of HEAD."""
    from trails.experiments import remote

    project, git = context()
    to = remote.resolve(git, git_remote)
    exps = remote.to_push(git, experiments, all_commits, rev)
    if not exps:
        click.echo("No experiments to push.")
        return
    if not no_cache:
        _move_data(project, git, exps, remote_name, jobs, push=True)
    remote.push(git, to, exps, force=force)
    click.echo("Pushed experiment(s) " + ", ".join(e.name for e in exps) + f" to '{git_remote}'")


@exp.command()
@click.argument("git_remote")
@click.argument("experiments", nargs=-1)
@click.option("-A", "--all-commits", is_flag=True, help="Pull every experiment.")
@click.option("-f", "--force", is_flag=True, help="Overwrite local experiments.")
@_data_options("pull")
def pull(
    git_remote: str,
    experiments: tuple[str, ...],
    all_commits: bool,
    force: bool,
    no_cache: bool,
    remote_name: str | None,
    jobs: int | None,
) -> None:
    """Fetch experiment refs from a Git remote, then their cached outputs
    (and each checkpoint's) from the data remote, so that 'exp apply'
    restores them. Default: those of HEAD."""
    from trails.experiments import remote
    from trails.experiments.refs import ExperimentError

    project, git = context()
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
        if not no_cache:
            _move_data(project, git, pulled, remote_name, jobs, push=False)
    if refused:
        raise ExperimentError(
            f"{len(refused)} experiment(s) on '{git_remote}' were not pulled",
            hint="Their commits are not experiments of the baselines their names give; "
            "ask whoever pushed them, or pull the others by name.",
        )


exp.add_command(run)
exp.add_command(show)
exp.add_command(diff)
