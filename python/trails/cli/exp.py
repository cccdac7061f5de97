"""``trails exp``: run, show, diff, apply, branch, list, remove, save."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from trails.cli import prompt
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
    from trails.repro.selection import ReproOptions

    repro_opts = ReproOptions(targets=targets, force=force, **flags)
    if queue or temp:
        ids = _enqueue(project, repro_opts, set_params, name, message, force, strict_params,
                       from_rev, copy_paths, announce=not temp)  # fmt: skip
        if temp:
            _run_temp(project, ids[0])
            return
    if run_all:
        _run_all(project, repro_opts.jobs)
        return
    if queue:
        return
    from trails.experiments.run import ExpRunOptions, exp_run
    from trails.runner import SubprocessRunner

    opts = ExpRunOptions(
        repro=repro_opts,
        set_params=set_params,
        name=name,
        message=message,
        force=force,
        strict_params=strict_params,
        reset=reset,
    )
    confirm = prompt.confirm if opts.repro.interactive else None
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


def _enqueue(
    project: Project,
    opts: Any,
    set_params: tuple[str, ...],
    name: str | None,
    message: str | None,
    force: bool,
    strict: bool,
    from_rev: str | None = None,
    copy_paths: tuple[str, ...] = (),
    *,
    announce: bool = True,
) -> list[str]:
    """Queue one entry per combination of the -S sweeps; the workspace is
    not changed (the edits go into the entries' commits). ``from_rev``: a
    checkpoint to continue from; ``copy_paths``: untracked or ignored paths
    copied from the workspace into the entry's folder when it runs.
    ``announce``: say "Queued" (not for --temp, whose entry runs now)."""
    from trails import data
    from trails.experiments import queue
    from trails.experiments.record import check_free
    from trails.experiments.records import QueuedArgs
    from trails.experiments.refs import ExperimentError, resolve, validate_name
    from trails.experiments.run import queued_edits
    from trails.git import Git
    from trails.pipeline import load_graph
    from trails.repro.selection import cwd_folder, select

    git = Git(project.root)
    git.head()
    graph = load_graph(project)
    select(graph, project, opts)  # bad targets fail before anything is queued
    combos = queued_edits(project, set_params, strict, lambda w: click.echo(f"Warning: {w}"))
    names = (
        [name]
        if len(combos) == 1
        else [f"{name}-{i}" if name else None for i in range(1, len(combos) + 1)]
    )
    for n in names:
        if n is not None:
            validate_name(git, n)
    copied = [data.target(project, c, "--copy-paths") for c in copy_paths]
    for c in copy_paths:
        if not Path(c).exists():
            raise ExperimentError(
                f"--copy-paths: '{c}' does not exist",
                hint="Name an untracked or ignored file or folder of the workspace.",
            )
    # Every ReproOptions flag travels (records.QueuedArgs.repro), but those
    # that mean something else in a worker: --jobs is the pool's number of
    # experiments at once, and a worker has no terminal to ask in (--dry
    # cannot queue at all: _check_guide_usage).
    repro = dataclasses.replace(opts, targets=(), dry=False, interactive=False, jobs=1)
    # The entry runs at the root of its folder: targets named from a
    # sub-folder are spelled from the root.
    here = cwd_folder(project)
    targets = [
        t if opts.recursive else graph.locate(t, glob=opts.glob, cwd=here) for t in opts.targets
    ]
    rev_sha, baseline = None, None
    if from_rev:
        try:
            e = resolve(git, from_rev, git.rev_parse("HEAD"))
        except ExperimentError:
            raise ExperimentError(
                f"'{from_rev}' is not a checkpoint of an experiment",
                hint="'trails exp show' lists experiments and their checkpoints.",
            ) from None
        rev_sha, baseline = e.sha, e.baseline
    check_free(git, baseline or git.head(), [n for n in names if n], force)
    ids = []
    for n, edits in zip(names, combos, strict=True):
        args = QueuedArgs(name=n, message=message, force=force, targets=tuple(targets),
                          repro=repro, baseline=baseline, copy_paths=tuple(copied))  # fmt: skip
        entry = queue.enqueue(git, args, edits, rev_sha)
        if announce:
            click.echo(f"Queued experiment '{entry.id}' for future execution.")
        ids.append(entry.ref)
    return ids


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
        result = pool.run_all(project, jobs, click.echo, live=None)
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


def _baselines(
    git: Any, all_branches: bool, all_tags: bool, all_commits: bool, num: int, revs: tuple[str, ...]
) -> list[str]:
    from trails.experiments.refs import ExperimentError

    shas: list[str] = []
    if revs:
        for r in revs:
            sha = git.rev_parse(r)
            if sha is None:
                raise ExperimentError(f"'{r}' is not a Git revision")
            shas.append(sha)
    else:
        head = git.head()
        shas += git.run("rev-list", f"--max-count={max(num, 1)}", head).split()
    shas += git.select_commits(branches=all_branches, tags=all_tags, all_commits=all_commits)
    return list(dict.fromkeys(shas))


def collect_rows(
    project: Project, baselines: list[str], sha: bool, *, queued: bool = True, failed: bool = True
) -> tuple[list[Any], Any]:
    from trails.experiments import queue, show, table
    from trails.experiments.refs import list_exps
    from trails.git import Git
    from trails.pipeline import load_graph

    git = Git(project.root)
    files = show.files_of(project, load_graph(project))
    reader = show.CommitReader(project, git, files)
    refs = git.refs("refs/exps/")  # one listing for experiments, queue and failures
    exps = [e for e in list_exps(git, refs=refs) if e.baseline in set(baselines)]
    pending = (queue.entries(git, refs=refs) if queued else []) + (
        queue.entries(git, failed=True, refs=refs) if failed else []
    )
    parents = git.parents([e.sha for e in pending])
    pending = [e for e in pending if parents.get(e.sha) in set(baselines)]
    # Only experiments whose parent is not their baseline have checkpoints
    # to list; one for-each-ref tells which, so the chain walk is skipped
    # for the usual one-commit experiments.
    parent_of = git.first_parents("refs/exps/")
    deep = [e.sha for e in exps if parent_of.get(e.sha) != e.baseline]
    chains = git.chains(deep, baselines)
    older = [c for e in exps for c in chains.get(e.sha, [])]
    snaps = reader.read(baselines + [e.sha for e in exps] + [e.sha for e in pending] + older)
    reader.save()
    opts = table.ShowOptions(sha=sha)
    rows = [
        table.Row(
            "workspace", "workspace", None, None, None, show.workspace(project, files), "workspace"
        )
    ]
    times = git.commit_times(baselines)
    for b in baselines:
        rows.append(table.Row("baseline", b, None, None, times.get(b), snaps[b], b[:7]))
        mine = [(e, snaps[e.sha]) for e in exps if e.baseline == b]
        waiting = [
            table.Row(
                "failed" if e.failed else "queued",
                e.sha,
                None,
                b,
                e.created,
                show.Snapshot(snaps[e.sha].params, {}),
            )
            for e in pending
            if parents.get(e.sha) == b
        ]
        rows += table.experiment_rows(
            rows[-1], mine, opts, waiting,
            {e.sha: [(c, snaps[c]) for c in chains.get(e.sha, [])] for e, _ in mine},
        )  # fmt: skip
    return rows, files


def rows_json(rows: list[Any]) -> list[dict[str, Any]]:
    return [
        {"rev": r.rev, "name": r.name, "kind": r.kind, "baseline": r.baseline,
         "created": r.created, "params": r.snap.params, "metrics": r.snap.metrics}
        for r in rows
    ]  # fmt: skip


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
    from trails.git import Git

    project = Project.find()
    git = Git(project.root)
    baselines = _baselines(git, all_branches, all_tags, all_commits, num, rev)
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
    from trails.experiments import show, table
    from trails.experiments.refs import resolve
    from trails.git import Git
    from trails.pipeline import load_graph

    project = Project.find()
    git = Git(project.root)
    files = show.files_of(project, load_graph(project))
    reader = show.CommitReader(project, git, files)

    def rev_of(spec: str) -> tuple[str, str]:
        sha = git.rev_parse(spec)
        if sha is not None and not spec.startswith("exp-"):
            return sha, spec
        e = resolve(git, spec, git.rev_parse("HEAD"))
        return e.sha, e.name

    if a_rev is None and b_rev is None:
        (a, a_name), (b, b_name) = (git.head(), "HEAD"), ("workspace", "workspace")
    elif b_rev is None:  # as the reference tool: the new side is the workspace
        (a, a_name), (b, b_name) = rev_of(a_rev or ""), ("workspace", "workspace")
    else:
        (a, a_name), (b, b_name) = rev_of(a_rev or ""), rev_of(b_rev)
    snaps = reader.read([x for x in (a, b) if x != "workspace"])
    reader.save()
    ws = show.workspace(project, files) if "workspace" in (a, b) else None
    sa, sb = (snaps.get(x) or ws for x in (a, b))
    assert sa is not None and sb is not None
    changes = show.diff(sa, sb, files, all_=all_, param_deps=param_deps)
    doc: dict[str, Any] = {"params": {}, "metrics": {}}
    out: list[list[str]] = []
    for section, f, k, x, y, change in changes:
        doc[section].setdefault(f, {})[k] = {"old": x, "new": y, "diff": change}
        cells = [table.fmt(v, precision) for v in (x, y)]
        out.append(
            [f, k, *cells, table.MISSING if change is None else table.fmt(change, precision)]
        )
    if as_json:
        click.echo(json.dumps(doc, indent=2, default=str))
    elif not out:
        click.echo(f"No changes between {a_name} and {b_name}.")
    elif md:
        click.echo(f"| Path | Key | {a_name} | {b_name} | Change |\n|---|---|---|---|---|")
        for r in out:
            click.echo("| " + " | ".join(r) + " |")
    else:
        _print_table(["Path", "Key", a_name, b_name, "Change"], out, pager=False)


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
    from trails.experiments.refs import ExperimentError, resolve
    from trails.git import Git

    project = Project.find()
    git = Git(project.root)
    e = resolve(git, experiment, git.rev_parse("HEAD"))
    name = branch or f"{e.name}-branch"
    if git.rev_parse(f"refs/heads/{name}"):
        raise ExperimentError(f"branch '{name}' already exists", hint="Give another name.")
    if not git.ok("check-ref-format", "--branch", name):
        raise ExperimentError(f"'{name}' is not a valid branch name")
    git.run("branch", name, e.sha)
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
    from trails.experiments import remote
    from trails.experiments.refs import list_exps
    from trails.git import Git

    project = Project.find()
    git = Git(project.root)
    if git_remote:
        exps = remote.list_remote(git, remote.resolve(git, git_remote))
    else:
        exps = list_exps(git)
    wanted = None if all_commits else set(_baselines(git, False, False, False, num, rev))
    by_base: dict[str, list[str]] = {}
    for e in sorted(exps, key=lambda e: -e.created):
        if wanted is None or e.baseline in wanted:
            by_base.setdefault(e.baseline, []).append(e.name)
    for base, names in by_base.items():
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
    from trails.experiments import queue
    from trails.experiments.refs import ExperimentError, list_exps, resolve
    from trails.git import Git

    project = Project.find()
    git = Git(project.root)
    if not (experiments or rev or all_commits or queued):
        raise click.UsageError("name experiments, or use --rev, -A or --queue")
    entries = queue.entries(git) if queued else []
    if queued and not entries:
        click.echo("No experiments in the queue: nothing to remove from it.")
    for entry in entries:
        queue.remove(git, entry)
        click.echo(f"Removed queued experiment {entry.id}")
    head = git.rev_parse("HEAD")
    targets = [resolve(git, x, head) for x in experiments]
    bases = set()
    for r in rev:
        sha = git.rev_parse(r)
        if sha is None:
            raise ExperimentError(f"'{r}' is not a Git revision")
        bases.add(sha)
    targets += [e for e in list_exps(git) if all_commits or e.baseline in bases]
    for e in {t.ref: t for t in targets}.values():
        git.delete_ref(e.ref)
        click.echo(f"Removed experiment '{e.name}'")


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
    from trails.git import Git

    project = Project.find()
    git = Git(project.root)
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
    from trails.experiments.record import check_free
    from trails.experiments.refs import ref_for, resolve, validate_name
    from trails.git import ZERO, Git

    project = Project.find()
    git = Git(project.root)
    e = resolve(git, experiment, git.rev_parse("HEAD"))
    validate_name(git, new_name)
    check_free(git, e.baseline, [new_name], False, hint="Choose another name.")
    git.move_ref(ref_for(e.baseline, new_name), e.sha, ZERO, consumed=e.ref)
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
    from trails.experiments import queue
    from trails.experiments.refs import Exp, list_exps
    from trails.git import Git

    scoped = any((workspace, all_branches, all_tags, all_commits, since))
    if not queued:
        require_one(scoped, also=", --date, or --queued to empty the queue")
    project = Project.find()
    git = Git(project.root)
    doomed: list[Exp] = []
    if scoped:
        keep = set(
            git.select_commits(
                head=workspace, branches=all_branches, tags=all_tags, all_commits=all_commits,
                since=since,
            )
        )  # fmt: skip
        doomed = [e for e in list_exps(git) if e.baseline not in keep]
    entries = queue.entries(git) if queued else []
    if not doomed and not entries:
        click.echo("No experiments to remove." if scoped else "No experiments in the queue.")
        return
    question = f"Remove {len(doomed)} experiment(s)" + (
        f" and {len(entries)} queued" if entries else "") + "?"  # fmt: skip
    if not scoped:
        question = f"Remove {len(entries)} queued experiment(s)?"
    if not force and not prompt.confirm(question):
        return
    for e in doomed:
        git.delete_ref(e.ref)
    for q in entries:
        queue.remove(git, q)
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
    from trails.experiments.refs import list_exps, resolve
    from trails.git import Git

    project = Project.find()
    git = Git(project.root)
    to = remote.resolve(git, git_remote)
    if experiments:
        exps = [resolve(git, x, git.rev_parse("HEAD")) for x in experiments]
    else:
        bases = None if all_commits else {git.rev_parse(r) for r in rev} or {git.head()}
        exps = [e for e in list_exps(git) if bases is None or e.baseline in bases]
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
    from trails.git import Git

    project = Project.find()
    git = Git(project.root)
    source = remote.resolve(git, git_remote)
    there = remote.list_remote(git, source)
    if experiments:
        wanted = [e for e in there if e.name in experiments]
        missing = set(experiments) - {e.name for e in wanted}
        if missing:
            raise ExperimentError(f"not on '{git_remote}': {', '.join(sorted(missing))}")
    elif all_commits:
        wanted = there
    else:
        head = git.head()
        wanted = [e for e in there if e.baseline == head]
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
