"""``trails exp show`` and ``exp diff``: parse the options, get the rows
(``experiments.rows``), render them as a table, Markdown, CSV or JSON."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from trails.cli.context import context

F = TypeVar("F", bound=Callable[..., Any])


def _comma(values: tuple[str, ...]) -> list[str]:
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


_JSON_HELP = "Print the reference tool's JSON document (what the VS Code DVC extension reads)."


def _show_options(f: F) -> F:
    opts = [
        click.option("--no-pager", is_flag=True, help="Never page the output."),
        click.option("--no-timestamp", is_flag=True, help="Hide the Created column."),
        click.option(
            "--include-metrics", multiple=True, help="Only these metrics (globs, commas)."
        ),
        click.option(
            "--exclude-metrics", multiple=True, help="Hide these metrics (globs, commas)."
        ),
        click.option("--include-params", multiple=True, help="Only these params (globs, commas)."),
        click.option("--exclude-params", multiple=True, help="Hide these params (globs, commas)."),
        click.option("--keep", help="Only columns matching this regex."),
        click.option("--drop", help="Hide columns matching this regex."),
        click.option("--param-deps", is_flag=True, help="Only params that stages depend on."),
        click.option("--only-changed", is_flag=True, help="Only columns whose values differ."),
        click.option("--sort-by", help="Sort experiments by this metric or param."),
        click.option(
            "--sort-order", type=click.Choice(["asc", "desc"]), default="asc", show_default=True
        ),
        click.option("-a", "--all-branches", is_flag=True, help="Baselines: every branch head."),
        click.option("-T", "--all-tags", is_flag=True, help="Baselines: every tag."),
        click.option("-A", "--all-commits", is_flag=True, help="Baselines: every commit."),
        click.option(
            "-n",
            "--num",
            type=int,
            default=1,
            show_default=True,
            help="Baselines: the last N commits of HEAD.",
        ),
        click.option("--rev", multiple=True, help="Baselines: these revisions."),
        click.option("--sha", is_flag=True, help="Show commit hashes instead of names."),
        click.option("--hide-queued", is_flag=True, help="Hide queued experiments."),
        click.option("--hide-failed", is_flag=True, help="Hide failed experiments."),
        click.option(
            "--precision",
            type=click.IntRange(min=1),
            help="Significant digits of numbers (default 5; --csv: as stored).",
        ),
        click.option("--json", "as_json", is_flag=True, help=_JSON_HELP),
        click.option("--no-fetch", is_flag=True, hidden=True, help="Accepted: nothing is fetched."),
        click.option("-f", "--force", is_flag=True, hidden=True, help="Accepted: caches are kept."),
        click.option("--csv", "as_csv", is_flag=True, help="Print a CSV table."),
        click.option("--md", is_flag=True, help="Print a Markdown table."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


@click.command()
@_show_options
def show(
    no_pager: bool,
    as_json: bool,
    as_csv: bool,
    md: bool,
    all_branches: bool,
    all_tags: bool,
    all_commits: bool,
    num: int,
    rev: tuple[str, ...],
    sha: bool,
    hide_queued: bool,
    hide_failed: bool,
    no_fetch: bool,
    force: bool,
    **kw: Any,
) -> None:
    """Compare experiments: a table of their params and metrics per baseline."""
    from trails.experiments import table
    from trails.experiments.rows import collect_rows, select_baselines

    project, git = context()
    baselines = select_baselines(git, all_branches, all_tags, all_commits, num, rev)
    if as_json:
        from trails.experiments import document

        doc = document.show(project, git, baselines, sha=sha, queued=not hide_queued,
                            failed=not hide_failed)  # fmt: skip
        click.echo(document.encode(doc).decode())
        return
    rows, files = collect_rows(
        project, baselines, sha, queued=not hide_queued, failed=not hide_failed
    )
    for k in ("include_metrics", "exclude_metrics", "include_params", "exclude_params"):
        kw[k] = _comma(kw[k])
    precision = kw.pop("precision")
    opts = table.ShowOptions(sha=sha, precision=precision or 5, **kw)
    if as_csv:
        _print_csv(*table.csv_table(rows, files, opts, precision))
    elif md:
        from trails.cli.render import markdown

        click.echo(markdown(*table.build(rows, files, opts)))
    else:
        _print_table(*table.build(rows, files, opts), pager=not no_pager and sys.stdout.isatty())


def _print_csv(headers: list[str], cells: list[list[str]]) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(headers)
    w.writerows(cells)
    click.echo(buf.getvalue(), nl=False)


def _print_table(headers: list[str], cells: list[list[str]], pager: bool) -> None:
    from trails.cli.render import table

    text = table(headers, cells)
    if pager:
        click.echo_via_pager(text + "\n")
    else:
        click.echo(text)


@click.command()
@click.argument("a_rev", required=False)
@click.argument("b_rev", required=False)
@click.option("--all", "all_", is_flag=True, help="Show unchanged values too.")
@click.option("--param-deps", is_flag=True, help="Only params that stages depend on.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.option("--md", is_flag=True, help="Print a Markdown table.")
@click.option("--precision", type=int, default=5, show_default=True)
def diff(
    a_rev: str | None,
    b_rev: str | None,
    all_: bool,
    param_deps: bool,
    as_json: bool,
    md: bool,
    precision: int,
) -> None:
    """Params and metrics that differ: HEAD vs the workspace, A vs the
    workspace, or A vs B (A and B: experiments or Git revisions)."""
    from trails.experiments.rows import diff_rows

    project, git = context()
    d = diff_rows(project, git, a_rev, b_rev, all_=all_, param_deps=param_deps,
                  precision=precision)  # fmt: skip
    if as_json:
        click.echo(json.dumps(d.doc, indent=2, default=str))
    elif not d.cells:
        click.echo(f"No changes between {d.a_name} and {d.b_name}.")
    elif md:
        click.echo(f"| Path | Key | {d.a_name} | {d.b_name} | Change |\n|---|---|---|---|---|")
        for r in d.cells:
            click.echo("| " + " | ".join(r) + " |")
    else:
        _print_table(["Path", "Key", d.a_name, d.b_name, "Change"], d.cells, pager=False)
