"""``trails queue``: look at and manage the experiment queue."""

from __future__ import annotations

import time

import click

from trails.cli.context import context


@click.group()
def queue() -> None:
    """Manage queued experiments (see 'trails exp run --queue')."""


@queue.command()
def status() -> None:
    """List queued, running, failed and succeeded experiments."""
    from trails.experiments import queue as q

    project, git = context()
    listed = q.listing(git)
    states = q.run_states(project.root, [x.entry for x in listed])
    rows = [(x.entry.id, x.name or "?", x.entry.created, state)
            for x, state in zip(listed, states, strict=True)]  # fmt: skip
    # Read after the refs: a worker writes its result before its entry's
    # ref goes, so an entry recorded meanwhile has both (listed once).
    listed_ids = {x.entry.id for x in listed}
    rows += [(d.id, d.name or "-", d.created, "success")
             for d in q.succeeded(project.root, _warn) if d.id not in listed_ids]  # fmt: skip
    if not rows:
        click.echo("No experiments in the queue.")
        return
    lines = [f"{'Task':<9} {'Name':<16} {'Created':<17} Status"]
    for entry_id, name, created, state in rows:
        when = time.strftime("%b %d %H:%M", time.localtime(created)) if created else "-"
        lines.append(f"{entry_id:<9} {name:<16} {when:<17} {state}")
    click.echo("\n".join(lines))


def _warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


@queue.command()
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Remove queued, failed and succeeded entries.")
@click.option("--queued", is_flag=True, help="Remove every queued entry.")
@click.option("--failed", is_flag=True, help="Remove every failed entry.")
@click.option("--success", is_flag=True, help="Forget every succeeded entry (and its log).")
def remove(ids: tuple[str, ...], all_: bool, queued: bool, failed: bool, success: bool) -> None:
    """Remove entries from the queue (with their logs). A succeeded entry's
    experiment stays: only the entry's record and log go."""
    from trails.experiments import queue as q

    project, git = context()
    if not (ids or all_ or queued or failed or success):
        raise click.UsageError("name entries, or use --all, --queued, --failed or --success")
    gone = q.removal(project.root, git, ids, queued=all_ or queued, failed=all_ or failed,
                     success=all_ or success, warn=_warn)  # fmt: skip
    for e in gone.entries:
        q.remove(git, e)
        click.echo(f"Removed queued experiment {e.id}")
    for entry_id in gone.succeeded:
        q.forget(project.root, entry_id)
        click.echo(f"Removed succeeded experiment {entry_id} from the queue")


@queue.command()
@click.argument("entry_id")
@click.option("-f", "--follow", is_flag=True, help="Keep printing while the experiment runs.")
def logs(entry_id: str, follow: bool) -> None:
    """Print the log of a running, failed or succeeded experiment: ENTRY_ID
    is its id (a prefix), or the name it was queued with or ran as."""
    from trails.experiments import queue as q

    project, git = context()
    for chunk in q.log_chunks(project.root, git, entry_id, follow):
        click.echo(chunk, nl=False)


@queue.command()
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Experiments to run at once.",
)
@click.option("--executor", type=click.Choice(["local", "ray"]), help="Where the queue runs.")
@click.option("--address", metavar="ADDR", help="With --executor ray: the cluster (HOST:PORT).")
@click.option("--resources", metavar="NAME=N,...", help="With --executor ray: per experiment.")
def start(jobs: int, executor: str | None, address: str | None, resources: str | None) -> None:
    """Start background workers that drain the queue and exit (on a Ray
    cluster with --executor ray, or [exp] executor = ray in .dvc/config)."""
    from trails.experiments import daemon, rayexec

    project = context()[0]
    ray = rayexec.choose(project, executor, address, resources)
    log = daemon.start(project.root, jobs, ray)
    where = f" on Ray ({ray.address or 'local'})" if ray else ""
    click.echo(f"Started {jobs} queue worker(s){where}; log: {project.rel(log)}")


@queue.command()
@click.option("--kill", is_flag=True, help="Interrupt running experiments too (they stay queued).")
def stop(kill: bool) -> None:
    """Stop the background workers (after the running experiments, or now)."""
    from trails.experiments import daemon

    if not daemon.stop(context()[0].root, kill):
        click.echo("No queue workers are running.")
        return
    click.echo("Queue workers will stop " + ("now." if kill else "after the running experiments."))


@queue.command()
@click.argument("entry_id")
def kill(entry_id: str) -> None:
    """Interrupt one running experiment (it stays in the queue)."""
    import os
    import signal

    from trails.errors import TrailsError
    from trails.experiments import queue as q
    from trails.git import Git

    project = context()[0]
    entry = q.find(Git(project.root), entry_id)
    rundir = q.run_dir(project.root, entry.id)
    if rundir.node.exists():
        rundir.kill.touch()  # the Ray driver cancels its task
        click.echo(f"Cancelling experiment {entry.id} on the cluster")
        return
    lock = rundir.lock
    try:
        pid = int(lock.read_text())
        os.killpg(pid, signal.SIGINT)
    except (OSError, ValueError):
        raise TrailsError(f"experiment {entry.id} is not running") from None
    click.echo(f"Interrupted experiment {entry.id}")


@queue.command("run")
@click.argument("entry_id")
def run_one(entry_id: str) -> None:
    """Run one queued experiment now, in the foreground."""
    from trails.experiments import queue as q
    from trails.experiments.executor import run_now
    from trails.runner import SubprocessRunner

    project, git = context()
    rec = run_now(project, git, q.find(git, entry_id), SubprocessRunner(), click.echo)
    click.echo(f"\nRan experiment(s): {rec.name}")
