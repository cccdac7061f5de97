"""Imported by the queue's worker server (``forkserver.PRELOAD``), last,
before it forks any worker: what each worker would otherwise do again for
itself on first use, and its forks then inherit done. msgspec reads a
record type's annotations (and the dataclasses inside it) the first time a
process decodes one, ~0.7 ms a type; every worker decodes its entry's
arguments and listing. Nothing here is needed for correctness: a worker
forked without it decodes the same, a little later."""

from __future__ import annotations

from trails.experiments.records import CheckpointState, EntryListing, QueuedArgs
from trails.versioned import warm

warm(QueuedArgs, EntryListing, CheckpointState)
