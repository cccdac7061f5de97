"""Running one queued (or ``--temp``) experiment in its own folder,
``.dvc/tmp/exps/<id>/``: the entry's commit checked out there, outputs
recorded in its ``dvc.lock`` linked in from the shared cache (so unchanged
stages do not run again), the pipeline run with ``DVC_ROOT``,
``DVC_EXP_NAME`` and ``DVC_EXP_BASELINE_REV`` set, outputs stored in the
shared cache, the experiment ref written, the folder removed.

Nothing here takes a repository-wide lock: the folder is the entry's own,
the cache takes concurrent writers, and refs are compare-and-swapped. Only
``gc`` is kept out while the worker stores (``cachelock``)."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

from trails.cachelock import check_recordable
from trails.confine import confined
from trails.errors import TrailsError
from trails.experiments.checkpoints import Chain, continued, save_state
from trails.experiments.queue import Entry, QueuedRun, args_of, run_dir
from trails.experiments.record import Recorded, record
from trails.experiments.records import QueuedArgs
from trails.git import Git
from trails.pipeline import load_graph
from trails.pipeline.graph import Graph
from trails.pipeline.stage import Stage
from trails.project import Project
from trails.repro.builder import Builder, Hooks
from trails.repro.selection import select
from trails.repro.status import EchoStatus, Status
from trails.runner import Runner

#: In a temporary folder, inputs are never edited in place (outputs are
#: removed before their stage runs), so hardlinks are safe and free.
TEMP_LINK_TYPES = "reflink,hardlink,copy"


@contextmanager
def _chdir(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


@contextmanager
def _env(values: dict[str, str]) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Slot(Protocol):
    """When an experiment may run its stages' commands (the queue's pool
    hands out ``--jobs`` of them) and when it is done with them. ``release``
    is called even if ``acquire`` was not."""

    def acquire(self) -> None: ...

    def release(self) -> None: ...


def work_dir(project: Project, entry: Entry) -> Path:
    return project.tmp_dir / "exps" / entry.id


def _git_index(work: Path) -> Path:
    """The Git index of an experiment's folder: kept from checkout to the
    snapshot (in its git-ignored ``.dvc/tmp``, removed with the folder)."""
    return work / ".dvc" / "tmp" / "trails-git-index"


def _prepare(
    project: Project, git: Git, entry: Entry, copy_paths: Sequence[str], commit: str | None = None
) -> Project:
    """The entry's folder holding its commit (or ``commit``: the checkpoint
    an interrupted run resumes from)."""
    work = work_dir(project, entry)
    # The paths come from the entry's commit message: checked, in the
    # workspace and in the folder, before anything is copied.
    checked = [confined(project.root, rel, source="--copy-paths") for rel in copy_paths]
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    _git_index(work).parent.mkdir(parents=True)
    git.materialize(commit or entry.sha, work, _git_index(work))
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
    return Project(work)


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


def _restore_inputs(sub: Project, graph: Graph, rep: Builder, *, reset: bool) -> None:
    """Make `trails add`-ed data and recorded outputs available from the
    cache, so unchanged stages do not run again; checkpoint outputs too,
    unless the run starts over (``reset``). Deferred: each is linked in
    (never copied) only when a stage that runs reads it, so an experiment
    that only retrains never touches the data set's files."""
    from trails import data

    for item in data.tracked(sub):
        rep.ws.defer(item.repo_path, item.state, functools.partial(data.checkout, sub, item))
    for s in graph.stages:
        rep.outputs.defer_outputs(s)
        if reset:
            for o in s.outs:
                p = sub.root / o.repo_path
                if o.checkpoint:
                    rep.ws.materialize([o.repo_path], exact_ok=False, link=False)
                    if p.exists():
                        shutil.rmtree(p) if p.is_dir() else p.unlink()


def run_entry(
    project: Project,
    git: Git,
    entry: Entry,
    runner: Runner,
    echo: Callable[[str], None],
    queued: QueuedRun | None = None,
    slot: Slot | None = None,
    status: Status | None = None,
) -> Recorded:
    """Run a queued entry and record it; the entry's ref is deleted when its
    experiment is recorded. ``queued``: the entry as the caller read it
    already (arguments and parents). Its ``copy_paths`` are copied in from
    the workspace. ``slot``: acquired once the first stage that must run is
    decided (the folder is ready, the stages before it skipped), before its
    inputs are linked in; released when the stages are over, before
    recording; never acquired if nothing runs. ``status``: what the stages
    report to (``echo``'s lines by default)."""
    args = queued.args if queued is not None else args_of(git, entry.sha)
    copy_paths = list(args.copy_paths)
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
    work = work_dir(project, entry)
    # The guide: "All checkpoints registered at runtime will be preserved,
    # even if the process gets interrupted". Each checkpoint is on the
    # experiment's ref as it is made; this remembers the chain, so that the
    # entry, left queued by a Ctrl+C, continues it when run again.
    state = run_dir(project.root, entry.id).checkpoint
    resumed = continued(project.root, git, baseline, state)
    try:
        sub = _prepare(project, git, entry, copy_paths, resumed[1] if resumed else None)
        opts = dataclasses.replace(args.repro, targets=args.targets)
        env = {"DVC_EXP_NAME": args.name or "", "DVC_EXP_BASELINE_REV": baseline}
        with _chdir(sub.root), _env(env):
            graph = load_graph(sub)
            stages, _ = select(graph, sub, opts)
            chain = _chain(git, args, baseline, stages, resumed)
            on_checkpoint = None
            if chain is not None:
                ckpt_chain = chain
                if resumed is not None:
                    echo(f"Resuming from checkpoint {resumed[1][:7]} of '{resumed[0]}'")

                def on_checkpoint(stage: Stage) -> None:
                    tree = git.snapshot_tree(work_tree=sub.root, index=_git_index(sub.root))
                    sha = ckpt_chain.commit(tree)
                    if state.parent.is_dir():  # a worker's run (a --temp run has none)
                        save_state(project.root, ckpt_chain, state)
                    echo(f"Checkpoint {sha[:7]} of experiment '{ckpt_chain.name}'")

            always = {
                s.address: "checkpoint stage"
                for s in stages
                if chain is not None and s.has_checkpoints
            }
            hooks = Hooks(
                before_first_command=slot.acquire if slot is not None else None,
                on_checkpoint=on_checkpoint,
                always_run=always,
            )
            rep = Builder(sub, graph, opts, runner, status or EchoStatus(echo), None, hooks)
            fresh = chain is not None and not args.rev and resumed is None
            _restore_inputs(sub, graph, rep, reset=fresh)
            try:
                rep.run(stages)
            finally:
                if slot is not None:
                    slot.release()
        check_recordable(sub.cache_dir, rep.stored)
        tree = git.snapshot_tree(work_tree=sub.root, index=_git_index(sub.root))
        if chain is not None:
            tip = chain.commit(tree)
            git.delete_ref(entry.ref)
            state.unlink(missing_ok=True)
            return Recorded(chain.name or "", tip, baseline, new=True)
        return record(
            git,
            name=args.name,
            message=args.message,
            force=args.force,
            tree=tree,
            baseline=baseline,
            consumed=entry.ref,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
