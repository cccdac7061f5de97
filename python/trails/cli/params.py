"""``trails params diff``."""

from __future__ import annotations

import json
from typing import Any

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
    from trails.cli.exp_show import _print_table
    from trails.experiments import show, table
    from trails.experiments.refs import resolve
    from trails.pipeline import load_graph

    project, git = context()
    files = show.files_of(project, load_graph(project))
    reader = show.CommitReader(project, git, files)

    def snap(rev: str) -> show.Snapshot:
        if rev == "workspace":
            return show.workspace(project, files)
        sha = git.rev_parse(rev) or resolve(git, rev, git.rev_parse("HEAD")).sha
        return reader.read([sha])[sha]

    a, b = snap(a_rev), snap(b_rev)
    reader.save()
    rows = [r for r in show.diff(a, b, files, all_=all_, param_deps=False) if r[0] == "params"]
    if as_json:
        doc: dict[str, Any] = {}
        for _, f, k, x, y, _change in rows:
            doc.setdefault(f, {})[k] = {"old": x, "new": y}
        click.echo(json.dumps(doc, indent=2, default=str))
        return
    if not rows:
        click.echo(f"No param changes between {a_rev} and {b_rev}.")
        return
    cells = [[f, k, table.fmt(x, 5), table.fmt(y, 5)] for _, f, k, x, y, _ in rows]
    if md:
        click.echo(f"| Path | Param | {a_rev} | {b_rev} |\n|---|---|---|---|")
        for c in cells:
            click.echo("| " + " | ".join(c) + " |")
    else:
        _print_table(["Path", "Param", a_rev, b_rev], cells, pager=False)
