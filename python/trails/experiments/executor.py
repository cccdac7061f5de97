"""Running one queued (or ``--temp``) experiment in its own folder,
``.dvc/tmp/exps/<id>/``: the entry's commit checked out there, outputs
recorded in its ``dvc.lock`` linked in from the shared cache (so unchanged
stages do not run again), the pipeline run with ``DVC_ROOT``,
``DVC_EXP_NAME`` and ``DVC_EXP_BASELINE_REV`` set, outputs stored in the
shared cache, the experiment ref written, the folder removed.

Nothing here takes a repository-wide lock: the folder is the entry's own,
the cache takes concurrent writers, and refs are compare-and-swapped."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from trails.errors import TrailsError
from trails.experiments.queue import Entry, args_of
from trails.experiments.record import Recorded, record
from trails.git import Git
from trails.project import Project
from trails.repro import Reproducer, ReproOptions, load_graph, select
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


def work_dir(project: Project, entry: Entry) -> Path:
    return project.tmp_dir / "exps" / entry.id


def _prepare(project: Project, git: Git, entry: Entry, copy_paths: Sequence[str]) -> Project:
    work = work_dir(project, entry)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    git.materialize(entry.sha, work)
    for rel in copy_paths:
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


def run_entry(
    project: Project,
    git: Git,
    entry: Entry,
    runner: Runner,
    echo: Callable[[str], None],
    copy_paths: Sequence[str] = (),
) -> Recorded:
    args = args_of(git, entry.sha)
    baseline = str(args.get("baseline") or "")
    if not baseline or git.rev_parse(baseline) is None:
        raise TrailsError(
            f"queued experiment {entry.id}: its baseline commit {baseline[:7] or '?'} no longer "
            "exists",
            hint="Remove the entry ('trails queue remove') and queue it again.",
        )
    work = work_dir(project, entry)
    try:
        sub = _prepare(project, git, entry, copy_paths)
        opts = ReproOptions(targets=tuple(args.get("targets", ())), **args.get("repro", {}))
        env = {"DVC_EXP_NAME": str(args.get("name") or ""), "DVC_EXP_BASELINE_REV": baseline}
        with _chdir(sub.root), _env(env):
            graph = load_graph(sub)
            stages, _ = select(graph, sub, opts)
            rep = Reproducer(sub, graph, opts, runner, echo)
            from trails import data

            for item in data.tracked(sub):  # `trails add`-ed data: linked, never copied
                data.checkout(sub, item)
            for s in graph.stages:
                with contextlib.suppress(TrailsError):  # not in the cache: the stage runs
                    rep.checkout_outputs(s)
            rep.run(stages)
        tree = git.snapshot_tree(work_tree=sub.root, base=entry.sha)
        return record(
            git,
            name=args.get("name"),
            message=args.get("message"),
            force=bool(args.get("force")),
            tree=tree,
            baseline=baseline,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
