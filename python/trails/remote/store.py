"""A remote's layout (``docs/remote-format.md``, version 1) and the three
operations on it: which objects it lacks (``missing``), sending objects
(``push``), getting them into the cache (``fetch``).

Small objects travel in packs (many objects concatenated, named by the
hash of their bytes), each followed by an immutable index file (named by
the hash of *its* bytes) that says which objects the pack holds and where.
Large objects are stored whole. What the remote holds is known by listing
``index/`` alone (one request per thousand index files) and reading the
index files not read before: a local copy of each is kept, checked against
its name, so a no-op push or pull costs one listing whatever the remote
holds. Nothing on the remote is ever rewritten: two machines pushing at
once each add their own files, and an interrupted push has lost nothing
sent (a pack whose index never made it is sent again, under the same name,
because packs are cut the same way from the same sorted list).

A remote is untrusted: an index that does not hash to its name is
ignored, and every object fetched is hash-checked by the core before it
enters the cache (``core.store_blobs``, ``core.adopt_file``); a corrupt or
truncated one is reported and not stored."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

from trails import core, versioned
from trails.remote.backend import Backend, RemoteAccessError

_HEX = frozenset("0123456789abcdef")

VERSION = 1
ROOT = f"trails-v{VERSION}/"
INDEX = ROOT + "index/"
PACKS = ROOT + "packs/"
OBJECTS = ROOT + "objects/"

#: A pack is closed at this many bytes or objects; objects this large or
#: larger are stored whole (and sent in parts).
PACK_BYTES = 8 * 1024 * 1024
#: ``TRAILS_PACK_OBJECTS`` sets it lower (smaller packs: finer resumption);
#: readers do not care, the index says where each object is.
PACK_OBJECTS = int(os.environ.get("TRAILS_PACK_OBJECTS", "0") or 0) or 8192
WHOLE_BYTES = 4 * 1024 * 1024
#: Whole objects are named by one index per this many.
WHOLE_PER_INDEX = 64
#: Needing less than this share of a pack's bytes, a fetch reads ranges
#: (gaps under ``GAP`` bytes are read through) instead of the whole pack.
WHOLE_PACK_SHARE = 0.5
GAP = 64 * 1024


class PackIndex(versioned.Record):
    """One index file: the objects of one pack (``pack``), or, with
    ``pack`` empty, whole objects stored under ``objects/``."""

    names: list[str]
    offsets: list[int]
    lengths: list[int]
    pack: str = ""


@dataclass(frozen=True)
class Location:
    pack: str  # "" for a whole object
    offset: int
    length: int


@dataclass
class Transfer:
    """What a push or fetch did."""

    sent: int = 0  # objects pushed or fetched
    already: int = 0  # objects already there
    bytes: int = 0
    #: names the remote lacks (fetch), or the cache lacks (push)
    absent: list[str] = field(default_factory=list)
    #: names whose fetched bytes did not match (not stored)
    corrupt: list[str] = field(default_factory=list)
    #: index files the remote was last seen with and no longer has
    lost: int = 0


def object_key(name: str) -> str:
    return f"{OBJECTS}{name[:2]}/{name[2:]}"


def _hex(name: str) -> str:
    return name.removesuffix(".dir")


class Remote:
    """One remote, opened for a project's cache. ``progress`` is called
    with (objects, bytes) as they go, from worker threads."""

    def __init__(
        self,
        backend: Backend,
        cache: Path,
        index_cache: Path,
        jobs: int,
        seen_file: Path | None = None,
        stat_index: Path | None = None,
        pushed_file: Path | None = None,
        address: str = "",
    ) -> None:
        self.backend = backend
        #: Where the last pushes found their objects (``known``), and what
        #: this remote is (its URL), which a record's key names.
        self.pushed_file = pushed_file
        self.address = address
        #: The project's stat index, told of the objects a fetch stores.
        self.stat_index = stat_index
        #: The names of the index files the remote was last listed with.
        self.seen_file = seen_file
        self._listed = False
        self.name = backend.name
        self.cache = cache
        self.index_cache = index_cache
        self.jobs = max(1, jobs)
        self._holdings: dict[str, tuple[int, int]] | None = None
        self._indexes: list[PackIndex] = []
        #: The name of each of ``_indexes``.
        self._index_names: list[str] = []
        #: What ``index/`` and ``packs/`` listed (once per Remote).
        self._listing: tuple[set[str], set[str]] | None = None
        self._pack_size: dict[str, int] = {}
        #: Index files this Remote wrote (remembered as seen after a push).
        self._pushed: list[str] = []
        #: Index files last seen on the remote that its listing no longer
        #: shows: it was emptied or replaced behind trails' back.
        self.lost = 0
        self._lock = threading.Lock()
        self.progress: Callable[[int, int], None] = lambda n, b: None

    # -- what the remote holds -------------------------------------------------

    def _read_index(self, name: str) -> PackIndex | None:
        """An index file, from the local copy if there is one; one that
        does not hash to its name (damaged, hostile) is ignored."""
        local = self.index_cache / name
        try:
            data = local.read_bytes()
        except FileNotFoundError:
            data = self.backend.get(INDEX + name)
            if core.hash_bytes(data) == name:
                self._keep_index(name, data)
        if core.hash_bytes(data) != name:
            return None
        try:
            idx = versioned.decode(PackIndex, data, f"remote index {name}", "")
        except versioned.RecordError:
            return None
        if not (len(idx.names) == len(idx.offsets) == len(idx.lengths)):
            return None
        # A hostile index may name any key as its pack, or negative spans:
        # it is ignored (its names are only compared with wanted ones).
        if idx.pack and not (len(idx.pack) == 64 and _HEX.issuperset(idx.pack)):
            return None
        if min(idx.offsets, default=0) < 0 or min(idx.lengths, default=0) < 0:
            return None
        return idx

    def _keep_index(self, name: str, data: bytes) -> None:
        self.index_cache.mkdir(parents=True, exist_ok=True)
        _replace(self.index_cache / name, data)

    def _seen(self) -> list[str] | None:
        """The index files this remote was last seen holding, or None."""
        try:
            text = self.seen_file.read_text() if self.seen_file else None
        except OSError:
            return None
        return None if text is None else [n for n in text.split() if len(n) == 64]

    def _remember(self, names: list[str]) -> None:
        if self.seen_file is None:
            return
        self.seen_file.parent.mkdir(parents=True, exist_ok=True)
        _replace(self.seen_file, "".join(f"{n}\n" for n in names).encode())

    def holdings(self, *, fresh: bool = True) -> dict[str, tuple[int, int]]:
        """Every object the remote's index files name: name -> (which
        index, position in it), built by ``zip`` in C, since a remote of
        100k objects is read on every push and pull. ``fresh``: from a
        listing of ``index/`` (once per Remote); otherwise from the index
        files it was last seen holding, with no request at all, which can
        only be fewer than it holds (trails deletes nothing on a remote;
        one emptied by hand is noticed by the listing every push makes)."""
        if self._holdings is not None and (self._listed or not fresh):
            return self._holdings
        names = self._seen() if not fresh else None
        packs: set[str] | None = None
        if names is None:
            names = sorted(self.listing()[0])
            packs = self.listing()[1]
        with ThreadPoolExecutor(self.jobs) as pool:
            read = [
                (n, i) for n, i in zip(names, pool.map(self._read_index, names), strict=True)
                if i is not None and (packs is None or not i.pack or i.pack in packs)
            ]  # fmt: skip
        self._index_names = [n for n, _ in read]
        self._indexes = [i for _, i in read]
        held: dict[str, tuple[int, int]] = {}
        # Last to first, so that the first index naming an object wins.
        for i in reversed(range(len(self._indexes))):
            idx = self._indexes[i]
            if idx.pack:
                self._pack_size[idx.pack] = sum(idx.lengths)
            held.update(zip(idx.names, zip(repeat(i), range(len(idx.names))), strict=True))
        self._holdings = held
        return held

    def listing(self) -> tuple[set[str], set[str]]:
        """The names of the index files and of the packs the remote lists
        now (one request per 1,000 of each; once per Remote): packs too,
        since an index whose pack is gone names nothing. Index files it was
        last seen with and no longer lists are counted in ``lost``."""
        if self._listing is None:
            seen = self._seen()
            indexes = {n for n in self.backend.list(INDEX) if len(n) == 64}
            self._listing = (indexes, set(self.backend.list(PACKS)))
            self._listed = True
            self.lost = sum(1 for n in seen or () if n not in indexes)
            self._remember(sorted(indexes))
        return self._listing

    def lists(self, indexes: Iterable[str], packs: Iterable[str]) -> bool:
        """Whether the remote still lists all of these index files and
        packs (what a kept record of a push says its objects are in)."""
        listed_indexes, listed_packs = self.listing()
        return listed_indexes.issuperset(indexes) and listed_packs.issuperset(packs)

    def held_in(self, names: Iterable[str]) -> tuple[list[str], list[str]] | None:
        """The index files, and their packs, that hold ``names`` (what a
        record of this push depends on); None if it does not hold them all."""
        held = self.holdings(fresh=False)
        try:
            used = sorted({held[n][0] for n in names})
        except KeyError:
            return None
        return (sorted({self._index_names[i] for i in used}),
                sorted({p for i in used if (p := self._indexes[i].pack)}))  # fmt: skip

    def location(self, name: str) -> Location | None:
        where = self.holdings(fresh=False).get(name)
        if where is None and not self._listed:
            where = self.holdings(fresh=True).get(name)
        if where is None:
            return None
        idx = self._indexes[where[0]]
        return Location(idx.pack, idx.offsets[where[1]], idx.lengths[where[1]])

    def missing(self, names: Iterable[str]) -> list[str]:
        """Those of ``names`` the remote does not hold. Asked first of
        what it was last seen holding: only when that lacks some is the
        remote listed, so a no-op push or pull sends no request."""
        wanted = list(dict.fromkeys(names))
        held = self.holdings(fresh=False)
        todo = [n for n in wanted if n not in held]
        if todo and not self._listed:
            held = self.holdings(fresh=True)
            todo = [n for n in todo if n not in held]
        return todo

    # -- push ----------------------------------------------------------------

    def push(self, names: Iterable[str]) -> Transfer:
        """Send the objects of ``names`` the remote lacks. Names the cache
        lacks are returned in ``absent`` (nothing to send)."""
        wanted = list(dict.fromkeys(names))
        result = Transfer()
        # Always from a listing (one request per 1,000 index files and
        # packs), never from the memo alone: a remote emptied or replaced
        # behind trails' back is sent again what it lost.
        self.holdings(fresh=True)
        todo = self.missing(wanted)
        result.already = len(wanted) - len(todo)
        result.lost = self.lost
        # Only those to send are looked at, in one call of the core.
        found = core.object_sizes(self.cache, todo)
        result.absent = [n for n, size in zip(todo, found, strict=True) if size < 0]
        sizes = {n: size for n, size in zip(todo, found, strict=True) if size >= 0}
        todo = sorted(sizes)
        small = [n for n in todo if sizes[n] < WHOLE_BYTES]
        large = [n for n in todo if sizes[n] >= WHOLE_BYTES]
        with ThreadPoolExecutor(self.jobs) as pool:
            futures = [pool.submit(self._send_pack, chunk) for chunk in _chunks(small, sizes)]
            for f in futures:
                sent, nbytes = f.result()
                result.sent += sent
                result.bytes += nbytes
        for i in range(0, len(large), WHOLE_PER_INDEX):
            group = large[i : i + WHOLE_PER_INDEX]
            for n in group:
                if not self.backend.exists(object_key(n)):
                    self.backend.put_file(object_key(n), Path(self._local(n)))
                result.bytes += sizes[n]
                result.sent += 1
                self.progress(1, sizes[n])
            self._put_index(PackIndex(names=group, offsets=[0] * len(group),
                                      lengths=[sizes[n] for n in group]))  # fmt: skip
        if self._listed:
            self._remember(sorted(self.listing()[0]) + self._pushed)
        return result

    def _local(self, name: str) -> str:
        return core.object_path(self.cache, _hex(name)) + (".dir" if name.endswith(".dir") else "")

    def _send_pack(self, chunk: list[str]) -> tuple[int, int]:
        body, lengths = core.read_objects(self.cache, chunk)
        pack = core.hash_bytes(body)
        self.backend.put(PACKS + pack, body)
        offsets, pos = [], 0
        for ln in lengths:
            offsets.append(pos)
            pos += ln
        self._put_index(PackIndex(pack=pack, names=chunk, offsets=offsets, lengths=lengths))
        self.progress(len(chunk), len(body))
        return len(chunk), len(body)

    def _put_index(self, idx: PackIndex) -> None:
        data = idx.encode()
        name = core.hash_bytes(data)
        self.backend.put(INDEX + name, data)
        self._keep_index(name, data)
        with self._lock:
            if self._holdings is not None:
                self._indexes.append(idx)
                self._index_names.append(name)
                i = len(self._indexes) - 1
                for pos, n in enumerate(idx.names):
                    self._holdings.setdefault(n, (i, pos))
            self._pushed.append(name)

    # -- fetch ---------------------------------------------------------------

    def fetch(self, names: Iterable[str]) -> Transfer:
        """Bring the objects of ``names`` the cache lacks from the remote,
        each hash-checked before it is stored."""
        wanted = list(dict.fromkeys(names))
        result = Transfer()
        todo = [wanted[i] for i in core.missing_objects(self.cache, wanted)]
        result.already = len(wanted) - len(todo)
        if not todo:
            return result
        self.backend.check_readable()
        by_pack: dict[str, list[tuple[str, Location]]] = {}
        for n in todo:
            loc = self.location(n)
            if loc is None:
                result.absent.append(n)
            else:
                by_pack.setdefault(loc.pack, []).append((n, loc))
        jobs = [(p, items) for p, items in by_pack.items() if p]
        with ThreadPoolExecutor(self.jobs) as pool:
            futures = [pool.submit(self._fetch_pack, p, items) for p, items in jobs]
            futures += [pool.submit(self._fetch_whole, n) for n, _ in by_pack.get("", [])]
            for f in futures:
                got, corrupt, nbytes = f.result()
                result.sent += got
                result.corrupt += corrupt
                result.bytes += nbytes
        return result

    def _fetch_pack(
        self, pack: str, items: list[tuple[str, Location]]
    ) -> tuple[int, list[str], int]:
        items.sort(key=lambda i: i[1].offset)
        need = sum(loc.length for _, loc in items)
        total = self._pack_size.get(pack, need)
        key = PACKS + pack
        try:
            spans = [(0, total, items)] if need >= WHOLE_PACK_SHARE * total else _spans(items)
            got, corrupt, nbytes = 0, [], 0
            for start, length, group in spans:
                data = (self.backend.get(key) if (start, length) == (0, total)
                        else self.backend.get_range(key, start, length))  # fmt: skip
                codes = core.store_blobs(
                    self.cache, data,
                    [(n, loc.offset - start, loc.length) for n, loc in group], self.stat_index,
                )  # fmt: skip
                for (n, _), code in zip(group, codes, strict=True):
                    if code < 0:
                        corrupt.append(n)
                    else:
                        got += 1
                nbytes += len(data)
                self.progress(len(group), len(data))
            return got, corrupt, nbytes
        except FileNotFoundError:  # a folder remote lost the pack
            return 0, [n for n, _ in items], 0

    def _fetch_whole(self, name: str) -> tuple[int, list[str], int]:
        tmp_dir = self.cache / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"fetch-{uuid.uuid4().hex}"
        try:
            self.backend.get_file(object_key(name), tmp)
        except (FileNotFoundError, RemoteAccessError):
            tmp.unlink(missing_ok=True)
            return 0, [name], 0
        except BaseException:  # a full disk: no partial file left in the cache
            tmp.unlink(missing_ok=True)
            raise
        size = tmp.stat().st_size
        code = core.adopt_file(self.cache, tmp, name)
        tmp.unlink(missing_ok=True)
        self.progress(1, size)
        return (0, [name], size) if code < 0 else (1, [], size)


def _replace(path: Path, data: bytes) -> None:
    """Local state written whole or not at all: a full disk leaves no
    temporary file behind."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _chunks(names: list[str], sizes: dict[str, int]) -> list[list[str]]:
    """Cut the sorted names into packs, greedily: the same sorted list less
    whole packs gives the same remaining packs (what makes a resumed push
    send a pack under the name it had)."""
    out: list[list[str]] = []
    cur: list[str] = []
    nbytes = 0
    for n in names:
        if cur and (nbytes + sizes[n] > PACK_BYTES or len(cur) >= PACK_OBJECTS):
            out.append(cur)
            cur, nbytes = [], 0
        cur.append(n)
        nbytes += sizes[n]
    if cur:
        out.append(cur)
    return out


def _spans(items: list[tuple[str, Location]]) -> list[tuple[int, int, list[tuple[str, Location]]]]:
    """Byte ranges covering ``items`` (sorted by offset), merged across
    gaps under ``GAP`` bytes."""
    spans: list[tuple[int, int, list[tuple[str, Location]]]] = []
    for n, loc in items:
        if spans:
            start, length, group = spans[-1]
            if loc.offset - (start + length) < GAP:
                group.append((n, loc))
                end = max(start + length, loc.offset + loc.length)
                spans[-1] = (start, end - start, group)
                continue
        spans.append((loc.offset, loc.length, [(n, loc)]))
    return spans
