"""``trails plots show|diff|templates``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from trails.cli.context import context

if TYPE_CHECKING:
    from trails.project import Project

_PROPS = ("template", "x", "y", "title", "x_label", "y_label", "header")


def _options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The flags ``show`` and ``diff`` share (the reference tool's)."""
    for decorator in reversed([
        click.option("-o", "--out", default=None, metavar="DIR",
                     help="Folder to write to (default: dvc_plots)."),
        click.option("--json", "as_json", is_flag=True,
                     help="Print the plots as JSON (the VS Code extension's shape)."),
        click.option("--split", is_flag=True,
                     help="With --json: leave data, title, colours as anchors, values apart."),
        click.option("--format", "fmt", type=click.Choice(["html", "svg", "png"]),
                     default="html", show_default=True,
                     help="An HTML page, or one image per plot."),
        click.option("-t", "--template", default=None, help="Template for every plot."),
        click.option("-x", default=None, help="Field for the X axis."),
        click.option("-y", default=None, help="Field for the Y axis."),
        click.option("--title", default=None, help="Plot title."),
        click.option("--x-label", default=None, help="X axis label."),
        click.option("--y-label", default=None, help="Y axis label."),
        click.option("--no-header", "header", flag_value=False, default=None,
                     help="CSV/TSV files have no header row (columns are 0, 1, ...)."),
    ]):  # fmt: skip
        f = decorator(f)
    return f


def _run(revs: list[str], targets: tuple[str, ...], opts: dict[str, Any]) -> None:
    from trails.plots import charts, revisions

    project, git = context()
    props = {k: opts[k] for k in _PROPS if opts.get(k) is not None}
    with git.one_reader():  # revisions, pipeline files, data: one Git process
        collected = charts.collect_charts(project, git, revisions.resolve(git, revs), targets,
                                          props)  # fmt: skip
    if not opts["as_json"]:
        for _, rev, _source, msg in collected.errors:
            click.echo(f"Warning: {rev}: {msg}", err=True)
    if opts["as_json"]:
        import msgspec

        urls = {}
        if collected.images:  # written where the extension reads them (-o)
            from trails.plots import render

            urls = render.write_images(collected.images, _out_dir(project.root, opts["out"]))
        doc = charts.document(collected, split=opts["split"], urls=urls)
        click.echo(msgspec.json.format(doc.encode(), indent=2).decode())
        return
    from trails.plots import render
    from trails.plots.svgcache import SvgCache

    own = _renderer(project) == "trails"
    out = _out_dir(project.root, opts["out"])
    title = "trails plots: " + ", ".join(revs)
    cache = SvgCache(project.tmp_dir / "trails" / "plots-svg")
    for path in render.write(collected.charts, out, opts["fmt"], title, collected.images, cache,
                             own):  # fmt: skip
        click.echo(path.as_uri() if path.name == "index.html" else str(path))


def _renderer(project: Project) -> str:
    """``plots.renderer`` of ``.dvc/config`` (``render.RENDERERS``)."""
    from trails.errors import TrailsError
    from trails.plots.render import RENDERERS

    value = (project.config.get("plots", "renderer") or RENDERERS[0]).strip().lower()
    if value not in RENDERERS:
        raise TrailsError(
            f".dvc/config: plots.renderer: unknown renderer '{value}'",
            hint="Use trails (the default: every built-in template drawn by trails) or "
            "vl-convert (every chart by vl-convert).",
        )
    return value


#: The folder the VS Code extension names with ``-o``: inside ``.dvc/tmp``,
#: the scratch state of the project, so allowed there (and only there).
EXTENSION_DIR = ".dvc/tmp/plots"


def _out_dir(root: Path, out: str | None) -> Path:
    """The ``-o`` folder: confined to the project, or under ``.dvc/tmp/plots``
    (checked against ``.dvc/tmp`` as its root: no link leads out of it)."""
    import posixpath

    from trails import confine

    text = out or "dvc_plots"
    typed = Path(text)
    rel = posixpath.normpath((Path(os.path.relpath(typed, root)) if typed.is_absolute() else typed)
                             .as_posix())  # fmt: skip
    if rel == EXTENSION_DIR or rel.startswith(EXTENSION_DIR + "/"):
        tmp = root / ".dvc" / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return tmp / confine.confined(tmp, posixpath.relpath(rel, ".dvc/tmp"), source="-o")
    return root / confine.confined(root, text, source="-o", absolute_ok=True)


@click.group()
def plots() -> None:
    """Draw plots of metrics files: one revision (show) or several (diff)."""


@plots.command()
@click.argument("targets", nargs=-1)
@_options
def show(targets: tuple[str, ...], **opts: Any) -> None:
    """Draw the plots of the workspace (all declared plots, or TARGETS: plot
    ids, data files or folders) into an HTML page that works offline."""
    _run(["workspace"], targets, opts)


@plots.command()
@click.argument("revisions", nargs=-1)
@click.option("--targets", multiple=True, help="Plots to draw (ids or files); all by default.")
@_options
def diff(revisions: tuple[str, ...], targets: tuple[str, ...], **opts: Any) -> None:
    """Draw plots of several revisions together, a curve per revision:
    Git revisions, experiments (by name) and checkpoints (by commit). None:
    the workspace and HEAD; one: the workspace and it."""
    from trails.plots.revisions import diff_revisions

    _run(diff_revisions(revisions), targets, opts)


@plots.command()
@click.argument("template", required=False)
@click.option("-o", "--out", default=None, metavar="DIR", help="Write the templates to DIR.")
def templates(template: str | None, out: str | None) -> None:
    """List the built-in templates, print one (TEMPLATE), or write them (-o)."""
    from trails.plots import templates as t

    chosen = [template] if template else t.names()
    specs = {name: t.builtin(name) for name in chosen}
    if out is not None:
        project, _ = context()
        folder = _out_dir(project.root, out)
        folder.mkdir(parents=True, exist_ok=True)
        for name, spec in specs.items():
            (folder / f"{name}.json").write_text(json.dumps(spec, indent=2) + "\n")
            click.echo(str(folder / f"{name}.json"))
    elif template:
        click.echo(json.dumps(specs[template], indent=2))
    else:
        click.echo("\n".join(chosen))
