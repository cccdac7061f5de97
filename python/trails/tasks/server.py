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
(``--pdb`` does: the debugger needs the terminal's foreground)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Mapping
from multiprocessing.process import BaseProcess
from typing import Any

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
]


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


def _worker(node: str, cwd: str, env: dict[str, str], group: bool, fds: list[int]) -> None:
    """In the forked worker: become the command's process, run the task."""
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


class Worker:
    """A worker as the runner waits for it (``subprocess.Popen``'s
    ``pid``, ``wait`` and ``kill``)."""

    def __init__(self, proc: BaseProcess) -> None:
        self.proc = proc
        assert proc.pid is not None
        self.pid: int = proc.pid

    def wait(self, timeout: float | None = None) -> int:
        from multiprocessing import connection

        if not connection.wait([self.proc.sentinel], timeout):
            raise subprocess.TimeoutExpired(f"task worker {self.pid}", timeout or 0)
        with _LOCK:
            self.proc.join()
            code = self.proc.exitcode
        assert code is not None
        return code

    def kill(self) -> None:
        self.proc.kill()


def start(node: str, cwd: str, env: Mapping[str, str], group: bool) -> Worker:
    """Fork the worker of task ``node`` (the server started if need be)."""
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    fds = [_Fd(0), _Fd(1), _Fd(2)]
    proc = ctx.Process(target=_worker, args=(node, cwd, dict(env), group, fds), name=node)
    with _LOCK:
        proc.start()
    return Worker(proc)
