"""``trails data status``: parse, call ``datastatus.status``, render."""

from __future__ import annotations

import click

from trails.cli.context import context


@click.group()
def data() -> None:
    """Tracked data: what changed, what is recorded, what the cache holds."""


_TITLES = {
    "not_in_cache": "Not in cache",
    "committed": "DVC committed changes",
    "uncommitted": "DVC uncommitted changes",
    "unchanged": "DVC unchanged files",
}


@data.command()
@click.option("--granular", is_flag=True, help="Name the changed files inside folders.")
@click.option("--unchanged", is_flag=True, help="List unchanged files too.")
@click.option("--json", "as_json", is_flag=True, help="Print the reference tool's JSON document.")
def status(granular: bool, unchanged: bool, as_json: bool) -> None:
    """Changes of tracked data: recorded in the lock and .dvc files but not
    committed to Git, on disk but not recorded, and missing from the cache."""
    import msgspec

    from trails.datastatus import status as data_status

    project, git = context()
    result = msgspec.to_builtins(data_status(project, git, granular=granular, unchanged=unchanged))
    if as_json:
        click.echo(msgspec.json.format(msgspec.json.encode(result), indent=2).decode())
        return
    for key, title in _TITLES.items():
        value = result.get(key)
        if not value:
            continue
        click.echo(f"{title}:")
        items = value.items() if isinstance(value, dict) else [("", value)]
        for kind, paths in items:
            for p in paths:
                shown = f"{p['old']} -> {p['new']}" if isinstance(p, dict) else p
                click.echo(f"\t{kind + ': ' if kind else ''}{shown}")
    if not result:
        click.echo("No changes.")
