"""The live table ``exp run --run-all`` shows on a terminal: one row per
entry (``experiments.display.QueueDisplay`` keeps the states), redrawn at
most 4 times a second by rich's own thread, so the scheduler never waits
on the screen; when it stops, a static summary is printed once so the
outcome stays on screen. Off a terminal (a pipe, a CI log, ``TERM=dumb``,
or ``TRAILS_NO_PROGRESS`` set) it prints the base class's plain lines.
rich is imported only when a live table is started, so importing this
module costs the CLI's start-up nothing."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from trails.experiments.display import QueueDisplay, Status
from trails.progress import env_disables_live, live_wanted

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table

REFRESH_PER_SECOND = 4

_STYLE: dict[Status, str] = {
    "queued": "dim",
    "running": "yellow",
    "done": "green",
    "failed": "bold red",
    "left": "magenta",
    "taken": "dim",
}


class LiveQueueDisplay(QueueDisplay):
    """A ``QueueDisplay`` that draws a live table where a person watches.
    ``live`` forces the choice; otherwise a given ``console`` decides by
    ``console.is_terminal``, else ``stream`` (default: stdout, where the
    plain lines go too) by ``live_wanted``."""

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
        super().__init__(ids, jobs, echo, clock=clock)
        self._stream = stream if stream is not None else sys.stdout
        self._console = console
        if live is None:
            if console is not None:
                live = console.is_terminal and not env_disables_live()
            else:
                live = live_wanted(self._stream)
        self.is_live = live
        self._live: Live | None = None

    # -- the live table -----------------------------------------------------

    def __enter__(self) -> LiveQueueDisplay:
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
