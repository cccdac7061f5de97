"""``repro``: select the stages, decide which are stale (``plan``), run
them (``runner``), keep their outputs in the cache and record them in
``dvc.lock``. Straight-line: select -> for each ready stage: decide -> run
-> commit. Independent stages run in parallel with ``jobs > 1``."""

from __future__ import annotations

import functools
import json
import os
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trails import core, gitignore
from trails.data import check_output_folder
from trails.errors import PipelineError, TrailsError
from trails.pipeline import lockfile
from trails.pipeline.graph import Graph, overlaps
from trails.pipeline.lockfile import FileState, LockEntry
from trails.pipeline.stage import DVCFILE, Out, Stage
from trails.plan import cmd_value, current_params, missing_params, reasons
from trails.project import Project
from trails.runner import Runner, StageFailed, stage_env
from trails.state import Workspace


@dataclass(frozen=True)
class ReproOptions:
    targets: tuple[str, ...] = ()
    force: bool = False
    single_item: bool = False
    pipeline: bool = False
    all_pipelines: bool = False
    recursive: bool = False
    glob: bool = False
    interactive: bool = False
    downstream: bool = False
    force_downstream: bool = False
    dry: bool = False
    no_commit: bool = False
    no_run_cache: bool = False
    allow_missing: bool = False
    keep_going: bool = False
    ignore_errors: bool = False
    jobs: int = 1
    explain: bool = False


@dataclass
class Summary:
    ran: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)
    """Stages the user said no to at an ``--interactive`` prompt."""
    locks_written: list[str] = field(default_factory=list)
    gitignores: list[str] = field(default_factory=list)


def _cwd_dvcfile(project: Project) -> str:
    rel = cwd_folder(project)
    return DVCFILE if rel == "." else f"{rel}/{DVCFILE}"


def cwd_folder(project: Project) -> str:
    """The current folder, repo-relative: targets are read from it first
    (``.`` when it is the root or not inside the project)."""
    rel = project.rel(Path.cwd())
    return "." if rel == ".." or rel.startswith("../") else rel


def select(graph: Graph, project: Project, opts: ReproOptions) -> tuple[list[Stage], set[str]]:
    """The stages to consider, in order, and the explicitly named ones."""
    named: list[Stage] = []
    if opts.all_pipelines:
        named = list(graph.stages)
    elif opts.targets:
        for t in opts.targets:
            if opts.recursive and (project.root / t).is_dir():
                named += graph.under(project.rel(project.root / t))
            else:
                named += graph.resolve(t, glob=opts.glob, cwd=cwd_folder(project))
    else:
        default = _cwd_dvcfile(project)
        named = [s for s in graph.stages if s.dvcfile == default]
        if not named:
            raise PipelineError(
                f"no stages in '{default}'",
                hint="Name targets (a stage or a dvc.yaml), or use -P for every pipeline.",
            )
    names = {s.address for s in named}
    if opts.pipeline:
        chosen = set().union(*(graph.pipeline_of(a) for a in names))
    elif opts.single_item:
        chosen = set(names)
    elif opts.downstream:
        chosen = graph.descendants(names)
    else:
        chosen = graph.ancestors(names)
    return graph.order(chosen), names


class DeclinedError(TrailsError):
    """The user said no to a stage the targets needed (``--interactive``)."""


def check_declined(summary: Summary, what: str) -> None:
    """A declined stage leaves the targets unreproduced: an error (exit 1),
    as the reference tool's "reproduction aborted by the user"; ``what``
    says what is therefore not done."""
    if not summary.declined:
        return
    names = ", ".join(f"'{a}'" for a in summary.declined)
    blocked = ", ".join(f"'{a}'" for a in summary.blocked)
    raise DeclinedError(
        f"declined stage(s) {names}" + (f" (so not run either: {blocked})" if blocked else "")
        + f": {what}",
        hint="Run again and answer 'y' to run them, or name other targets.",
    )  # fmt: skip


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


class Reproducer:
    def __init__(
        self,
        project: Project,
        graph: Graph,
        opts: ReproOptions,
        runner: Runner,
        echo: Callable[[str], None],
        confirm: Callable[[str], bool] | None = None,
        on_checkpoint: Callable[[Stage], None] | None = None,
    ) -> None:
        self.project = project
        self.on_checkpoint = on_checkpoint
        #: Checkpoint signals are handled on a watcher thread while the loop
        #: goes on: both take this before touching lock entries or the cache.
        self._mutex = threading.RLock()
        self._watchers: dict[str, Any] = {}
        #: Stages that run even when nothing changed (checkpoint stages of an
        #: experiment continue training from their last checkpoint).
        self.always_run: dict[str, str] = {}
        #: Called once, when the first stage that must run has been decided
        #: (the queue's workers wait there for a slot, planning done).
        self.before_first_command: Callable[[], None] | None = None
        self._run_locks: dict[str, int] = {}
        self.graph = graph
        self.opts = opts
        self.runner = runner
        self.echo = echo
        self.confirm = confirm
        self.ws = Workspace(project.root, project.index_path)
        self.locks: dict[str, dict[str, LockEntry]] = {}
        self.dirty_locks: set[str] = set()
        #: Lock files already looked at for the reference tool's note.
        self._lock_origin_checked: set[str] = set()
        self.summary = Summary()
        self._pending_state: dict[str, tuple[list[FileState], dict[str, dict[str, Any]]]] = {}
        #: Assumed paths (see ``state``) and how to link each one in.
        self._deferred: dict[str, Callable[[], object]] = {}
        #: ``(path, hash)`` of the cached outputs this run recorded: an
        #: experiment is recorded only if their objects are all still there.
        self.stored: list[tuple[str, str]] = []

    # -- lock entries -------------------------------------------------------

    def lock(self, stage: Stage) -> dict[str, LockEntry]:
        if stage.lock_path not in self.locks:
            self.locks[stage.lock_path] = lockfile.read(self.project.root, stage.lock_path)
        return self.locks[stage.lock_path]

    def write_locks(self) -> None:
        for relpath in sorted(self.dirty_locks):
            entries = self.locks[relpath]
            dvcfile_path = relpath.removesuffix("dvc.lock") + DVCFILE
            order = [s.name for s in self.graph.stages if s.dvcfile == dvcfile_path]
            ordered = {n: entries[n] for n in order if n in entries}
            if relpath not in self._lock_origin_checked:
                self._lock_origin_checked.add(relpath)
                if lockfile.made_by_reference_tool(self.project.root, relpath):
                    self.echo(lockfile.reference_note(relpath))
            lockfile.write(self.project.root, relpath, ordered)
            self.summary.locks_written.append(relpath)
        self.dirty_locks.clear()

    # -- deciding -------------------------------------------------------------

    def decide(self, stage: Stage, upstream_ran: bool) -> list[str]:
        """Reasons to run ``stage`` now (empty: skip). Raises for a stage
        that cannot run (missing dependency or param)."""
        if stage.frozen:
            self.echo(f"Stage '{stage.address}' is frozen, skipping")
            return []
        paths = [d.repo_path for d in stage.deps] + [o.repo_path for o in stage.outs]
        self._materialize(paths, exact_ok=True)
        why = reasons(stage, self.lock(stage).get(stage.name), self.ws)
        forced = self.opts.force or (self.opts.force_downstream and upstream_ran)
        if forced and not why:
            why = ["forced"]
        if stage.address in self.always_run and not why:
            why = [self.always_run[stage.address]]
        if self.opts.dry and upstream_ran and not why:
            # Nothing ran, so its inputs look the same: say what a real run would find.
            why = ["an upstream stage would run first (its outputs may change)"]
        if not why:
            return []
        if self.opts.allow_missing and all(r.endswith("missing") for r in why):
            return []
        if not self.opts.dry:
            kept = [o.repo_path for o in stage.outs if o.persist or o.checkpoint]
            self._materialize([d.repo_path for d in stage.deps] + kept, exact_ok=False)
            self._materialize([o.repo_path for o in stage.outs], exact_ok=False, link=False)
            self._check_runnable(stage)
        return why

    def preflight(self, stages: list[Stage], *, running: bool = True) -> None:
        """Refuse, before anything is hashed, linked or run, what
        ``_check_runnable`` would refuse later from the disk alone: a
        ``wdir`` that is not a folder (when ``running``) and a dependency
        that neither exists, nor is assumed, nor is some stage's output. A
        refused command then leaves the stat index, the run-cache locks and
        the outputs of the stages before it as they were."""
        if self.opts.dry:
            return
        root, assumed = self.project.root, self.ws.assumed()
        for stage in stages:
            if stage.frozen:
                continue
            if running and not (root / stage.wdir).is_dir():
                where = f"{stage.dvcfile}:{stage.line}" if stage.line else stage.dvcfile
                raise PipelineError(
                    f"{where}: stage '{stage.address}': wdir '{stage.wdir}' is not a folder",
                    hint="Create the folder, or fix the stage's 'wdir'.",
                )
            if self.opts.allow_missing:
                continue
            for d in stage.deps:
                if (
                    self.graph.owner_of(d.repo_path) is None
                    and not os.path.lexists(root / d.repo_path)
                    and not any(overlaps(a, d.repo_path) for a in assumed)
                ):
                    raise _missing_dep(stage, d.path)

    def _check_runnable(self, stage: Stage) -> None:
        for d in stage.deps:
            absent = self.ws.file_state(d.path, d.repo_path) is None
            if absent and self.graph.owner_of(d.repo_path) is None:
                raise _missing_dep(stage, d.path)
        missing = missing_params(stage, self.ws)
        if missing:
            raise PipelineError(
                f"stage '{stage.address}': params missing: {', '.join(missing)}",
                hint="Add them to the params file or remove them from the stage's 'params'.",
            )

    # -- run-cache ----------------------------------------------------------

    def _run_key(self, stage: Stage, deps: list[FileState], prm: dict[str, Any]) -> str | None:
        outs = stage.outs
        if (
            self.opts.no_run_cache
            or stage.always_changed
            or not outs
            or any(not o.cache or o.persist or o.checkpoint for o in outs)
        ):
            return None
        doc = {
            "cmd": cmd_value(stage),
            "deps": [[d.path, d.value] for d in deps],
            "params": prm,
            "outs": [o.path for o in outs],
        }
        return core.hash_bytes(json.dumps(doc, sort_keys=True, default=str).encode())

    def _lock_run(self, stage: Stage) -> None:
        """Take the lock of this exact run (command, dependency hashes,
        params): when experiments running at once need the same stage, one
        computes it and the others wait here, then restore its result from
        the run-cache instead of computing it again."""
        import fcntl

        deps, prm = self._pending_state[stage.address]
        key = self._run_key(stage, deps, prm)
        if key is None:
            return
        path = self.project.cache_dir / "trails-runs" / "locks" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.echo(f"Stage '{stage.address}' is being computed by another run; waiting for it")
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._run_locks[stage.address] = fd

    def _unlock_run(self, stage: Stage) -> None:
        fd = self._run_locks.pop(stage.address, None)
        if fd is not None:
            os.close(fd)  # closing drops the flock

    def _run_cache_path(self, key: str) -> Path:
        return self.project.cache_dir / "trails-runs" / key[:2] / key[2:]

    def try_run_cache(self, stage: Stage) -> bool:
        deps, prm = self._pending_state[stage.address]
        key = self._run_key(stage, deps, prm)
        if key is None or not self._run_cache_path(key).is_file():
            return False
        raw = json.loads(self._run_cache_path(key).read_text())
        outs = [FileState(**o) for o in raw["outs"]]
        for state in outs:
            obj = core.object_path(self.project.cache_dir, state.bare_hash)
            if not os.path.exists(obj + (lockfile.TREE_SUFFIX if state.is_dir else "")):
                return False
        for o, state in zip(stage.outs, outs, strict=True):
            self._checkout(o, state)
        self.ws.forget([o.repo_path for o in stage.outs])
        self._record(stage, deps, prm, outs)
        return True

    def _checkout(self, out: Out, state: FileState) -> bool:
        """Make the output match ``state`` from the cache; True if it changed."""
        dest = self.project.root / out.repo_path
        # The stat index vouches for cache objects (recorded when stored), so
        # checkout's verification reads only objects it does not know.
        cache, types, index = (
            self.project.cache_dir,
            self.project.link_types,
            self.project.index_path,
        )
        if state.is_dir:
            r = core.checkout_tree(cache, state.bare_hash, dest, types, index)
            return bool(r.added or r.modified or r.deleted)
        return core.checkout_file(cache, state.value, dest, types, index, state.isexec) is not None

    def defer(self, repo_path: str, state: FileState, link: Callable[[], object]) -> None:
        """Count ``repo_path`` as present in ``state`` without creating it;
        ``link`` creates it when a stage that runs needs it."""
        self.ws.assume(repo_path, state)
        self._deferred[repo_path] = link

    def forget(self, repo_path: str) -> None:
        """Drop an assumption made by ``defer`` (the path will not be linked in)."""
        self._materialize([repo_path], exact_ok=False, link=False)

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
                self.defer(o.repo_path, state, functools.partial(self._checkout, o, state))

    def _materialize(self, paths: list[str], *, exact_ok: bool, link: bool = True) -> None:
        """Link in the assumed paths that overlap ``paths`` (with
        ``exact_ok``, not those equal to one: their assumed state answers);
        without ``link``, only drop the assumption (the path is about to be
        rewritten)."""
        for root in list(self._deferred):
            hit = any(overlaps(root, p) and not (exact_ok and root == p) for p in paths)
            if hit:
                make = self._deferred.pop(root)
                if link:
                    make()
                self.ws.forget([root])

    def checkout_outputs(self, stage: Stage) -> list[tuple[str, str]]:
        """Restore the stage's cached outputs as its lock entry records them:
        ``[("A" | "M", path)]`` for what changed. Every object is checked
        first; a missing one is an error and nothing is touched."""
        changes = []
        for o, state in self.cached_states(stage):
            existed = (self.project.root / o.repo_path).exists()
            if self._checkout(o, state):
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

    def commit_stage(self, stage: Stage) -> bool:
        """Record the stage as it is in the workspace (outputs stored, lock
        entry written) without running it; False if it was already recorded."""
        if not reasons(stage, self.lock(stage).get(stage.name), self.ws):
            return False
        self._check_runnable(stage)
        self.prepare(stage)
        self.commit(stage)
        return True

    # -- running and committing ---------------------------------------------

    def prepare(self, stage: Stage) -> None:
        """Remember the inputs the stage runs with; clear its outputs."""
        for o in stage.outs:  # before anything of the stage is cleared or restored
            check_output_folder(self.project.root, stage.dvcfile, stage.name, o.repo_path)
        self.ws.prefetch([d.repo_path for d in stage.deps])
        deps = [self.ws.file_state(d.path, d.repo_path) for d in stage.deps]
        self._pending_state[stage.address] = (
            [d for d in deps if d is not None],
            current_params(stage, self.ws),
        )

    def clear_outputs(self, stage: Stage) -> None:
        for o in stage.outs:
            p = self.project.root / o.repo_path
            if o.persist or o.checkpoint:
                if p.exists():
                    from trails.data import unprotect

                    unprotect(p)
            elif p.exists() or p.is_symlink():
                _remove(p)

    def commit(self, stage: Stage) -> None:
        """Store the outputs, record the lock entry and the run-cache entry."""
        with self._mutex:
            self._commit(stage)

    def checkpoint(self, stage: Stage) -> None:
        """A checkpoint signal: record the stage's outputs now (cache, lock
        file), then let the caller commit the checkpoint."""
        with self._mutex:
            self._commit(stage)
            self.write_locks()
            if self.on_checkpoint is not None:
                self.on_checkpoint(stage)

    def _commit(self, stage: Stage) -> None:
        deps, prm = self._pending_state[stage.address]
        self.ws.forget([o.repo_path for o in stage.outs])
        outs: list[FileState] = []
        for o in stage.outs:
            outs.append(self._save_output(stage, o))
        self._record(stage, deps, prm, outs)
        key = self._run_key(stage, deps, prm)
        if key is not None and not self.opts.no_commit:
            path = self._run_cache_path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"outs": [s.__dict__ for s in outs]}))
            os.replace(tmp, path)

    def _save_output(self, stage: Stage, o: Out) -> FileState:
        p = self.project.root / o.repo_path
        if not p.exists():
            raise PipelineError(
                f"stage '{stage.address}' did not create its output '{o.path}'",
                hint="Make the command write it, or remove it from the stage's outputs.",
            )
        if o.cache and not self.opts.no_commit:
            cache, index = self.project.cache_dir, self.project.index_path
            # Linked back per cache.type, as `trails add` does; never a
            # checkpoint output, which the running stage writes again.
            links = None if o.checkpoint else self.project.link_types
            if p.is_dir():
                t = core.store_tree(cache, p, index, links)
                state = FileState(
                    o.path, core.ALGORITHM, t.hash + lockfile.TREE_SUFFIX, t.size, t.nfiles
                )
            else:
                f = core.store_file(cache, p, index, links)
                state = FileState(o.path, core.ALGORITHM, f.hash, f.size, isexec=f.executable)
        else:
            got = self.ws.file_state(o.path, o.repo_path)
            assert got is not None
            state = got
        if o.cache and self.project.has_scm:
            changed = gitignore.ignore(self.project.root, o.repo_path)
            if changed:
                self.summary.gitignores.append(changed)
        return state

    def _record(
        self, stage: Stage, deps: list[FileState], prm: dict[str, Any], outs: list[FileState]
    ) -> None:
        self.lock(stage)[stage.name] = LockEntry(cmd_value(stage), deps, prm, outs)
        self.dirty_locks.add(stage.lock_path)
        if not self.opts.no_commit:
            cached = {o.path for o in stage.outs if o.cache}
            self.stored += [(s.path, s.value) for s in outs if s.path in cached]

    # -- the loop -----------------------------------------------------------

    def run(self, stages: list[Stage]) -> Summary:
        self.preflight(stages)
        try:
            self._loop(stages)
        finally:
            for w in self._watchers.values():
                w.stop()
            self._watchers.clear()
            for address in list(self._run_locks):
                os.close(self._run_locks.pop(address))
            if not self.opts.dry:
                self.write_locks()
        return self.summary

    def _start(self, stage: Stage, upstream_ran: bool) -> str:
        """Decide and start one stage; returns 'skip', 'restored' or 'run'."""
        why = self.decide(stage, upstream_ran)
        if not why:
            if not stage.frozen:
                self.echo(f"Stage '{stage.address}' didn't change, skipping")
            return "skip"
        if self.opts.dry:
            self.echo(f"'{stage.address}' would run because: " + "; ".join(why))
            self.echo(f"Running stage '{stage.address}':\n> " + "\n> ".join(stage.cmd))
            return "run"
        if self.opts.explain:
            self.echo(f"'{stage.address}' runs because: " + "; ".join(why))
        if self.confirm and not self.confirm(
            f"Going to reproduce stage: '{stage.address}'. Are you sure you want to continue?"
        ):
            self.echo(f"Skipped stage '{stage.address}': declined")
            return "declined"
        if self.before_first_command is not None:
            # Before the run lock: a worker waiting for a slot must not hold
            # a stage that a running experiment waits for.
            first, self.before_first_command = self.before_first_command, None
            first()
        self.prepare(stage)
        if not self.opts.force:
            self._lock_run(stage)
            if self.try_run_cache(stage):
                self._unlock_run(stage)
                self.echo(f"Restored '{stage.address}' from run-cache")
                return "restored"
        self.clear_outputs(stage)
        self.echo(f"Running stage '{stage.address}':\n> " + "\n> ".join(stage.cmd))
        return "run"

    def _loop(self, stages: list[Stage]) -> None:
        self._selected = {s.address for s in stages}
        self._result: dict[str, str] = {}  # address -> ran | restored | skip | failed | blocked
        self._failures: list[StageFailed] = []
        pending = list(stages)
        running: dict[Future[None], Stage] = {}
        jobs = 1 if self.confirm else max(1, self.opts.jobs)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            while pending or running:
                if self._failures and not self.opts.keep_going:
                    pending.clear()
                else:
                    self._launch_ready(pending, running, pool, jobs)
                if running:
                    done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                    for fut in done:
                        self._finish(running.pop(fut), fut)
        failures = self._failures
        if failures and not self.opts.ignore_errors:
            if len(failures) == 1:
                raise failures[0]
            raise TrailsError(
                f"{len(failures)} stages failed: " + ", ".join(f.stage.address for f in failures),
                hint=failures[0].hint,
            )

    def _launch_ready(
        self,
        pending: list[Stage],
        running: dict[Future[None], Stage],
        pool: ThreadPoolExecutor,
        jobs: int,
    ) -> None:
        """Decide every stage whose upstream stages are done; submit those
        that must run, up to ``jobs`` at once."""
        result = self._result
        for stage in list(pending):
            ups = [u for u in self.graph.upstream[stage.address] if u in self._selected]
            if any(result.get(u) in ("failed", "blocked", "declined") for u in ups):
                pending.remove(stage)
                result[stage.address] = "blocked"
                self.summary.blocked.append(stage.address)
                continue
            if len(running) >= jobs or not all(u in result for u in ups):
                continue
            pending.remove(stage)
            with self._mutex:
                what = self._start(stage, any(result[u] in ("ran", "restored") for u in ups))
            if what == "run" and not self.opts.dry:
                env = stage_env(self.project.root)
                if any(o.checkpoint for o in stage.outs):
                    from trails.api import WATCHER_PID
                    from trails.experiments.checkpoints import Watcher

                    env["DVC_CHECKPOINT"] = "1"
                    env[WATCHER_PID] = str(os.getpid())
                    self._watchers[stage.address] = Watcher(
                        self.project.root, functools.partial(self.checkpoint, stage)
                    ).start()
                running[pool.submit(self.runner.run, stage, self.project.root, env)] = stage
                continue
            outcome = {"skip": "skip", "restored": "restored", "declined": "declined"}.get(
                what, "ran"
            )
            result[stage.address] = outcome
            {
                "skip": self.summary.unchanged,
                "restored": self.summary.restored,
                "declined": self.summary.declined,
            }.get(outcome, self.summary.ran).append(stage.address)

    def _finish(self, stage: Stage, fut: Future[None]) -> None:
        try:
            self._finish_stage(stage, fut)
        finally:
            self._unlock_run(stage)

    def _finish_stage(self, stage: Stage, fut: Future[None]) -> None:
        watcher = self._watchers.pop(stage.address, None)
        if watcher is not None:
            watcher.stop()
            if watcher.error is not None:
                self.echo(f"Error: recording a checkpoint of '{stage.address}': {watcher.error}")
        try:
            fut.result()
            self.commit(stage)
        except StageFailed as exc:
            self._result[stage.address] = "failed"
            self.summary.failed.append(stage.address)
            self._failures.append(exc)
            if self.opts.keep_going or self.opts.ignore_errors:
                self.echo(f"Error: {exc}" + (" (ignored)" * self.opts.ignore_errors))
            return
        self._result[stage.address] = "ran"
        self.summary.ran.append(stage.address)


def _missing_dep(stage: Stage, path: str) -> PipelineError:
    return PipelineError(
        f"stage '{stage.address}': dependency '{path}' does not exist",
        hint="Create it, add it with 'trails add', or fix the stage's 'deps'.",
    )
