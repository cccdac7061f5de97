"""What ``exp run --run-all`` shows while the queue drains.

On a terminal: a live table (rich) with one row per entry — queued, running
(with the stage it is in), done, failed, left, taken — redrawn at most 4 times a
second by rich's own thread, so the scheduler never waits on the screen;
when it stops, a static summary is printed once so the outcome stays on
screen. Off a terminal (a pipe, a CI log, ``TERM=dumb``, or
``TRAILS_NO_PROGRESS`` set): the plain lines ``pool`` always printed, one per
start and end, worded the same so logs and tests that read them keep
working; stage changes print nothing there, to keep logs short.

The workers are separate processes and never call back: the current stage
is read from the ``stage`` file each worker keeps in its run folder
(``poll_stages``). rich is imported only when a live table is started, so
importing this module costs the CLI's start-up nothing."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal, TextIO

from trails.progress import env_disables_live, live_wanted

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

Status = Literal["queued", "running", "done", "failed", "left", "taken"]

REFRESH_PER_SECOND = 4

_STYLE: dict[Status, str] = {
    "queued": "dim",
    "running": "yellow",
    "done": "green",
    "failed": "bold red",
    "left": "magenta",
    "taken": "dim",
}


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
    """Progress of a queue run; the scheduler reports each state change.

    ``ids`` are the entries in queue order (entries reported later are
    added at the end). ``echo`` receives the plain lines when there is no
    live table. ``live`` forces the choice; otherwise a given ``console``
    decides by ``console.is_terminal``, else ``stream`` (default: stdout,
    where the plain lines go too) by ``live_wanted``. ``clock`` is for tests.
    """

    def __init__(
        self,
        ids: Iterable[str],
        jobs: int,
        echo: Callable[[str], None],
        *,
        stream: TextIO | None = None,
        console: Console | None = None,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.jobs = jobs
        self._echo = echo
        self._stream = stream if stream is not None else sys.stdout
        self._console = console
        self._clock = clock
        self._lock = threading.Lock()
        self._rows: dict[str, Row] = {i: Row(i) for i in ids}
        if live is None:
            if console is not None:
                live = console.is_terminal and not env_disables_live()
            else:
                live = live_wanted(self._stream)
        self.is_live = live
        self._live: Live | None = None

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

    # -- the live table -----------------------------------------------------

    def __enter__(self) -> QueueDisplay:
        if not self.is_live:
            return self
        from rich.console import Console
        from rich.live import Live

        if self._console is None:
            self._console = Console(file=self._stream)
        # transient: the summary printed on exit replaces the last frame,
        # instead of the table appearing twice
        self._live = Live(
            console=self._console,
            get_renderable=self._live_table,
            refresh_per_second=REFRESH_PER_SECOND,
            transient=True,
        )
        self._live.start(refresh=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Also on Ctrl+C: the summary then shows what finished and what
        was left in the queue."""
        live, self._live = self._live, None
        if live is None:
            return
        live.stop()
        if self._console is not None and self._rows:
            self._console.print(self.table(final=True))

    def _live_table(self) -> Table:
        return self.table(final=False)

    def table(self, *, final: bool) -> Table:
        """The live frame (``final`` false: running count against the
        jobs, running times still growing) or the summary."""
        from rich.table import Table
        from rich.text import Text

        rows = self.rows
        now = self._clock()
        counts = {s: sum(r.status == s for r in rows) for s in _STYLE}
        if final:
            parts = [f"{counts[s]} {s}" for s in ("done", "failed", "left", "taken") if counts[s]]
            title = "Queue summary: " + (", ".join(parts) or "nothing ran")
        else:
            title = (
                f"Queue: {counts['running']}/{self.jobs} jobs busy, "
                f"{counts['queued']} queued, {counts['done']} done, {counts['failed']} failed"
            )
        table = Table(title=title, title_justify="left")
        table.add_column("Experiment", no_wrap=True)
        table.add_column("Status", no_wrap=True)
        table.add_column("Stage")
        table.add_column("Name / reason")
        table.add_column("Elapsed", justify="right", no_wrap=True)
        for r in rows:
            secs = r.seconds
            if secs is None and r.status == "running" and r.started is not None:
                secs = now - r.started
            # Text, never markup: a reason like "[Errno 2] ..." or a stage
            # named "[x]" must show as written
            table.add_row(
                Text(r.id),
                Text(r.status, style=_STYLE[r.status]),
                Text(r.stage),
                Text(r.note),
                Text("" if secs is None else f"{secs:.1f} s"),
            )
        return table
