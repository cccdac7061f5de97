"""``plots show|diff --json`` documents, in the shapes the VS Code DVC
extension reads (``extension/src/cli/dvc/contract.ts``: ``PlotsOutput``,
``TemplatePlotOutput``, ``PlotError``) and the reference tool writes:
``{"data": {ID: [plot]}, "errors": [...]}``. trails' own addition is the
record's ``version``; ``errors`` is left out when there are none, as the
reference tool leaves it out (``UNSET`` fields are never written)."""

from __future__ import annotations

from typing import Any

import msgspec

from trails.versioned import Record


class VegaPlot(msgspec.Struct, tag_field="type", tag="vega"):
    """One chart. With ``--split``, ``content`` keeps the data, title,
    labels, colours, ... as anchors and ``anchor_definitions`` holds their
    values (the extension fills them itself, recolouring revisions);
    without, ``content`` is complete and ``datapoints`` groups the points by
    revision."""

    revisions: list[str]
    content: dict[str, Any]
    anchor_definitions: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    datapoints: dict[str, list[dict[str, Any]]] | msgspec.UnsetType = msgspec.UNSET


class ImagePlot(msgspec.Struct, tag_field="type", tag="image"):
    """An image file plot at one revision; ``url``: where the image was
    written (in the ``-o`` folder), as the extension loads it."""

    revisions: list[str]
    url: str


class PlotError(msgspec.Struct):
    """A plot that could not be drawn at one revision (its data file
    missing, unparsable, without the field asked for)."""

    rev: str
    msg: str
    type: str = "SourceError"
    name: str | msgspec.UnsetType = msgspec.UNSET
    source: str | msgspec.UnsetType = msgspec.UNSET


class PlotsDocument(Record):
    data: dict[str, list[VegaPlot | ImagePlot]]
    errors: list[PlotError] | msgspec.UnsetType = msgspec.UNSET
