"""Whether a process still runs, by its pid: the one answer for the
checkpoint watcher (``api.make_checkpoint``), the queue's pools, whose
kept folders a pool that is gone lets go, and ``exp show --json`` (is a
queue entry's worker still there?); and the pid lock files taken on that
answer (``claim``: a queue entry's worker, a pool's kept folder)."""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: kill() said it exists
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def claim(lock: Path) -> bool:
    """Take ``lock``: an ``O_EXCL`` file holding our pid; one whose process
    is gone is stale and taken over."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text() or "0")
                os.kill(pid, 0)
                return False
            except (ValueError, ProcessLookupError):
                lock.unlink(missing_ok=True)
                continue
            except (PermissionError, FileNotFoundError):
                return False
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True
    return False
