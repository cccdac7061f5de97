"""Python tasks on the command line: ``trails collect``; the ``-k``/``-m``
selection options (``repro``, ``status``, ``collect``; on ``exp
run`` ``-m`` stays ``--message``, as in the reference tool, and markers
are ``--marks``); ``-x`` and ``--pdb``; the pytest-like summary line."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from trails.cli.context import context

if TYPE_CHECKING:
    from trails.repro.status import Summary
    from trails.tasks.records import TaskSpec

F = TypeVar("F", bound=Callable[..., Any])

_KEYWORD_HELP = "Only stages and tasks whose id matches EXPR (pytest's -k: and/or/not, substrings)."
_MARKER_HELP = "Only tasks whose markers match EXPR (pytest's -m: and/or/not)."


def selection_options(f: F) -> F:
    """``-k EXPR`` and ``-m EXPR``, as ``ReproOptions.keyword``/``marker``."""
    f = click.option("-m", "--marks", "marker", metavar="EXPR", help=_MARKER_HELP)(f)
    return click.option("-k", "keyword", metavar="EXPR", help=_KEYWORD_HELP)(f)


def run_options(f: F) -> F:
    """``-x`` and ``--pdb``, as ``ReproOptions.exitfirst``/``pdb``."""
    f = click.option(
        "--pdb", is_flag=True, help="Open the debugger at a failing task (one job at a time)."
    )(f)
    return click.option(
        "-x",
        "--exitfirst",
        is_flag=True,
        help="Stop at the first failure (even with --keep-going).",
    )(f)


def for_exp_run(params: list[click.Parameter]) -> list[click.Parameter]:
    """``repro``'s options for ``exp run``, whose ``-m`` is ``--message``:
    the markers expression is ``--marks`` there."""
    out: list[click.Parameter] = []
    for p in params:
        if p.name == "marker":
            p = click.Option(["--marks", "marker"], metavar="EXPR", help=_MARKER_HELP)
        out.append(p)
    return out


def summary_line(summary: Summary, seconds: float) -> str | None:
    """``7 tasks: 2 ran, 4 up to date, 1 restored from cache in 3.1 s``, when
    tasks took part (``stages`` when ``dvc.yaml`` stages did too)."""
    groups = [
        ("ran", summary.ran),
        ("failed", summary.failed),
        ("up to date", summary.unchanged),
        ("restored from cache", summary.restored),
        ("not run (upstream failed)", summary.blocked),
        ("declined", summary.declined),
    ]
    every = [a for _, g in groups for a in g]
    if not any("::" in a for a in every):
        return None
    what = "task" if all("::" in a for a in every) else "stage"
    what += "" if len(every) == 1 else "s"
    parts = ", ".join(f"{len(g)} {label}" for label, g in groups if g)
    return f"{len(every)} {what}: {parts} in {seconds:.1f} s"


def _describe(t: TaskSpec) -> list[str]:
    lines = [t.id]
    for label, items in (
        ("deps", t.deps),
        ("outs", [o.path for o in t.outs]),
        ("params", [f"{p.file}:{p.key}" for p in t.params]),
        ("marks", t.marks),
    ):
        if items:
            lines.append(f"    {label}: {', '.join(items)}")
    return lines


def _selected(specs: Sequence[TaskSpec], keyword: str | None, marker: str | None) -> list[TaskSpec]:
    from trails.tasks.expr import keyword_matcher, marker_matcher

    out = list(specs)
    if keyword:
        by_keyword = keyword_matcher(keyword)
        out = [t for t in out if by_keyword(t.id, tuple(t.marks))]
    if marker:
        by_marker = marker_matcher(marker)
        out = [t for t in out if by_marker(tuple(t.marks))]
    return out


@click.command()
@selection_options
@click.option("--json", "as_json", is_flag=True, help="Print the tasks as JSON.")
def collect(keyword: str | None, marker: str | None, as_json: bool) -> None:
    """List the tasks of the task_*.py files: id, dependencies, outputs,
    params and markers. Checks them as every command does (a bad task file
    is an error with its file:line)."""
    import msgspec

    from trails.pipeline import load_graph
    from trails.tasks.records import Collected, TaskSpec
    from trails.tasks.stage import TaskStage

    # The graph's checks too: outputs declared twice, cycles.
    graph = load_graph(context()[0])
    found = [s.spec for s in graph.stages if isinstance(s, TaskStage) and s.spec is not None]
    specs = _selected(msgspec.convert(found, list[TaskSpec]), keyword, marker)
    if as_json:
        click.echo(Collected(tasks=specs).encode().decode())
        return
    for t in specs:
        click.echo("\n".join(_describe(t)))
    click.echo(f"\n{len(specs)} task{'s' if len(specs) != 1 else ''} collected.")
