"""Data commands: ``add``, ``remove``, ``unprotect``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from trails.cli import prompt
from trails.cli.context import context
from trails.cli.scope import keep_options, require_one

if TYPE_CHECKING:
    from trails import gc as gc_mod
    from trails.project import Project


@click.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--no-commit", is_flag=True, help="Hash and record, but do not store in the cache.")
@click.option("-o", "--out", help="Move the data here first (one target only).")
@click.option("--glob", is_flag=True, help="Targets are shell patterns.")
def add(targets: tuple[str, ...], no_commit: bool, out: str | None, glob: bool) -> None:
    """Track data too large for Git: store it in the cache, write PATH.dvc,
    git-ignore PATH."""
    from trails import data

    project, _ = context()
    files = data.add(project, targets, no_commit=no_commit, out=out, glob=glob, echo=click.echo)
    if files and project.has_scm:
        click.echo(f"\nTo track the changes with git, run:\n\n\tgit add {' '.join(files)}")


@click.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--outs", is_flag=True, help="Also delete the data from the workspace.")
def remove(targets: tuple[str, ...], outs: bool) -> None:
    """Stop tracking data: delete TARGET.dvc (the data stays unless --outs)."""
    from trails import confine, data

    project, _ = context()
    items = []
    for t in targets:
        rel = data.target(project, t, "remove")
        dvcfile = rel if rel.endswith(data.SUFFIX) else rel + data.SUFFIX
        if not (project.root / dvcfile).is_file():
            raise data.DataError(f"'{dvcfile}' does not exist", hint="Name a .dvc file.")
        items.append(data.read(project, dvcfile))
    for item in items:
        (project.root / item.dvcfile).unlink()
        path = project.root / item.repo_path
        if outs:
            confine.remove(path)  # a link is removed, never what it points to
        click.echo(f"Removed '{item.dvcfile}'" + (f" and '{item.repo_path}'" if outs else ""))


@click.command()
@click.argument("targets", nargs=-1, required=True)
def unprotect(targets: tuple[str, ...]) -> None:
    """Make tracked data editable in place (links into the read-only cache
    become writable copies)."""
    from trails import data

    project, _ = context()
    paths = [project.root / data.target(project, t, "unprotect") for t in targets]
    for t, p in zip(targets, paths, strict=True):
        if not p.exists():
            raise data.DataError(f"'{t}' does not exist")
    for t, p in zip(targets, paths, strict=True):
        n = data.unprotect(p)
        click.echo(f"Unprotected '{t}' ({n} files copied)")


@click.command()
@keep_options("the cache objects")
@click.option(
    "--all-experiments",
    is_flag=True,
    help="Keep what every experiment uses (always done; accepted for compatibility).",
)
@click.option("--dry", is_flag=True, help="Only say what would be removed.")
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
def gc(
    workspace: bool,
    all_branches: bool,
    all_tags: bool,
    all_commits: bool,
    all_experiments: bool,
    dry: bool,
    force: bool,
) -> None:
    """Remove cache objects that nothing kept refers to. The workspace,
    experiments, queued and running experiments are always kept."""
    from trails import gc as gc_mod

    require_one(workspace, all_branches, all_tags, all_commits)
    project, git = context()
    scm = git if project.has_scm else None
    scope = gc_mod.Scope(workspace, all_branches, all_tags, all_commits)
    p = gc_mod.planned(project, scm, scope)
    for w in p.warnings:
        click.echo(f"Warning: {w}", err=True)
    if not p.doomed:
        click.echo(f"Nothing to remove; {p.kept} objects kept.")
    elif dry:
        _dry_run(project, p)
    elif force or prompt.confirm(f"Remove {_removable(p)}?"):
        click.echo(f"Removed {_removable(gc_mod.collect(project, scm, scope))}.")


def _removable(p: gc_mod.Plan) -> str:
    return f"{len(p.doomed)} cache objects ({p.size / 1e6:.1f} MB); {p.kept} kept"


def _dry_run(project: Project, p: gc_mod.Plan) -> None:
    from trails import cachelock

    if cachelock.busy(project.cache_dir):
        busy = "a pipeline or experiment is storing into the cache now"
        click.echo(f"Warning: {busy}; what it has stored may be listed here, "
                   "and gc would refuse", err=True)  # fmt: skip
    click.echo(f"Would remove {_removable(p)}.")
