"""Rows of data files -> the data points of one plot at one revision, with
the reference tool's conventions: every point carries ``rev``, ``filename``
and ``field``; a missing ``x`` is the row's index as ``step``; a missing
``y`` is the last column of the plot's file; several y columns share one
field, ``dvc_inferred_y_value`` (several x columns: ``dvc_inferred_x_value``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trails.plots.sources import Rows, SourceError

STEP = "step"
INFERRED_X, INFERRED_Y = "dvc_inferred_x_value", "dvc_inferred_y_value"


@dataclass
class Converted:
    """The points of one revision and what they were drawn with."""

    points: Rows
    x: str
    y: str
    x_label: str
    y_label: str
    #: ``(filename, field)`` of each y series, filenames without their common prefix.
    series: list[tuple[str, str]] = field(default_factory=list)


def _pairs(axis: Any) -> list[tuple[str, str]]:
    out = []
    for file, value in axis.items():
        for f in value if isinstance(value, list) else [value]:
            out.append((file, f))
    return out


def _check(rows_of: Mapping[str, Rows], file: str, name: str) -> None:
    rows = rows_of.get(file)
    if rows and name not in rows[0]:
        found = ", ".join(map(str, rows[0]))
        raise SourceError(f"{file}: no field '{name}' (its fields: {found})")


def _axes(
    props: Mapping[str, Any], own: str | None, rows_of: Mapping[str, Rows]
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(xs, ys)`` as (file, field) pairs, inferred where not given."""
    x, y = props.get("x"), props.get("y")
    if y is None:
        rows = rows_of.get(own or "")
        y = {own: list(rows[0])[-1]} if rows and own else {}
    elif not isinstance(y, Mapping):
        y = {own: y}
    ys = _pairs(y)
    if isinstance(x, str):
        xs = [(file, x) for file, _ in ys]
    elif isinstance(x, Mapping):
        xs = _pairs(x)
    else:
        xs = []
    for file, name in [*xs, *ys]:
        _check(rows_of, file, name)
    return xs, ys


def _label(given: Any, names: set[str], fallback: str) -> str:
    if isinstance(given, str):
        return given
    return next(iter(names)) if len(names) == 1 else fallback


def convert(
    rev: str, props: Mapping[str, Any], own: str | None, rows_of: Mapping[str, Rows]
) -> Converted:
    """The points of one plot at ``rev``; ``own``: the plot's own data file
    (its id is a path), ``rows_of``: the rows of each file read there."""
    xs, ys = _axes(props, own, rows_of)
    x_names, y_names = {n for _, n in xs}, {n for _, n in ys}
    x = (INFERRED_X if len(x_names) > 1 else next(iter(x_names))) if xs else STEP
    y = INFERRED_Y if len(y_names) > 1 else next(iter(y_names), "")
    if len(xs) > 1 and len(xs) != len(ys):
        raise SourceError(f"{len(xs)} x and {len(ys)} y sources: give one x per y, or one x")
    files = {f for f, _ in ys}
    cut = len(os.path.commonpath(sorted(files))) if len(files) > 1 else 0
    series = [(f[cut:].strip("/"), n) for f, n in ys]
    points: Rows = []
    for i, (file, name) in enumerate(ys):
        rows = rows_of.get(file, [])
        tag = {"rev": rev, "filename": series[i][0], "field": name}
        # Each point: the row's fields, the inferred y, the x, then the tags
        # (a field of the row under one of these names keeps its place).
        if y == INFERRED_Y:
            rows = [{**r, INFERRED_Y: r.get(name)} for r in rows]
        if not xs:
            points += [{**r, STEP: index, **tag} for index, r in enumerate(rows)]
            continue
        x_file, x_name = xs[i] if len(xs) > 1 else xs[0]
        source = rows_of.get(x_file, [])
        if len(source) != len(rows):
            raise SourceError(
                f"cannot join '{x_name}' of {x_file} and '{name}' of {file}: "
                "they have different numbers of rows"
            )
        if x_file == file and x == x_name:  # the x is the row's own field, in place
            points += [{**r, **tag} for r in rows]
            continue
        points += [{**r, x: s[x_name], **tag} if x_name in s else {**r, **tag}
                   for r, s in zip(rows, source, strict=True)]  # fmt: skip
    given_x = props.get("x")
    x_fields = x_names if isinstance(given_x, Mapping) else {given_x or STEP}
    x_label = _label(props.get("x_label"), x_fields, "x")
    y_label = _label(props.get("y_label"), y_names, "y")
    return Converted(points, x, y, x_label, y_label, series)
