"""The charts of ``plots show|diff``: each declared plot (a folder's files
one by one) at each revision, its points converted, its template chosen,
and the values of the template's anchors worked out once, so that the
HTML page, the images and the ``--json`` documents all draw the same thing.

Definitions are read from the workspace's pipeline files; the data from
each revision (``sources``). A file missing at one revision leaves that
revision out of its chart; one that cannot be parsed is an error entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trails import confine
from trails.errors import TrailsError
from trails.plots import templates as t
from trails.plots.convert import Converted, convert
from trails.plots.definitions import Definition, collect, matches, pipeline_files, select
from trails.plots.sources import (
    Revision,
    Rows,
    SourceError,
    expand,
    from_cache,
    is_image,
    parse,
    read,
)

if TYPE_CHECKING:
    from trails.git import Git
    from trails.plots.records import PlotsDocument
    from trails.project import Project

COLORS = ["#945dd6", "#13adc7", "#f46837", "#48bb78", "#4299e1", "#ed8936", "#f56565"]
DASHES = [[1, 0], [8, 8], [8, 4], [4, 4], [4, 2], [2, 1], [1, 1]]
SHAPES = ["circle", "square", "triangle", "diamond"]
SIZE = 300
ZOOM = {"name": "grid", "select": "interval", "bind": "scales"}
#: Anchors ``--split`` leaves in the content for the extension to fill.
SPLIT = frozenset(
    t.anchor(a) for a in ("color", "data", "plot_height", "plot_width", "shape",
                          "stroke_dash", "title", "tooltip", "x_label", "y_label", "zoom_and_pan")
)  # fmt: skip


@dataclass
class Chart:
    id: str
    template: dict[str, Any]
    props: dict[str, Any]
    revisions: list[str] = field(default_factory=list)
    points: Rows = field(default_factory=list)
    drawn: Converted | None = None

    def anchors(self) -> dict[str, Any]:
        """The value of every anchor of this chart."""
        d = self.drawn
        assert d is not None
        varied = [k for k, i in (("filename", 0), ("field", 1))
                  if len({s[i] for s in d.series}) > 1]  # fmt: skip
        group = ["rev", "::".join(varied)] if varied else ["rev"]
        escaped_x, escaped_y = _escape(d.x), _escape(d.y)
        values: dict[str, Any] = {
            t.DATA: self.points,
            t.TITLE: self.props.get("title") or self.id,
            t.X: escaped_x,
            t.Y: escaped_y,
            t.X_LABEL: d.x_label,
            t.Y_LABEL: d.y_label,
            t.WIDTH: SIZE,
            t.HEIGHT: SIZE,
            t.ZOOM_AND_PAN: ZOOM,
            t.COLOR: _scale("rev", self.revisions, COLORS),
            t.GROUP_BY: group,
            t.GROUP_BY_X: [*group, escaped_x],
            t.anchor("group_by_y"): [*group, escaped_y],
            t.TOOLTIP: [{"field": "rev"}, {"field": escaped_x}, {"field": escaped_y}],
            t.STROKE_DASH: {},
            t.SHAPE: {},
        }
        if varied:
            key = group[1]
            domain = sorted({"::".join(_varied(s, varied)) for s in d.series})
            values[t.TOOLTIP].append({"field": key})
            values[t.STROKE_DASH] = _scale(key, domain, DASHES) | {
                "legend": {"symbolFillColor": "transparent", "symbolStrokeColor": "grey"}
            }
            values[t.SHAPE] = _scale(key, domain, SHAPES)
        return values

    def spec(self) -> dict[str, Any]:
        """The complete Vega-Lite spec: the template's anchors nobody gave
        a value become ``{}`` (an unused encoding). Filled once, from the
        template: walking the filled spec again walked every data point
        (0.1 s a chart of 20 revisions), and would have read an anchor's
        name in the data as an anchor."""
        values = self.anchors()
        rest: dict[str, Any] = {a: {} for a in t.anchors_in(self.template) if a not in values}
        spec: dict[str, Any] = t.fill(self.template, values | rest)
        return spec

    def split(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The content with the split anchors left in, and their values."""
        values = self.anchors()
        used = t.anchors_in(self.template)
        content = t.fill(self.template, {k: v for k, v in values.items() if k not in SPLIT})
        content = t.fill(content, {a: {} for a in t.anchors_in(content) if a not in SPLIT})
        return content, {k: v for k, v in values.items() if k in SPLIT and k in used}


def _varied(series: tuple[str, str], varied: list[str]) -> list[str]:
    return [series[0] if k == "filename" else series[1] for k in varied]


def _escape(name: str) -> str:
    """A field name as Vega-Lite reads it literally (dots and brackets
    would otherwise address nested fields)."""
    return name.replace("\\", "\\\\").replace(".", "\\.").replace("[", "\\[").replace("]", "\\]")


def _scale(name: str, domain: list[str], values: list[Any]) -> dict[str, Any]:
    return {
        "field": name,
        "scale": {"domain": domain, "range": [values[i % len(values)] for i in range(len(domain))]},
    }


@dataclass
class Collected:
    charts: list[Chart]
    errors: list[tuple[str, str, str | None, str]]  # (plot id, rev, source, message)
    #: Image plots: id -> ``(revision, bytes)`` of each revision that has it.
    images: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)


def _plots(project: Project, targets: tuple[str, ...]) -> tuple[list[Definition], list[Definition]]:
    """The declared plots ``targets`` name, and the targets naming none:
    data files (or folders) to plot on their own, as the reference tool
    takes them."""
    chosen = select(collect(project), targets)
    loose = []
    for target in targets:
        path = confine.confined(project.root, target, source="a target", absolute_ok=True)
        if not any(matches(d, target) or matches(d, path) for d in chosen):
            loose.append(Definition(path, "", {}, (path,)))
    return chosen, loose


def _by_revision(
    project: Project,
    git: Git,
    revisions: list[Revision],
    targets: tuple[str, ...],
    errors: list[tuple[str, str, str | None, str]],
) -> dict[str, list[Definition]]:
    """Each revision's plots: a commit whose pipeline files differ from the
    workspace's draws the plots they declare (the reference tool reads each
    revision's own ``dvc.yaml``); the same files, the workspace's answer.
    One ``cat-file --batch`` for all of them. A revision whose file cannot
    be read is an error entry, and draws the workspace's plots."""
    chosen, loose = _plots(project, targets)
    ws = chosen + loose
    configs = pipeline_files(project)
    commits = [r for r in revisions if r.commit is not None]
    out = {r.name: ws for r in revisions}
    if not commits or not configs:
        return out
    mine = {c: _bytes(project.root / c) for c in configs}
    blobs = git.read_blobs([f"{r.commit}:{c}" for r in commits for c in configs])
    n = len(configs)
    for i, rev in enumerate(commits):
        got = dict(zip(configs, blobs[i * n : (i + 1) * n], strict=True))
        if got == mine:
            continue
        try:
            texts = {c: b.decode() if b is not None else None for c, b in got.items()}
            defs = select(collect(project, texts), targets)
        except (TrailsError, UnicodeDecodeError) as exc:
            errors.append(("", rev.name, configs[0], f"its plots cannot be read: {exc}"))
            continue
        ids = {d.id for d in defs}
        out[rev.name] = defs + [d for d in loose if d.id not in ids]
    return out


def _bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _per_file(
    d: Definition, expanded: Mapping[str, list[str]]
) -> list[tuple[str, Definition, str | None]]:
    """A folder plot becomes one plot per file in it."""
    if not d.path_id:
        return [(d.id, d, None)]
    own = d.sources[0]
    files = expanded.get(own) or [own]
    if files == [own]:
        return [(d.id, d, own)]
    return [(f, d, f) for f in files]


def collect_charts(
    project: Project,
    git: Git,
    revisions: list[Revision],
    targets: tuple[str, ...] = (),
    props: Mapping[str, Any] | None = None,
) -> Collected:
    """Every chart of ``targets`` (all plots when empty) at ``revisions``;
    ``props`` (``-x``, ``--title``, ...) override the definitions'."""
    errors: list[tuple[str, str, str | None, str]] = []
    by_rev = _by_revision(project, git, revisions, targets, errors)
    defs = list(dict.fromkeys(d for ds in by_rev.values() for d in ds))
    if not defs:
        raise TrailsError(
            "no plots to show",
            hint="Declare them under 'plots:' in dvc.yaml (top level or in a stage), "
            "or name a data file.",
        )
    sources = list(dict.fromkeys(s for d in defs for s in d.sources))
    layout = expand(project.root, git, revisions, sources)
    wanted = list(dict.fromkeys(
        (r, f) for r in revisions for s in sources for f in layout[r.name][s] or [s]
    ))  # fmt: skip
    blobs = read(project.root, git, wanted)
    _add_cached(project, git, revisions, by_rev, layout, blobs)
    charts: dict[str, Chart] = {}
    headless = [s for d in defs if {**d.props, **(props or {})}.get("header") is False
                for s in d.sources]  # fmt: skip
    images: dict[str, list[tuple[str, bytes]]] = {}
    for rev in revisions:
        parsed: dict[str, Rows] = {}
        for (name, f), blob in blobs.items():
            if name == rev.name and blob is not None and not is_image(f):
                header = not any(f == s or f.startswith(s + "/") for s in headless)
                try:
                    parsed[f] = parse(f, blob, {"header": header})
                except (SourceError, TrailsError) as exc:
                    errors.append(("", rev.name, f, str(exc)))
        for d in by_rev[rev.name]:
            for plot_id, definition, own in _per_file(d, layout[rev.name]):
                if own is not None and is_image(own):
                    blob = blobs.get((rev.name, own))
                    if blob is not None:
                        images.setdefault(plot_id, []).append((rev.name, blob))
                    continue
                _add(charts, errors, project, rev.name, plot_id, definition, own, parsed, props)
    return Collected([c for c in charts.values() if c.drawn is not None], errors, images)


def _add_cached(
    project: Project,
    git: Git,
    revisions: list[Revision],
    by_rev: Mapping[str, list[Definition]],
    layout: dict[str, dict[str, list[str]]],
    blobs: dict[tuple[str, str], bytes | None],
) -> None:
    """Cached stage outputs a commit's tree lacks: from the cache, through
    that commit's ``dvc.lock``."""
    for rev in revisions:
        if rev.commit is None:
            continue
        missing = {d.sources[0]: d.cached for d in by_rev[rev.name]
                   if d.cached is not None and not layout[rev.name].get(d.sources[0])}  # fmt: skip
        if not missing:
            continue
        found = from_cache(project, git, rev, {k: v for k, v in missing.items() if v})
        for source in missing:
            files = sorted(f for f in found if f == source or f.startswith(source + "/"))
            layout[rev.name][source] = files
            for f in files:
                blobs[(rev.name, f)] = found[f]


def _add(
    charts: dict[str, Chart],
    errors: list[tuple[str, str, str | None, str]],
    project: Project,
    rev: str,
    plot_id: str,
    d: Definition,
    own: str | None,
    parsed: Mapping[str, Rows],
    override: Mapping[str, Any] | None,
) -> None:
    props = {**d.props, **(override or {})}
    chart = charts.get(plot_id)
    if chart is None:
        chart = charts[plot_id] = Chart(plot_id, t.load(project.root, props.get("template")), props)
    needed = [own, *d.sources[1:]] if own else list(d.sources)
    if not any(f in parsed for f in needed):
        return  # no data at this revision
    try:
        drawn = convert(rev, props, own, parsed)
    except SourceError as exc:
        errors.append((plot_id, rev, own, str(exc)))
        return
    if drawn.points:
        chart.revisions.append(rev)
        chart.points += drawn.points
        chart.drawn = chart.drawn or drawn


def document(
    collected: Collected, *, split: bool, urls: Mapping[tuple[str, str], str] | None = None
) -> PlotsDocument:
    """The ``--json`` document; ``urls``: where each ``(image plot, revision)``
    was written."""
    from msgspec import UNSET

    from trails.plots.records import ImagePlot, PlotError, PlotsDocument, VegaPlot

    data: dict[str, list[VegaPlot | ImagePlot]] = {}
    for plot_id, shots in collected.images.items():
        data[plot_id] = [ImagePlot([rev], (urls or {}).get((plot_id, rev), "")) for rev, _ in shots]
    for c in collected.charts:
        if split:
            content, defs = c.split()
            data[c.id] = [VegaPlot(c.revisions, content, anchor_definitions=defs)]
        else:
            by_rev: dict[str, Rows] = {}
            for p in c.points:
                by_rev.setdefault(str(p["rev"]), []).append(p)
            data[c.id] = [VegaPlot(c.revisions, c.spec(), datapoints=by_rev)]
    errors = [
        PlotError(rev=rev, msg=msg, name=name or UNSET, source=source or UNSET)
        for name, rev, source, msg in collected.errors
    ]
    return PlotsDocument(data=data, errors=errors or UNSET)
