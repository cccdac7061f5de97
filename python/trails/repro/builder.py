"""The scheduling loop of ``repro``: select the stages, decide which are
stale (``plan``), run them (``runner``), keep their outputs (``outputs``)
and record them in ``dvc.lock`` (``locks``). Straight-line: select -> for
each ready stage: decide -> run -> commit. Independent stages run in
parallel with ``jobs > 1``. What happens is reported to a ``Status``; the
callers' say (experiments, the queue) comes in through ``Hooks``."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from trails.errors import TrailsError
from trails.pipeline.graph import Graph
from trails.pipeline.stage import Stage
from trails.project import Project
from trails.repro import plan
from trails.repro.outputs import Outputs
from trails.repro.plan import reasons
from trails.repro.runcache import RunLocks
from trails.repro.selection import ReproOptions
from trails.repro.status import Outcome, Status, Summary
from trails.repro.workspace import Workspace
from trails.runner import Runner, StageFailed, stage_env


@dataclass(frozen=True)
class Hooks:
    """What the caller adds to a run. ``before_first_command``: called
    once, when the first stage that must run has been decided (the queue's
    workers wait there for a slot, planning done). ``on_checkpoint``:
    called after a checkpoint signal's outputs and lock are recorded.
    ``always_run``: stages that run even when nothing changed, with the
    reason to print (checkpoint stages of an experiment continue training
    from their last checkpoint). ``env``: added to every command's
    environment (an experiment's ``DVC_EXP_*``), so the caller never
    changes this process's own."""

    before_first_command: Callable[[], None] | None = None
    on_checkpoint: Callable[[Stage], None] | None = None
    always_run: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)


class Builder:
    def __init__(
        self,
        project: Project,
        graph: Graph,
        opts: ReproOptions,
        runner: Runner,
        status: Status,
        confirm: Callable[[str], bool] | None = None,
        hooks: Hooks | None = None,
    ) -> None:
        self.project = project
        self.hooks = hooks or Hooks()
        self._first_done = False
        #: Checkpoint signals are handled on a watcher thread while the loop
        #: goes on: both take this before touching lock entries or the cache.
        self._mutex = threading.RLock()
        self._watchers: dict[str, Any] = {}
        self._run_locks = RunLocks(project.cache_dir)
        self.graph = graph
        self.opts = opts
        self.runner = runner
        self.status = status
        self.confirm = confirm
        self.outputs = Outputs(
            project, graph, no_commit=opts.no_commit, no_run_cache=opts.no_run_cache
        )
        self.summary = Summary()
        self.summary.gitignores = self.outputs.gitignores

    @property
    def ws(self) -> Workspace:
        return self.outputs.ws

    @property
    def stored(self) -> list[tuple[str, str]]:
        """``(path, hash)`` of the cached outputs this run recorded."""
        return self.outputs.stored

    def write_locks(self) -> None:
        for relpath in self.outputs.locks.write(self.status.lock_note):
            self.summary.locks_written.append(relpath)
            self.status.lock_written(relpath)

    # -- deciding -------------------------------------------------------------

    def decide(self, stage: Stage, upstream_ran: bool) -> list[str]:
        """Reasons to run ``stage`` now (empty: skip). Raises for a stage
        that cannot run (missing dependency or param)."""
        if stage.frozen:
            self.status.stage_frozen(stage.address)
            return []
        paths = [d.repo_path for d in stage.deps] + [o.repo_path for o in stage.outs]
        self.ws.materialize(paths, exact_ok=True)
        why = reasons(stage, self.outputs.lock(stage).get(stage.name), self.ws)
        forced = self.opts.force or (self.opts.force_downstream and upstream_ran)
        if forced and not why:
            why = ["forced"]
        if stage.address in self.hooks.always_run and not why:
            why = [self.hooks.always_run[stage.address]]
        if self.opts.dry and upstream_ran and not why:
            # Nothing ran, so its inputs look the same: say what a real run would find.
            why = ["an upstream stage would run first (its outputs may change)"]
        if not why:
            return []
        if self.opts.allow_missing and all(r.endswith("missing") for r in why):
            return []
        if not self.opts.dry:
            kept = [o.repo_path for o in stage.outs if o.persist or o.checkpoint]
            self.ws.materialize([d.repo_path for d in stage.deps] + kept, exact_ok=False)
            self.ws.materialize([o.repo_path for o in stage.outs], exact_ok=False, link=False)
            plan.check_runnable(stage, self.graph, self.ws)
        return why

    def preflight(self, stages: list[Stage]) -> None:
        """``plan.preflight`` for a real run (a dry one checks nothing)."""
        if self.opts.dry:
            return
        plan.preflight(
            self.project.root, self.graph, self.ws, stages, allow_missing=self.opts.allow_missing
        )

    # -- running and committing ---------------------------------------------

    def _lock_run(self, stage: Stage) -> None:
        """Take the lock of this exact run (command, dependency hashes,
        params): when experiments running at once need the same stage, one
        computes it and the others wait here, then restore its result from
        the run-cache instead of computing it again."""
        key = self.outputs.run_key(stage)
        if key is not None:
            waiting = functools.partial(self.status.stage_waiting, stage.address)
            self._run_locks.take(stage.address, key, waiting)

    def commit(self, stage: Stage) -> None:
        """Store the outputs, record the lock entry and the run-cache entry."""
        with self._mutex:
            self.outputs.save(stage)

    def checkpoint(self, stage: Stage) -> None:
        """A checkpoint signal: record the stage's outputs now (cache, lock
        file), then let the caller commit the checkpoint."""
        with self._mutex:
            self.outputs.save(stage)
            self.write_locks()
            self.status.checkpoint_stored(stage.address)
            if self.hooks.on_checkpoint is not None:
                self.hooks.on_checkpoint(stage)

    # -- the loop -----------------------------------------------------------

    def run(self, stages: list[Stage]) -> Summary:
        self.preflight(stages)
        try:
            self._loop(stages)
        finally:
            for w in self._watchers.values():
                w.stop()
            self._watchers.clear()
            self._run_locks.release_all()
            if not self.opts.dry:
                self.write_locks()
        return self.summary

    def _extra_env(self) -> dict[str, str]:
        """The caller's variables (an experiment's ``DVC_EXP_*``), and with
        ``--pdb`` the flag a task's worker reads to debug a failure."""
        if not self.opts.pdb:
            return dict(self.hooks.env)
        from trails.tasks.run import PDB

        return {**self.hooks.env, PDB: "1"}

    def _start(self, stage: Stage, upstream_ran: bool) -> Outcome:
        """Decide and start one stage: SKIPPED, RESTORED, DECLINED, or RAN
        (its command is to run now)."""
        why = self.decide(stage, upstream_ran)
        if not why:
            if not stage.frozen:
                self.status.stage_skipped(stage.address)
            return Outcome.SKIPPED
        if self.opts.dry:
            self.status.stage_would_run(stage.address, why, stage.cmd)
            return Outcome.RAN
        if self.opts.explain:
            self.status.stage_explained(stage.address, why)
        if self.confirm and not self.confirm(
            f"Going to reproduce stage: '{stage.address}'. Are you sure you want to continue?"
        ):
            self.status.stage_declined(stage.address)
            return Outcome.DECLINED
        if self.hooks.before_first_command is not None and not self._first_done:
            # Before the run lock: a worker waiting for a slot must not hold
            # a stage that a running experiment waits for.
            self._first_done = True
            self.hooks.before_first_command()
        self.outputs.prepare(stage)
        if not self.opts.force:
            self._lock_run(stage)
            if self.outputs.restore(stage):
                self._run_locks.release(stage.address)
                self.status.stage_restored(stage.address)
                return Outcome.RESTORED
        self.outputs.clear(stage)
        self.status.stage_started(stage.address, stage.cmd)
        return Outcome.RAN

    def _loop(self, stages: list[Stage]) -> None:
        self._selected = {s.address for s in stages}
        self._result: dict[str, Outcome] = {}
        self._failures: list[StageFailed] = []
        pending = list(stages)
        running: dict[Future[None], Stage] = {}
        jobs = 1 if self.confirm or self.opts.pdb else max(1, self.opts.jobs)
        keep_going = self.opts.keep_going and not self.opts.exitfirst
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            while pending or running:
                if self._failures and not keep_going:
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

    def _prefetch_ready(self, pending: list[Stage]) -> None:
        """Hash the paths of the stages about to be decided in one batch
        (one stat-index load, one parallel pass: 1,000 tasks cost one, not
        1,000): before anything ran, every stage's (the workspace keeps a
        hash for the command's duration, and forgets an output when its
        stage writes it, so a downstream stage hashes it again); later,
        those ready, none of which is another's output or written by a
        running stage. Not with assumed paths (a run folder): linking one
        in would leave hashes of paths inside it stale."""
        if self.ws.assumed():
            return
        done = self._result
        ready = [
            s
            for s in pending
            if not done
            or all(u in done for u in self.graph.upstream[s.address] if u in self._selected)
        ]
        if len(ready) > 1:
            paths = [d.repo_path for s in ready for d in s.deps]
            self.ws.prefetch(paths + [o.repo_path for s in ready for o in s.outs])

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
        stopped = (Outcome.FAILED, Outcome.BLOCKED, Outcome.DECLINED)
        self._prefetch_ready(pending)
        for stage in list(pending):
            ups = [u for u in self.graph.upstream[stage.address] if u in self._selected]
            if any(result.get(u) in stopped for u in ups):
                pending.remove(stage)
                result[stage.address] = Outcome.BLOCKED
                self.summary.blocked.append(stage.address)
                continue
            if len(running) >= jobs or not all(u in result for u in ups):
                continue
            pending.remove(stage)
            upstream_ran = any(result[u] in (Outcome.RAN, Outcome.RESTORED) for u in ups)
            with self._mutex:
                outcome = self._start(stage, upstream_ran)
            if outcome is Outcome.RAN and not self.opts.dry:
                env = stage_env(self.project.root, self._extra_env())
                if stage.has_checkpoints:
                    from trails.repro.signal import WATCHER_PID, Watcher

                    env["DVC_CHECKPOINT"] = "1"
                    env[WATCHER_PID] = str(os.getpid())
                    self._watchers[stage.address] = Watcher(
                        self.project.root, functools.partial(self.checkpoint, stage)
                    ).start()
                running[pool.submit(self.runner.run, stage, self.project.root, env)] = stage
                continue
            result[stage.address] = outcome
            {
                Outcome.SKIPPED: self.summary.unchanged,
                Outcome.RESTORED: self.summary.restored,
                Outcome.DECLINED: self.summary.declined,
            }.get(outcome, self.summary.ran).append(stage.address)

    def _finish(self, stage: Stage, fut: Future[None]) -> None:
        try:
            self._finish_stage(stage, fut)
        finally:
            self._run_locks.release(stage.address)

    def _finish_stage(self, stage: Stage, fut: Future[None]) -> None:
        watcher = self._watchers.pop(stage.address, None)
        if watcher is not None:
            watcher.stop()
            if watcher.error is not None:
                self.status.checkpoint_failed(stage.address, watcher.error)
        try:
            fut.result()
            self.commit(stage)
        except StageFailed as exc:
            self._result[stage.address] = Outcome.FAILED
            self.summary.failed.append(stage.address)
            self._failures.append(exc)
            if self.opts.keep_going or self.opts.ignore_errors:
                self.status.stage_failed(stage.address, exc, self.opts.ignore_errors)
            return
        except TrailsError:
            # The run stops here (a task server that died, an output that
            # cannot be stored); the summary still counts the stage, failed.
            self._result[stage.address] = Outcome.FAILED
            self.summary.failed.append(stage.address)
            raise
        self._result[stage.address] = Outcome.RAN
        self.summary.ran.append(stage.address)
