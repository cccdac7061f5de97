"""What a push or a fetch last found complete, kept so that the same push
or pull again (a no-op: everything already there) costs neither the
expansion of its trees (100k manifest entries decoded) nor a look at each
of their objects on the remote or in the cache. Never trusted blindly:

- a push's record names the index files and packs its objects were found
  in; it holds while the remote still lists every one of them (the listing
  of ``index/`` and ``packs/`` every push makes anyway, one request per
  1,000 files), so a remote emptied or replaced behind trails' back is
  noticed exactly as without the record (a whole object deleted by hand
  under ``objects/`` is not, as without it: ``docs/remote-format.md``);
- a fetch's record holds the stamps of the cache folders its objects are
  in, taken before the check that found every object there; it holds while
  each folder is as stamped (an object added, removed or replaced moves
  its folder's mtime and ctime). Stamps so recent that a later change
  could leave them as they were are not kept (``noop``'s racy rule).

An entry is keyed by the exact set of object names asked for (content
hashes: a tree's name stands for all its files). Local state: damaged,
unreadable or of another version, it is an empty record, never an error."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path

import msgspec

from trails import _core, core, versioned

#: Entries kept per file, the latest first (a project pushes or pulls a few
#: sets of outputs: the workspace's, with -a/-T, an experiment's).
MAX_ENTRIES = 16
#: Changed less than this before the check started: not trusted
#: (``noop.RACY_NS``, the stat index's racy window).
RACY_NS = 100_000_000


class Entry(msgspec.Struct):
    key: str
    #: The objects the set expands to (the summary line's count).
    count: int
    #: A push's: where its objects are on the remote.
    indexes: list[str] = []
    packs: list[str] = []
    #: A fetch's: the cache folders of its objects, and their stamps.
    folders: list[str] = []
    stamps: list[list[int]] = []


class Known(versioned.Record):
    entries: list[Entry] = msgspec.field(default_factory=list)


def key(names: Iterable[str], where: str) -> str:
    """The key of a set of objects asked of ``where`` (the cache folder or
    the remote's address: a record made for one says nothing of another)."""
    return core.hash_bytes("\n".join([where, *sorted(set(names))]).encode())


def _load(path: Path) -> list[Entry]:
    try:
        return versioned.decode(Known, path.read_bytes(), str(path), "").entries
    except (OSError, versioned.RecordError):
        return []


def find(path: Path, k: str) -> Entry | None:
    return next((e for e in _load(path) if e.key == k), None)


def keep(path: Path, entry: Entry) -> None:
    """Add ``entry`` (replacing one of the same key). A failure to write
    only costs the next no-op its shortcut."""
    entries = [entry, *(e for e in _load(path) if e.key != entry.key)][:MAX_ENTRIES]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(Known(entries=entries).encode())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def cache_folders(cache: Path) -> dict[str, str]:
    """The cache folder objects are stored in (present or not), by the
    first two hex digits of their names."""
    return {
        f"{i:02x}": os.path.dirname(core.object_path(cache, f"{i:02x}" + "0" * 62))
        for i in range(256)
    }


def stamps(folders: list[str]) -> list[list[int]]:
    """Each folder's device, inode, size, mtime, ctime and mode (zeros if
    absent), in one call of the core."""
    return [list(s) for s in _core.noop_stamps([(f, False) for f in folders])]


def settled(taken: list[list[int]], started_ns: int) -> bool:
    """Whether stamps taken at ``started_ns`` are old enough that any later
    change moves them."""
    return all(max(s[3], s[4]) < started_ns - RACY_NS for s in taken if s[0])


def now_ns() -> int:
    return time.time_ns()
