"""``trails stage add``: write a stage into ``dvc.yaml`` (comments and
order kept)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from trails.cli.context import context

F = TypeVar("F", bound=Callable[..., Any])


@click.group()
def stage() -> None:
    """Edit pipeline stages."""


def _multi(*names: str, help: str) -> Callable[[F], F]:
    """A repeatable path option."""
    return click.option(*names, multiple=True, metavar="PATH", help=help)


class _AddCommand(click.Command):
    """The command is every word from the first one that is not an option
    (or after ``--``), so its own flags stay its own; an unknown option
    before it is a usage error, not glued into the command."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.NoSuchOption as exc:
            raise click.UsageError(
                exc.format_message() + " The command starts at its first word that is not an"
                " option; put the command's own options after it, or everything after '--'.",
                ctx,
            ) from None


@stage.command("add", cls=_AddCommand, context_settings={"allow_interspersed_args": False})
@click.option("-n", "--name", required=True, help="Stage name.")
@_multi("-d", "--deps", help="A dependency (repeatable).")
@click.option(
    "-p",
    "--params",
    "--parameter",
    "params",
    multiple=True,
    metavar="[FILE:]KEYS",
    help="Params: 'lr,epochs' from params.yaml, or 'file.toml:lr' (repeatable).",
)
@_multi("-o", "--outs", help="An output kept in the cache.")
@_multi("-O", "--outs-no-cache", help="An output not kept in the cache.")
@_multi("--outs-persist", help="An output kept across runs (not removed before the run).")
@_multi("--outs-persist-no-cache", help="A persistent output not kept in the cache.")
@_multi("-c", "--checkpoints", help="A checkpoint output (restored before each run).")
@_multi("-m", "--metrics", help="A metrics file kept in the cache.")
@_multi("-M", "--metrics-no-cache", help="A metrics file not kept in the cache.")
@_multi("--plots", help="A plots file kept in the cache.")
@_multi("--plots-no-cache", help="A plots file not kept in the cache.")
@click.option("-w", "--wdir", help="Folder to run the command in.")
@click.option("-f", "--force", is_flag=True, help="Overwrite a stage of the same name.")
@click.option("--always-changed", is_flag=True, help="Always consider the stage changed.")
@click.option("--desc", help="A description of the stage.")
@click.option("--run", is_flag=True, help="Run the stage after adding it.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def add(name: str, command: tuple[str, ...], force: bool, run: bool, **lists: object) -> None:
    """Add stage NAME running COMMAND to dvc.yaml in the current folder."""
    from trails.pipeline.edit import StageSpec, add_to_project, ignore_outputs

    project, _ = context()
    spec = StageSpec(name=name, cmd=" ".join(command), **lists)  # type: ignore[arg-type]
    dvcfile = add_to_project(project.root, Path.cwd(), spec, force=force)
    click.echo(f"Added stage '{name}' to '{dvcfile}'")
    if project.has_scm:
        ignored = ignore_outputs(project.root, dvcfile, name)
        files = " ".join([dvcfile, *ignored])
        click.echo(f"\nTo track the changes with git, run:\n\n\tgit add {files}")
    if run:
        from trails.cli.pipeline import repro

        click.get_current_context().invoke(repro, targets=(f"{dvcfile}:{name}",), single_item=True)
    else:
        click.echo(f"\nTo run it: trails repro {name}")
