"""A collector forked from trails' own process instead of started as
``python -c COLLECTOR``: the command's interpreter start and its imports
(``pathlib``, ``typing``, ``inspect``, ``msgspec``..., which this process
has already) were most of a cold collection of a small project
(``benches/RESULTS-tasks.md``). The child is still a process of its own,
as the command is: the user's code, its prints, its ``sys.path``, its
crashes stay in it; it sees the command's ``sys.argv`` and ``sys.path[0]``
and the default signal handlers, not trails' (``trails.interrupt``).

Only where a fork is safe: on Linux, from a process with one thread (a
fork copies the calling thread alone: a lock another thread held would
stay locked in the child). The core's calls end their thread pool before
returning (``trails.core``), so a process that called it still forks;
one running tasks on threads (``-j``) starts the command.
``TRAILS_COLLECT_FORK=0`` always starts the command."""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: Set to ``0``: start each collector as ``python -c COLLECTOR``.
SWITCH = "TRAILS_COLLECT_FORK"

#: The exit code of a child that failed outside the collection itself
#: (``EX_SOFTWARE``); the parent reports its stderr's last line.
FAILED = 70


def possible() -> bool:
    if (
        not hasattr(os, "memfd_create")
        or sys.platform != "linux"
        or os.environ.get(SWITCH, "1") == "0"
    ):
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


class Collector:
    """The forked collector of ``files``, as the caller waits for a
    ``subprocess.Popen`` (``communicate``, ``returncode``). Its answer and
    its stderr go to memory files, read once it has exited: no pipe to
    drain while waiting for it."""

    def __init__(self, root: Path, files: list[str]) -> None:
        self.returncode: int | None = None
        self.out = os.memfd_create("trails-collect-answer")
        try:
            self.err = os.memfd_create("trails-collect-stderr")
            try:
                for stream in (sys.stdout, sys.stderr):
                    stream.flush()  # else the child would write this buffer again
                self.pid = os.fork()
            except BaseException:
                os.close(self.err)
                raise
        except BaseException:
            os.close(self.out)
            raise
        if self.pid == 0:
            self._child(root, files)

    def _child(self, root: Path, files: list[str]) -> None:
        """Never returns: whatever happens, the child ends here."""
        code = FAILED
        try:
            _as_command(root, files)
            os.dup2(self.err, 1)
            os.dup2(self.err, 2)
            from trails.tasks.collector import answer

            view = memoryview(answer(root, files))
            while view:
                view = view[os.write(self.out, view) :]
            code = 0
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)

    def communicate(self) -> tuple[bytes, bytes]:
        """Wait for the child; its answer and its stderr. Interrupted
        (Ctrl-C), the child is killed and reaped first."""
        try:
            try:
                _, status = os.waitpid(self.pid, 0)
            except BaseException:
                self.kill()
                raise
            self.returncode = os.waitstatus_to_exitcode(status)
            return _read(self.out), _read(self.err)
        finally:
            os.close(self.out)
            os.close(self.err)

    def kill(self) -> None:
        import signal

        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def _as_command(root: Path, files: list[str]) -> None:
    """What ``python -c COLLECTOR ROOT FILE...`` would have: its argv,
    ``''`` first on ``sys.path``, the default signal handlers."""
    import signal

    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = ["-c", str(root), *files]
    sys.path[:1] = [""]


def _read(fd: int) -> bytes:
    size = os.fstat(fd).st_size
    return os.pread(fd, size, 0) if size else b""
