"""Charts -> files: an HTML page that works offline, or one SVG/PNG per chart.

The page loads nothing: each chart is an SVG drawn here, by ``draw``
for the built-in templates, else by vl-convert (Vega and Vega-Lite compiled
into a native library, no browser, no network), with its Vega-Lite spec beside it in a ``<script
type="application/json">`` for whoever wants to re-render it; a
Content-Security-Policy forbids every fetch, so a page that tried would
show it. vl-convert is the ``plots`` extra (``pip install 'trails[plots]'``).
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any

from trails.errors import TrailsError
from trails.plots import draw
from trails.plots.charts import Chart
from trails.plots.svgcache import SvgCache

FORMATS = ("html", "svg", "png")
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = (
    "body{font-family:sans-serif;margin:2em;color:#222}"
    "section.plot{display:inline-block;vertical-align:top;margin:0 2em 2em 0}"
    "h2{font-size:1em;font-weight:normal;font-family:monospace}"
)


class MissingExtraError(TrailsError):
    """An optional dependency trails needs for this command is not installed."""


def _vl() -> ModuleType:
    try:
        import vl_convert
    except ImportError:
        raise MissingExtraError(
            "drawing plots needs vl-convert-python, which is not installed",
            hint="Install the plots extra: pip install 'trails[plots]'",
        ) from None
    return vl_convert


def _installed() -> None:
    """``_vl``'s check without loading the module (a page whose SVGs are
    all cached never loads it)."""
    from importlib.util import find_spec

    if find_spec("vl_convert") is None:
        _vl()


def file_name(plot_id: str) -> str:
    """A chart's id as one file name (``dvc.yaml::logs/loss.tsv`` ->
    ``dvc.yaml_logs_loss.tsv``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", plot_id).strip("_") or "plot"


def svg(spec: dict[str, Any]) -> str:
    text: str = _vl().vegalite_to_svg(spec)
    return text


#: Points from which a spec is written by msgspec, ~15x faster than
#: ``json`` (a 20-revision chart of 4,000 points: ~1 ms against ~10 ms)
#: and then worth its import (~6 ms), which a page needs for nothing else.
MSGSPEC_POINTS = 1500


def _spec_json(spec: dict[str, Any], points: int) -> str:
    """The spec as the page embeds it and the SVG cache names it (the same
    spec, the same text). ``points``: how many data points it holds."""
    if points >= MSGSPEC_POINTS:
        import msgspec

        try:
            return msgspec.json.encode(spec, enc_hook=str).decode()
        except (TypeError, msgspec.EncodeError):  # a key msgspec does not write
            pass
    return json.dumps(spec, default=str)


#: ``plots.renderer`` in ``.dvc/config``: ``trails`` (the default) draws
#: the templates ``draw`` knows and leaves the rest to vl-convert;
#: ``vl-convert`` draws every chart with Vega's own code (the escape hatch
#: should a chart of ours ever read differently).
RENDERERS = ("trails", "vl-convert")


def chart_svg(
    chart: Chart, spec: dict[str, Any], text: str, cache: SvgCache, own: bool = True
) -> str:
    """The chart drawn by trails where its template is one ``draw`` knows
    (no engine to start) and ``own``, else by vl-convert; either kept by
    content."""
    if own and draw.template_of(chart) is not None:
        got = cache.own(lambda: draw.draw(chart), text, draw.version())
        if got is not None:
            return got
    return cache.get(spec, svg, text)


def _needs_engine(charts: list[Chart], fmt: str, own: bool) -> bool:
    return fmt == "png" or any(not own or draw.template_of(c) is None for c in charts)


def _mime(plot_id: str) -> str:
    ext = plot_id.rsplit(".", 1)[-1].lower()
    return {"svg": "image/svg+xml", "jpg": "image/jpeg"}.get(ext, f"image/{ext}")


def _image_section(i: int, plot_id: str, shots: list[tuple[str, bytes]]) -> str:
    import base64

    figures = "".join(
        f'<figure data-rev="{html.escape(rev)}"><img alt="{html.escape(plot_id)} at '
        f'{html.escape(rev)}" src="data:{_mime(plot_id)};base64,'
        f'{base64.b64encode(data).decode()}"><figcaption>{html.escape(rev)}</figcaption></figure>'
        for rev, data in shots
    )
    return (
        f'<section class="plot image" id="plot-{i}" data-plot-id="{html.escape(plot_id)}">'
        f"<h2>{html.escape(plot_id)}</h2>{figures}</section>"
    )


def write_images(
    images: dict[str, list[tuple[str, bytes]]], out: Path
) -> dict[tuple[str, str], str]:
    """Each image plot at each revision as ``out/REV_ID``; where each went."""
    written: dict[tuple[str, str], str] = {}
    for plot_id, shots in images.items():
        for rev, data in shots:
            out.mkdir(parents=True, exist_ok=True)
            target = out / f"{file_name(rev)}_{file_name(plot_id)}"
            target.write_bytes(data)
            written[(plot_id, rev)] = str(target)
    return written


def page(
    charts: list[Chart],
    title: str,
    images: dict[str, list[tuple[str, bytes]]] | None = None,
    cache: SvgCache | None = None,
    own: bool = True,
) -> str:
    """The HTML page; each chart drawn once per content (``cache``);
    ``own``: by ``draw`` where it can."""
    sections = []
    drawn = cache or SvgCache(None)
    for i, c in enumerate(charts):
        spec = c.spec()
        text = _spec_json(spec, len(c.points))
        data = text.replace("</", "<\\/")
        sections.append(
            f'<section class="plot" id="plot-{i}" data-plot-id="{html.escape(c.id)}">'
            f"<h2>{html.escape(c.id)}</h2><figure>{chart_svg(c, spec, text, drawn, own)}</figure>"
            f'<script type="application/json" class="vega-lite-spec">{data}</script></section>'
        )
    for j, (plot_id, shots) in enumerate((images or {}).items(), start=len(charts)):
        sections.append(_image_section(j, plot_id, shots))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>\n<body>"
        f"<h1>{html.escape(title)}</h1>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def write(
    charts: list[Chart],
    out: Path,
    fmt: str,
    title: str,
    images: dict[str, list[tuple[str, bytes]]] | None = None,
    cache: SvgCache | None = None,
    own: bool = True,
) -> list[Path]:
    """Write the page (``out/index.html``, image plots inside it) or one
    image per chart (image plots copied as they are); the files written.
    ``out`` has been checked by the caller (``confine``). SVGs come from
    ``cache`` where it has them: vl-convert is loaded only to draw, and
    needed only for what ``draw`` does not know. Everything is drawn
    before the first file is written, so a chart that fails leaves none."""
    if _needs_engine(charts, fmt, own):
        _installed()  # missing: say so before writing anything
    if fmt == "html":
        text = page(charts, title, images, cache, own)
        out.mkdir(parents=True, exist_ok=True)
        target = out / "index.html"
        target.write_text(text, encoding="utf-8")
        return [target]
    drawn: list[tuple[Path, str | bytes]] = []
    for c in charts:
        target = out / f"{file_name(c.id)}.{fmt}"
        spec = c.spec()
        if fmt == "svg":
            one = chart_svg(c, spec, _spec_json(spec, len(c.points)), cache or SvgCache(None), own)
            drawn.append((target, one))
        else:
            drawn.append((target, _vl().vegalite_to_png(spec, scale=2)))
    out.mkdir(parents=True, exist_ok=True)
    written = [Path(p) for p in write_images(images or {}, out).values()]
    for target, content in drawn:
        if isinstance(content, str):
            target.write_text(content, encoding="utf-8")
        else:
            target.write_bytes(content)
        written.append(target)
    return written
