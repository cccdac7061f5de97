"""``trails push``, ``fetch``, ``pull`` and ``status --cloud``: parse,
call ``remote.transfer``, print the summary line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from trails.cli.context import context

F = TypeVar("F", bound=Callable[..., Any])


def transfer_options(f: F) -> F:
    """TARGETS, -r, -j and the scope flags, shared by the four commands."""
    for opt in reversed([
        click.argument("targets", nargs=-1),
        click.option("-r", "--remote", "remote_name", help="The remote (default: core.remote)."),
        click.option("-j", "--jobs", type=click.IntRange(min=1), help="Parallel transfers."),
        click.option("-a", "--all-branches", is_flag=True, help="Also every branch head's data."),
        click.option("-T", "--all-tags", is_flag=True, help="Also every tag's data."),
        click.option("-A", "--all-commits", is_flag=True, help="Also every commit's data."),
    ]):  # fmt: skip
        f = opt(f)
    return f


def _start(targets: tuple[str, ...], remote_name: str | None, jobs: int | None,
           all_branches: bool, all_tags: bool, all_commits: bool) -> tuple[Any, ...]:  # fmt: skip
    """The project, the opened remote and what the command is about; the
    remote is checked before anything is read or sent."""
    from trails import remote
    from trails.remote import transfer

    project = context()[0]
    r = remote.open(project, remote_name, jobs=jobs)
    scope = transfer.Scope(targets, all_branches, all_tags, all_commits)
    return project, r, transfer.needed(project, scope)


def _files(n: int) -> str:
    return f"{n:,} file" + ("" if n == 1 else "s")


@click.command()
@transfer_options
def push(**kw: Any) -> None:
    """Send the cached outputs (of TARGETS, or of the workspace's pipeline
    and .dvc files; with -a/-T/-A of other commits too) to a remote: only
    what it lacks."""
    from trails.remote import transfer

    project, r, wanted = _start(**kw)
    result = transfer.push(project, r, wanted)
    if result.lost:
        click.echo(f"Warning: remote '{r.name}' no longer has {result.lost:,} index file(s) it "
                   "had (emptied or replaced?): what it lost is sent again.", err=True)  # fmt: skip
    click.echo(f"{_files(result.sent)} pushed, {result.already:,} already there.")
    if result.absent:
        click.echo(f"Warning: {len(result.absent):,} object(s) are not in the cache and were not "
                   f"pushed: {transfer.paths(wanted, result.absent)}", err=True)  # fmt: skip


@click.command()
@transfer_options
def fetch(**kw: Any) -> None:
    """Get the cached outputs the cache lacks from a remote (the workspace
    is not changed: 'trails pull' also checks them out)."""
    _fetch(**kw)


def _fetch(**kw: Any) -> None:
    from trails.remote import transfer

    project, r, wanted = _start(**kw)
    result = transfer.fetch(project, r, wanted)
    click.echo(f"{_files(result.sent)} fetched, {result.already:,} already in the cache.")
    transfer.check_fetched(project, r, wanted, result)


@click.command()
@transfer_options
@click.pass_context
def pull(ctx: click.Context, /, **kw: Any) -> None:
    """Fetch, then check out: the workspace gets the outputs its dvc.lock and
    .dvc files record. Nothing is checked out if anything could not be fetched."""
    from trails.cli.pipeline import checkout

    _fetch(**kw)
    ctx.invoke(checkout, targets=kw["targets"], recursive=False, glob=False)


def cloud_status(**kw: Any) -> None:
    """``status --cloud``: what the cache and the remote each lack."""
    from trails.remote import transfer

    project, r, wanted = _start(**kw)
    report = transfer.cloud_status(project, r, wanted)
    if not report:
        click.echo(f"Cache and remote '{r.name}' are in sync.")
        return
    for path, state in sorted(report.items()):
        click.echo(f"\t{state + ':':<16}{path}")
