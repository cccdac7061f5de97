"""The one way trails asks a yes/no question (``--interactive`` stages,
``gc``, ``exp gc``, ``commit``)."""

from __future__ import annotations

import click


def confirm(question: str) -> bool:
    """Ask on stderr, not stdout: ``-q`` sends stdout to /dev/null, and a
    question that waits for an answer must be seen. (stderr is where Git
    and click's own ``err=True`` put prompts, so piping stdout keeps them
    on the terminal too.) No default: the guide's ``[y/n] ``, and an empty
    answer asks again rather than deciding for the user."""
    return click.confirm(question, default=None, err=True, prompt_suffix=" ")
