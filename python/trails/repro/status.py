"""What the builder reports, as events (ninja's ``Status``): the CLI
prints them (``EchoStatus``: the lines people read), the queue's worker
also learns from them which stage runs. Words live only in the renderer,
so rewording a message changes no behaviour."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from trails.errors import TrailsError


class Outcome(enum.Enum):
    """What became of a stage in one run."""

    SKIPPED = "skipped"  # nothing changed (or frozen)
    RESTORED = "restored"  # outputs restored from the run-cache
    RAN = "ran"  # its command ran (or, with --dry, would run)
    FAILED = "failed"
    BLOCKED = "blocked"  # an upstream stage failed or was declined
    DECLINED = "declined"  # the user said no at an --interactive prompt


@dataclass
class Summary:
    ran: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    declined: list[str] = field(default_factory=list)
    """Stages the user said no to at an ``--interactive`` prompt."""
    locks_written: list[str] = field(default_factory=list)
    gitignores: list[str] = field(default_factory=list)


class DeclinedError(TrailsError):
    """The user said no to a stage the targets needed (``--interactive``)."""


def check_declined(summary: Summary, what: str) -> None:
    """A declined stage leaves the targets unreproduced: an error (exit 1),
    as the reference tool's "reproduction aborted by the user"; ``what``
    says what is therefore not done."""
    if not summary.declined:
        return
    names = ", ".join(f"'{a}'" for a in summary.declined)
    blocked = ", ".join(f"'{a}'" for a in summary.blocked)
    raise DeclinedError(
        f"declined stage(s) {names}" + (f" (so not run either: {blocked})" if blocked else "")
        + f": {what}",
        hint="Run again and answer 'y' to run them, or name other targets.",
    )  # fmt: skip


class Status(Protocol):
    def stage_frozen(self, address: str) -> None: ...
    def stage_skipped(self, address: str) -> None: ...
    def stage_would_run(self, address: str, why: Sequence[str], cmd: Sequence[str]) -> None:
        """``--dry``: the stage would run, and why."""

    def stage_explained(self, address: str, why: Sequence[str]) -> None:
        """``--explain``: why the stage runs."""

    def stage_declined(self, address: str) -> None: ...
    def stage_waiting(self, address: str) -> None:
        """Another run computes this exact run; this one waits for it."""

    def stage_restored(self, address: str) -> None: ...
    def stage_started(self, address: str, cmd: Sequence[str]) -> None: ...
    def stage_failed(self, address: str, error: Exception, ignored: bool) -> None:
        """A failure the run goes on after (``--keep-going``, ``--ignore-errors``)."""

    def checkpoint_failed(self, address: str, error: BaseException) -> None: ...
    def checkpoint_stored(self, address: str) -> None: ...
    def lock_note(self, text: str) -> None:
        """A note about a lock file about to be written (made by the reference tool)."""

    def lock_written(self, relpath: str) -> None: ...


class EchoStatus:
    """``Status`` as the lines the CLI prints, through ``echo``."""

    def __init__(self, echo: Callable[[str], None]) -> None:
        self.echo = echo

    def stage_frozen(self, address: str) -> None:
        self.echo(f"Stage '{address}' is frozen, skipping")

    def stage_skipped(self, address: str) -> None:
        self.echo(f"Stage '{address}' didn't change, skipping")

    def stage_would_run(self, address: str, why: Sequence[str], cmd: Sequence[str]) -> None:
        self.echo(f"'{address}' would run because: " + "; ".join(why))
        self.echo(f"Running stage '{address}':\n> " + "\n> ".join(cmd))

    def stage_explained(self, address: str, why: Sequence[str]) -> None:
        self.echo(f"'{address}' runs because: " + "; ".join(why))

    def stage_declined(self, address: str) -> None:
        self.echo(f"Skipped stage '{address}': declined")

    def stage_waiting(self, address: str) -> None:
        self.echo(f"Stage '{address}' is being computed by another run; waiting for it")

    def stage_restored(self, address: str) -> None:
        self.echo(f"Restored '{address}' from run-cache")

    def stage_started(self, address: str, cmd: Sequence[str]) -> None:
        self.echo(f"Running stage '{address}':\n> " + "\n> ".join(cmd))

    def stage_failed(self, address: str, error: Exception, ignored: bool) -> None:
        self.echo(f"Error: {error}" + (" (ignored)" if ignored else ""))

    def checkpoint_failed(self, address: str, error: BaseException) -> None:
        self.echo(f"Error: recording a checkpoint of '{address}': {error}")

    def checkpoint_stored(self, address: str) -> None:
        """Silent: the checkpoint hook says which commit it made."""

    def lock_note(self, text: str) -> None:
        self.echo(text)

    def lock_written(self, relpath: str) -> None:
        """Silent: the commands print the written lock files at the end."""
