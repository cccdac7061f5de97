"""``exp apply``: put an experiment's (or checkpoint's) files and outputs
into the workspace.

Applying is the default, as in DVC 2 (its ``--no-force`` is the opt-out):
after ``exp run`` the workspace holds that experiment's results, and the
guide's flows (apply one experiment after another; apply a checkpoint, then
``exp run``) overwrite them. What must not be lost is work that is recorded
nowhere: when the workspace (as ``git add -A`` sees it) is neither HEAD nor
any experiment or checkpoint of HEAD, its changes to tracked files are
saved as a Git stash entry first (``git stash apply`` brings them back),
and ``--no-force`` refuses instead."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

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


def _recorded(git: Git, head: str, tree: str, exp: Exp) -> bool:
    """Whether ``tree`` is HEAD's or that of a commit of an experiment (a
    checkpoint too) of HEAD or of the one being applied: then overwriting
    the workspace loses nothing."""
    if git.run("rev-parse", f"{head}^{{tree}}").strip() == tree:
        return True
    glob = f"--glob={PREFIX}/{head[:2]}/{head[2:]}/*"
    out = git.run("log", "--format=%T", glob, exp.sha, f"^{head}", f"^{exp.baseline}")
    return tree in out.split()


def apply(project: Project, spec: str, *, force: bool, echo: Callable[[str], None]) -> Applied:
    """Check out experiment ``spec``: its Git files, then its outputs and
    ``trails add``-ed data from the cache. ``force`` (the default): unrecorded
    edits are stashed first; without it they make this an error and nothing
    changes."""
    git = Git(project.root)
    head = git.head()
    e = resolve(git, spec, head)
    stashed = None
    if not _recorded(git, head, git.snapshot_tree(), e):
        # Only tracked files' edits are at risk (and can be stashed):
        # restore writes the experiment's files and removes tracked ones
        # it does not hold; untracked files it does not hold stay as they are.
        dirty = git.run("status", "--porcelain", "--untracked-files=no").rstrip("\n")
        if dirty and not force:
            raise ExperimentError(
                "the workspace has uncommitted changes that 'exp apply' would overwrite:\n" + dirty,
                hint="Commit or stash them first, or apply without --no-force "
                "(they are then kept in a Git stash entry).",
            )
        if dirty:
            stashed = git.stash(f"trails: the workspace before 'exp apply {spec}'")
    git.run("restore", f"--source={e.sha}", "--worktree", "--", ".")
    graph = _checkout_outputs(project, echo)
    if any(o.checkpoint for s in graph.stages for o in s.outs):
        from trails.experiments import checkpoints

        # The next `exp run` continues from this checkpoint.
        chain = checkpoints.Chain(git, e.baseline, e.name, tip=e.sha)
        checkpoints.save_state(project.root, chain)
    return Applied(e, stashed)


def _checkout_outputs(project: Project, echo: Callable[[str], None]) -> Graph:
    """The outputs the (just restored) ``dvc.lock`` files record and the
    ``.dvc``-tracked data, from the cache; the graph as restored."""
    from trails import data
    from trails.pipeline import load_graph
    from trails.repro import Reproducer, ReproOptions
    from trails.runner import SubprocessRunner

    graph = load_graph(project)
    rep = Reproducer(project, graph, ReproOptions(), SubprocessRunner(), echo)
    for s in graph.stages:
        rep.checkout_outputs(s)
    for item in data.tracked(project):
        data.checkout(project, item)
    return graph
