"""``trails root``: where the project's root is, from the current folder."""

from __future__ import annotations

import click

from trails.cli.context import context


@click.command()
def root() -> None:
    """Print the project's root, relative to the current folder (as the
    reference tool does: '.' at the root)."""
    import os

    click.echo(os.path.relpath(context()[0].root, os.getcwd()))
