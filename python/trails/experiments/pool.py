"""``exp run --run-all --jobs N``: N worker processes drain the queue in
FIFO order. Each entry gets its own process (``worker.child``), in its own
session, logging to ``.dvc/tmp/exps/run/<id>/output.log``; this process
only schedules and shows progress. Ctrl+C interrupts every running
experiment's whole process group, waits for the workers to clean up, and
leaves the unfinished entries in the queue.

Workers come from a multiprocessing *forkserver*: a server process, spawned
once per queue run, imports trails and then forks one child per entry. Each
experiment still gets a fresh process (a crash or a kill touches only its
entry) without paying the interpreter start and imports again: about 80 ms
of every experiment's overhead with one ``python -m`` process per entry.
The server never calls into the Rust core, so its forks inherit no thread
pool."""

from __future__ import annotations

import contextlib
import importlib.machinery
import json
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

from trails.experiments import queue
from trails.git import Git
from trails.project import Project

if TYPE_CHECKING:
    from trails.experiments.display import QueueDisplay

#: Longest wait between looks at the stage files (and at ``draining``);
#: a worker that exits wakes the loop at once (its sentinel).
POLL = 0.25


@dataclass
class PoolResult:
    done: list[tuple[str, str]] = field(default_factory=list)  # (id, name)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)
    left: list[str] = field(default_factory=list)


#: What the forkserver imports once, before forking any worker.
PRELOAD = [
    "trails.experiments.worker",
    "trails.experiments.executor",
    "trails.runner",
    "trails.data",
    "trails.params.yamlfile",
    "trails.pipeline.dvcfile",
    "trails.progress",
]


@dataclass
class _Running:
    entry: queue.Entry
    proc: BaseProcess
    started: float


def _context() -> ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    assert isinstance(ctx, ForkServerContext)
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def prestart() -> None:
    """Start the forkserver now, before this process has listed the queue:
    its imports of trails (~0.1 s) then run on another core while the CLI
    goes on, instead of delaying the first experiment. ``run_all`` uses the
    same server (a second ``ensure_running`` finds it alive)."""
    from multiprocessing import forkserver

    _context()
    forkserver.ensure_running()


def _start(
    ctx: ForkServerContext, project: Project, entry: queue.Entry, facts: dict[str, object]
) -> _Running:
    from trails.experiments import worker

    rundir = queue.run_dir(project.root, entry.id)
    rundir.mkdir(parents=True, exist_ok=True)
    (rundir / "result.json").unlink(missing_ok=True)
    (rundir / "stage").unlink(missing_ok=True)  # left by a worker that was killed
    log = rundir / "output.log"
    proc = ctx.Process(
        target=worker.child, args=(str(project.root), entry.ref, str(log), json.dumps(facts))
    )
    with _main_skipped_by_children():
        proc.start()
    return _Running(entry, proc, time.monotonic())


@contextlib.contextmanager
def _main_skipped_by_children() -> Iterator[None]:
    """Run as the ``trails`` script, ``__main__`` has a path and no module
    name, and multiprocessing makes every child run that script again
    before its target (its "fix-up" of the main module: the whole CLI
    imported once more, ~50 ms per experiment; Python 3.11's forkserver
    cannot preload it either). Named as a package's ``__main__`` module,
    it is skipped: the worker needs nothing from it."""
    main = sys.modules["__main__"]
    if getattr(main, "__spec__", None) is not None:
        yield
        return
    main.__spec__ = importlib.machinery.ModuleSpec("trails.__main__", None)
    try:
        yield
    finally:
        main.__spec__ = None


def _killpg(proc: BaseProcess, sig: int) -> None:
    """Signal the worker's session (its stages too); the worker itself if it
    has not made its session yet."""
    assert proc.pid is not None
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)


def _outcome(project: Project, r: _Running) -> dict[str, str]:
    path = queue.run_dir(project.root, r.entry.id) / "result.json"
    try:
        doc = json.loads(path.read_text())
        return {str(k): str(v) for k, v in doc.items()}
    except (OSError, ValueError):
        code = r.proc.exitcode
        how = (
            f"was killed by signal {-code}"
            if code is not None and code < 0
            else f"exited with {code}"
        )
        return {"status": "lost", "error": f"worker {how} and no result"}


def _interrupt(running: list[_Running]) -> None:
    for r in running:
        _killpg(r.proc, signal.SIGINT)
    deadline = time.monotonic() + 10
    for r in running:
        r.proc.join(timeout=max(0.1, deadline - time.monotonic()))
        if r.proc.exitcode is None:
            _killpg(r.proc, signal.SIGKILL)
            r.proc.join()


def run_all(
    project: Project,
    jobs: int,
    echo: Callable[[str], None],
    draining: Callable[[], bool] = lambda: False,
    live: bool | None = False,
) -> PoolResult:
    """Run the queue with ``jobs`` workers. ``draining`` true: start no new
    entry, let the running ones finish (``queue stop``). ``live`` None: a
    live table when stdout is a terminal (see ``display``); False: the
    plain lines through ``echo``."""
    from trails.experiments.display import QueueDisplay

    git = Git(project.root)
    pending = deque(queue.entries(git))
    result = PoolResult()
    running: list[_Running] = []
    display = QueueDisplay([e.id for e in pending], jobs, echo, live=live)
    ctx = _context()
    facts = git.facts()  # asked once here, not in every worker

    def run_dir_of(entry_id: str) -> Path:
        return queue.run_dir(project.root, entry_id)

    with display:
        try:
            while (pending and not draining()) or running:
                while pending and len(running) < jobs and not draining():
                    entry = pending.popleft()
                    running.append(_start(ctx, project, entry, facts))
                    display.started(entry.id)
                multiprocessing.connection.wait([r.proc.sentinel for r in running], POLL)
                display.poll_stages(run_dir_of)
                for r in [r for r in running if r.proc.exitcode is not None]:
                    running.remove(r)
                    _report(project, r, result, display)
        except KeyboardInterrupt:
            _interrupt(running)
            result.left = [r.entry.id for r in running] + [e.id for e in pending]
            for i in result.left:
                display.left(i)
            raise
        result.left = [e.id for e in pending]
        for i in result.left:
            display.left(i)
    return result


def _report(project: Project, r: _Running, result: PoolResult, display: QueueDisplay) -> None:
    out = _outcome(project, r)
    secs = time.monotonic() - r.started
    if out.get("status") == "success":
        result.done.append((r.entry.id, out.get("name", "")))
        display.done(r.entry.id, out.get("name", ""), secs)
    elif r.proc.exitcode == 3:
        display.taken(r.entry.id)
    else:
        if out.get("status") == "lost":
            _after_killed_worker(project, r.entry)
        reason = out.get("error", "failed")
        result.failed.append((r.entry.id, reason))
        log = queue.run_dir(project.root, r.entry.id) / "output.log"
        display.failed(r.entry.id, reason, project.rel(log))


def _after_killed_worker(project: Project, entry: queue.Entry) -> None:
    """What a worker killed outright (SIGKILL, out of memory) could not do
    itself: mark its entry failed, remove its temporary folder and its lock.
    Its log stays."""
    import shutil

    from trails.experiments.executor import work_dir

    git = Git(project.root)
    if git.rev_parse(entry.ref) is not None:
        queue.mark_failed(git, entry)
    shutil.rmtree(work_dir(project, entry), ignore_errors=True)
    rundir = queue.run_dir(project.root, entry.id)
    for name in ("lock", "stage"):
        (rundir / name).unlink(missing_ok=True)
