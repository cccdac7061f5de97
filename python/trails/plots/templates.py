"""The built-in plot templates: Vega-Lite specs with anchors, written here.

A template is a Vega-Lite document in which some values are *anchors*,
strings such as ``"<DVC_METRIC_DATA>"`` that stand for what a plot brings
(its data points, its axes' fields and labels, the colour of each
revision). The names, the anchors and the data fields (``rev`` for the
revision, ``step`` for an inferred x, ``field``/``filename`` for a plot of
several columns or files) are those of the reference tool, so that a
template written for it, and the VS Code extension that fills the anchors
itself (``plots diff --json --split``), work with trails unchanged.

An anchor is always a whole value (never part of a string), so filling one
is replacing a value in the tree, and an anchor can stand for a list or a
mapping as well as a string.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trails.errors import TrailsError, did_you_mean


def anchor(name: str) -> str:
    """``"title"`` -> ``"<DVC_METRIC_TITLE>"``."""
    return f"<DVC_METRIC_{name.upper()}>"


DATA, TITLE, X, Y = anchor("data"), anchor("title"), anchor("x"), anchor("y")
X_LABEL, Y_LABEL = anchor("x_label"), anchor("y_label")
COLOR, STROKE_DASH, SHAPE = anchor("color"), anchor("stroke_dash"), anchor("shape")
WIDTH, HEIGHT = anchor("plot_width"), anchor("plot_height")
ZOOM_AND_PAN, GROUP_BY, TOOLTIP = anchor("zoom_and_pan"), anchor("group_by"), anchor("tooltip")
GROUP_BY_X = anchor("group_by_x")
#: ``[rev, x, y]`` of the confusion templates: the fields a cell counts over.
GROUP_BY_X_Y = ("rev", X, Y)

SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
DEFAULT = "linear"


def _frame(*, sized: bool = True, **rest: Any) -> dict[str, Any]:
    """What every template shares: the schema, the data, the title, the size
    (a faceted template sizes its panels instead)."""
    size = {"width": WIDTH, "height": HEIGHT} if sized else {}
    return {"$schema": SCHEMA, "data": {"values": DATA}, "title": TITLE, **size, **rest}


def _x(kind: str = "quantitative") -> dict[str, Any]:
    return {"field": X, "type": kind, "title": X_LABEL}


def _y(kind: str = "quantitative") -> dict[str, Any]:
    return {"field": Y, "type": kind, "title": Y_LABEL, "scale": {"zero": False}}


def _series(mark: Any, *, zoom: bool = True, dash: bool = True) -> dict[str, Any]:
    """One mark per revision (colour) and per column or file (dash)."""
    encoding: dict[str, Any] = {"x": _x(), "y": _y(), "color": COLOR, "tooltip": TOOLTIP}
    if dash:
        encoding["strokeDash"] = STROKE_DASH
    layer: dict[str, Any] = {"mark": mark, "encoding": encoding}
    if zoom:
        layer["params"] = [ZOOM_AND_PAN]
    return layer


def _linear() -> dict[str, Any]:
    line = _series({"type": "line", "point": True})
    return _frame(layer=[line])


def _simple() -> dict[str, Any]:
    return _frame(layer=[_series("line", zoom=False)])


def _scatter() -> dict[str, Any]:
    points = _series({"type": "point", "filled": True}, dash=False)
    points["encoding"]["shape"] = SHAPE
    return _frame(layer=[points])


def _smooth() -> dict[str, Any]:
    """The raw curve faint, its loess fit on top; a slider sets the bandwidth."""
    raw = _series({"type": "line", "opacity": 0.2}, zoom=False)
    fit = _series("line")
    fit["transform"] = [
        {"loess": Y, "on": X, "groupby": GROUP_BY, "bandwidth": {"signal": "smooth"}}
    ]
    return _frame(
        params=[
            {
                "name": "smooth",
                "value": 0.001,
                "bind": {"input": "range", "min": 0.001, "max": 1, "step": 0.001},
            }
        ],
        layer=[raw, fit],
    )


def _confusion(normalized: bool) -> dict[str, Any]:
    """Counts of (actual, predicted) pairs per revision, one panel each."""
    transform: list[dict[str, Any]] = [
        {"aggregate": [{"op": "count", "as": "count"}], "groupby": [*GROUP_BY_X_Y]},
    ]
    value = "count"
    if normalized:
        transform += [
            {"joinaggregate": [{"op": "sum", "field": "count", "as": "total"}],
             "groupby": GROUP_BY_X},
            {"calculate": "datum.count / datum.total", "as": "share"},
        ]  # fmt: skip
        value = "share"
    cell = {"field": value, "type": "quantitative"}
    return _frame(
        sized=False,
        facet={"column": {"field": "rev", "type": "nominal", "title": None}},
        spec={
            "width": WIDTH,
            "height": HEIGHT,
            "transform": transform,
            "encoding": {
                "x": {"field": X, "type": "nominal", "title": X_LABEL},
                "y": {"field": Y, "type": "nominal", "title": Y_LABEL},
            },
            "layer": [
                {"mark": "rect", "encoding": {"color": {**cell, "title": value}}},
                {
                    "mark": "text",
                    "encoding": {
                        "text": {**cell, "format": ".2f" if normalized else "d"},
                        "color": {"value": "black"},
                    },
                },
            ],
        },
    )


def _bars(sort: bool) -> dict[str, Any]:
    """A bar per category (the y field) and revision, the value on x."""
    y: dict[str, Any] = {"field": Y, "type": "nominal", "title": Y_LABEL}
    if sort:
        y["sort"] = "-x"
    return _frame(
        mark={"type": "bar"},
        encoding={
            "x": {"field": X, "type": "quantitative", "title": X_LABEL},
            "y": y,
            "yOffset": {"field": "rev"},
            "color": COLOR,
            "tooltip": TOOLTIP,
        },
    )


TEMPLATES: dict[str, Any] = {
    "linear": _linear,
    "simple": _simple,
    "scatter": _scatter,
    "smooth": _smooth,
    "confusion": lambda: _confusion(False),
    "confusion_normalized": lambda: _confusion(True),
    "bar_horizontal": lambda: _bars(False),
    "bar_horizontal_sorted": lambda: _bars(True),
}


class TemplateError(TrailsError):
    """A template that does not exist or cannot be used."""


def names() -> list[str]:
    return list(TEMPLATES)


def builtin(name: str) -> dict[str, Any]:
    """A fresh copy of the built-in template ``name``."""
    if name not in TEMPLATES:
        raise TemplateError(
            f"no template named '{name}'",
            hint=did_you_mean(name, TEMPLATES, otherwise="'trails plots templates' lists them."),
        )
    spec: dict[str, Any] = TEMPLATES[name]()
    return spec


def load(root: Path, name: str | None) -> dict[str, Any]:
    """The template a plot names: built-in, or a JSON file in the project
    (a path, or a name under ``.dvc/plots/``, as the reference tool looks)."""
    name = name or DEFAULT
    if name in TEMPLATES:
        return builtin(name)
    from trails import confine, textio

    for candidate in (name, f".dvc/plots/{name}", f".dvc/plots/{name}.json"):
        if candidate.startswith(".dvc/") or confine.is_confined(root, candidate):
            path = root / candidate
            if path.is_file() and not path.is_symlink():
                try:
                    spec = json.loads(textio.read(path, candidate))
                except ValueError as exc:
                    raise TemplateError(f"{candidate}: not a JSON template ({exc})") from None
                if not isinstance(spec, dict) or not _uses(spec, DATA):
                    raise TemplateError(
                        f"{candidate}: a template must be a JSON object using the {DATA} anchor"
                    )
                return spec
    return builtin(name)


def _uses(value: Any, what: str) -> bool:
    if isinstance(value, str):
        return value == what
    if isinstance(value, Mapping):
        return any(_uses(v, what) for v in value.values())
    if isinstance(value, list):
        return any(_uses(v, what) for v in value)
    return False


def anchors_in(spec: Any) -> set[str]:
    """The anchors ``spec`` holds."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str) and value.startswith("<DVC_METRIC_") and value.endswith(">"):
            found.add(value)
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, list | tuple):
            for v in value:
                walk(v)

    walk(spec)
    return found


def fill(spec: Any, values: Mapping[str, Any]) -> Any:
    """``spec`` with each anchor in ``values`` replaced by its value (a list
    anchor inside a list, such as ``groupby``, is spliced in); anchors not in
    ``values`` are left for whoever fills them later."""
    if isinstance(spec, str):
        return values.get(spec, spec)
    if isinstance(spec, Mapping):
        return {k: fill(v, values) for k, v in spec.items()}
    if isinstance(spec, list | tuple):
        out: list[Any] = []
        for v in spec:
            if isinstance(v, str) and v in values and isinstance(values[v], list):
                out.extend(values[v])
            else:
                out.append(fill(v, values))
        return out
    return spec
