"""``exp run`` in the workspace: apply ``-S`` edits, run the pipeline like
``repro``, record the workspace as an experiment commit. Straight-line: no
trip through a queue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from trails.cachelock import check_recordable
from trails.experiments.record import Recorded, record
from trails.git import Git
from trails.pipeline import load_graph
from trails.project import Project
from trails.repro.builder import Builder, Hooks
from trails.repro.selection import ReproOptions, select
from trails.repro.status import EchoStatus, Summary, check_declined
from trails.runner import Runner


@dataclass(frozen=True)
class ExpRunOptions:
    repro: ReproOptions
    set_params: Sequence[str] = ()
    name: str | None = None
    message: str | None = None
    force: bool = False
    strict_params: bool = False
    reset: bool = False


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
    if any(s.has_checkpoints for s in stages):
        return _run_checkpoints(project, git, opts, graph, stages, runner, echo, confirm, edited)
    rep = Builder(project, graph, opts.repro, runner, EchoStatus(echo), confirm)
    summary = rep.run(stages)
    # Metrics that do not belong to the params are not an experiment.
    check_declined(summary, _not_recorded(edited))
    check_recordable(project.cache_dir, rep.stored)
    recorded = record(git, name=opts.name, message=opts.message, force=opts.force)
    return summary, recorded


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


def _run_checkpoints(
    project: Project,
    git: Git,
    opts: ExpRunOptions,
    graph: Any,
    stages: list[Any],
    runner: Runner,
    echo: Callable[[str], None],
    confirm: Callable[[str], bool] | None,
    edited: list[str],
) -> tuple[Summary, Recorded]:
    """A run with checkpoint stages: every signal becomes a commit on the
    experiment's chain, resumed from the last checkpoint unless ``reset``;
    a wrap-up checkpoint at the end if anything changed since the last."""
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

    def on_checkpoint(stage: Any) -> None:
        sha = chain.commit(git.snapshot_tree())
        ck.save_state(project.root, chain)
        echo(f"Checkpoint {sha[:7]} of experiment '{chain.name}'")

    always = {s.address: "continues from its last checkpoint" for s in stages if s.has_checkpoints}
    # With --reset, just before the first command: a stage declined at an
    # --interactive prompt discards nothing.
    first = (lambda: _discard_checkpoints(project, stages)) if opts.reset else None
    hooks = Hooks(before_first_command=first, on_checkpoint=on_checkpoint, always_run=always)
    rep = Builder(project, graph, opts.repro, runner, EchoStatus(echo), confirm, hooks)
    before = chain.tip
    summary = rep.run(stages)
    # As without checkpoints, a declined stage records nothing (more): the
    # checkpoints made before it are kept, as after a Ctrl+C.
    kept = f"no wrap-up checkpoint recorded (those '{chain.name}' made before are kept)"
    check_declined(summary, kept if chain.tip != before else _not_recorded(edited))
    check_recordable(project.cache_dir, rep.stored)
    tip = chain.commit(git.snapshot_tree())  # wrap-up, if anything changed
    ck.save_state(project.root, chain)
    return summary, Recorded(chain.name or "", tip, baseline, new=True)


def _discard_checkpoints(project: Project, stages: list[Any]) -> None:
    """``--reset``'s start over: the checkpoint outputs and the remembered
    chain go; the experiment's commits stay until the new chain replaces
    its ref."""
    from trails.confine import remove
    from trails.experiments import checkpoints as ck

    for s in stages:
        for o in s.outs:
            if o.checkpoint:
                remove(project.root / o.repo_path)
    ck.state_path(project.root).unlink(missing_ok=True)


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


def queued_edits(
    project: Project, values: Sequence[str], strict: bool, warn: Callable[[str], None]
) -> list[dict[str, bytes]]:
    """The params files' new contents for each combination of the ``-S``
    sweeps (one empty dict without ``-S``). Nothing is written: queued runs
    carry their edits in their own commits."""
    if not values:
        return [{}]
    from trails import params
    from trails.params import overrides

    out: list[dict[str, bytes]] = []
    seen: set[str] = set()
    for combo in overrides.expand(overrides.parse(list(values))):
        changes, warnings = overrides.validate(project.root, combo, strict)
        for w in warnings:
            if w not in seen:
                seen.add(w)
                warn(w)
        texts = params.updated_texts(project.root, changes)
        out.append({f: t.encode() for f, t in texts.items()})
    return out
