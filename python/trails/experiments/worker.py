"""A queue worker: ``serve``, a long-lived process the pool forks once per
slot (and spare), runs the entries it is sent one after another in its
kept folder; or ``python -m trails.experiments.worker ROOT REF``, one entry.
Either way in its own session, each entry's output going to that entry's
log, so that a kill touches nothing but the entry it runs.

Exit codes (and the code a long-lived worker reports per entry):
``records.WorkerExit`` (done; failed, the entry moved to the failed refs;
taken by another worker; let go by the pool before it started or
interrupted, the entry left in the queue)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from trails.experiments.records import (
    EntryListing,
    RecordError,
    RunDir,
    RunResult,
    RunStatus,
    WorkerExit,
    decode,
)
from trails.pids import claim

if TYPE_CHECKING:
    from trails.errors import TrailsError
    from trails.experiments import queue
    from trails.git import Git


def _term(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


#: The pool's message to a waiting worker: the slot is its.
GO = b"go"
#: A worker's message to the pool: its entry's stages are over, the slot is free (``PoolSlot``).
FREE = b"free"
#: The start of a worker's message that it is done with its entry, then its
#: exit code for it (``records.WorkerExit``).
DONE = b"done "


class Released(Exception):
    """The pool let a waiting worker go (``queue stop``): its entry stays
    queued."""


@dataclass
class PoolSlot:
    """The pool's say on when this experiment's stages may run: a prepared
    worker waits for ``go`` on its pipe (a ``waiting`` file in its run
    folder says so to ``queue status``), and says ``free`` when its stages
    are over, so the next experiment starts while this one records."""

    conn: Connection
    rundir: RunDir
    held: bool = False

    def acquire(self) -> None:
        marker = self.rundir.waiting
        marker.touch()
        try:
            self.conn.recv_bytes()
        except EOFError:
            raise Released from None
        finally:
            marker.unlink(missing_ok=True)
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            with contextlib.suppress(OSError):
                self.conn.send_bytes(FREE)


def serve(root: str, facts: str, conn: Connection, folder: str, inherited: Sequence[int]) -> None:
    """A long-lived worker: forked once per pool slot (and spare), it runs
    the entries the pool sends it, one after another, in its kept folder,
    each with its own log (the work of ``child`` for one entry, without a
    fork, a process's start and its exit each: most of an experiment's own
    CPU at many jobs). ``inherited``: the pool's descriptors a fork copied
    (its ends of the other workers' pipes, and of this one's), closed
    first: a worker holding another's pipe open would hide that one's
    exit. It leads a session of its own (Ctrl+C and ``queue kill`` reach
    its stages as one process group), and exits when the pool closes its
    pipe, or after an entry it was interrupted in or let go of: the pool
    forks another if it needs one."""
    for fd in inherited:
        with contextlib.suppress(OSError):
            os.close(fd)
    os.setsid()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    try:
        while True:
            try:
                msg = conn.recv_bytes()
            except EOFError:
                return
            if msg == GO:
                # For the entry before, which ended before it needed its
                # slot (it failed early, or had no stage to run).
                continue
            ref, sha, listing = json.loads(msg)
            code = _serve_one(root, ref, facts, conn, folder, sha, listing)
            try:
                conn.send_bytes(DONE + str(int(code)).encode())
            except OSError:
                sys.exit(code)
            if code in (WorkerExit.RELEASED, WorkerExit.INTERRUPTED):
                sys.exit(code)
    except KeyboardInterrupt:
        sys.exit(WorkerExit.INTERRUPTED)


def _serve_one(
    root: str, ref: str, facts: str, conn: Connection, folder: str, sha: str, listing: str
) -> int:
    """One entry in a long-lived worker: its log as stdout and stderr, and
    nothing the entry before learnt kept (the folder's file listing, the
    cache's gc lock, released once the entry's references are written)."""
    from trails import cachelock, files

    sys.stdout.flush()
    sys.stderr.flush()
    log = queue_log(root, sha)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    files.forget()
    try:
        return main([root, ref, facts], conn, folder, own_log=True, sha=sha,
                    listing=queue_listing(listing))  # fmt: skip
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        cachelock.release()


def queue_log(root: str, sha: str) -> str:
    """The log of the entry whose commit is ``sha`` (its run folder is made
    by the pool)."""
    return str(RunDir(Path(root), sha[:7]).log)


def queue_listing(text: str) -> EntryListing | None:
    """The pool's ``listing`` argument, None if it gave none (or one this
    worker cannot read: the entry is then read from Git)."""
    if not text:
        return None
    try:
        return decode(EntryListing, text, "the pool's listing", "")
    except RecordError:
        return None


def _claimed(git: Git, entry: queue.Entry, rundir: RunDir, own_log: bool) -> bool:
    """Take the entry (``pids.claim``), if it is still queued: a worker of
    another pool may have run it and let its lock go since it was read (its
    ref is deleted before its lock), and running it then would run it twice
    (seen with two ``--run-all`` over one queue). Once it is ours, what an
    earlier run left goes: its result and stage files, and the log (stdout,
    with ``own_log``)."""
    if not claim(rundir.lock):
        return False
    if git.rev_parse(entry.ref) != entry.sha:
        rundir.lock.unlink(missing_ok=True)
        return False
    _cleared(rundir, own_log)
    return True


def _unreadable(git: Git, ref: str, exc: TrailsError, own_log: bool) -> WorkerExit:
    """An entry whose arguments cannot be read fails with the reason, once
    (it is moved to the failed refs)."""
    from trails.experiments import queue

    entry = queue.Entry(ref, git.rev_parse(ref) or "0" * 40, 0)
    rundir = queue.run_dir(git.root, entry.id)
    if not _claimed(git, entry, rundir, own_log):
        return WorkerExit.TAKEN
    try:
        print(f"Error: {exc}\n{exc.hint}", flush=True)
        queue.mark_failed(git, entry)
        rundir.write_result(RunResult(status=RunStatus.FAILED, error=str(exc)))
        return WorkerExit.FAILED
    finally:
        rundir.lock.unlink(missing_ok=True)


def _claimed_first(
    git: Git, ref: str, sha: str, own_log: bool, listing: EntryListing | None
) -> queue.QueuedRun | WorkerExit | TrailsError:
    """Take the entry the pool listed as ``sha`` before reading it, then
    check that the ref still points there (``_claimed``'s check): with the
    pool's ``listing``, a look at the ref (``Git.points_at``, no process
    while the ref is loose), its arguments read from the listing; without,
    the one ``git log`` that reads them says so too. The entry, or why
    this worker does not run it."""
    from trails.errors import TrailsError
    from trails.experiments import queue

    rundir = queue.run_dir(git.root, sha[:7])
    if not claim(rundir.lock):
        return WorkerExit.TAKEN
    try:
        if listing is None:
            queued = queue.read_entry(git, ref)
        else:
            queued = queue.queued_run(listing, ref, sha) if git.points_at(ref, sha) else None
    except TrailsError as exc:
        rundir.lock.unlink(missing_ok=True)
        return exc
    if queued is None or queued.entry.sha != sha:
        rundir.lock.unlink(missing_ok=True)
        return WorkerExit.TAKEN
    _cleared(rundir, own_log)
    return queued


def _cleared(rundir: RunDir, own_log: bool) -> None:
    rundir.result.unlink(missing_ok=True)
    rundir.stage.unlink(missing_ok=True)
    if own_log:
        os.ftruncate(1, 0)


def _entry(
    git: Git, ref: str, sha: str, own_log: bool, listing: EntryListing | None
) -> queue.QueuedRun | int:
    """The entry this worker holds (its lock taken), or its exit code."""
    from trails.errors import TrailsError
    from trails.experiments import queue

    if sha:
        got = _claimed_first(git, ref, sha, own_log, listing)
        if isinstance(got, TrailsError):
            return _unreadable(git, ref, got, own_log)
        return got
    try:
        queued = queue.read_entry(git, ref)
    except TrailsError as exc:
        return _unreadable(git, ref, exc, own_log)
    if queued is None:
        return WorkerExit.TAKEN
    rundir = queue.run_dir(git.root, queued.entry.id)
    if not _claimed(git, queued.entry, rundir, own_log):
        return WorkerExit.TAKEN
    return queued


def main(
    argv: list[str],
    conn: Connection | None = None,
    folder: str = "",
    own_log: bool = False,
    sha: str = "",
    listing: EntryListing | None = None,
) -> int:
    """``sha``: the entry's commit as the pool listed it, ``listing`` what
    it listed of it (Git processes fewer per experiment, ``_claimed_first``)."""
    root, ref = Path(argv[0]), argv[1]
    from trails.errors import TrailsError, error_lines, error_message
    from trails.experiments import queue
    from trails.experiments.executor import run_entry, work_dir
    from trails.git import Git
    from trails.project import Project
    from trails.repro.status import EchoStatus
    from trails.runner import StageFailed, SubprocessRunner

    signal.signal(signal.SIGTERM, _term)
    project, git = Project(root), Git(root)
    if len(argv) > 2:
        git.adopt(json.loads(argv[2]))
    if conn is not None:
        git.keep_ref_writer()
    queued = _entry(git, ref, sha, own_log, listing)
    if isinstance(queued, int):
        return queued
    entry = queued.entry
    rundir = queue.run_dir(root, entry.id)

    def echo(line: str) -> None:
        print(line, flush=True)

    class WorkerStatus(EchoStatus):
        """The lines in the log, and the running stage in the run folder's
        ``stage`` file, which ``queue status`` shows."""

        def stage_started(self, address: str, cmd: Sequence[str]) -> None:
            super().stage_started(address, cmd)
            rundir.stage.write_text(address)

    try:
        slot = PoolSlot(conn, rundir) if conn is not None else None
        runner = SubprocessRunner(own_group=False)
        kept = Path(folder) if folder else None
        rundir.folder.write_text(str(kept or work_dir(project, entry)))

        def succeeded(name: str, sha: str) -> None:
            rundir.write_result(
                RunResult(status=RunStatus.SUCCESS, name=name, sha=sha, created=entry.created)
            )

        # The result is written before the entry's ref goes (and again, if
        # an identical experiment was there already), so `queue status`
        # never finds neither.
        rec = run_entry(project, git, entry, runner, echo, queued=queued, slot=slot,
                        status=WorkerStatus(echo), folder=kept, on_commit=succeeded)  # fmt: skip
        succeeded(rec.name, rec.sha)
        print(f"Ran experiment {entry.id} as '{rec.name}'", flush=True)
        return WorkerExit.DONE
    except Released:
        rundir.write_result(RunResult(status=RunStatus.RELEASED))
        return WorkerExit.RELEASED
    except KeyboardInterrupt:
        rundir.write_result(RunResult(status=RunStatus.INTERRUPTED))
        return WorkerExit.INTERRUPTED
    except (TrailsError, OSError) as exc:
        print("\n".join(error_lines(exc)), flush=True)
        queue.mark_failed(git, entry)
        code = exc.code if isinstance(exc, StageFailed) else int(WorkerExit.FAILED)
        rundir.write_result(
            RunResult(status=RunStatus.FAILED, error=error_message(exc), returncode=code)
        )
        return WorkerExit.FAILED
    except Exception as exc:  # a bug: keep the traceback in the log
        traceback.print_exc()
        queue.mark_failed(git, entry)
        rundir.write_result(RunResult(status=RunStatus.FAILED, error=repr(exc)))
        return WorkerExit.FAILED
    finally:
        rundir.lock.unlink(missing_ok=True)
        rundir.stage.unlink(missing_ok=True)
        rundir.folder.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
