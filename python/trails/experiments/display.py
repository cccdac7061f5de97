"""What ``exp run --run-all`` reports while the queue drains: each
entry's state (queued, running with the stage it is in, done, failed,
left, taken), kept here and printed as the plain lines ``pool`` always
printed, one per start and end, worded the same so logs and tests that
read them keep working; stage changes print nothing, to keep logs short.
The live table a terminal gets is drawn by ``trails.cli.display``, a
subclass: services report, the CLI draws (no rich here).

The workers are separate processes and never call back: the current stage
is read from the ``stage`` file each worker keeps in its run folder
(``poll_stages``)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

Status = Literal["queued", "running", "done", "failed", "left", "taken"]


class QueueStatus(Protocol):
    """What a queue run reports, as events (the queue's counterpart of
    ``trails.repro.status.Status``): the pool says what happened to each
    entry, and a renderer decides the words (``QueueDisplay``: the plain
    lines; the CLI's live table). Rewording changes no behaviour."""

    def __enter__(self) -> QueueStatus: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def started(self, entry_id: str) -> None:
        """The entry got a slot: its stages run."""

    def done(self, entry_id: str, name: str, seconds: float) -> None: ...
    def failed(self, entry_id: str, reason: str, log_path: str | os.PathLike[str]) -> None: ...
    def taken(self, entry_id: str) -> None:
        """Another worker (another ``--run-all``) holds the entry."""

    def left(self, entry_id: str) -> None:
        """Interrupted, or never started: it stays in the queue."""

    def poll_stages(self, run_dir_of: Callable[[str], Path]) -> None:
        """Look at the running entries' current stages (the workers never
        call back: each keeps its stage in a file of its run folder)."""


@dataclass(frozen=True)
class Row:
    """One entry's state. Frozen so that the render thread can take a
    snapshot without copying and never sees a half-made update."""

    id: str
    status: Status = "queued"
    stage: str = ""
    note: str = ""  # the name when done, the reason (and log) when failed
    started: float | None = None  # clock() when it started running
    seconds: float | None = None  # the final run time, once it ended


class QueueDisplay:
    """Progress of a queue run (a ``QueueStatus``); the scheduler reports
    each state change.

    ``ids`` are the entries in queue order (entries reported later are
    added at the end). ``echo`` receives the plain lines unless
    ``is_live`` (a subclass that draws them otherwise). ``clock`` is for
    tests.
    """

    is_live = False

    def __init__(
        self,
        ids: Iterable[str],
        jobs: int,
        echo: Callable[[str], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jobs = jobs
        self._echo = echo
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[str, Row] = {i: Row(i) for i in ids}

    # -- state changes, called by the scheduler ---------------------------

    @property
    def rows(self) -> tuple[Row, ...]:
        with self._lock:
            return tuple(self._rows.values())

    def _get(self, entry_id: str) -> Row:
        with self._lock:
            return self._rows.get(entry_id, Row(entry_id))

    def _put(self, row: Row) -> None:
        """Only the scheduler thread writes; the lock keeps the render
        thread's snapshot whole."""
        with self._lock:
            self._rows[row.id] = row

    def _since_start(self, entry_id: str) -> float | None:
        row = self._get(entry_id)
        if row.started is None:
            return None
        return self._clock() - row.started

    def queued(self, entry_id: str) -> None:
        """An entry joined (or re-joined) the queue; silent in plain mode,
        where nothing has ever been printed for waiting entries."""
        self._put(Row(entry_id))

    def started(self, entry_id: str) -> None:
        self._put(Row(entry_id, "running", started=self._clock()))
        if not self.is_live:
            self._echo(f"Running queued experiment {entry_id}")

    def stage(self, entry_id: str, name: str) -> None:
        """Only a running entry takes a stage: a stage file read just
        before the worker ended must not turn a finished row back."""
        with self._lock:
            row = self._rows.get(entry_id)
            if row is not None and row.status == "running":
                self._rows[entry_id] = replace(row, stage=name)

    def done(self, entry_id: str, name: str, seconds: float) -> None:
        self._put(replace(self._get(entry_id), status="done", stage="", note=name, seconds=seconds))
        if not self.is_live:
            self._echo(f"Experiment {entry_id} done as '{name}' ({seconds:.1f} s)")

    def failed(self, entry_id: str, reason: str, log_path: str | os.PathLike[str]) -> None:
        """The stage is kept: where it failed is the first thing to know."""
        log = os.fspath(log_path)
        secs = self._since_start(entry_id)
        note = f"{reason} (log: {log})"
        self._put(replace(self._get(entry_id), status="failed", note=note, seconds=secs))
        if not self.is_live:
            self._echo(f"Experiment {entry_id} failed: {reason} (log: {log})")

    def taken(self, entry_id: str) -> None:
        """Another worker (another ``--run-all``) holds the entry's lock."""
        self._put(
            replace(self._get(entry_id), status="taken", stage="", note="taken by another worker")
        )
        if not self.is_live:
            self._echo(f"Experiment {entry_id} was taken by another worker")

    def left(self, entry_id: str) -> None:
        """Interrupted, or never started: it stays in the queue. Silent in
        plain mode, where the CLI says so once for all of them."""
        secs = self._since_start(entry_id)
        self._put(replace(self._get(entry_id), status="left", note="still queued", seconds=secs))

    def poll_stages(self, run_dir_of: Callable[[str], Path]) -> None:
        """One small read per running entry. A missing or empty file (the
        worker has not reached a stage yet, or is writing it) keeps the
        last stage seen."""
        running = [r.id for r in self.rows if r.status == "running"]
        for entry_id in running:
            try:
                text = (run_dir_of(entry_id) / "stage").read_text(errors="replace")
            except OSError:
                continue
            name = text.strip()
            if name:
                self.stage(entry_id, name)

    def __enter__(self) -> QueueDisplay:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Plain lines need no closing; a live table prints its summary."""


#: What ``pool.run_all`` calls to make the display of a run: (ids, jobs).
DisplayFactory = Callable[[list[str], int], QueueStatus]
