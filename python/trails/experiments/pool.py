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
pool.

``--jobs`` is a number of slots: an experiment holds one while its stages'
commands run. Workers for the next entries are started before a slot is
free and wait for one once their first command is due (``worker.PoolSlot``),
so checking out and planning overlap the running experiments, and so does
recording, which happens after the slot is given back."""

from __future__ import annotations

import contextlib
import enum
import importlib.machinery
import json
import multiprocessing.connection
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING

from trails.experiments import forkserver, queue, refs
from trails.experiments.records import EntryListing, RecordError, RunResult, RunStatus, WorkerExit
from trails.git import Git
from trails.project import Project

if TYPE_CHECKING:
    from trails.experiments.display import DisplayFactory, QueueStatus

#: Longest wait between looks at the stage files (and at ``draining``);
#: a worker that exits wakes the loop at once (its sentinel).
POLL = 0.25


@dataclass
class PoolResult:
    done: list[tuple[str, str]] = field(default_factory=list)  # (id, name)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)
    left: list[str] = field(default_factory=list)

    def check(self) -> None:
        """A run with failed experiments is an error (the others were
        recorded)."""
        if self.failed:
            from trails.errors import TrailsError

            raise TrailsError(
                f"{len(self.failed)} experiment(s) failed: " + ", ".join(i for i, _ in self.failed),
                hint="'trails queue logs <id>' shows a log; the others were recorded.",
            )


class WorkerState(enum.Enum):
    """Where a worker is, as the pool sees it."""

    #: Preparing its folder, or prepared and waiting for a slot.
    WAITING = "waiting"
    #: Holds a slot: its stages run.
    RUNNING = "running"
    #: Stages over, slot given back: it records the experiment and exits.
    FINISHING = "finishing"
    #: Let go before it started: it cleans up and exits, its entry still queued.
    RELEASED = "released"


@dataclass
class _Running:
    """A worker and the pool's end of its pipe."""

    entry: queue.Entry
    proc: BaseProcess
    conn: Connection
    started: float
    folder: Path
    state: WorkerState = WorkerState.WAITING


def _start(
    ctx: ForkServerContext,
    project: Project,
    entry: queue.Entry,
    facts: dict[str, object],
    folder: Path,
    listing: EntryListing | None,
) -> _Running:
    """``listing``: the entry's parents and message as the pool listed them
    (the worker then reads no Git for them)."""
    from trails.experiments import worker

    rundir = queue.run_dir(project.root, entry.id)
    rundir.path.mkdir(parents=True, exist_ok=True)
    # What an earlier run left (result, stage, log) is the worker's to
    # clear once it holds the entry: another pool's worker may run it now.
    log = rundir.log
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(
        target=worker.child,
        args=(
            str(project.root),
            entry.ref,
            str(log),
            json.dumps(facts),
            theirs,
            str(folder),
            entry.sha,
            listing.encode().decode() if listing is not None else "",
        ),
    )
    with _main_skipped_by_children():
        proc.start()
    theirs.close()
    return _Running(entry, proc, ours, time.monotonic(), folder)


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


def _outcome(project: Project, r: _Running) -> RunResult | None:
    """The worker's result; None if it left none (it was killed)."""
    try:
        return queue.run_dir(project.root, r.entry.id).read_result()
    except RecordError as exc:
        return RunResult(status=RunStatus.FAILED, error=str(exc))


def _lost(r: _Running) -> str:
    code = r.proc.exitcode
    if code is not None and code < 0:
        how = f"was killed by signal {-code}"
    else:
        how = f"exited with {code}"
    return f"worker {how} and no result"


def _interrupt(workers: list[_Running]) -> None:
    for r in workers:
        _killpg(r.proc, signal.SIGINT)
    deadline = time.monotonic() + 10
    for r in workers:
        r.proc.join(timeout=max(0.1, deadline - time.monotonic()))
        if r.proc.exitcode is None:
            _killpg(r.proc, signal.SIGKILL)
            r.proc.join()


def run_all(
    project: Project,
    jobs: int,
    echo: Callable[[str], None],
    draining: Callable[[], bool] = lambda: False,
    show: DisplayFactory | None = None,
) -> PoolResult:
    """Run the queue with ``jobs`` experiments at once, in FIFO order.
    ``draining`` true: start no new entry, let the running ones finish
    (``queue stop``). ``show`` makes the display from the entry ids and
    ``jobs`` (the CLI's draws a live table on a terminal); default: the
    plain lines through ``echo``.

    A slot is held while an experiment's stages run; up to ``jobs`` more
    workers prepare meanwhile and wait for one. A worker gives its slot
    back when its stages are over, before it records the experiment."""
    from trails.experiments.display import QueueDisplay

    git = Git(project.root)
    listed, listings = queue.listed(git)
    pending = deque(listed)
    ids = [e.id for e in pending]
    display: QueueStatus = show(ids, jobs) if show else QueueDisplay(ids, jobs, echo)
    pool = _Pool(project, jobs, git.facts(), pending, display, listings)
    _remove_orphan_folders(project)
    with display:
        try:
            spare = 0
            while (pending and not draining()) or pool.workers:
                stopping = draining()
                pool.grant(stopping)  # first: a prepared worker starts now
                if not stopping:
                    pool.fill(spare)
                    pool.grant(stopping)
                # As many workers again prepare ahead of a free slot (their
                # entry checked out, their stages planned), so each starts
                # its first command the moment a slot frees: ~40 ms of every
                # experiment hidden. Not in the first round: at the start
                # they would compete with the first experiments for the CPU.
                spare = jobs
                pool.wait()
                pool.reap()
        except KeyboardInterrupt:
            _interrupt(pool.workers)
            pool.result.left += [r.entry.id for r in pool.workers]
            pool.workers.clear()
            raise
        finally:
            pool.result.left += [e.id for e in pending]
            for i in pool.result.left:
                display.left(i)
            pool.release_folders()
    refs.pack_many(git)
    return pool.result


#: The kept folders: ``.dvc/tmp/exps/pool-<n>/``, each taken by one pool
#: at a time (``pool-<n>.lock``, ``pids.claim``) and kept after it, so
#: that the next queue run moves it by a diff too.
FOLDER_PREFIX = "pool-"


def _remove_orphan_folders(project: Project) -> None:
    """Folders of the earlier layout, one set per pool
    (``pool-<pid>-<n>/``), whose pool is gone."""
    from trails.experiments.folders import remove_folder
    from trails.pids import alive

    exps = project.tmp_dir / "exps"
    for d in exps.glob(FOLDER_PREFIX + "*-*") if exps.is_dir() else ():
        pid, _, n = d.name.removeprefix(FOLDER_PREFIX).partition("-")
        legacy = d.is_dir() and not d.is_symlink() and pid.isdigit() and n.isdigit()
        if legacy and not alive(int(pid)):
            remove_folder(d)


def _lock(folder: Path) -> Path:
    return folder.with_name(folder.name + ".lock")


@dataclass
class _Pool:
    project: Project
    jobs: int
    facts: dict[str, object]  # Git facts for the workers (Git.facts)
    pending: deque[queue.Entry]
    display: QueueStatus
    #: Each pending entry's parents and message, by ref (``queue.listed``).
    listings: dict[str, EntryListing] = field(default_factory=dict)
    workers: list[_Running] = field(default_factory=list)
    result: PoolResult = field(default_factory=PoolResult)
    ctx: ForkServerContext = field(default_factory=forkserver.context)
    #: Kept folders no worker uses now. A worker keeps its folder for the
    #: next entry, which moves it by the diff of their commits: the cost
    #: per experiment follows what changed, not how many files Git tracks.
    free: list[Path] = field(default_factory=list)
    #: The kept folders this pool holds (their locks taken), oldest first.
    held: list[Path] = field(default_factory=list)
    #: When the stage files were last looked at (``wait``).
    polled: float = 0.0

    def _folder(self) -> Path:
        """A free folder, else the first kept folder no other pool holds
        (one an earlier run left is moved by a diff, like a free one)."""
        from trails.pids import claim

        if self.free:
            return self.free.pop()
        exps, n = self.project.tmp_dir / "exps", 0
        while True:
            n += 1
            folder = exps / f"{FOLDER_PREFIX}{n}"
            if claim(_lock(folder)):
                self.held.append(folder)
                return folder

    def release_folders(self) -> None:
        """Let the folders go, kept for the next run: those whose last
        experiment was recorded (the others, checked out afresh at their
        next use anyway, are removed)."""
        from trails.experiments.folders import holds, remove_folder

        for folder in self.held:
            if holds(folder) is None:
                remove_folder(folder)
            _lock(folder).unlink(missing_ok=True)

    def _count(self, state: WorkerState) -> int:
        return sum(r.state == state for r in self.workers)

    def fill(self, spare: int) -> None:
        """Start workers for the next entries: one per free slot, plus
        ``spare`` that prepare and wait; each in a kept folder, of which
        there are at most twice ``jobs`` (a worker still recording holds
        its own: the next waits for it rather than check out a new one)."""
        while (
            self.pending
            and self._count(WorkerState.RUNNING) + self._count(WorkerState.WAITING)
            < (self.jobs + spare)
            and (self.free or len(self.held) < 2 * self.jobs)
        ):
            entry = self.pending.popleft()
            listing = self.listings.pop(entry.ref, None)
            self.workers.append(
                _start(self.ctx, self.project, entry, self.facts, self._folder(), listing)
            )

    def grant(self, draining: bool) -> None:
        """Free slots to waiting workers, oldest first; draining, every
        waiting worker is let go (its entry stays queued)."""
        for r in self.workers:
            if r.state is WorkerState.WAITING and (
                draining or self._count(WorkerState.RUNNING) < self.jobs
            ):
                _grant(r, draining, self.display)

    def wait(self) -> None:
        """Until a worker exits or gives its slot back (or ``POLL``)."""
        ready = multiprocessing.connection.wait(
            [r.proc.sentinel for r in self.workers]
            + [r.conn for r in self.workers if r.state is WorkerState.RUNNING],
            POLL,
        )
        for r in self.workers:
            if r.state is WorkerState.RUNNING and r.conn in ready:
                r.state = WorkerState.FINISHING  # its slot is free (or it died)
        now = time.monotonic()
        if now - self.polled >= POLL:
            # The stage names are for the display: a look per POLL, not per
            # wake (at --jobs 32, a worker's events wake this loop several
            # times per experiment, and each look reads every running
            # entry's stage file).
            self.polled = now
            self.display.poll_stages(lambda i: queue.run_dir(self.project.root, i).path)

    def reap(self) -> None:
        for r in [r for r in self.workers if r.proc.exitcode is not None]:
            self.workers.remove(r)
            r.conn.close()
            _report(self.project, r, self.result, self.display)
            self.free.append(r.folder)


def _grant(r: _Running, draining: bool, display: QueueStatus) -> None:
    """Give a waiting worker its slot, or (draining) let it go: it removes
    its folder and leaves its entry queued."""
    try:
        if draining:
            r.conn.close()
            r.state = WorkerState.RELEASED
            return
        r.conn.send_bytes(b"go")
    except OSError:  # it died while preparing: its exit is reported
        r.state = WorkerState.FINISHING
        return
    r.state = WorkerState.RUNNING
    r.started = time.monotonic()
    display.started(r.entry.id)


def _report(project: Project, r: _Running, result: PoolResult, display: QueueStatus) -> None:
    if r.proc.exitcode == WorkerExit.TAKEN:
        # Its result, if any, is the other worker's (and its pool's to report).
        display.taken(r.entry.id)
        return
    out = _outcome(project, r)
    if out is not None and out.status is RunStatus.SUCCESS and r.proc.exitcode != WorkerExit.DONE:
        out = None  # noted just before its ref went, then killed: maybe not recorded
    secs = time.monotonic() - r.started
    if out is not None and out.status is RunStatus.SUCCESS:
        result.done.append((r.entry.id, out.name))
        display.done(r.entry.id, out.name, secs)
    elif r.proc.exitcode in (WorkerExit.RELEASED, WorkerExit.INTERRUPTED):
        result.left.append(r.entry.id)  # let go before it started; interrupted (queue kill)
    else:
        if out is None:
            _after_killed_worker(project, r.entry, r.folder)
        reason = (out.error or "failed") if out is not None else _lost(r)
        result.failed.append((r.entry.id, reason))
        log = queue.run_dir(project.root, r.entry.id).log
        display.failed(r.entry.id, reason, project.rel(log))


def _after_killed_worker(project: Project, entry: queue.Entry, folder: Path) -> None:
    """What a worker killed outright (SIGKILL, out of memory) could not do
    itself: mark its entry failed, remove its folder and its lock. Its log
    stays."""
    from trails.experiments.folders import remove_folder

    git = Git(project.root)
    rundir = queue.run_dir(project.root, entry.id)
    if git.rev_parse(entry.ref) is not None:
        queue.mark_failed(git, entry)
        rundir.result.unlink(missing_ok=True)  # a success noted before the ref went
    remove_folder(folder)
    for path in (rundir.lock, rundir.stage, rundir.folder):
        path.unlink(missing_ok=True)
