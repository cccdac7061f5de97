"""``trails exp run``: in the workspace, queued, in a temporary folder, or
the whole queue (``--run-all``). Parses and checks usage, calls
``experiments.run``/``queue``/``executor``/``pool``, prints the outcome."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import click

from trails.cli import prompt
from trails.cli.context import context
from trails.cli.pipeline import repro
from trails.cli.tasks import for_exp_run, summary_line
from trails.project import Project

if TYPE_CHECKING:
    from trails.experiments.options import ExpRunOptions

# `exp run` takes every `repro` option plus its own.
_repro_params = for_exp_run([p for p in repro.params if p.name not in ("force",)])


@click.command("run", params=list(_repro_params))
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
    "--executor",
    type=click.Choice(["local", "ray"]),
    help="With --run-all: where the queue runs (default: [exp] executor, else local).",
)
@click.option(
    "--address", metavar="ADDR", help="With --executor ray: the cluster (auto, HOST:PORT)."
)
@click.option(
    "--resources",
    metavar="NAME=N,...",
    help="With --executor ray: each experiment's resources (num_cpus=4,num_gpus=1).",
)
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
    executor: str | None,
    address: str | None,
    resources: str | None,
    targets: tuple[str, ...],
    **flags: Any,
) -> None:
    """Run the pipeline and record the result as an experiment (in the
    workspace, or queued, or in a temporary folder)."""
    _check_guide_usage(set_params, targets, bool(flags.get("dry")), queue or temp or run_all)
    _check_modes(queue=queue, temp=temp, from_rev=from_rev, reset=reset)
    where = (executor, address, resources)
    if any(where) and not run_all:
        raise click.UsageError("--executor, --address and --resources go with --run-all")
    project, git = context()
    if run_all and not (queue or temp):
        # Before importing the pipeline machinery: this process only
        # schedules, and the first experiment waits for it.
        _run_all(project, int(flags["jobs"]), where)
        return
    opts = _options(targets, set_params, name, message, force, strict_params, reset, flags)
    if queue or temp:
        from trails.experiments.queue import enqueue_runs

        ids = enqueue_runs(project, git, opts, from_rev, copy_paths,
                           echo=click.echo, announce=not temp)  # fmt: skip
    if temp:
        _run_temp(project, ids[0])
    elif run_all:
        _run_all(project, opts.repro.jobs, where)
    elif not queue:
        _run_workspace(project, opts)


def _options(
    targets: tuple[str, ...],
    set_params: tuple[str, ...],
    name: str | None,
    message: str | None,
    force: bool,
    strict_params: bool,
    reset: bool,
    flags: dict[str, Any],
) -> ExpRunOptions:
    """The run's options: every ``repro`` flag, ``-f`` also forcing the stages."""
    from trails.experiments.options import ExpRunOptions
    from trails.repro.selection import ReproOptions

    repro = ReproOptions(targets=targets, force=force, **flags)
    return ExpRunOptions(repro, set_params, name, message, force, strict_params, reset)


def _check_modes(*, queue: bool, temp: bool, from_rev: str | None, reset: bool) -> None:
    """Where a run happens and where it starts: the combinations that
    mean nothing are usage errors, before the project is read."""
    if temp and queue:
        raise click.UsageError("--temp and --queue exclude each other: queued runs are temporary")
    if from_rev and reset:
        raise click.UsageError("--rev continues from a checkpoint; --reset starts over: pick one")
    if from_rev and not (queue or temp):
        raise click.UsageError(
            "--rev needs --queue or --temp (in the workspace: 'trails exp apply' it, then run)"
        )


def _run_workspace(project: Project, opts: ExpRunOptions) -> None:
    """Run in the workspace and say what was recorded."""
    from trails.experiments.run import exp_run
    from trails.runner import SubprocessRunner

    confirm = prompt.confirm if opts.repro.interactive else None
    started = time.monotonic()
    summary, rec = exp_run(project, opts, SubprocessRunner(), click.echo, confirm)
    line = summary_line(summary, time.monotonic() - started)
    if line and rec is not None:
        click.echo(line)
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
    from trails.experiments.executor import run_temp
    from trails.git import Git
    from trails.runner import SubprocessRunner

    rec = run_temp(project, Git(project.root), ref, SubprocessRunner(), click.echo)
    click.echo(f"\nRan experiment(s): {rec.name}")


def _live_display(ids: list[str], jobs: int) -> Any:
    """A live table on a terminal, else the plain lines."""
    from trails.cli.display import LiveQueueDisplay

    return LiveQueueDisplay(ids, jobs, click.echo)


def _run_all(project: Project, jobs: int, where: tuple[str | None, ...]) -> None:
    from trails.experiments import pool, queue, rayexec
    from trails.git import Git

    ray = rayexec.choose(project, *where)
    if not queue.entries(Git(project.root)):
        click.echo("No experiments in the queue.")
        return
    cpus = os.cpu_count() or 1
    if jobs > cpus and ray is None:
        click.echo(f"Warning: --jobs {jobs} is more than the {cpus} CPUs of this machine.")
    try:
        if ray is not None:
            result = rayexec.run_all(project, jobs, click.echo, ray, show=_live_display)
        else:
            result = pool.run_all(project, jobs, click.echo, show=_live_display)
    except KeyboardInterrupt:
        click.echo("Interrupted: unfinished experiments stay in the queue.", err=True)
        raise
    if result.done:
        click.echo("\nRan experiment(s): " + ", ".join(n for _, n in result.done))
    result.check()
