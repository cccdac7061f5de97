"""``trails metrics show|diff``."""

from __future__ import annotations

import json
from typing import Any

import click

from trails.cli.context import context


def _fmt(v: Any, precision: int) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{precision}g}"
    return str(v)


def _render(headers: list[str], rows: list[list[str]], md: bool) -> None:
    from trails.cli.render import markdown, table

    click.echo(markdown(headers, rows) if md else table(headers, rows))


@click.group()
def metrics() -> None:
    """Show and compare metrics files."""


@metrics.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--md", is_flag=True, help="Print a Markdown table.")
@click.option("--precision", type=int, default=5, show_default=True, help="Significant digits.")
def show(as_json: bool, md: bool, precision: int) -> None:
    """Show the metrics of the workspace."""
    from trails import metrics as m
    from trails.pipeline import load_graph

    project, _ = context()
    data = m.read(project.root, m.WORKSPACE, m.metric_paths(load_graph(project)))
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    if not data:
        click.echo("No metrics files found (declare them under 'metrics:' in dvc.yaml).")
        return
    rows = []
    for path, values in data.items():
        if isinstance(values, str):
            rows.append([path, "(error)", values])
        else:
            rows += [[path, k, _fmt(v, precision)] for k, v in values.items()]
    _render(["Path", "Metric", "Value"], rows, md)


@metrics.command("diff")
@click.argument("a_rev", default="HEAD")
@click.argument("b_rev", default="workspace")
@click.option("--all", "all_", is_flag=True, help="Show unchanged metrics too.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--md", is_flag=True, help="Print a Markdown table.")
@click.option("--precision", type=int, default=5, show_default=True, help="Significant digits.")
def diff_cmd(a_rev: str, b_rev: str, all_: bool, as_json: bool, md: bool, precision: int) -> None:
    """Compare metrics between A_REV (default HEAD) and B_REV (default the workspace)."""
    from trails import metrics as m
    from trails.pipeline import load_graph

    project, _ = context()
    paths = m.metric_paths(load_graph(project))
    old, new = m.read_revs(project.root, [a_rev, b_rev], paths)
    rows = m.diff(old, new, all_=all_)
    if as_json:
        click.echo(json.dumps(_diff_json(rows), indent=2, default=str))
    elif not rows:
        click.echo("No changes.")
    else:
        cells = [[p, k, *(_fmt(v, precision) for v in (a, b, c))] for p, k, a, b, c in rows]
        _render(["Path", "Metric", a_rev, b_rev, "Change"], cells, md)


def _diff_json(rows: list[tuple[str, str, Any, Any, Any]]) -> dict[str, dict[str, Any]]:
    doc: dict[str, dict[str, Any]] = {}
    for path, key, old, new, change in rows:
        doc.setdefault(path, {})[key] = {"old": old, "new": new, "diff": change}
    return doc
