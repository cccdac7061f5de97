"""Whether a process runs: one answer for ``make_checkpoint`` (is the
watcher still there?) and ``exp show`` (is a queue entry's worker?).
Imports only ``os`` and ``pathlib``: user code calls it through
``trails.api``."""

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
