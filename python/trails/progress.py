"""A live progress line (rich) for long core calls: files/s and MB/s, read
from the core's counters by a polling thread (the core never calls back
into Python). Shown only when stderr is a terminal (see ``live_wanted``)."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO


def env_disables_live() -> bool:
    """``TERM=dumb`` terminals cannot move the cursor, and
    ``TRAILS_NO_PROGRESS`` (non-empty, like ``NO_COLOR``) lets a user who
    records a terminal session keep plain lines."""
    return bool(os.environ.get("TRAILS_NO_PROGRESS")) or os.environ.get("TERM") == "dumb"


def live_wanted(stream: TextIO) -> bool:
    """A redrawn table only makes sense where a person is watching; in a
    file or a pipe it would leave cursor codes and a copy per refresh."""
    if env_disables_live():
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # not a real file, or closed
        return False


@contextmanager
def progress(label: str, *, enabled: bool | None = None) -> Iterator[None]:
    show = live_wanted(sys.stderr) if enabled is None else enabled
    if not show:
        yield
        return
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from trails import core

    files0, bytes0 = core.progress()
    start = time.monotonic()
    stop = threading.Event()

    def line() -> Text:
        files, nbytes = core.progress()
        files, nbytes = files - files0, nbytes - bytes0
        secs = max(time.monotonic() - start, 1e-6)
        return Text(
            f"{label}: {files:,} files, {nbytes / 1e6:,.1f} MB "
            f"({files / secs:,.0f} files/s, {nbytes / 1e6 / secs:,.1f} MB/s)"
        )

    with Live(line(), console=Console(stderr=True), transient=True) as live:

        def poll() -> None:
            while not stop.wait(0.1):
                live.update(line())

        t = threading.Thread(target=poll, daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()
            t.join()
