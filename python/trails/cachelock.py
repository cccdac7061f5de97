"""How ``gc`` and the commands that store into the cache keep out of each
other's way, and the check that an experiment's objects are there before
it is recorded.

A run stores its outputs stage by stage but names them in ``dvc.lock``
only at the end, and its experiment ref comes later still: a ``gc`` in
between sees objects nothing refers to yet. So every process that stores
(``core.store_*`` calls ``hold``: ``repro``, ``exp run`` in the workspace,
``--temp`` and each queued worker, ``add``, ``commit``) holds a *shared*
``flock`` on ``<cache>/gc.lock`` from its first store until it exits (a
queue worker, which runs entry after entry: until the entry is over), by
which time its references are written (lock file, ``.dvc`` file,
experiment ref); ``gc`` takes it *exclusively* or refuses at once.

Why a lock rather than each run listing what it stored: one ``flock`` per
process costs nothing, needs no list kept right on every store path
(files, trees, manifests, checkpoints), and the kernel drops it when a
process dies, even by SIGKILL, so a killed run never blocks ``gc`` for
good. It lives in the cache because queued runs share their project's
cache, not its ``.dvc/tmp``."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from trails.errors import TrailsError

LOCK_NAME = "gc.lock"


class CacheBusyError(TrailsError):
    pass


class MissingObjectsError(TrailsError):
    pass


def _open(cache: Path) -> int:
    cache.mkdir(parents=True, exist_ok=True)
    return os.open(cache / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)


#: Per process: the cache folders whose lock this process holds shared.
_HELD: dict[Path, int] = {}


def hold(cache: str | os.PathLike[str]) -> None:
    """Called before every store (``core.store_*``): from then until the
    process exits, ``gc`` of this cache is refused. Waits only while a
    ``gc`` is deleting. Never released early, because the references to
    what was stored (lock file, ``.dvc`` file, experiment ref) are written
    later by the same command, and a trails process is one command (a
    queued experiment: a worker holds it until that entry is over,
    ``release``)."""
    key = Path(os.path.abspath(cache))
    if key in _HELD:
        return
    try:
        fd = _open(key)
    except OSError:
        return  # a cache that takes no new file: the store itself says why
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
    except OSError:  # a file system without flock (some NFS): gc says so
        os.close(fd)
        return
    _HELD[key] = fd


def release() -> None:
    """Let go of every cache this process holds: a long-lived queue worker
    between two entries, the references of the one before all written
    (its experiment ref, or its entry moved to the failed ones)."""
    while _HELD:
        os.close(_HELD.popitem()[1])


@contextmanager
def collecting(cache: Path) -> Iterator[None]:
    """Held by ``gc`` from reading references to deleting; refused while
    anything stores."""
    try:
        fd = _open(cache)
    except OSError as e:
        raise _unlockable(cache, e) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CacheBusyError(
                "a pipeline or experiment is storing into the cache now; nothing was removed",
                hint="Run 'trails gc' again when it has finished (a queued '--run-all' "
                "holds the cache while its experiments run).",
            ) from None
        except OSError as e:
            raise _unlockable(cache, e) from None
        yield
    finally:
        os.close(fd)


def _unlockable(cache: Path, e: OSError) -> CacheBusyError:
    return CacheBusyError(
        f"cannot lock the cache for gc: {cache / LOCK_NAME}: {e.strerror}; nothing was removed",
        hint="gc needs to create and flock that file; check the cache folder's permissions "
        "and that its file system supports locks.",
    )


def busy(cache: Path) -> bool:
    """Whether something stores into ``cache`` now (for ``gc --dry``,
    which only looks and holds no lock)."""
    try:
        fd = _open(cache)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def missing(cache: Path, values: Iterable[tuple[str, str]]) -> list[str]:
    """Paths (of ``(path, hash)`` pairs) whose objects are not in the
    cache: a file's object, or a tree's manifest or any of its files."""
    from trails import core

    out = []
    for path, value in values:
        if value.endswith(".dir"):
            tree = value.removesuffix(".dir")
            try:
                entries = core.read_tree(cache, tree).entries
            except (TrailsError, OSError):
                out.append(path)
                continue
            if not all(os.path.isfile(core.object_path(cache, e.hash)) for e in entries):
                out.append(path)
        elif not os.path.isfile(core.object_path(cache, value)):
            out.append(path)
    return out


def check_recordable(cache: Path, values: Iterable[tuple[str, str]]) -> None:
    """Refuse to record an experiment whose cached outputs are gone (it
    would point at objects nobody can check out)."""
    gone = missing(cache, values)
    if gone:
        raise MissingObjectsError(
            "not recording the experiment: the cache has lost the objects of "
            + ", ".join(f"'{p}'" for p in gone),
            hint="Something deleted them while the run went on; run it again "
            "(with --force to rerun the stages).",
        )
