"""``exp apply``: put an experiment's (or checkpoint's) files and outputs
into the workspace.

Applying is the default, as in DVC 2 (its ``--no-force`` is the opt-out):
after ``exp run`` the workspace holds that experiment's results, and the
guide's flows (apply one experiment after another; apply a checkpoint, then
``exp run``) overwrite them. What must not be lost is work that is recorded
nowhere: when the workspace's edits to tracked files match neither HEAD
nor any experiment or checkpoint of HEAD, they are saved as a Git stash
entry first (``git stash apply`` brings them back), and ``--no-force``
refuses instead."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trails import files
from trails.experiments.refs import PREFIX, Exp, ExperimentError, resolve
from trails.git import Git
from trails.project import Project

if TYPE_CHECKING:
    from trails.pipeline.graph import Graph


@dataclass(frozen=True)
class Applied:
    exp: Exp
    #: The stash entry's commit holding the edits applying would have lost.
    stashed: str | None


def _unrecorded(git: Git, head: str, exp: Exp) -> bool:
    """Whether the workspace's edits to tracked files (the ones restoring
    can lose, and ``git stash`` can keep) are recorded nowhere: not in HEAD,
    nor all alike in one commit of an experiment (a checkpoint too) of HEAD
    or of the one being applied. Untracked files play no part: restoring
    leaves those it does not hold alone."""
    out = git.run("diff", "-z", "--name-only", "--no-renames", head, "--")
    changed = [p for p in out.split("\0") if p]
    if not changed:
        return False
    glob = f"--glob={PREFIX}/{head[:2]}/{head[2:]}/*"
    commits = git.run("log", "--format=%H", glob, exp.sha, f"^{head}", f"^{exp.baseline}").split()
    here = [_read(git.root / p) for p in changed]
    blobs = git.read_blobs([f"{c}:{p}" for c in commits for p in changed])
    n = len(changed)
    return all(blobs[i * n : (i + 1) * n] != here for i in range(len(commits)))


def _read(path: Path) -> bytes | None:
    """A work tree file as Git would store it (a symlink: its target)."""
    if path.is_symlink():
        return os.readlink(path).encode()
    return path.read_bytes() if path.is_file() else None


def apply(project: Project, spec: str, *, force: bool, echo: Callable[[str], None]) -> Applied:
    """Check out experiment ``spec``: its Git files, then its outputs and
    ``trails add``-ed data from the cache. ``force`` (the default): unrecorded
    edits are stashed first; without it they make this an error and nothing
    changes."""
    git = Git(project.root)
    head = git.head()
    e = resolve(git, spec, head)
    from trails import data

    # A hostile .dvc file or dvc.yaml changes nothing, and fetches nothing.
    data.check_commit(project, e.sha, fetch=_fetcher(project))
    stashed = None
    if _unrecorded(git, head, e):
        dirty = git.run("status", "--porcelain", "--untracked-files=no").rstrip("\n")
        if not force:
            raise ExperimentError(
                "the workspace has uncommitted changes that 'exp apply' would overwrite:\n" + dirty,
                hint="Commit or stash them first, or apply without --no-force "
                "(they are then kept in a Git stash entry).",
            )
        stashed = git.stash(f"trails: the workspace before 'exp apply {spec}'")
    git.run("restore", f"--source={e.sha}", "--worktree", "--", ".")
    files.forget(project.root)
    graph = _checkout_outputs(project, echo)
    if _is_checkpoint(git, graph, e.sha, e.baseline):
        from trails.experiments import checkpoints

        # The next `exp run` continues from this checkpoint.
        chain = checkpoints.Chain(git, e.baseline, e.name, tip=e.sha)
        checkpoints.save_state(project.root, chain)
    return Applied(e, stashed)


def _fetcher(project: Project) -> Callable[[dict[str, str]], None] | None:
    """What brings the outputs of an experiment run elsewhere (``--executor
    ray``: its worker pushed them to the default remote) that this cache
    lacks; ``check_commit`` calls it once the commit's paths passed, so a
    hostile commit fetches nothing. Nothing is asked of the remote when the
    cache has them all."""
    if not project.config.get("core", "remote"):
        return None

    def fetch(recorded: dict[str, str]) -> None:
        from trails import remote
        from trails.remote import needed

        names, absent = needed.expand(project.cache_dir, recorded)
        if not absent and not _cache_lacks(project, list(names)):
            return
        r = remote.open(project)
        r.fetch(names)
        if absent:
            r.fetch(needed.expand(project.cache_dir, names)[0])

    return fetch


def _cache_lacks(project: Project, names: list[str]) -> bool:
    from trails import core

    return bool(core.missing_objects(project.cache_dir, names))


def _is_checkpoint(git: Git, graph: Graph, commit: str, baseline: str) -> bool:
    """Whether ``commit`` holds a checkpoint: a checkpoint stage's lock
    entry differs from the baseline's (it trained). An experiment that never
    ran those stages is no checkpoint to continue from."""
    from trails.errors import TrailsError
    from trails.experiments.checkpoints import locks_at

    stages = [s for s in graph.stages if s.has_checkpoints]
    paths = sorted({s.lock_path for s in stages})
    try:
        new, old = locks_at(git, commit, paths), locks_at(git, baseline, paths)
    except TrailsError:  # a lock file that does not parse: nothing to continue
        return False
    return any(new[s.lock_path].get(s.name) != old[s.lock_path].get(s.name) for s in stages)


def _checkout_outputs(project: Project, echo: Callable[[str], None]) -> Graph:
    """The outputs the (just restored) ``dvc.lock`` files record and the
    ``.dvc``-tracked data, from the cache; the graph as restored."""
    from trails import data
    from trails.pipeline import load_graph
    from trails.repro.outputs import Outputs

    graph = load_graph(project)
    rep = Outputs(project, graph)
    for s in graph.stages:
        rep.checkout_outputs(s)
    for item in data.tracked(project):
        data.checkout(project, item)
    return graph
