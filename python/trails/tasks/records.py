"""The records of collection: what one task declares (``TaskSpec``), what
one task file held when it was last collected (``FileEntry``, keyed by the
stamps of it and of every project file it reached), the cache of all of
them (``TaskCache``, ``.dvc/tmp/trails/tasks.json``), the collector's
answer (``Batch``) and ``trails collect --json`` (``Collected``)."""

from __future__ import annotations

from typing import ClassVar

import msgspec

from trails.tasks import plain
from trails.versioned import Record


class OutSpec(msgspec.Struct, frozen=True):
    path: str
    kind: str = "outs"
    cache: bool = True
    persist: bool = False
    checkpoint: bool = False
    #: A ``trails.Plot``'s display properties (``x``, ``y``, ``title``...).
    plot: dict[str, str | list[str]] = {}


class ParamSpec(msgspec.Struct, frozen=True):
    file: str
    key: str


class TaskSpec(msgspec.Struct, frozen=True):
    """One task as collection saw it; paths repo-relative POSIX. ``code``:
    ``(label, hash)`` of the function and of everything it reaches."""

    id: str
    file: str
    line: int
    deps: list[str] = []
    outs: list[OutSpec] = []
    params: list[ParamSpec] = []
    marks: list[str] = []
    code: list[tuple[str, str]] = []


class Stamp(msgspec.Struct):
    """A file as it was read: stat first (cheap), then content hash (a
    touched but unchanged file stays valid)."""

    path: str
    size: int
    mtime_ns: int
    digest: str


class FileEntry(msgspec.Struct):
    """What collecting one task file learned: its tasks, or the one error
    it gives. Valid while ``stamp`` and every ``reached`` stamp hold."""

    stamp: Stamp
    reached: list[Stamp] = []
    tasks: list[TaskSpec] = []
    error: str | None = None
    hint: str | None = None


class TaskCache(Record, kw_only=True):
    #: Read without msgspec on the no-op path too (``plain``).
    VERSION: ClassVar[int] = plain.VERSION
    #: Python and trails versions: the AST's dump, hence code hashes, may
    #: differ between them.
    python: str = ""
    trails: str = ""
    #: ``plain.SCHEME``: how the code hashes were computed.
    scheme: int = 1
    files: dict[str, FileEntry] = msgspec.field(default_factory=dict)


class Batch(Record, kw_only=True):
    """The collector's answer."""

    files: dict[str, FileEntry] = msgspec.field(default_factory=dict)


class Collected(Record, kw_only=True):
    """``trails collect --json``."""

    tasks: list[TaskSpec] = msgspec.field(default_factory=list)
