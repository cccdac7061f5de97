"""Data commands: ``add``, ``remove``, ``unprotect``."""

from __future__ import annotations

from pathlib import Path

import click

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

    project = Project.find()
    files = data.add(project, targets, no_commit=no_commit, out=out, glob=glob, echo=click.echo)
    if files and project.has_scm:
        click.echo(f"\nTo track the changes with git, run:\n\n\tgit add {' '.join(files)}")


@click.command()
@click.argument("targets", nargs=-1, required=True)
@click.option("--outs", is_flag=True, help="Also delete the data from the workspace.")
def remove(targets: tuple[str, ...], outs: bool) -> None:
    """Stop tracking data: delete TARGET.dvc (the data stays unless --outs)."""
    import shutil

    from trails import data

    project = Project.find()
    items = []
    for t in targets:
        rel = project.rel(Path(t).absolute())
        dvcfile = rel if rel.endswith(data.SUFFIX) else rel + data.SUFFIX
        if not (project.root / dvcfile).is_file():
            raise data.DataError(f"'{dvcfile}' does not exist", hint="Name a .dvc file.")
        items.append(data.read(project, dvcfile))
    for item in items:
        (project.root / item.dvcfile).unlink()
        path = project.root / item.repo_path
        if outs and path.exists():
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        click.echo(f"Removed '{item.dvcfile}'" + (f" and '{item.repo_path}'" if outs else ""))


@click.command()
@click.argument("targets", nargs=-1, required=True)
def unprotect(targets: tuple[str, ...]) -> None:
    """Make tracked data editable in place (links into the read-only cache
    become writable copies)."""
    from trails import data

    for t in targets:
        p = Path(t)
        if not p.exists():
            raise data.DataError(f"'{t}' does not exist")
        n = data.unprotect(p)
        click.echo(f"Unprotected '{t}' ({n} files copied)")
