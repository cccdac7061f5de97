"""``trails daemon``: the project's file watcher (``trails.fsmonitor``)."""

from __future__ import annotations

import click

from trails.project import Project


@click.group()
def daemon() -> None:
    """The file watcher: a background process fed by inotify that lets a
    no-op 'trails status' answer without walking the tree. Opt in with
    'trails daemon start', or 'core.fsmonitor = true' in .dvc/config (then
    'status' starts it itself). 'status' gives the same answers without it."""


@daemon.command()
def start() -> None:
    """Start the file watcher of this project (if none runs) and wait until
    it watches every folder."""
    from trails.fsmonitor import daemon as service

    info = service.start(Project.find().root)
    click.echo(f"File watcher running (pid {info.pid}, {info.watches} folders watched).")


@daemon.command()
def stop() -> None:
    """Stop the file watcher of this project."""
    from trails.fsmonitor import daemon as service

    pid = service.stop(Project.find().root)
    click.echo("No file watcher was running." if pid is None else f"File watcher {pid} stopped.")


@daemon.command()
def status() -> None:
    """Say whether the file watcher runs, and what it watches."""
    from trails.fsmonitor import daemon as service

    info = service.info(Project.find().root)
    if info is None:
        click.echo("No file watcher is running.")
        return
    click.echo(f"File watcher running (pid {info.pid}): {info.state}, "
               f"{info.watches} folders watched, {info.overflows} event overflows.")  # fmt: skip
    if info.reason:
        click.echo(f"Warning: {info.reason}", err=True)
