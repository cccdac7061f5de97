"""The exceptions trails raises for people to read.

One hierarchy, caught in one place (``trails.cli.main``), which prints
``Error: <message>`` and exits 1. Operating-system failures stay ``OSError``
(with ``filename``), as Python raises them, and are printed the same way.
"""

from __future__ import annotations

from collections.abc import Iterable


class TrailsError(Exception):
    """An error whose message is written for the user.

    ``hint`` says what to do next; it is printed on its own line.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def closest(word: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The candidate closest to ``word`` (a mistyped stage, experiment,
    queue entry, param or command), if any is close enough. One matcher,
    so every "did you mean" agrees on what is close."""
    import difflib  # only on the error path

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(
    word: str, candidates: Iterable[str], *, otherwise: str | None = None
) -> str | None:
    """The hint for an unknown name: ``Did you mean 'x'?``, else
    ``otherwise`` (what lists the names)."""
    close = closest(word, candidates)
    return f"Did you mean '{close}'?" if close else otherwise


class CoreError(TrailsError):
    """An error from the Rust core that is not a plain OS error: a file that
    changed while being hashed, a damaged manifest, a missing cache object.
    The message already names the path; ``filename`` holds it too."""

    def __init__(
        self, message: str, filename: str | None = None, *, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.filename = filename


class PipelineError(TrailsError):
    """A ``dvc.yaml`` / ``dvc.lock`` problem or a graph error (cycle,
    overlapping outputs, unknown target). Messages start with
    ``file:line:`` where a line is known."""


class StateWarning(UserWarning):
    """Local state (the stat index) was unreadable or damaged and is being
    rebuilt. Nothing is lost but time."""


def error_lines(exc: BaseException) -> list[str]:
    """What the user reads of ``exc``: ``Error: <message>``, then its hint
    if it has one. One rendering for the CLI's catch site and the queue
    worker's log, so both say the same."""
    hint = getattr(exc, "hint", None)
    return [f"Error: {error_message(exc)}"] + ([hint] if hint else [])


def error_message(exc: BaseException) -> str:
    """One line for the user: the path and the reason (an ``OSError``
    without Python's ``[Errno N]`` and quotes)."""
    if isinstance(exc, OSError) and not isinstance(exc, TrailsError):
        reason = exc.strerror or str(exc)
        return f"{exc.filename}: {reason}" if exc.filename else reason
    return str(exc)
