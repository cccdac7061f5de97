"""The run-cache: the outputs of a run already computed, keyed on its
command, dependency hashes, params and output paths, kept under
``<cache>/trails-runs/`` (one ``runentry.Entry`` record each); and the per-key lock
that makes experiments needing the same run at once compute it once."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trails import core
from trails.pipeline import lockfile
from trails.pipeline.lockfile import FileState
from trails.pipeline.stage import Stage
from trails.repro.plan import cmd_value


def key(stage: Stage, deps: list[FileState], prm: dict[str, Any]) -> str | None:
    """The run's key; None for a stage the run-cache does not keep (always
    changed, no outputs, or an output persistent or a checkpoint). An
    uncached output (``cache: false``, a metrics file kept in Git) is kept
    too, as the reference tool keeps it: its bytes go to the cache for the
    run-cache only, and come back as a copy."""
    outs = stage.outs
    if stage.always_changed or not outs or any(o.persist or o.checkpoint for o in outs):
        return None
    doc = {
        "cmd": cmd_value(stage),
        "deps": [[d.path, d.value] for d in deps],
        "params": prm,
        "outs": [o.path for o in outs],
    }
    return core.hash_bytes(json.dumps(doc, sort_keys=True, default=str).encode())


def _path(cache_dir: Path, key: str) -> Path:
    return cache_dir / "trails-runs" / key[:2] / key[2:]


def lookup(cache_dir: Path, key: str) -> list[FileState] | None:
    """The outputs stored for ``key``, if every one's object is still in
    the cache. An entry it cannot read (a newer trails wrote it, or it is
    damaged) is a miss: the run computes it again and ``store`` replaces it."""
    from trails.repro.runentry import Entry
    from trails.versioned import RecordError, decode

    path = _path(cache_dir, key)
    try:
        outs = decode(Entry, path.read_bytes(), str(path), "").outs
    except (OSError, RecordError):
        return None
    for state in outs:
        obj = core.object_path(cache_dir, state.bare_hash)
        if not os.path.exists(obj + (lockfile.TREE_SUFFIX if state.is_dir else "")):
            return None
    return outs


def store(cache_dir: Path, key: str, outs: list[FileState]) -> None:
    """Remember ``outs`` as the result of ``key`` (temp name, then rename)."""
    from trails.repro.runentry import Entry

    path = _path(cache_dir, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(Entry(outs=outs).encode())
    os.replace(tmp, path)


class RunLocks:
    """The lock of each exact run this process computes: when experiments
    running at once need the same stage, one computes it and the others
    wait, then restore its result from the run-cache."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self._held: dict[str, int] = {}

    def take(self, address: str, key: str, waiting: Callable[[], None]) -> None:
        """Lock ``key`` for stage ``address``; ``waiting`` is called first if
        another run holds it."""
        import fcntl

        path = self.cache_dir / "trails-runs" / "locks" / key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(fd, fcntl.LOCK_EX)
        self._held[address] = fd

    def release(self, address: str) -> None:
        fd = self._held.pop(address, None)
        if fd is not None:
            os.close(fd)  # closing drops the flock

    def release_all(self) -> None:
        for address in list(self._held):
            self.release(address)
