"""Progress of long core calls, reported by the services (``data.py``)
and drawn by whatever the CLI installs (``draw_with``): the services never
import rich. Shown only when stderr is a terminal (see ``live_wanted``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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


#: What draws a progress line: label -> a context the work runs in. The
#: CLI installs one (``trails.cli.progress_line``); services only report.
Meter = Callable[[str], AbstractContextManager[None]]
_meter: list[Meter] = []


def draw_with(meter: Meter | None) -> None:
    """Install (or, with None, remove) what draws progress lines. Without
    one, ``progress`` draws nothing: worker processes and library callers
    stay silent."""
    _meter[:] = [meter] if meter is not None else []


@contextmanager
def progress(label: str, *, enabled: bool | None = None) -> Iterator[None]:
    """Report a long core call labelled ``label``: drawn by the installed
    meter, and only where a person watches stderr (see ``live_wanted``)."""
    show = live_wanted(sys.stderr) if enabled is None else enabled
    if not show or not _meter:
        yield
        return
    with _meter[0](label):
        yield
