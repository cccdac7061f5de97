"""``trails queue``: look at and manage the experiment queue."""

from __future__ import annotations

import time

import click

from trails.project import Project


@click.group()
def queue() -> None:
    """Manage queued experiments (see 'trails exp run --queue')."""


@queue.command()
def status() -> None:
    """List queued, running and failed experiments."""
    from trails.experiments import queue as q
    from trails.git import Git

    project = Project.find()
    git = Git(project.root)
    rows = [(e, "failed" if e.failed else _state(project, e)) for e in
            q.entries(git) + q.entries(git, failed=True)]  # fmt: skip
    if not rows:
        click.echo("No experiments in the queue.")
        return
    click.echo(f"{'Task':<9} {'Name':<16} {'Created':<17} Status")
    for e, state in rows:
        name = q.args_of(git, e.sha).get("name") or "-"
        created = time.strftime("%b %d %H:%M", time.localtime(e.created))
        click.echo(f"{e.id:<9} {name:<16} {created:<17} {state}")


def _state(project: Project, entry: object) -> str:
    from trails.experiments import queue as q

    assert isinstance(entry, q.Entry)
    rundir = q.run_dir(project.root, entry.id)
    if (rundir / "lock").exists():
        stage = rundir / "stage"
        return "running" + (f" ({stage.read_text()})" if stage.exists() else "")
    return "queued"


@queue.command()
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Remove queued and failed entries.")
@click.option("--queued", is_flag=True, help="Remove every queued entry.")
@click.option("--failed", is_flag=True, help="Remove every failed entry.")
def remove(ids: tuple[str, ...], all_: bool, queued: bool, failed: bool) -> None:
    """Remove entries from the queue."""
    from trails.experiments import queue as q
    from trails.git import Git

    project = Project.find()
    git = Git(project.root)
    if not (ids or all_ or queued or failed):
        raise click.UsageError("name entries, or use --all, --queued or --failed")
    targets = [q.find(git, i) for i in ids]
    if all_ or queued:
        targets += q.entries(git)
    if all_ or failed:
        targets += q.entries(git, failed=True)
    for e in {t.ref: t for t in targets}.values():
        q.remove(git, e)
        click.echo(f"Removed queued experiment {e.id}")


@queue.command()
@click.argument("entry_id")
def logs(entry_id: str) -> None:
    """Print the log of a queued, running or failed experiment."""
    from trails.errors import TrailsError
    from trails.experiments import queue as q

    project = Project.find()
    rundir = q.run_dir(project.root, entry_id)
    if not rundir.is_dir():
        from trails.git import Git

        rundir = q.run_dir(project.root, q.find(Git(project.root), entry_id).id)
    log = rundir / "output.log"
    if not log.exists():
        raise TrailsError(f"experiment {entry_id} has no log yet (it has not run)")
    click.echo(log.read_text(errors="replace"), nl=False)
