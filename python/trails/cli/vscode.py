"""``trails vscode``: point the VS Code DVC extension at trails. The
extension runs a ``dvc`` program (its ``dvc.dvcPath`` setting);
``install-shim`` writes one that forwards to this trails (see
``docs/vscode.md``)."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def vscode() -> None:
    """Use trails from the VS Code DVC extension (docs/vscode.md)."""


@vscode.command("install-shim")
@click.argument("folder", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("-f", "--force", is_flag=True, help="Replace a 'dvc' trails did not write.")
def install_shim(folder: Path | None, force: bool) -> None:
    """Write FOLDER/dvc (default: beside this trails' Python), a script that
    runs trails as 'dvc'; then set the extension's dvc.dvcPath to it."""
    from trails.shim import install

    path = install(folder, force=force)
    click.echo(f"Wrote {path}")
    click.echo(f'\nIn VS Code settings: "dvc.dvcPath": "{path}"')
