"""Task workers forked from a server: a multiprocessing forkserver that
imports what ``trails.tasks.run`` needs once (``describe``, ``params`` and
YAML, ``inspect``, ``pathlib``: ~40 ms of CPU a fresh interpreter spends
per task, ``benches/RESULTS-tasks.md``), then
forks one worker per task that runs. Each worker is still a process of
its own (a crash stays in it), runs the same ``run.main`` as the command
``python -m trails.tasks.run NODE`` with that command's working folder,
environment and standard streams (passed to it as file descriptors), and
leads a process group of its own when the runner asks for one, so
``trails.interrupt`` and the runner's kill reach it as they reach a
command.

The server is started by the first task that runs and lives as long as
this process. The server never calls the Rust core (no thread pool is
forked). ``TRAILS_TASK_SERVER=0`` runs every task as its command instead
(``--pdb`` does: the debugger needs the terminal's foreground).

A worker does not outlive its server: on Linux it asks the kernel for
SIGKILL when the server dies (``PR_SET_PDEATHSIG``), and the runner, which
then reads no exit code (multiprocessing says 255), finds the server gone,
kills the worker's process group and waits until nothing of it runs, and
stops the run with one error naming the server and the task (nothing of
the task recorded). Otherwise a killed server left the worker running,
writing outputs no one would record or check."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from multiprocessing.process import BaseProcess
from typing import Any

from trails.errors import TrailsError

#: Set to ``0``: run each task as a fresh ``python -m trails.tasks.run``.
SWITCH = "TRAILS_TASK_SERVER"

#: What the server imports before forking any worker.
PRELOAD = [
    "trails.tasks.server",  # what a worker runs (``_worker``)
    "trails.tasks.run",
    "trails.tasks.describe",
    "trails.tasks.loader",
    "trails.tasks.api",
    "trails.params",
    "trails.yamlio",
    "trails.confine",
    "traceback",
    "ctypes",  # the worker's ``prctl``
]

#: The process that imported this module: in the server (it preloads it),
#: the server, which each worker forked from it inherits as its parent.
_HOME = os.getpid()

#: ``prctl``'s option: the signal a process gets when its parent dies.
_PR_SET_PDEATHSIG = 1


def wanted(env: Mapping[str, str]) -> bool:
    """Unless switched off, debugging, in a daemonic multiprocessing
    worker (it may not have children of its own), or a standard stream is
    closed (it could not be passed on)."""
    from multiprocessing import process

    from trails.tasks.run import PDB

    if env.get(SWITCH, "1") == "0" or env.get(PDB) == "1" or process.current_process().daemon:
        return False
    try:
        for fd in (0, 1, 2):
            os.fstat(fd)
    except OSError:
        return False
    return True


class _Fd:
    """A file descriptor sent to the worker with the request (the
    forkserver passes it over its socket), duplicated there."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, tuple[Any]]:
        from multiprocessing import reduction

        return _received, (reduction.DupFd(self.fd),)


def _received(dup: Any) -> int:
    fd: int = dup.detach()
    return fd


def _die_with_the_server() -> None:
    """SIGKILL for this worker when its server dies (Linux); a server that
    died before that took effect (this worker's parent is another process
    already) ends the worker now."""
    if sys.platform != "linux":
        return
    import ctypes
    import signal

    if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0):
        return
    if os.getpid() != _HOME and os.getppid() != _HOME:
        os._exit(255)


def _worker(node: str, cwd: str, env: dict[str, str], group: bool, fds: list[int]) -> None:
    """In the forked worker: become the command's process, run the task."""
    _die_with_the_server()
    if group:
        os.setpgid(0, 0)
    for fd, target in zip(fds, (0, 1, 2), strict=True):
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 (multiprocessing replaced it with devnull)
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    from trails.tasks import run

    sys.path[0] = cwd  # as ``python -m trails.tasks.run NODE`` starts
    sys.argv = [run.__file__, node]

    code = run.main([node])
    # What the interpreter does at exit, which multiprocessing's worker
    # skips (it leaves by os._exit): wait for the task's threads, then run
    # its atexit functions (a logger's or a tracker's last flush).
    import atexit

    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


#: Held to start a worker and to read one's exit code: ``Process.start``
#: polls every earlier child, and two threads reading the same exit code
#: at once (``-j``) would leave one of them 255 (multiprocessing's
#: ``popen_forkserver.poll``).
_LOCK = threading.Lock()


class ServerDied(TrailsError):
    """The task server died while one of its workers ran: the worker was
    stopped and the run is over (not a failure of the task's code)."""

    def __init__(self, node: str, server: int | None) -> None:
        which = f" (pid {server})" if server is not None else ""
        super().__init__(
            f"the task server{which} died while task '{node}' ran: the task was stopped "
            "and nothing of it was recorded",
            hint="Run the command again (tasks that finished before keep their results).",
        )


class Worker:
    """A worker as the runner waits for it (``subprocess.Popen``'s
    ``pid``, ``wait`` and ``kill``)."""

    def __init__(self, proc: BaseProcess, node: str, group: bool, server: int | None) -> None:
        self.proc = proc
        assert proc.pid is not None
        self.pid: int = proc.pid
        self.node, self.group, self.server = node, group, server

    def wait(self, timeout: float | None = None) -> int:
        from multiprocessing import connection

        if not connection.wait([self.proc.sentinel], timeout):
            raise subprocess.TimeoutExpired(f"task worker {self.pid}", timeout or 0)
        with _LOCK:
            self.proc.join()
            code = self.proc.exitcode
        assert code is not None
        if code == _NO_ANSWER and not _alive(self.server):
            self._stop()
            raise ServerDied(self.node, self.server)
        return code

    def kill(self) -> None:
        self.proc.kill()

    def _stop(self, patience: float = 30.0) -> None:
        """Kill the worker (its group, if it leads one) and wait until none
        of it runs (it is not this process's child: it cannot be waited)."""
        import signal
        import time

        with contextlib.suppress(ProcessLookupError, PermissionError):
            if self.group:
                os.killpg(self.pid, signal.SIGKILL)
            else:
                os.kill(self.pid, signal.SIGKILL)
        deadline = time.monotonic() + patience
        while _running(self.pid, self.group) and time.monotonic() < deadline:
            time.sleep(0.01)


#: What multiprocessing gives as the exit code of a worker whose server
#: sent none (``popen_forkserver.poll``): the worker's own, or its server died.
_NO_ANSWER = 255


def _alive(server: int | None) -> bool:
    """Whether the server (this process's child) still runs: not exited
    (looked at without reaping it, ``WNOWAIT``: multiprocessing reaps it
    when it starts the next one), nor exiting. A dying process closes its
    files (the worker's exit-code pipe, whose end told the runner) before it
    becomes a zombie, but is marked exiting (``PF_EXITING`` in
    ``/proc/PID/stat``'s flags) before it closes them."""
    if server is None:
        return True
    try:
        if os.waitid(os.P_PID, server, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return False
    except ChildProcessError:
        return False  # reaped already: a new server was started since
    try:
        with open(f"/proc/{server}/stat", "rb") as f:
            flags = int(f.read().rpartition(b")")[2].split()[6])
    except (OSError, ValueError, IndexError):
        return True
    return not flags & _PF_EXITING


#: ``/proc/PID/stat``'s flag of a process that is exiting.
_PF_EXITING = 0x4


def _running(pid: int, group: bool) -> bool:
    """Whether ``pid`` (leading a group: any process of its group) still
    runs; a zombie does not (it writes nothing)."""
    if not os.path.isdir("/proc"):
        try:
            (os.killpg if group else os.kill)(pid, 0)
        except ProcessLookupError:
            return False
        return True
    for name in os.listdir("/proc") if group else [str(pid)]:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                fields = f.read().rpartition(b")")[2].split()
        except OSError:
            continue  # gone
        if fields[0] not in (b"Z", b"X") and (not group or int(fields[2]) == pid):
            return True
    return False


def start(node: str, cwd: str, env: Mapping[str, str], group: bool) -> Worker:
    """Fork the worker of task ``node`` (the server started if need be)."""
    import multiprocessing
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    fds = [_Fd(0), _Fd(1), _Fd(2)]
    proc = ctx.Process(target=_worker, args=(node, cwd, dict(env), group, fds), name=node)
    with _LOCK:
        proc.start()
        # The server that forked it (multiprocessing keeps no public name).
        server = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
    return Worker(proc, node, group, server)
