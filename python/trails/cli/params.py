"""``trails params diff``."""

from __future__ import annotations

import json

import click

from trails.cli.context import context


@click.group()
def params() -> None:
    """Compare parameters between revisions."""


@params.command("diff")
@click.argument("a_rev", default="HEAD")
@click.argument("b_rev", default="workspace")
@click.option("--all", "all_", is_flag=True, help="Show unchanged params too.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--md", is_flag=True, help="Print a Markdown table.")
def diff(a_rev: str, b_rev: str, all_: bool, as_json: bool, md: bool) -> None:
    """Params that differ between A_REV (default HEAD) and B_REV (default
    the workspace); revisions are commits, branches, tags or experiments."""
    from trails.cli.render import markdown, table
    from trails.experiments import paramsdiff
    from trails.experiments.table import fmt

    rows = paramsdiff.params_diff(*context(), a_rev, b_rev, all_=all_)
    if as_json:
        click.echo(json.dumps(paramsdiff.to_json(rows), indent=2, default=str))
    elif not rows:
        click.echo(f"No param changes between {a_rev} and {b_rev}.")
    else:
        headers = ["Path", "Param", a_rev, b_rev]
        cells = [[f, k, fmt(x, 5), fmt(y, 5)] for f, k, x, y in rows]
        click.echo(markdown(headers, cells) if md else table(headers, cells))
