"""``exp run`` in the workspace: apply ``-S`` edits, run the pipeline like
``repro``, record the workspace as an experiment commit. Straight-line: no
trip through a queue."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from trails.experiments.record import Recorded, record
from trails.git import Git
from trails.project import Project
from trails.repro import Reproducer, ReproOptions, Summary, load_graph, select
from trails.runner import Runner


@dataclass(frozen=True)
class ExpRunOptions:
    repro: ReproOptions
    set_params: Sequence[str] = ()
    name: str | None = None
    message: str | None = None
    force: bool = False
    strict_params: bool = False


def apply_set_params(
    project: Project, values: Sequence[str], strict: bool, warn: Callable[[str], None]
) -> list[str]:
    """Validate every ``-S`` against its file, then write all the files (all
    or nothing). Returns the files changed."""
    if not values:
        return []
    from trails import params
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
    params.update_files(project.root, changes)
    return list(changes)


def exp_run(
    project: Project,
    opts: ExpRunOptions,
    runner: Runner,
    echo: Callable[[str], None],
    confirm: Callable[[str], bool] | None = None,
) -> tuple[Summary, Recorded]:
    git = Git(project.root)
    git.head()  # no commits: fail before anything changes
    if opts.name is not None:
        from trails.experiments.refs import validate_name

        validate_name(git, opts.name)
    select(load_graph(project), project, opts.repro)  # bad targets: fail before -S writes
    apply_set_params(project, opts.set_params, opts.strict_params, lambda w: echo(f"Warning: {w}"))
    graph = load_graph(project)  # again: `${}` in dvc.yaml may read the new values
    stages, _ = select(graph, project, opts.repro)
    rep = Reproducer(project, graph, opts.repro, runner, echo, confirm)
    summary = rep.run(stages)
    recorded = record(git, name=opts.name, message=opts.message, force=opts.force)
    return summary, recorded


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
