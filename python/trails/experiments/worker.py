"""One worker process runs one queue entry: ``child`` in a process forked
by ``pool``'s forkserver, or ``python -m trails.experiments.worker ROOT
REF``. Either way in its own session, with its output going to the entry's
log, so that a crash or a kill touches nothing but this entry.

Exit codes: ``records.WorkerExit`` (done; failed, the entry moved to the
failed refs; taken by another worker; let go by the pool before it started
or interrupted, the entry left in the queue)."""

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
                self.conn.send_bytes(b"free")


def child(
    root: str,
    ref: str,
    log: str,
    facts: str = "",
    conn: Connection | None = None,
    folder: str = "",
    sha: str = "",
    listing: str = "",
) -> None:
    """The worker in a forkserver child: a session of its own (Ctrl+C and
    ``queue kill`` reach its stages as one process group) and the entry's
    log as stdout and stderr, which the stages' commands inherit.
    ``facts``: the repository's Git facts as the pool knows them (JSON,
    ``Git.facts``); ``conn``: the pool's pipe (``PoolSlot``); ``folder``:
    the pool's kept folder this entry runs in (``executor.run_entry``);
    ``sha``: the entry's commit as the pool listed it, ``listing`` its
    time, parents and message (JSON, ``records.EntryListing``; ``main``)."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # Not truncated yet: until this worker holds the entry, the log may be
    # that of another pool's worker running it (``_claimed``).
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    argv = [root, ref, facts] if facts else [root, ref]
    listed = queue_listing(listing)
    sys.exit(main(argv, conn, folder, own_log=True, sha=sha, listing=listed))


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
