"""``trails queue``: look at and manage the experiment queue."""

from __future__ import annotations

import time

import click

from trails.cli.context import context
from trails.project import Project


@click.group()
def queue() -> None:
    """Manage queued experiments (see 'trails exp run --queue')."""


@queue.command()
def status() -> None:
    """List queued, running, failed and succeeded experiments."""
    from trails.experiments import queue as q

    project, git = context()
    rows = [(e.id, _name(git, e), e.created, "failed" if e.failed else _state(project, e))
            for e in q.entries(git) + q.entries(git, failed=True)]  # fmt: skip
    rows += [(d.id, d.name or "-", d.created, "success") for d in q.succeeded(project.root, _warn)]
    if not rows:
        click.echo("No experiments in the queue.")
        return
    click.echo(f"{'Task':<9} {'Name':<16} {'Created':<17} Status")
    for entry_id, name, created, state in rows:
        when = time.strftime("%b %d %H:%M", time.localtime(created)) if created else "-"
        click.echo(f"{entry_id:<9} {name:<16} {when:<17} {state}")


def _warn(message: str) -> None:
    click.echo(f"Warning: {message}", err=True)


def _name(git: object, entry: object) -> str:
    """An entry's experiment name; ``?`` if its arguments cannot be read
    (running it says why)."""
    from trails.errors import TrailsError
    from trails.experiments import queue as q
    from trails.git import Git

    assert isinstance(git, Git) and isinstance(entry, q.Entry)
    try:
        return q.args_of(git, entry.sha).name or "-"
    except TrailsError:
        return "?"


def _state(project: Project, entry: object) -> str:
    from trails.experiments import queue as q

    assert isinstance(entry, q.Entry)
    rundir = q.run_dir(project.root, entry.id)
    if rundir.waiting.exists():
        return "queued (prepared)"
    if rundir.lock.exists():
        stage = rundir.stage
        return "running" + (f" ({stage.read_text()})" if stage.exists() else "")
    return "queued"


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
    from trails.experiments.refs import ExperimentError

    project, git = context()
    if not (ids or all_ or queued or failed or success):
        raise click.UsageError("name entries, or use --all, --queued, --failed or --success")
    done = {d.id: d for d in q.succeeded(project.root, _warn)}
    targets, forgotten = [], []
    for i in ids:
        try:
            targets.append(q.find(git, i))
        except ExperimentError:
            hits = [d for d in done if d.startswith(i.lower())]
            if len(hits) != 1:
                raise
            forgotten.append(hits[0])
    if all_ or queued:
        targets += q.entries(git)
    if all_ or failed:
        targets += q.entries(git, failed=True)
    if all_ or success:
        forgotten += list(done)
    for e in {t.ref: t for t in targets}.values():
        q.remove(git, e)
        click.echo(f"Removed queued experiment {e.id}")
    for entry_id in dict.fromkeys(forgotten):
        q.forget(project.root, entry_id)
        click.echo(f"Removed succeeded experiment {entry_id} from the queue")


@queue.command()
@click.argument("entry_id")
@click.option("-f", "--follow", is_flag=True, help="Keep printing while the experiment runs.")
def logs(entry_id: str, follow: bool) -> None:
    """Print the log of a running, failed or succeeded experiment."""
    from trails.errors import TrailsError
    from trails.experiments import queue as q

    project = Project.find()
    rundir = q.run_dir(project.root, entry_id)
    if not rundir.path.is_dir():
        from trails.git import Git

        rundir = q.run_dir(project.root, q.find(Git(project.root), entry_id).id)
    log = rundir.log
    if not log.exists():
        raise TrailsError(f"experiment {entry_id} has no log yet (it has not run)")
    with log.open("r", errors="replace") as f:
        while True:
            chunk = f.read()
            if chunk:
                click.echo(chunk, nl=False)
            elif not follow or not rundir.lock.exists():
                break
            else:
                time.sleep(0.1)


@queue.command()
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Experiments to run at once.",
)
def start(jobs: int) -> None:
    """Start background workers that drain the queue and exit."""
    import subprocess
    import sys

    from trails.errors import TrailsError
    from trails.experiments import daemon

    project = Project.find()
    if daemon.running_pid(project.root):
        raise TrailsError("queue workers are already running", hint="'trails queue stop' first.")
    log = project.tmp_dir / "exps" / "queue.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trails.experiments.daemon", str(project.root), str(jobs)],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=project.root, start_new_session=True,
        )  # fmt: skip
    # Written here too (the daemon writes it when it starts), so that the
    # workers count as running from the moment this command returns.
    daemon.pid_path(project.root).write_text(str(proc.pid))
    click.echo(f"Started {jobs} queue worker(s); log: {project.rel(log)}")


@queue.command()
@click.option("--kill", is_flag=True, help="Interrupt running experiments too (they stay queued).")
def stop(kill: bool) -> None:
    """Stop the background workers (after the running experiments, or now)."""
    import os
    import signal

    from trails.experiments import daemon

    project = Project.find()
    pid = daemon.running_pid(project.root)
    if pid is None:
        click.echo("No queue workers are running.")
        return
    if kill:
        os.killpg(pid, signal.SIGINT)
    else:
        os.kill(pid, signal.SIGTERM)
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

    project = Project.find()
    entry = q.find(Git(project.root), entry_id)
    lock = q.run_dir(project.root, entry.id).lock
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
    from trails.errors import TrailsError
    from trails.experiments import queue as q
    from trails.experiments.executor import run_entry
    from trails.runner import SubprocessRunner

    project, git = context()
    entry = q.find(git, entry_id)
    try:
        rec = run_entry(project, git, entry, SubprocessRunner(), click.echo)
    except TrailsError:
        if not entry.failed:
            q.mark_failed(git, entry)
        raise
    click.echo(f"\nRan experiment(s): {rec.name}")
