"""A stage's outputs between the workspace and the cache: ``save`` (store
and record them), ``checkout`` (restore them as the lock entry records
them), ``clear`` (before the command runs). ``status``, ``checkout``,
``commit`` and ``exp apply`` use this directly; the builder uses it for
the stages it runs."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trails import core, gitignore
from trails.confine import check_output_folder, remove
from trails.errors import PipelineError
from trails.pipeline import lockfile
from trails.pipeline.graph import Graph
from trails.pipeline.lockfile import FileState, LockEntry
from trails.pipeline.stage import Out, Stage
from trails.project import Project
from trails.repro import runcache
from trails.repro.locks import Locks
from trails.repro.plan import check_runnable, cmd_value, current_params, preflight, reasons
from trails.repro.workspace import Workspace


class Outputs:
    """The outputs of a project's stages, against one ``Workspace`` and one
    set of ``Locks``. ``no_commit``: nothing is stored in the cache nor
    the run-cache; ``no_run_cache``: the run-cache is not written."""

    def __init__(
        self,
        project: Project,
        graph: Graph,
        *,
        no_commit: bool = False,
        no_run_cache: bool = False,
    ) -> None:
        self.project = project
        self.graph = graph
        self.no_commit = no_commit
        self.no_run_cache = no_run_cache
        self.ws = Workspace(project.root, project.index_path)
        self.locks = Locks(project.root, graph)
        #: ``(path, hash)`` of the cached outputs recorded here: an
        #: experiment is recorded only if their objects are all still there.
        self.stored: list[tuple[str, str]] = []
        #: ``.gitignore`` files changed to ignore cached outputs.
        self.gitignores: list[str] = []
        #: The inputs each prepared stage runs with (``prepare``).
        self.pending: dict[str, tuple[list[FileState], dict[str, dict[str, Any]]]] = {}

    def lock(self, stage: Stage) -> dict[str, LockEntry]:
        return self.locks.of(stage)

    # -- checkout -------------------------------------------------------------

    def checkout(self, out: Out, state: FileState) -> bool:
        """Make the output match ``state`` from the cache; True if it changed
        (an uncached output, restored from the run-cache, as a copy)."""
        dest = self.project.root / out.repo_path
        # The stat index vouches for cache objects (recorded when stored), so
        # checkout's verification reads only objects it does not know.
        cache, types, index = (
            self.project.cache_dir,
            self.project.link_types if out.cache else ["copy"],
            self.project.index_path,
        )
        if state.is_dir:
            r = core.checkout_tree(cache, state.bare_hash, dest, types, index)
            return bool(r.added or r.modified or r.deleted)
        return core.checkout_file(cache, state.value, dest, types, index, state.isexec) is not None

    def defer_outputs(self, stage: Stage) -> None:
        """``checkout_outputs``, deferred: each cached output the lock entry
        records, whose object is in the cache, is linked in only if a stage
        that runs needs it. An experiment's folder does this, so that a
        data set no running stage reads is never linked in (nor deleted)."""
        entry = self.lock(stage).get(stage.name)
        if entry is None:
            return
        for o in stage.cached_outs:
            state = entry.out(o.path)
            if state is None or state.hash_name != core.ALGORITHM:
                continue
            obj = core.object_path(self.project.cache_dir, state.bare_hash)
            if os.path.exists(obj + (lockfile.TREE_SUFFIX if state.is_dir else "")):
                self.ws.defer(o.repo_path, state, functools.partial(self.checkout, o, state))

    def checkout_outputs(self, stage: Stage) -> list[tuple[str, str]]:
        """Restore the stage's cached outputs as its lock entry records them:
        ``[("A" | "M", path)]`` for what changed. Every object is checked
        first; a missing one is an error and nothing is touched."""
        changes = []
        for o, state in self.cached_states(stage):
            existed = (self.project.root / o.repo_path).exists()
            if self.checkout(o, state):
                changes.append(("M" if existed else "A", o.repo_path))
        return changes

    def cached_states(self, stage: Stage) -> list[tuple[Out, FileState]]:
        """The stage's cached outputs as its lock entry records them, each
        object checked to be in the cache (a missing one is an error), so a
        caller can check several stages before it changes anything."""
        entry = self.lock(stage).get(stage.name)
        if entry is None:
            return []
        todo: list[tuple[Out, FileState]] = []
        for o in stage.cached_outs:
            state = entry.out(o.path)
            if state is None or state.hash_name != core.ALGORITHM:
                continue
            check_output_folder(self.project.root, stage.dvcfile, stage.name, o.repo_path)
            obj = core.object_path(self.project.cache_dir, state.bare_hash)
            if not os.path.exists(obj + (lockfile.TREE_SUFFIX if state.is_dir else "")):
                raise PipelineError(
                    f"stage '{stage.address}': output '{o.path}' is not in the cache",
                    hint="Run 'trails repro' to produce it again.",
                )
            todo.append((o, state))
        return todo

    # -- clear and save -------------------------------------------------------

    def prepare(self, stage: Stage) -> None:
        """Remember the inputs the stage runs with (after checking that no
        output folder holds a file trails reads as instructions: it is
        about to be cleared or restored)."""
        for o in stage.outs:
            check_output_folder(self.project.root, stage.dvcfile, stage.name, o.repo_path)
        self.ws.prefetch([d.repo_path for d in stage.deps])
        deps = [self.ws.file_state(d.path, d.repo_path) for d in stage.deps]
        self.pending[stage.address] = (
            [d for d in deps if d is not None],
            current_params(stage, self.ws),
        )

    def run_key(self, stage: Stage) -> str | None:
        """The run-cache key of the prepared stage (None: not kept there)."""
        if self.no_run_cache:
            return None
        deps, prm = self.pending[stage.address]
        return runcache.key(stage, deps, prm)

    def clear(self, stage: Stage) -> None:
        """Remove the outputs before the command runs (persistent and
        checkpoint outputs are kept, unprotected, for it to update)."""
        for o in stage.outs:
            p = self.project.root / o.repo_path
            if o.persist or o.checkpoint:
                if p.exists():
                    from trails.data import unprotect

                    unprotect(p)
            elif p.exists() or p.is_symlink():
                remove(p)

    def commit_stage(self, stage: Stage) -> bool:
        """Record the stage as it is in the workspace (outputs stored, lock
        entry written) without running it; False if it was already recorded."""
        if not reasons(stage, self.lock(stage).get(stage.name), self.ws):
            return False
        check_runnable(stage, self.graph, self.ws)
        self.prepare(stage)
        self.save(stage)
        return True

    def save(self, stage: Stage) -> None:
        """Store the prepared stage's outputs, record its lock entry and its
        run-cache entry."""
        deps, prm = self.pending[stage.address]
        self.ws.forget([o.repo_path for o in stage.outs])
        outs: list[FileState] = []
        for o in stage.outs:
            outs.append(self._save_output(stage, o))
        self.record(stage, deps, prm, outs)
        key = self.run_key(stage)
        if key is not None and not self.no_commit:
            for o in stage.outs:
                if not o.cache:  # for the run-cache only: the file stays as it is
                    self._store_copy(o)
            runcache.store(self.project.cache_dir, key, outs)

    def _store_copy(self, o: Out) -> None:
        p = self.project.root / o.repo_path
        cache, index = self.project.cache_dir, self.project.index_path
        if p.is_dir():
            core.store_tree(cache, p, index, None, shown=o.repo_path)
        else:
            core.store_file(cache, p, index, None, shown=o.repo_path)

    def restore(self, stage: Stage) -> bool:
        """Restore the prepared stage's outputs from the run-cache and
        record it; False if the run-cache does not have them."""
        key = self.run_key(stage)
        outs = None if key is None else runcache.lookup(self.project.cache_dir, key)
        if outs is None:
            return False
        for o, state in zip(stage.outs, outs, strict=True):
            self.checkout(o, state)
        self.ws.forget([o.repo_path for o in stage.outs])
        deps, prm = self.pending[stage.address]
        self.record(stage, deps, prm, outs)
        return True

    def _save_output(self, stage: Stage, o: Out) -> FileState:
        p = self.project.root / o.repo_path
        if not p.exists():
            raise PipelineError(
                f"stage '{stage.address}' did not create its output '{o.path}'",
                hint="Make the command write it, or remove it from the stage's outputs.",
            )
        if o.cache and not self.no_commit:
            cache, index = self.project.cache_dir, self.project.index_path
            # Linked back per cache.type, as `trails add` does; never a
            # checkpoint output, which the running stage writes again.
            links = None if o.checkpoint else self.project.link_types
            if p.is_dir():
                t = core.store_tree(cache, p, index, links, shown=o.repo_path)
                state = FileState(
                    o.path, core.ALGORITHM, t.hash + lockfile.TREE_SUFFIX, t.size, t.nfiles
                )
            else:
                f = core.store_file(cache, p, index, links, shown=o.repo_path)
                state = FileState(o.path, core.ALGORITHM, f.hash, f.size, isexec=f.executable)
        else:
            got = self.ws.file_state(o.path, o.repo_path)
            assert got is not None
            state = got
        if o.cache and self.project.has_scm:
            changed = gitignore.ignore(self.project.root, o.repo_path)
            if changed:
                self.gitignores.append(changed)
        return state

    def record(
        self, stage: Stage, deps: list[FileState], prm: dict[str, Any], outs: list[FileState]
    ) -> None:
        self.locks.record(stage, LockEntry(cmd_value(stage), deps, prm, outs))
        if not self.no_commit:
            cached = {o.path for o in stage.outs if o.cache}
            self.stored += [(s.path, s.value) for s in outs if s.path in cached]


def checkout(
    project: Project, targets: tuple[str, ...], recursive: bool, glob: bool
) -> list[tuple[str, str]]:
    """``trails checkout``: the targets' (default: every stage's and every
    ``.dvc`` file's) cached data restored as recorded; ``[("A" | "M",
    path)]`` for what changed. Every ``.dvc`` file named is read (and its
    path checked) before anything is written."""
    from trails import data
    from trails.repro.selection import considered

    dvc_targets = [t for t in targets if t.endswith(data.SUFFIX)]
    stage_targets = tuple(t for t in targets if not t.endswith(data.SUFFIX))
    items = (
        [data.read(project, data.target(project, t, "checkout")) for t in dvc_targets]
        if targets
        else data.tracked(project)
    )
    changes: list[tuple[str, str]] = []
    if stage_targets or not targets:
        graph, stages = considered(project, stage_targets, recursive, glob, single_item=True)
        rep = Outputs(project, graph)
        changes += [c for s in stages for c in rep.checkout_outputs(s)]
    for item in items:
        existed = (project.root / item.repo_path).exists()
        if data.checkout(project, item):
            changes.append(("M" if existed else "A", item.repo_path))
    return changes


@dataclass
class Committed:
    stages: list[str] = field(default_factory=list)
    locks: list[str] = field(default_factory=list)


def commit(
    project: Project,
    graph: Graph,
    stages: list[Stage],
    confirm: Callable[[str], bool],
    note: Callable[[str], None],
) -> Committed:
    """``trails commit``: record each changed stage as the workspace holds
    it, without running it. ``confirm`` is asked before a stage that was
    recorded before is overwritten; the lock files are written even when
    a later stage fails, so what was committed stays."""
    rep = Outputs(project, graph)
    done = Committed()
    preflight(project.root, graph, rep.ws, stages, running=False)
    try:
        for s in stages:
            why = reasons(s, rep.lock(s).get(s.name), rep.ws)
            if not why:
                continue
            question = f"Stage '{s.address}' changed ({'; '.join(why)}). Commit it anyway?"
            if rep.lock(s).get(s.name) is not None and not confirm(question):
                continue
            if rep.commit_stage(s):
                done.stages.append(s.address)
    finally:
        done.locks = rep.locks.write(note)
    return done
