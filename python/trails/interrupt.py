"""SIGINT, SIGTERM and SIGHUP: every one stops trails the way Ctrl+C does,
and reaches the stage commands that are running.

Stage commands run in process groups of their own (``runner.py``), so a
signal sent to trails alone (``kill PID``, a job scheduler's SIGTERM, a
closed terminal) no longer leaves them running and writing outputs after
trails has exited: the handler forwards it to each running stage's group,
then raises ``Interrupted`` (a ``KeyboardInterrupt``) in the main thread, so
the cleanup that Ctrl+C already does (run-cache locks, temporary folders,
queue entries left queued) runs for all three. The threads that wait for the
stages see their commands end; a command still running ``GRACE`` seconds
after the signal is killed (``overdue``).

Only small standard modules (no trails, no click): ``trails.cli.main`` installs the
handlers before any subcommand is imported.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from types import FrameType

#: Seconds a stage's commands get to stop after a forwarded signal.
GRACE = 5.0

_lock = threading.Lock()
#: Running commands: pid -> whether it leads a process group of its own.
_running: dict[int, bool] = {}
_since: list[float] = []  # monotonic time of the first forwarded signal


class Interrupted(KeyboardInterrupt):
    """trails got SIGINT, SIGTERM or SIGHUP; ``signum`` says which, and the
    exit code is ``128 + signum`` (130 for Ctrl+C, 143 for SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def add(pid: int, *, group: bool) -> None:
    """A stage command, to be signalled with trails: its whole process
    group if it leads one (``group``), else (it shares trails' group, in a
    terminal's foreground) only SIGTERM, to it alone: the terminal's Ctrl+C
    and hang-up reach it already, and twice would be once too many."""
    with _lock:
        _running[pid] = group


def remove(pid: int) -> None:
    with _lock:
        _running.pop(pid, None)


def _forward(signum: int) -> None:
    with _lock:
        running = list(_running.items())
        if not _since:
            _since.append(time.monotonic())
    for pid, group in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # ended already
            if group:
                os.killpg(pid, signum)
            elif signum == signal.SIGTERM:
                os.kill(pid, signum)


def overdue() -> bool:
    """Whether a signal was forwarded more than ``GRACE`` seconds ago: a
    command still running then is killed (SIGKILL to its group)."""
    with _lock:
        return bool(_since) and time.monotonic() - _since[0] > GRACE


def _handler(signum: int, frame: FrameType | None) -> None:
    first = not _since
    _forward(signum)
    if first:
        raise Interrupted(signum)


def install() -> None:
    """Handle SIGINT, SIGTERM and SIGHUP in this (main) thread. A process
    started with SIGHUP ignored (``nohup``) keeps ignoring it."""
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _handler)
