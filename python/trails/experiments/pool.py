"""``exp run --run-all --jobs N``: workers drain the queue in FIFO order,
``jobs`` experiments at once. A worker is a long-lived process
(``worker.serve``), forked once from this one (which has imported what it
runs) and kept for the run: it runs the entries sent to it one after
another in its own kept folder, in its own session, each logging to
``.dvc/tmp/exps/run/<id>/output.log``; this process only schedules and
shows progress. A fork per entry, and its start-up and exit, cost about
as much CPU as the experiment's own work (``benches/RESULTS-queue.md``).
A worker that crashes or is killed takes only the entry it runs with it
(reported failed, or left queued after ``queue kill``); another is forked
if needed. Ctrl+C interrupts every running experiment's whole process
group, waits for the workers to clean up, and leaves the unfinished
entries in the queue.

``--jobs`` is a number of slots: an experiment holds one while its stages'
commands run. Workers for the next entries are given them before a slot is
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
from multiprocessing.context import ForkContext, ForkServerContext
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

    #: No entry: it waits for the pool to send one.
    IDLE = "idle"
    #: Preparing its folder, or prepared and waiting for a slot.
    WAITING = "waiting"
    #: Holds a slot: its stages run.
    RUNNING = "running"
    #: Stages over, slot given back: it records the experiment.
    FINISHING = "finishing"
    #: Let go before it started: it cleans up and exits, its entry still queued.
    RELEASED = "released"
    #: Its pipe closed by the pool (nothing left to run): it exits.
    RETIRED = "retired"


@dataclass
class _Worker:
    """A long-lived worker (``worker.serve``), the pool's end of its pipe,
    its kept folder, and the entry it runs now (None: idle)."""

    proc: BaseProcess
    conn: Connection
    folder: Path
    entry: queue.Entry | None = None
    started: float = 0.0
    state: WorkerState = WorkerState.IDLE


def _single_threaded() -> bool:
    """Whether this process runs one thread only, the one condition for
    forking it safely (a fork copies no other thread, and none of the locks
    another thread held would ever be let go in the child: the live table's
    thread writing to stdout). The core ends its threads before each call
    returns (``trails.core``); this also counts threads Python does not know."""
    import threading

    if threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


@contextlib.contextmanager
def _main_skipped_by_children() -> Iterator[None]:
    """Run as the ``trails`` script, ``__main__`` has a path and no module
    name, and multiprocessing makes every child run that script again
    before its target (its "fix-up" of the main module: the whole CLI
    imported once more, ~50 ms per worker; Python 3.11's forkserver
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


def _outcome(project: Project, entry: queue.Entry) -> RunResult | None:
    """The worker's result; None if it left none (it was killed)."""
    try:
        return queue.run_dir(project.root, entry.id).read_result()
    except RecordError as exc:
        return RunResult(status=RunStatus.FAILED, error=str(exc))


def _lost(code: int | None) -> str:
    if code is not None and code < 0:
        how = f"was killed by signal {-code}"
    else:
        how = f"exited with {code}"
    return f"worker {how} and no result"


def _interrupt(workers: list[_Worker]) -> None:
    for w in workers:
        _killpg(w.proc, signal.SIGINT)
    deadline = time.monotonic() + 10
    for w in workers:
        w.proc.join(timeout=max(0.1, deadline - time.monotonic()))
        if w.proc.exitcode is None:
            _killpg(w.proc, signal.SIGKILL)
            w.proc.join()


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
    try:
        # The first round's workers are forked before the display starts
        # (a live table's thread would make forking unsafe).
        pool.fill(0)
        with display:
            spare = 0
            while (pending and not draining()) or pool.busy():
                stopping = draining()
                pool.grant(stopping)  # first: a prepared worker starts now
                if not stopping:
                    pool.fill(spare)
                    pool.grant(stopping)
                pool.retire(stopping)
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
        for w in pool.workers:
            pool.drain(w)
            if w.entry is not None:
                pool.result.left.append(w.entry.id)
        pool.workers.clear()
        raise
    finally:
        pool.stop()
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
    workers: list[_Worker] = field(default_factory=list)
    result: PoolResult = field(default_factory=PoolResult)
    #: The forkserver, started only if this process cannot fork its
    #: workers itself (``_context``).
    server: ForkServerContext | None = None
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
        return sum(w.state == state for w in self.workers)

    def _preparing_or_running(self) -> int:
        return self._count(WorkerState.RUNNING) + self._count(WorkerState.WAITING)

    def busy(self) -> bool:
        """Whether a worker still holds an entry (or has yet to exit)."""
        return any(w.state is not WorkerState.IDLE for w in self.workers)

    def _context(self) -> ForkContext | ForkServerContext:
        """Workers are forked from this process, which has imported what
        they run (no interpreter to start, no module imported twice: the
        forkserver this replaces cost ~0.13 s of CPU per run); where that
        is not safe (another thread runs: the live table's), from the
        forkserver, started then, for the rest of the run."""
        if self.server is None and _single_threaded():
            import gc

            forkserver.preload()
            # What exists now is never collected: a collection in a worker
            # would write to every object's header, copying each page the
            # fork shares (most of this process's memory) into each worker.
            gc.freeze()
            ctx = multiprocessing.get_context("fork")
            assert isinstance(ctx, ForkContext)
            return ctx
        if self.server is None:
            self.server = forkserver.context()
        return self.server

    def _fork(self) -> _Worker:
        """A new worker, idle, in a kept folder of its own."""
        from trails.experiments import worker

        folder = self._folder()
        ctx = self._context()
        ours, theirs = multiprocessing.Pipe()
        forked = ctx.get_start_method() == "fork"
        # A fork copies every descriptor: the worker closes the pool's.
        inherited = (
            [ours.fileno()]
            + [w.conn.fileno() for w in self.workers if not w.conn.closed]
            + [w.proc.sentinel for w in self.workers]
            if forked
            else []
        )
        proc = ctx.Process(
            target=worker.serve,
            args=(str(self.project.root), json.dumps(self.facts), theirs, str(folder), inherited),
        )
        with _main_skipped_by_children():
            proc.start()
        theirs.close()
        w = _Worker(proc, ours, folder)
        self.workers.append(w)
        return w

    def fill(self, spare: int) -> None:
        """Send the next entries to workers: one per free slot, plus
        ``spare`` that prepare and wait; idle workers first, else a new
        one in a kept folder of its own, of which there are at most twice
        ``jobs`` (a worker still recording keeps its own: the next entry
        waits for it rather than check out a new one)."""
        active = self._preparing_or_running()
        idle = deque(w for w in self.workers if w.state is WorkerState.IDLE)
        while self.pending and active < self.jobs + spare:
            if idle:
                w = idle.popleft()
            elif len(self.workers) < 2 * self.jobs:
                w = self._fork()
            else:
                return
            entry = self.pending.popleft()
            if not self._send(w, entry):
                self.pending.appendleft(entry)
                return
            active += 1

    def _send(self, w: _Worker, entry: queue.Entry) -> bool:
        """``entry`` to the idle worker ``w``; False if it has died."""
        listing = self.listings.pop(entry.ref, None)
        # What an earlier run left (result, stage, log) is the worker's to
        # clear once it holds the entry: another pool's worker may run it now.
        queue.run_dir(self.project.root, entry.id).path.mkdir(parents=True, exist_ok=True)
        text = listing.encode().decode() if listing is not None else ""
        try:
            w.conn.send_bytes(json.dumps([entry.ref, entry.sha, text]).encode())
        except OSError:
            w.state = WorkerState.RETIRED  # reaped when its exit shows
            return False
        w.entry, w.state, w.started = entry, WorkerState.WAITING, time.monotonic()
        return True

    def grant(self, draining: bool) -> None:
        """Free slots to waiting workers, oldest first; draining, every
        waiting worker is let go (its entry stays queued)."""
        running = self._count(WorkerState.RUNNING)
        for w in self.workers:
            if w.state is WorkerState.WAITING and (draining or running < self.jobs):
                running += _grant(w, draining, self.display)

    def retire(self, draining: bool) -> None:
        """Idle workers exit once there is nothing left for them."""
        if self.pending and not draining:
            return
        for w in self.workers:
            if w.state is WorkerState.IDLE:
                w.conn.close()
                w.state = WorkerState.RETIRED

    def stop(self) -> None:
        """At the end (also of an error in the pool itself): every worker
        left is told to exit, and waited for."""
        for w in self.workers:
            if not w.conn.closed:
                w.conn.close()
        for w in self.workers:
            w.proc.join(timeout=10)
            if w.proc.exitcode is None:
                _killpg(w.proc, signal.SIGKILL)
                w.proc.join()

    def wait(self) -> None:
        """Until a worker exits, gives its slot back or is done with its
        entry (or ``POLL``)."""
        ready = multiprocessing.connection.wait(
            [w.proc.sentinel for w in self.workers]
            + [w.conn for w in self.workers if not w.conn.closed],
            POLL,
        )
        for w in self.workers:
            if not w.conn.closed and w.conn in ready:
                self.drain(w)
        now = time.monotonic()
        if now - self.polled >= POLL:
            # The stage names are for the display: a look per POLL, not per
            # wake (at --jobs 32, a worker's events wake this loop several
            # times per experiment, and each look reads every running
            # entry's stage file).
            self.polled = now
            self.display.poll_stages(lambda i: queue.run_dir(self.project.root, i).path)

    def drain(self, w: _Worker) -> None:
        """Read what the worker said: its slot is free, or it is done with
        its entry (reported now; the worker waits for the next)."""
        from trails.experiments.worker import DONE, FREE

        while not w.conn.closed:
            try:
                if not w.conn.poll():
                    return
                msg = w.conn.recv_bytes()
            except (EOFError, OSError):
                return  # it exited: its sentinel says so
            if msg == FREE and w.state is WorkerState.RUNNING:
                w.state = WorkerState.FINISHING  # its slot is free
            elif msg.startswith(DONE) and w.entry is not None:
                code = int(msg.removeprefix(DONE) or WorkerExit.FAILED)
                entry, w.entry = w.entry, None
                w.state = WorkerState.IDLE
                _report(self.project, entry, code, w.started, w.folder, self.result,
                        self.display)  # fmt: skip

    def reap(self) -> None:
        for w in [w for w in self.workers if w.proc.exitcode is not None]:
            self.drain(w)  # what it said before it exited
            self.workers.remove(w)
            w.conn.close()
            if w.entry is not None:  # it exited with the entry unfinished
                _report(self.project, w.entry, w.proc.exitcode, w.started, w.folder,
                        self.result, self.display)  # fmt: skip
            self.free.append(w.folder)


def _grant(w: _Worker, draining: bool, display: QueueStatus) -> bool:
    """Give a waiting worker its slot, or (draining) let it go: it removes
    its folder and leaves its entry queued. Whether it now holds a slot."""
    from trails.experiments.worker import GO

    assert w.entry is not None
    try:
        if draining:
            w.conn.close()
            w.state = WorkerState.RELEASED
            return False
        w.conn.send_bytes(GO)
    except OSError:  # it died while preparing: its exit is reported
        w.state = WorkerState.FINISHING
        return False
    w.state = WorkerState.RUNNING
    w.started = time.monotonic()
    display.started(w.entry.id)
    return True


def _report(
    project: Project,
    entry: queue.Entry,
    code: int | None,
    started: float,
    folder: Path,
    result: PoolResult,
    display: QueueStatus,
) -> None:
    """What became of ``entry``: ``code``, the worker's ``WorkerExit`` for
    it, or the exit code of a worker that died running it."""
    if code == WorkerExit.TAKEN:
        # Its result, if any, is the other worker's (and its pool's to report).
        display.taken(entry.id)
        return
    out = _outcome(project, entry)
    if out is not None and out.status is RunStatus.SUCCESS and code != WorkerExit.DONE:
        out = None  # noted just before its ref went, then killed: maybe not recorded
    secs = time.monotonic() - started
    if out is not None and out.status is RunStatus.SUCCESS:
        result.done.append((entry.id, out.name))
        display.done(entry.id, out.name, secs)
    elif code in (WorkerExit.RELEASED, WorkerExit.INTERRUPTED):
        result.left.append(entry.id)  # let go before it started; interrupted (queue kill)
    else:
        if out is None:
            _after_killed_worker(project, entry, folder)
        reason = (out.error or "failed") if out is not None else _lost(code)
        result.failed.append((entry.id, reason))
        log = queue.run_dir(project.root, entry.id).log
        display.failed(entry.id, reason, project.rel(log))


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
