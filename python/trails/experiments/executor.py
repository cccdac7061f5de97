"""Running one queued (or ``--temp``) experiment in its own folder,
``.dvc/tmp/exps/<id>/``: the entry's commit checked out there, outputs
recorded in its ``dvc.lock`` linked in from the shared cache (so unchanged
stages do not run again), then one ``ExperimentRun`` there (the stages
with ``DVC_ROOT``, ``DVC_EXP_NAME`` and ``DVC_EXP_BASELINE_REV`` in their
environment, outputs stored in the shared cache, the experiment ref
written), the folder removed.

Nothing here takes a repository-wide lock: the folder is the entry's own,
the cache takes concurrent writers, and refs are compare-and-swapped. Only
``gc`` is kept out while the worker stores (``cachelock``)."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from trails import files
from trails.confine import confined
from trails.errors import TrailsError
from trails.experiments.checkpoints import Chain, continued
from trails.experiments.experiment import Ending, ExperimentRun, Place
from trails.experiments.folders import git_index, holds, note, remove_folder
from trails.experiments.queue import Entry, QueuedRun, args_of, run_dir
from trails.experiments.record import Recorded
from trails.experiments.records import QueuedArgs
from trails.git import Git
from trails.pipeline import load_graph
from trails.pipeline.graph import Graph
from trails.pipeline.stage import Stage
from trails.project import Project
from trails.repro.builder import Builder
from trails.repro.selection import select
from trails.repro.status import EchoStatus, Status
from trails.runner import Runner
from trails.tasks import cache as task_cache

#: In a temporary folder, inputs are never edited in place (outputs are
#: removed before their stage runs), so hardlinks are safe and free.
TEMP_LINK_TYPES = "reflink,hardlink,copy"


class Slot(Protocol):
    """When an experiment may run its stages' commands (the queue's pool
    hands out ``--jobs`` of them) and when it is done with them. ``release``
    is called even if ``acquire`` was not."""

    def acquire(self) -> None: ...

    def release(self) -> None: ...


def work_dir(project: Project, entry: Entry) -> Path:
    return project.tmp_dir / "exps" / entry.id


def _check_out(project: Project, git: Git, work: Path, commit: str) -> None:
    """``commit`` in ``work``: moved there by the diff from the commit the
    folder holds when it was kept, else a fresh checkout. Cleaning deletes
    every untracked file, so the folder must be trails' own: a real folder
    right under ``.dvc/tmp/exps/``, reached through no symlink."""
    from trails.git import GitError

    exps = project.tmp_dir / "exps"
    real = os.path.join(os.path.realpath(project.root), ".dvc", "tmp", "exps", work.name)
    if work.parent != exps or os.path.realpath(work) != real:
        raise TrailsError(f"'{work}' is not a run folder of this project (.dvc/tmp/exps/)")
    old = holds(work)
    note(work).unlink(missing_ok=True)
    if old and work.is_dir() and git_index(work).is_file():
        try:
            git.move_folder(old, commit, work, git_index(work))
            return
        except GitError:
            pass
    remove_folder(work)
    work.mkdir(parents=True)
    git.materialize(commit, work, git_index(work))


def _prepare(
    project: Project, git: Git, work: Path, commit: str, copy_paths: Sequence[str]
) -> Project:
    """The folder ``work`` holding ``commit`` (the entry's, or the
    checkpoint an interrupted run resumes from)."""
    # The paths come from the entry's commit message: checked, in the
    # workspace and in the folder, before anything is copied.
    checked = [confined(project.root, rel, source="--copy-paths") for rel in copy_paths]
    _check_out(project, git, work, commit)
    if not checked:
        files.adopt_index(work, git.git_dir(), git_index(work))
    for rel in checked:
        confined(work, rel, source="--copy-paths")
        src, dst = project.root / rel, work / rel
        if not src.exists():
            raise TrailsError(f"--copy-paths: '{rel}' does not exist")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copy2(src, dst)
    (work / ".dvc" / "tmp").mkdir(parents=True, exist_ok=True)
    # config.local, not config: it is git-ignored, so it never lands in the
    # experiment's commit.
    link_types = project.config.get("cache", "type") or TEMP_LINK_TYPES
    (work / ".dvc" / "config.local").write_text(
        f"[cache]\n    dir = {project.cache_dir.resolve()}\n    type = {link_types}\n"
        f"[trails]\n    stat_index = {project.index_path.resolve()}\n"
    )
    sub = Project(work)
    task_cache.carry(project, sub)  # so the task files are not imported again there
    return sub


def _chain(
    git: Git, args: QueuedArgs, baseline: str, stages: list[Stage],
    resumed: tuple[str, str] | None,
) -> Chain | None:  # fmt: skip
    """The checkpoint chain of a run whose stages have checkpoint outputs:
    new (a queued checkpoint run implies --reset), grown from ``--rev``, or
    the ``resumed`` one this entry made before it was interrupted."""
    if not any(s.has_checkpoints for s in stages):
        return None
    if resumed is not None:
        return Chain(git, baseline, resumed[0], tip=resumed[1], message=args.message)
    return Chain(git, baseline, args.name or None, start=args.rev or None, force=args.force)


def _restore_inputs(sub: Project, graph: Graph, rep: Builder) -> None:
    """Make `trails add`-ed data and recorded outputs available from the
    cache, so unchanged stages do not run again. Deferred: each is linked
    in (never copied) only when a stage that runs reads it, so an
    experiment that only retrains never touches the data set's files."""
    from trails import data

    for item in data.tracked(sub):
        rep.ws.defer(item.repo_path, item.state, functools.partial(data.checkout, sub, item))
    for s in graph.stages:
        rep.outputs.defer_outputs(s)


def run_entry(
    project: Project,
    git: Git,
    entry: Entry,
    runner: Runner,
    echo: Callable[[str], None],
    queued: QueuedRun | None = None,
    slot: Slot | None = None,
    status: Status | None = None,
    folder: Path | None = None,
    on_commit: Callable[[str, str], None] | None = None,
) -> Recorded:
    """Run a queued entry and record it; the entry's ref is deleted when its
    experiment is recorded. ``queued``: the entry as the caller read it
    already (arguments and parents). Its ``copy_paths`` are copied in from
    the workspace. ``slot``: acquired once the first stage that must run is
    decided (the folder is ready, the stages before it skipped), before its
    inputs are linked in; released when the stages are over, before
    recording; never acquired if nothing runs. ``status``: what the stages
    report to (``echo``'s lines by default). ``folder``: a worker's kept
    folder (under ``.dvc/tmp/exps/``), moved from the commit it holds to
    this entry's by their diff and kept for the next entry; default: a
    fresh folder of the entry's own, removed at the end. ``on_commit``:
    called with the experiment's name and commit just before the entry's
    ref is deleted (``Ending.on_commit``)."""
    args = queued.args if queued is not None else args_of(git, entry.sha)
    baseline = args.baseline or ""
    # The entry's commit is a child of its baseline: when Git listed that
    # parent, the baseline is there without asking again.
    known = queued is not None and baseline in queued.parents
    if not baseline or (not known and git.rev_parse(baseline) is None):
        raise TrailsError(
            f"queued experiment {entry.id}: its baseline commit {baseline[:7] or '?'} no longer "
            "exists",
            hint="Remove the entry ('trails queue remove') and queue it again.",
        )
    work = folder or work_dir(project, entry)
    # The guide: "All checkpoints registered at runtime will be preserved,
    # even if the process gets interrupted". Each checkpoint is on the
    # experiment's ref as it is made; this remembers the chain, so that the
    # entry, left queued by a Ctrl+C, continues it when run again (a
    # --temp run has no run folder, so nothing to remember it in).
    state = run_dir(project.root, entry.id).checkpoint
    resumed = continued(project.root, git, baseline, state)
    try:
        start = resumed[1] if resumed else entry.sha
        sub = _prepare(project, git, work, start, list(args.copy_paths))
        opts = dataclasses.replace(args.repro, targets=args.targets)
        graph = load_graph(sub)
        stages, _ = select(graph, sub, opts, cwd=".")
        chain = _chain(git, args, baseline, stages, resumed)
        if resumed is not None and chain is not None:
            echo(f"Resuming from checkpoint {resumed[1][:7]} of '{resumed[0]}'")
        place = Place(sub, git_index(sub.root), state if state.parent.is_dir() else None)
        run = ExperimentRun(
            git, place, graph, opts, runner, status or EchoStatus(echo), echo,
            Ending(baseline, args.name, args.message, args.force, consumed=entry.ref,
                   on_commit=on_commit),
            chain=chain,
            # A queued checkpoint run implies --reset, unless it grows from
            # --rev or continues its own interrupted chain.
            reset=chain is not None and not args.rev and resumed is None,
            before_first_command=slot.acquire if slot is not None else None,
            after_stages=slot.release if slot is not None else None,
        )  # fmt: skip
        rec = run.run(stages, functools.partial(_restore_inputs, sub, graph))[1]
        if folder is not None:
            # The snapshot left the index and the folder at this commit.
            note(work).write_text(rec.sha)
        return rec
    finally:
        if folder is None:
            remove_folder(work)


def run_temp(
    project: Project, git: Git, ref: str, runner: Runner, echo: Callable[[str], None]
) -> Recorded:
    """``exp run --temp``: the entry just queued runs now in its folder; a
    failure or a Ctrl+C removes it (a recorded run deleted its ref already,
    in the same ref transaction)."""
    from trails.experiments import queue

    entry = Entry(ref, git.rev_parse(ref) or "", 0)
    try:
        return run_entry(project, git, entry, runner, echo)
    except (KeyboardInterrupt, TrailsError):
        queue.remove(git, entry)
        raise


def run_now(
    project: Project, git: Git, entry: Entry, runner: Runner, echo: Callable[[str], None]
) -> Recorded:
    """``queue run``: one entry in the foreground; a failure moves it to
    the failed entries, as a worker's does."""
    from trails.experiments import queue

    try:
        return run_entry(project, git, entry, runner, echo)
    except TrailsError:
        if not entry.failed:
            queue.mark_failed(git, entry)
        raise
