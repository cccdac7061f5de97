"""A live progress line (rich) for long core calls: files/s and MB/s, read
from the core's counters by a polling thread (the core never calls back
into Python). ``trails.progress`` decides when it is shown; ``main``
installs it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def live_line(label: str) -> Iterator[None]:
    """One line redrawn while the work inside runs, then removed."""
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
