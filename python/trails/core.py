"""The typed facade over the Rust core (``trails._core``).

Everything that reads file bytes or walks trees goes through here; the rest
of trails never imports ``trails._core`` directly. Functions take ``str`` or
``os.PathLike`` paths and return frozen records with named fields: the
core's own (``FileHash``, ``StoredFile``, ``Entry``, ``CheckoutResult``,
re-exported here) or, where trails adds behaviour, a dataclass built from
one (``Tree``, ``PathHash``, ``TreeDiff``).

Errors: ``OSError`` subclasses with ``filename`` set (``FileNotFoundError``,
``PermissionError``, ``IsADirectoryError``...) for operating-system failures,
:class:`trails.errors.CoreError` for the rest (a file that changed while
being hashed, a damaged manifest, a missing cache object, a dangling
symlink, a full disk while storing: named, with what to do). A damaged
stat index is not an error: it is discarded with a
:class:`trails.errors.StateWarning` and rebuilt.

Threads: each call starts its own pool of ``TRAILS_THREADS`` (default: CPU
count) threads and ends it before returning, so processes forked between
calls are safe; still, fork worker processes only from a process running
one thread (the queue's pool checks), else start them with ``spawn`` or a
forkserver whose server never calls the core (``experiments.forkserver``).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

from trails import _core, cachelock
from trails.errors import CoreError

#: The content-address algorithm, recorded next to every stored hash.
ALGORITHM: str = _core.ALGORITHM

#: The reference tool's default: clone where the file system can, else copy.
DEFAULT_LINK_TYPES: tuple[str, ...] = ("reflink", "copy")
LINK_TYPES: tuple[str, ...] = ("reflink", "hardlink", "symlink", "copy")

PathArg = str | os.PathLike[str]


#: One hashed file: ``hash``, ``size``, ``executable``.
FileHash = _core.FileHash
#: ``FileHash`` and ``written`` (False when the object was already cached).
StoredFile = _core.StoredFile
#: One file of a tree manifest: ``relpath``, ``hash``, ``size``, ``executable``.
Entry = _core.Entry
#: ``link``: the link type used for the first file materialised (None if
#: nothing changed); ``added``, ``modified``, ``deleted``, ``unchanged``.
CheckoutResult = _core.CheckoutResult


@dataclass(frozen=True)
class Tree:
    """A directory as a manifest. ``manifest`` holds the canonical bytes
    (the tree's hash is their hash); ``entries`` parses them on demand, so a
    caller that wants only the hash pays nothing for 100k entries."""

    hash: str
    manifest: bytes
    nfiles: int
    size: int
    #: Files whose bytes were read (the stat index did not know them).
    files_read: int
    #: New cache objects written (``store_tree`` only).
    objects_written: int = 0

    @cached_property
    def entries(self) -> list[Entry]:
        return parse_manifest(self.manifest)

    @classmethod
    def of(cls, r: _core.TreeState) -> Tree:
        return cls(r.hash, r.manifest, r.nfiles, r.size, r.files_read, r.objects_written)


@dataclass(frozen=True)
class TreeDiff:
    added: list[Entry]
    modified: list[Entry]
    deleted: list[str]

    def __bool__(self) -> bool:
        return bool(self.added or self.modified or self.deleted)


def _opt(path: PathArg | None) -> str | None:
    return None if path is None else os.fspath(path)


def hash_bytes(data: bytes) -> str:
    return _core.hash_bytes(data)


def hash_file(path: PathArg) -> FileHash:
    return _core.hash_file(os.fspath(path))


def hash_files(paths: Sequence[PathArg]) -> list[FileHash]:
    """Hash many files in parallel; raises for the first one that fails."""
    return _core.hash_files([os.fspath(p) for p in paths])


def scan_tree(root: PathArg, index: PathArg | None = None) -> Tree:
    """Walk ``root`` (honouring ``.dvcignore``, skipping ``.git``/``.dvc``)
    and hash it; files whose stat the index at ``index`` knows are not read."""
    return Tree.of(_core.scan_tree(os.fspath(root), _opt(index)))


@dataclass(frozen=True)
class PathHash:
    """The state of a file or a directory. A directory's manifest is read
    on first use when the tree memo answered without it (a no-op check
    needs only the hash; the 100k-file manifest is 13 MB)."""

    hash: str
    size: int
    executable: bool
    _manifest: bytes | None
    files: int
    is_dir: bool = False
    #: Where to take the manifest from when the memo answered.
    _source: tuple[str | os.PathLike[str], str | None] | None = field(
        default=None, compare=False, repr=False
    )

    @property
    def manifest(self) -> bytes | None:
        """A directory's manifest bytes (None for a file)."""
        if self._manifest is None and self.is_dir and self._source is not None:
            path, index = self._source
            fresh = _core.hash_paths([path], index, memo=False)[0]
            object.__setattr__(self, "_manifest", fresh.manifest if fresh else b"[]")
        return self._manifest

    @property
    def nfiles(self) -> int | None:
        """Files in a directory (counted by the core: parsing a 100k-entry
        manifest in Python just to count it cost 0.2 s); None for a file."""
        return self.files if self.is_dir else None


def ignored_files(root: PathArg, relpaths: Sequence[str]) -> list[bool]:
    """Whether each repo-relative file is left out by ``.dvcignore`` (any
    folder's, negations included), by the same rules as every walk."""
    return _core.ignored_files(os.fspath(root), list(relpaths))


def hash_paths(paths: Sequence[PathArg], index: PathArg | None = None) -> list[PathHash | None]:
    """Hash files and directories (tree hashes) with one stat index; None for
    a missing path. One call for all the paths a command needs: the index is
    read once, and not at all when the tree memo beside it answers every
    path (``rust/core/src/treememo.rs``)."""
    names: list[str | os.PathLike[str]] = [os.fspath(p) for p in paths]
    ix = _opt(index)
    return [
        None
        if r is None
        else PathHash(r.hash, r.size, r.executable, r.manifest, r.files, r.dir, (p, ix))
        for p, r in zip(names, _core.hash_paths(names, ix), strict=True)
    ]


def prefetch_walks(index: PathArg, root: PathArg) -> None:
    """Start walking the folders the latest check through ``index``'s tree
    memo walked (inside ``root``), on a thread of the core, so that the
    walk overlaps loading the pipeline. Only for a command that writes
    nothing before it hashes (``status``): the next ``hash_paths`` takes
    these walks as they were when they ran."""
    _core.prefetch_walks(os.fspath(index), os.fspath(root))


def store_manifest(cache: PathArg, manifest: bytes) -> str:
    """Keep a directory's manifest as a tree object (no file contents), so a
    later diff can say which files changed."""
    cachelock.hold(os.fspath(cache))
    return _core.store_manifest(os.fspath(cache), manifest)


def parse_manifest(data: bytes) -> list[Entry]:
    """Entries of canonical manifest bytes (validated: hashes, safe paths)."""
    return _core.parse_manifest(data)


def diff_manifests(
    old: bytes, new: bytes, *, old_name: str = "<old>", new_name: str = "<new>"
) -> TreeDiff:
    d = _core.diff_manifests(old, new, old_name, new_name)
    return TreeDiff(d.added, d.modified, d.deleted)


def store_file(
    cache: PathArg,
    path: PathArg,
    index: PathArg | None = None,
    link_types: Sequence[str] | None = None,
    shown: str | None = None,
) -> StoredFile:
    """Store one file. With ``link_types`` (the cache types), the file then
    uses the object as a checkout would: with a hardlink it becomes the
    object (read-only, no byte copied), with a symlink it points to it.
    ``shown``: the path as errors name it (default: from the current
    folder; a run folder's outputs are named by their repo paths)."""
    links = list(link_types) if link_types is not None else None
    cachelock.hold(os.fspath(cache))
    with _full_cache_named(cache, path, shown):
        return _core.store_file(os.fspath(cache), os.fspath(path), _opt(index), links)


def store_tree(
    cache: PathArg,
    root: PathArg,
    index: PathArg | None = None,
    link_types: Sequence[str] | None = None,
    shown: str | None = None,
) -> Tree:
    """Store every file under ``root`` and the manifest; each byte is read
    at most once (hashed while copied into the cache), and with
    ``link_types`` and ``shown`` as in ``store_file``."""
    links = list(link_types) if link_types is not None else None
    cachelock.hold(os.fspath(cache))
    with _full_cache_named(cache, root, shown):
        return Tree.of(_core.store_tree(os.fspath(cache), os.fspath(root), _opt(index), links))


@contextmanager
def _full_cache_named(cache: PathArg, path: PathArg, shown: str | None) -> Iterator[None]:
    """A full disk (or quota) while storing: say what was not stored and
    where. The core publishes an object only by renaming a complete
    temporary file, and removes the temporary file when the copy fails, so
    the cache holds no partial object and a rerun after freeing space
    completes."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        shown = shown or os.path.relpath(path)
        raise CoreError(
            f"'{shown}' was not stored: no space left on the cache's disk ({os.fspath(cache)})",
            exc.filename,
            hint="Free space there ('trails gc' removes objects nothing refers to) or set "
            "cache.dir in .dvc/config to a larger disk. Nothing partial was left in the cache.",
        ) from None


def read_manifest(cache: PathArg, tree_hash: str) -> bytes:
    """A tree object's manifest bytes, checked against its hash and
    validated (safe paths, well-formed hashes) by the core, not parsed
    into entries (a caller wanting only the names parses less)."""
    return _core.read_tree(os.fspath(cache), tree_hash)


def read_tree(cache: PathArg, tree_hash: str) -> Tree:
    manifest = _core.read_tree(os.fspath(cache), tree_hash)
    entries = parse_manifest(manifest)
    return Tree(tree_hash, manifest, len(entries), sum(e.size for e in entries), 0)


def object_path(cache: PathArg, file_hash: str) -> str:
    return _core.object_path(os.fspath(cache), file_hash)


def tree_object_exists(cache: PathArg, tree_hash: str) -> bool:
    return os.path.isfile(object_path(cache, tree_hash) + ".dir")


def checkout_file(
    cache: PathArg,
    file_hash: str,
    dest: PathArg,
    link_types: Sequence[str] = DEFAULT_LINK_TYPES,
    index: PathArg | None = None,
    executable: bool = False,
) -> str | None:
    """Make ``dest`` hold the object; returns the link type used, or None if
    it already did."""
    return _core.checkout_file(
        os.fspath(cache), file_hash, os.fspath(dest), list(link_types), _opt(index), executable
    )


def checkout_tree(
    cache: PathArg,
    tree_hash: str,
    dest: PathArg,
    link_types: Sequence[str] = DEFAULT_LINK_TYPES,
    index: PathArg | None = None,
) -> CheckoutResult:
    """Make ``dest`` hold exactly the tree: only differing files are
    replaced, strays removed. All objects are checked before anything is
    touched."""
    return _core.checkout_tree(
        os.fspath(cache), tree_hash, os.fspath(dest), list(link_types), _opt(index)
    )


def threads() -> int:
    return _core.threads()


def progress() -> tuple[int, int]:
    """(files, bytes) this process has hashed, stored or checked out so
    far; poll it from another thread to show progress of a long call."""
    return _core.progress()


# -- objects to and from a remote (``trails.remote.store``) -------------------

#: ``store_blobs``/``adopt_file`` outcomes.
WRITTEN, PRESENT, CORRUPT = 1, 0, -1


def store_blobs(
    cache: PathArg,
    data: bytes,
    items: Sequence[tuple[str, int, int]],
    index: PathArg | None = None,
) -> list[int]:
    """Store objects fetched from a remote, ``items`` being ``(name,
    offset, length)`` slices of ``data`` (name: hex, or ``<hex>.dir`` for a
    manifest). Each is stored only if its bytes hash to its name (and a
    manifest parses): per item ``WRITTEN``, ``PRESENT`` or ``CORRUPT``.
    ``index``: the stat index that then vouches for the objects written, so
    the checkout of a pull does not hash them again."""
    cachelock.hold(os.fspath(cache))
    where = None if index is None else os.fspath(index)
    return _core.store_blobs(os.fspath(cache), data, list(items), where)


def adopt_file(cache: PathArg, tmp: PathArg, name: str) -> int:
    """Make ``tmp`` (a complete file in ``<cache>/tmp``) the object ``name``
    if it hashes to it, without copying; else remove it. ``WRITTEN``,
    ``PRESENT`` or ``CORRUPT``."""
    cachelock.hold(os.fspath(cache))
    return _core.adopt_file(os.fspath(cache), os.fspath(tmp), name)


def read_objects(cache: PathArg, names: Sequence[str]) -> tuple[bytes, list[int]]:
    """The objects' bytes concatenated in order, and each one's length."""
    return _core.read_objects(os.fspath(cache), list(names))


def missing_objects(cache: PathArg, names: Sequence[str]) -> list[int]:
    """Indices of the named objects the cache lacks (one stat each, in parallel)."""
    return _core.missing_objects(os.fspath(cache), list(names))


def object_sizes(cache: PathArg, names: Sequence[str]) -> list[int]:
    """Each named object's size in the cache, -1 where it lacks it (one
    stat each, in parallel)."""
    return _core.object_sizes(os.fspath(cache), list(names))


def xxh3_files(paths: Sequence[PathArg]) -> int:
    """Bytes read by xxh3-128 over ``paths`` (in parallel, the core's
    reader): ``trails bench hash``'s comparison row, never a content
    address (those are blake3)."""
    return _core.xxh3_files([os.fspath(p) for p in paths])


def fsmonitor_serve(root: PathArg, folder: PathArg, max_watches: int | None = None) -> str:
    """Run the file watcher of ``trails daemon`` in this process until it
    stops; returns why (see ``trails.fsmonitor``)."""
    return _core.fsmonitor_serve(os.fspath(root), os.fspath(folder), max_watches)
