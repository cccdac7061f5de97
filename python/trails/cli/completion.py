"""``trails completion``: the shell script that makes the shell ask trails
for completions (click's completion protocol; the values trails offers for
stage names, experiment names and params keys: ``cli/complete.py``)."""

from __future__ import annotations

import os

import click

SHELLS = ("bash", "zsh", "fish")


@click.command()
@click.option(
    "-s",
    "--shell",
    type=click.Choice(SHELLS),
    help="The shell to complete in (default: the one $SHELL names).",
)
def completion(shell: str | None) -> None:
    """Print the completion script for bash, zsh or fish. Load it from the
    shell's start-up file, e.g. in ~/.bashrc: eval "$(trails completion -s bash)";
    fish: trails completion -s fish > ~/.config/fish/completions/trails.fish"""
    from click.shell_completion import get_completion_class

    from trails.cli import cli
    from trails.cli.complete import COMPLETE_VAR

    name = shell or os.path.basename(os.environ.get("SHELL", ""))
    if name not in SHELLS:
        raise click.UsageError(f"cannot tell the shell from $SHELL ('{name}'): pass --shell")
    cls = get_completion_class(name)
    assert cls is not None
    click.echo(cls(cli, {}, "trails", COMPLETE_VAR).source())
