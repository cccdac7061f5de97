"""The run-cache's one record: the outputs of the run its key names.

A module of its own so that msgspec is imported only when an entry is read
or written (a stage about to run), not by every ``status`` and no-op
``repro`` that loads the run layer: ~20 ms of a command that should cost
little more than a stat of each file."""

from __future__ import annotations

from trails.pipeline.lockfile import FileState
from trails.versioned import Record


class Entry(Record):
    """A run-cache entry: the outputs of the run its key names."""

    outs: list[FileState]
