"""Versioned records: the base of every JSON document trails writes for
another process or a later run to read (``msgspec.Struct``s; see
``experiments.records`` and ``repro.runcache``). A document without a
``version`` is version 1, what trails wrote before records had one. The
version is read before the fields, so a newer layout is named as such
instead of failing on a field it changed."""

from __future__ import annotations

from typing import ClassVar, TypeVar

import msgspec

from trails.errors import TrailsError


class RecordError(TrailsError):
    """A record trails wrote (a queued entry's arguments, a worker's result,
    a checkpoint chain's state) that this version cannot read: written by a
    newer trails, or damaged (cut short, edited)."""


class _Header(msgspec.Struct):
    """What every record starts with; absent in version-1 documents."""

    version: int = 1


R = TypeVar("R", bound="Record")


class Record(msgspec.Struct, kw_only=True):
    """A versioned record. ``VERSION``: the newest layout this trails writes
    and reads; older ones are read as today's where they are the same."""

    VERSION: ClassVar[int] = 1
    version: int = 1

    def encode(self) -> bytes:
        return msgspec.json.encode(self)


def warm(*classes: type[Record]) -> None:
    """Have msgspec read the layout of ``classes`` (and of the header every
    record starts with) now, as it does on a process's first decode of
    each: a process that forks workers does it once for all of them."""
    for cls in (_Header, *classes):
        msgspec.json.Decoder(cls)


def decode(cls: type[R], data: bytes | str, source: str, hint: str) -> R:
    """``data`` as a ``cls``: the version is checked first (a newer layout
    may not even parse as this one), then the fields. ``source`` names the
    document in the message; ``hint`` says what to do about it."""
    try:
        head = msgspec.json.decode(data, type=_Header)
    except msgspec.DecodeError as exc:
        raise RecordError(f"{source}: not a readable record ({exc})", hint=hint) from None
    if head.version > cls.VERSION:
        raise RecordError(
            f"{source}: written by a newer trails (record version {head.version}; this one "
            f"reads up to {cls.VERSION})",
            hint=hint,
        )
    try:
        return msgspec.json.decode(data, type=cls)
    except msgspec.DecodeError as exc:
        raise RecordError(f"{source}: not a readable record ({exc})", hint=hint) from None
