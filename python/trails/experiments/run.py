"""``exp run`` in the workspace: apply ``-S`` edits, run the pipeline like
``repro``, record the workspace as an experiment commit. Straight-line: no
trip through a queue."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from trails.experiments.experiment import Ending, ExperimentRun, Place
from trails.experiments.options import ExpRunOptions
from trails.experiments.record import Recorded
from trails.git import Git
from trails.pipeline import load_graph
from trails.project import Project
from trails.repro.builder import Builder
from trails.repro.selection import select
from trails.repro.status import EchoStatus, Summary
from trails.runner import Runner

if TYPE_CHECKING:
    from trails.experiments.checkpoints import Chain


def apply_set_params(
    project: Project, values: Sequence[str], strict: bool, warn: Callable[[str], None]
) -> list[str]:
    """Validate every ``-S`` against its file, then write all the files (all
    or nothing). Returns the files changed."""
    from trails import params

    changes = planned_set_params(project, values, strict, warn)
    params.update_files(project.root, changes)
    return list(changes)


def planned_set_params(
    project: Project, values: Sequence[str], strict: bool, warn: Callable[[str], None]
) -> dict[str, list[Any]]:
    """The checked ``-S`` changes per params file; nothing written."""
    if not values:
        return {}
    from trails.params import overrides

    parsed = overrides.parse(list(values))
    if any(len(o.values) > 1 for o in parsed):
        from trails.errors import TrailsError

        raise TrailsError(
            "a sweep (several values for one param) needs --queue",
            hint="Queue one experiment per combination with 'trails exp run --queue -S ...'.",
        )
    changes, warnings = overrides.validate(project.root, parsed, strict)
    for w in warnings:
        warn(w)
    return changes


def exp_run(
    project: Project,
    opts: ExpRunOptions,
    runner: Runner,
    echo: Callable[[str], None],
    confirm: Callable[[str], bool] | None = None,
) -> tuple[Summary, Recorded | None]:
    """Run and record; ``Recorded`` is None for ``--dry``, which records
    (and writes) nothing."""
    git = Git(project.root)
    git.head()  # no commits: fail before anything changes
    if opts.name is not None:
        from trails.experiments.refs import validate_name

        validate_name(git, opts.name)
    # Bad targets and a taken name fail before -S writes anything. (A
    # checkpoint run may continue its own name, unless --reset: its chain
    # decides.)
    first, _ = select(load_graph(project), project, opts.repro)
    checkpointed = any(s.has_checkpoints for s in first)
    resumable = not opts.reset and checkpointed
    if opts.reset and checkpointed and opts.name is not None:
        from trails.experiments.checkpoints import continued

        # --reset replaces the experiment it discards, whatever its name.
        discarded = continued(project.root, git, git.head())
        resumable = discarded is not None and discarded[0] == opts.name
    if opts.name is not None and not resumable:
        from trails.experiments.record import check_free

        check_free(git, git.head(), [opts.name], opts.force)
    if opts.repro.dry:
        return _dry_run(project, opts, runner, echo), None
    edited = apply_set_params(
        project, opts.set_params, opts.strict_params, lambda w: echo(f"Warning: {w}")
    )
    graph = load_graph(project)  # again: `${}` in dvc.yaml may read the new values
    stages, _ = select(graph, project, opts.repro)
    place, chain = Place(project), None
    if any(s.has_checkpoints for s in stages):
        from trails.experiments.checkpoints import state_path

        chain = _checkpoint_chain(project, git, opts, graph, runner, echo)
        place = Place(project, state=state_path(project.root))
    ending = Ending(git.head(), opts.name, opts.message, opts.force,
                    not_recorded=_not_recorded(edited))  # fmt: skip
    run = ExperimentRun(git, place, graph, opts.repro, runner, EchoStatus(echo), echo, ending,
                        chain=chain, reset=opts.reset, confirm=confirm)  # fmt: skip
    with running_in_workspace(project, ending.baseline, chain.name if chain else opts.name):
        return run.run(stages)


@contextmanager
def running_in_workspace(project: Project, baseline: str, name: str | None) -> Iterator[None]:
    """While the run lasts, ``WorkspaceRun`` says so (``exp show --json``
    lists it as running, as the reference tool lists its workspace
    executor); gone when it ends, however it ends. A run killed outright
    leaves it behind: its pid, dead, tells a reader to ignore it."""
    import os
    import time

    from trails.experiments.records import WorkspaceRun, workspace_run_path

    path = workspace_run_path(project.root)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(WorkspaceRun(os.getpid(), baseline, name, int(time.time())).encode())
    os.replace(tmp, path)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _not_recorded(edited: list[str]) -> str:
    """What a declined stage leaves undone, for ``check_declined``."""
    kept = f" ({', '.join(edited)} keeps the -S values)" if edited else ""
    return "no experiment recorded" + kept


def _dry_run(
    project: Project, opts: ExpRunOptions, runner: Runner, echo: Callable[[str], None]
) -> Summary:
    """``--dry``: what would run and why, with the ``-S`` values as the
    planner would see them; no file written, nothing run, nothing
    recorded. A ``${}`` in dvc.yaml reads the ``-S`` values too, so the
    commands shown are the ones a real run would run."""
    from trails import params

    changes = planned_set_params(
        project, opts.set_params, opts.strict_params, lambda w: echo(f"Warning: {w}")
    )
    texts = params.updated_texts(project.root, changes)
    graph = load_graph(project, texts)
    stages, _ = select(graph, project, opts.repro)
    rep = Builder(project, graph, opts.repro, runner, EchoStatus(echo))
    for name, text in texts.items():
        said = ", ".join(
            f"{c.key}={c.value!r}" if not c.delete else f"~{c.key}" for c in changes[name]
        )
        echo(f"Would set in '{name}' (not written): {said}")
        rep.ws.suppose_params(name, params.loads(text, name))
    return rep.run(stages)


def _checkpoint_chain(
    project: Project,
    git: Git,
    opts: ExpRunOptions,
    graph: Any,
    runner: Runner,
    echo: Callable[[str], None],
) -> Chain:
    """The chain a workspace run with checkpoint stages extends: resumed
    from the last checkpoint (its outputs restored first) unless
    ``reset``, which may take the name of the chain it discards."""
    from trails.experiments import checkpoints as ck
    from trails.experiments.refs import ref_for
    from trails.repro.signal import signal_path

    baseline = git.head()
    signal = signal_path(project.root)
    if signal.exists():
        echo("Warning: removed a checkpoint signal file left by an earlier run")
        signal.unlink()
    resumed = None if opts.reset else ck.resume(project.root, git, baseline)
    replaces = ck.continued(project.root, git, baseline) if opts.reset else None
    if resumed and (opts.name is None or opts.name == resumed[0]):
        chain = ck.Chain(git, baseline, resumed[0], tip=resumed[1], message=opts.message)
        if git.rev_parse(ref_for(baseline, resumed[0])) != resumed[1]:
            chain = ck.Chain(git, baseline, None, start=resumed[1], message=opts.message)
        echo(f"Resuming from checkpoint {resumed[1][:7]} of '{resumed[0]}'")
    else:
        chain = ck.Chain(git, baseline, opts.name, start=resumed[1] if resumed else None,
                         force=opts.force, message=opts.message, replaces=replaces)  # fmt: skip
    if resumed:
        restore_checkpoint(project, git, graph, resumed[1], runner, echo)
    return chain


def restore_checkpoint(
    project: Project, git: Git, graph: Any, commit: str, runner: Runner, echo: Callable[[str], None]
) -> None:
    """Put the outputs of checkpoint ``commit`` back before resuming from it
    (the guide: a run continues "using the latest cached versions of all
    outputs"): its ``dvc.lock`` files and uncached outputs from Git, then the
    cached outputs that lock records from the cache. After a Ctrl+C the
    workspace holds an epoch that was never checkpointed, or the user edited
    an output: without this the chain would skip or fork silently."""
    from trails.errors import PipelineError
    from trails.experiments.checkpoints import locks_at
    from trails.repro.outputs import Outputs

    locks = sorted({s.lock_path for s in graph.stages})
    rep = Outputs(project, graph)
    rep.locks.files.update(locks_at(git, commit, locks))  # the checkpoint's entries
    try:
        for s in graph.stages:
            rep.cached_states(s)  # every object is there before anything changes
    except PipelineError as exc:
        raise PipelineError(
            f"cannot resume from checkpoint {commit[:7]}: {exc}",
            hint="Start over with 'trails exp run --reset', or 'trails exp apply' another "
            "checkpoint first.",
        ) from None
    plain = {o.repo_path for s in graph.stages for o in s.outs if not o.cache}
    held = git.run("ls-tree", "-r", "--name-only", commit, "--", *locks, *sorted(plain)).split()
    blobs = git.read_blobs([f"{commit}:{p}" for p in held])
    changed = [
        p
        for p, blob in zip(held, blobs, strict=True)
        if not (project.root / p).is_file() or (project.root / p).read_bytes() != blob
    ]
    if changed:
        git.run("restore", f"--source={commit}", "--worktree", "--", *changed)
    for s in graph.stages:
        changed += [path for _, path in rep.checkout_outputs(s)]
    shown = sorted(set(changed) - set(locks))
    if shown:
        echo(f"Restored {', '.join(shown)} from checkpoint {commit[:7]}")
