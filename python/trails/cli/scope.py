"""The options that say which commits to keep, shared by ``gc`` (cache
objects) and ``exp gc`` (experiments): ``-w``, ``-a``, ``-T``, ``-A``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

#: (short, long, whose: the commits the flag names)
SCOPES = (
    ("-w", "--workspace", "the workspace and HEAD"),
    ("-a", "--all-branches", "every branch head"),
    ("-T", "--all-tags", "every tag"),
    ("-A", "--all-commits", "every commit"),
)


def keep_options(what: str) -> Callable[[F], F]:
    """The four flags, each helped as "Keep {what} of <its commits>." """

    def add(f: F) -> F:
        for short, long, whose in reversed(SCOPES):
            f = click.option(short, long, is_flag=True, help=f"Keep {what} of {whose}.")(f)
        return f

    return add


def require_one(*chosen: object, also: str = "") -> None:
    """Nothing chosen is a usage error: gc never guesses what to keep."""
    if not any(chosen):
        raise click.UsageError(f"choose what to keep: -w (the workspace), -a, -T or -A{also}")
