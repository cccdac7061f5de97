"""``trails root``: where the project's root is, from the current folder."""

from __future__ import annotations

import click


@click.command()
def root() -> None:
    """Print the project's root, relative to the current folder (as the
    reference tool does: '.' at the root)."""
    import os

    from trails.project import Project

    click.echo(os.path.relpath(Project.find().root, os.getcwd()))
