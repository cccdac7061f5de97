"""The built-in templates drawn here as SVG, without vl-convert: the line
ones (``linear``, ``simple``, ``scatter``, ``smooth``: the raw curves faint
under their loess fit), the bars (``bar_horizontal[_sorted]``) and the
confusion matrices.

vl-convert is a JavaScript engine: its first chart in a process costs
~0.6 s of CPU to start it, and every later chart of these templates
still 0.1-0.4 s (the Vega-Lite compiler, then Vega's dataflow, for a few
thousand points), so even a warm engine kept in a process of its own
would leave a cold page at ~2x the reference tool's time. What these
templates draw is simple: a line (and/or a point per row) per revision
and column on two linear scales, a bar per category and revision on a
band, or a panel of counted cells per revision; two axes, a legend per
encoding. Drawn here it takes a few milliseconds, laid out as Vega lays
out the same spec (its paddings, tick counts, "nice" domains, label
formats, category orders, colour ramp and SVG classes; the tests compare
the texts with vl-convert's), so the page looks and reads the same; the
spec is embedded beside it for whoever wants Vega's own drawing.
A project's own template and a value these cannot place (a date, a
number as a class, an infinite value under a loess fit) go to vl-convert.

``draw(chart)`` is the SVG or ``None`` (not one of ours: use the engine).
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterable, Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from trails.plots import templates as t

if TYPE_CHECKING:
    from trails.plots.charts import Chart


def version() -> str:
    """Part of the SVG cache's key: this file's size and mtime, so that a
    trails whose drawing changed (an upgrade, an edit) never reads back a
    chart the old one drew."""
    st = os.stat(__file__)
    return f"trails-draw:{st.st_size}:{st.st_mtime_ns}"


_TEMPLATES = ("linear", "simple", "scatter", "smooth", "bar_horizontal",
              "bar_horizontal_sorted", "confusion", "confusion_normalized")  # fmt: skip
_BARS = ("bar_horizontal", "bar_horizontal_sorted")
_CONFUSION = ("confusion", "confusion_normalized")
#: Vega's ``yellowgreenblue`` ramp (its heatmap default) at 21 even steps,
#: as its gradient legends write it; a value between two is interpolated.
_RAMP = [
    (239, 249, 189), (229, 245, 185), (219, 241, 180), (204, 235, 181), (189, 229, 181),
    (169, 221, 183), (148, 213, 185), (127, 205, 188), (105, 197, 190), (87, 189, 192),
    (69, 180, 194), (57, 169, 193), (44, 158, 192), (39, 144, 188), (33, 130, 184),
    (33, 115, 177), (33, 99, 170), (34, 85, 163), (35, 71, 156), (32, 60, 145), (28, 49, 133),
]  # fmt: skip
#: Between two facet panels (Vega-Lite's ``spacing``).
_SPACING = 22
#: Vega-Lite's band of a bar chart: the space between bands and at the ends.
_BAND_PADDING = 0.2
#: Vega's defaults: padding around the view, the symbol area, tick size.
_PAD, _SYMBOL, _TICK = 5, 30, 5
_GRID, _AXIS, _FONT = "#ddd", "#888", 'font-family="sans-serif"'
#: Helvetica's advance widths (em) of the characters labels are made of;
#: others count as ``_WIDE``. Enough to place the y axis title and the
#: legends where Vega does, within a few pixels (vl-convert measures the
#: real font; the page's viewer may not even have it).
_EM = {**dict.fromkeys("0123456789$", 0.556), **dict.fromkeys(".,:;!|il'", 0.278),
       "-": 0.333, "\u2212": 0.584, " ": 0.278, "e": 0.556, "k": 0.5, "M": 0.833}  # fmt: skip
_WIDE = 0.6


def template_of(chart: Chart) -> str | None:
    """Which of our templates the chart uses, compared by value (a
    project's own template of the same name is a file, not ours)."""
    for name in _TEMPLATES:
        if chart.template == t.builtin(name):
            return name
    return None


def _width(text: str, size: float) -> float:
    return sum(_EM.get(c, _WIDE) for c in text) * size


def _step(start: float, stop: float, count: int) -> float:
    """d3's tick step: 1, 2 or 5 times a power of ten, ~``count`` ticks."""
    raw = abs(stop - start) / max(count, 1)
    if raw == 0 or not math.isfinite(raw):
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    error = raw / power
    for limit, factor in ((math.sqrt(50), 10), (math.sqrt(10), 5), (math.sqrt(2), 2)):
        if error >= limit:
            return power * factor
    return float(power)


def _nice(lo: float, hi: float, count: int) -> tuple[float, float]:
    """The domain widened to whole ticks (d3's ``scale.nice``)."""
    if lo == hi:
        lo, hi = (lo - 1, hi + 1) if lo == 0 else (lo - abs(lo) / 10, hi + abs(hi) / 10)
    for _ in range(10):
        step = _step(lo, hi, count)
        new = math.floor(lo / step) * step, math.ceil(hi / step) * step
        if new == (lo, hi):
            break
        lo, hi = new
    return lo, hi


def _ticks(lo: float, hi: float, count: int) -> tuple[list[float], int]:
    """The tick values and their decimals (d3's ``precisionFixed``)."""
    step = _step(lo, hi, count)
    first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return [round(i * step, decimals + 2) for i in range(first, last + 1)], decimals


def _label(value: float, decimals: int) -> str:
    """d3-format's ``,.Nf``: thousands grouped, a true minus sign."""
    text = f"{abs(value):,.{decimals}f}"
    return ("\u2212" + text) if value < 0 and float(text.replace(",", "")) != 0 else text


class _Scale:
    def __init__(self, values: Iterable[float], zero: bool, size: float, flip: bool) -> None:
        vs = list(values)
        lo, hi = min(vs), max(vs)
        if zero:
            lo, hi = min(lo, 0.0), max(hi, 0.0)
        self.count = math.ceil(size / 40)  # Vega-Lite's tick count for a continuous axis
        self.lo, self.hi = _nice(lo, hi, 10)  # Vega's ``nice: true``: d3's default count
        self.size, self.flip = size, flip
        self.k = size / (self.hi - self.lo)

    def __call__(self, v: float) -> float:
        at = (v - self.lo) * self.k
        return self.size - at if self.flip else at

    def pairs(self, sy: _Scale, points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        """``points`` in pixels, this scale on x and ``sy`` on y (one
        comprehension: thousands of points)."""
        lo, k, ylo, yk, ysize = self.lo, self.k, sy.lo, sy.k, sy.size
        return [((x - lo) * k, ysize - (y - ylo) * yk) for x, y in points]

    def ticks(self) -> list[tuple[float, str]]:
        values, decimals = _ticks(self.lo, self.hi, self.count)
        return [(self(v), _label(v, decimals)) for v in values]


def _number(v: Any) -> float | None:
    """A value Vega would plot on a linear scale; ``None`` for a missing
    one (left out, as Vega-Lite filters invalid values). Raises
    ``ValueError`` for anything else (a string, a date): the engine's job."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(v)
    return float(v) if math.isfinite(v) else None


def _scale_map(encoding: Any) -> dict[str, Any]:
    scale = encoding.get("scale") if isinstance(encoding, Mapping) else None
    if not scale:
        return {}
    return dict(zip(scale["domain"], scale["range"], strict=False))


_SHAPES = {
    "circle": "M{r},0A{r},{r},0,1,1,-{r},0A{r},{r},0,1,1,{r},0",
    "square": "M-{r},-{r}h{d}v{d}h-{d}Z",
    "triangle": "M0,-{r}L{r},{h}L-{r},{h}Z",
    "diamond": "M0,-{r}L{r},0L0,{r}L-{r},0Z",
}


def _symbol(shape: str, size: float = _SYMBOL) -> str:
    r = math.sqrt(size) / 2
    f = f"{r:.3f}".rstrip("0").rstrip(".")
    d = f"{2 * r:.3f}".rstrip("0").rstrip(".")
    return _SHAPES.get(shape, _SHAPES["circle"]).format(r=f, d=d, h=f"{r * 0.7:.3f}")


def _series(chart: Chart, key: str | None) -> dict[tuple[str, str], list[tuple[float, float]]]:
    """Each (revision, key value)'s points sorted by x, as Vega-Lite
    orders a line (a few thousand points: the number check inlined)."""
    d = chart.drawn
    assert d is not None
    out: dict[tuple[str, str], list[tuple[float, float]]] = {}
    parts = key.split("::") if key else []
    fx, fy = d.x, d.y
    last: tuple[str, str] | None = None
    run: list[tuple[float, float]] = []
    for p in chart.points:
        x, y = p.get(fx), p.get(fy)
        if not ((type(x) is float or type(x) is int) and (type(y) is float or type(y) is int)):
            x, y = _number(x), _number(y)
            if x is None or y is None:
                continue
        if x - x != 0 or y - y != 0:
            continue  # NaN or infinite: left out
        rev = p["rev"]
        if len(parts) == 1:
            k = p.get(parts[0])
        else:
            k = "::".join([str(p.get(part)) for part in parts]) if parts else ""
        series = (rev, k) if type(rev) is str and type(k) is str else (str(rev), str(k))
        if series != last:  # a series' points come in a row: one look-up per run
            last, run = series, out.setdefault(series, [])
        run.append((x, y))
    for points in out.values():
        points.sort(key=lambda xy: xy[0])
    return out


def _text(x: float, y: float, text: str, size: int, anchor: str = "start", bold: bool = False,
          extra: str = "") -> str:  # fmt: skip
    weight = ' font-weight="bold"' if bold else ""
    return (f'<text text-anchor="{anchor}" transform="translate({x:g},{y:g}){extra}" {_FONT} '
            f'font-size="{size}px"{weight} fill="#000">{escape(text)}</text>')  # fmt: skip


def _axes(
    sx: _Scale, yt: list[tuple[float, str]], h: float, titles: tuple[str, str], y_grid: bool
) -> tuple[str, float]:
    """Grid, ticks, labels and titles of both axes (``yt``: the y ticks,
    a band's centres for bars, which have no horizontal grid); how far
    the y axis reaches left of the view."""
    w, (x_title, y_title) = sx.size, titles
    xt = sx.ticks()
    grid = "".join(f'<line transform="translate({x:.2f},0)" y2="{h}"/>' for x, _ in xt)
    if y_grid:
        grid += "".join(f'<line transform="translate(0,{y:.2f})" x2="{w}"/>' for y, _ in yt)
    xticks = "".join(f'<line transform="translate({x:.2f},0)" y2="{_TICK}"/>' for x, _ in xt)
    yticks = "".join(f'<line transform="translate(0,{y:.2f})" x2="-{_TICK}"/>' for y, _ in yt)
    xlabels = _thin(xt, 10)
    xl = "".join(
        _text(x, 15, s, 10, "start" if i == 0 and x < 1 else "end" if x > w - 1 else "middle")
        for i, (x, s) in enumerate(xlabels)
    )
    yl = "".join(_text(-7, y + 3, s, 10, "end") for y, s in yt)
    reach = max((_width(s, 10) for _, s in yt), default=0) + _TICK + 2 + 4
    x_titled = _text(w / 2, h + 30, x_title, 11, "middle", True)
    y_titled = _text(-reach, h / 2, y_title, 11, "middle", True, " rotate(-90) translate(0,-2)")
    body = (
        f'<g class="mark-rule role-axis-grid" stroke="{_GRID}">{grid}</g>'
        f'<g transform="translate(0,{h})"><g class="mark-rule role-axis-tick" stroke="{_AXIS}">'
        f'{xticks}</g><g class="mark-text role-axis-label">{xl}</g>'
        f'<g class="mark-rule role-axis-domain" stroke="{_AXIS}"><line x2="{w}"/></g></g>'
        f'<g class="mark-rule role-axis-tick" stroke="{_AXIS}">{yticks}</g>'
        f'<g class="mark-text role-axis-label">{yl}</g>'
        f'<g class="mark-rule role-axis-domain" stroke="{_AXIS}"><line y2="{h}"/></g>'
        f'<g class="mark-text role-axis-title">{x_titled}</g>'
        f'<g class="mark-text role-axis-title">{y_titled}</g>'
    )
    return f'<g class="mark-group role-axis">{body}</g>', reach + 11


def _thin(labels: list[tuple[float, str]], size: int) -> list[tuple[float, str]]:
    """Vega's ``labelOverlap: parity``: every other label dropped until
    none overlaps."""
    while len(labels) > 2:
        spans = [(x - _width(s, size) / 2, x + _width(s, size) / 2) for x, s in labels]
        if all(a[1] + 1 < b[0] for a, b in itertools.pairwise(spans)):
            break
        labels = labels[::2]
    return labels


#: A legend's rows: ``(step, height)`` of a row of symbols (Vega's
#: circles, 11.5 px with their stroke) and of strokes (a line's symbol).
_ROWS = {"symbol": (16, 13), "stroke": (13, 11)}


def _legend(
    title: str, entries: list[tuple[str, str]], top: float, rows_of: str = "symbol"
) -> tuple[str, float, float]:
    """A legend of ``(label, symbol markup)`` rows at ``top``: its markup,
    width and height."""
    step, row = _ROWS[rows_of]
    rows = "".join(
        f'<g transform="translate(0,{16 + i * step})"><g class="mark-symbol role-legend-symbol">'
        f'{sym}</g><g class="mark-text role-legend-label">{_text(16, 9, label, 10)}</g></g>'
        for i, (label, sym) in enumerate(entries)
    )
    width = max([_width(title, 11), *(16 + _width(s, 10) for s, _ in entries)])
    height = 16 + step * (len(entries) - 1) + row
    return (
        f'<g class="mark-group role-legend" transform="translate(0,{top})">'
        f'<g class="mark-text role-legend-title">{_text(0, 9, title, 11, bold=True)}</g>'
        f'<g class="mark-group role-legend-entry">{rows}</g></g>',
        width,
        height,
    )


def _dash(value: Any) -> str:
    if isinstance(value, list) and value and value != [1, 0]:
        return f' stroke-dasharray="{",".join(map(str, value))}"'
    return ""


def draw(chart: Chart) -> str | None:
    """The chart's SVG, or ``None`` when it is not ours to draw."""
    name = template_of(chart)
    if name is None or chart.drawn is None:
        return None
    values = chart.anchors()
    if name == "smooth":
        return _smooth(chart, values)
    if name in _BARS:
        return _bars(chart, values, sort=name == "bar_horizontal_sorted")
    if name in _CONFUSION:
        return _confusion(chart, values, normalized=name == "confusion_normalized")
    colors = _scale_map(values[t.COLOR])
    dash_enc = values[t.STROKE_DASH] if name != "scatter" else {}
    shape_enc = values[t.SHAPE] if name == "scatter" else {}
    key = (dash_enc or shape_enc or {}).get("field") if (dash_enc or shape_enc) else None
    dashes, shapes = _scale_map(dash_enc), _scale_map(shape_enc)
    try:
        series = _series(chart, key)
    except ValueError:
        return None  # a value that is not a number: the engine decides
    if not series:
        return None
    size = float(values[t.WIDTH]), float(values[t.HEIGHT])
    sx = _Scale((x for ps in series.values() for x, _ in ps), True, size[0], False)
    sy = _Scale((y for ps in series.values() for _, y in ps), False, size[1], True)
    titles = str(values[t.X_LABEL]), str(values[t.Y_LABEL])
    axes, reach = _axes(sx, sy.ticks(), sy.size, titles, y_grid=True)
    lines, points = [], []
    circle = _symbol("circle")
    for (rev, k), ps in series.items():
        color = colors.get(rev, "#4c78a8")
        coords = [f"{x:.2f},{y:.2f}" for x, y in sx.pairs(sy, ps)]  # once for line and points
        if name != "scatter":
            d = "L".join(coords)
            lines.append(
                f'<path d="M{d}" stroke="{color}"{_dash(dashes.get(k))}>'
                f"<title>{escape(rev)}{' ' + escape(k) if k else ''}</title></path>"
            )
        if name != "simple":
            sym = _symbol(str(shapes.get(k, "circle"))) if name == "scatter" else circle
            head, tail = '<path transform="translate(', f')" d="{sym}"/>'
            body = head + (tail + head).join(coords) + tail if coords else ""
            points.append(f'<g class="mark-symbol role-mark" fill="{color}">{body}</g>')
    marks = ""
    if lines:
        marks += ('<g class="mark-line role-mark" fill="none" stroke-width="2">'
                  + "".join(lines) + "</g>")  # fmt: skip
    marks += "".join(points)  # a group per series, as Vega groups a line's
    rows = [(r, _rev_symbol(c, filled=name != "simple")) for r, c in colors.items()]
    legends = [("rev", rows), (str(key or ""), _key_rows(name, dashes, shapes))]
    return _frame(values, size, reach, axes + marks, legends)


def _frame(
    values: Mapping[str, Any],
    size: tuple[float, float],
    reach: float,
    body: str,
    legends: list[tuple[str, list[tuple[str, str]]]],
    rows_of: str = "symbol",
) -> str:
    """The SVG around a chart's axes and marks (``body``): Vega's
    paddings, the title above, the legends to the right."""
    markup, legend_w, top = [], 0.0, 0.0
    for title, entries in legends:
        if entries:
            one, lw, lh = _legend(title, entries, top, rows_of)
            markup.append(one)
            legend_w, top = max(legend_w, lw), top + lh + 8
    w, h = size
    left, head = _PAD + math.ceil(reach), _PAD + 22
    width = math.ceil(left + w + (18 + legend_w if markup else 0) + _PAD)
    height = math.ceil(head + max(h + 32, top) + _PAD)
    title = str(values[t.TITLE])
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="marks" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><rect width="{width}" '
        f'height="{height}" fill="white"/><g fill="none" transform="translate({left},{head})">'
        f'<path class="background" d="M0.5,0.5h{w:g}v{h:g}h-{w:g}Z" stroke="{_GRID}"/>'
        f'<g stroke-width="1">{body}</g>'
        f'<g transform="translate({w + 18:g},0)">{"".join(markup)}</g>'
        f'<g class="mark-group role-title"><g class="mark-text role-title-text">'
        f"{_text(w / 2, -12, title, 13, 'middle', True)}</g></g></g></svg>"
    )


#: Vega's loess: robustness passes after the first fit, and the residual
#: (and weight) below which nothing is left to reweigh.
_LOESS_PASSES, _EPSILON = 2, 1e-12
#: Beyond this many weighted terms (points x neighbours) a fit is left to
#: the engine: pure Python would take seconds (100k points, 100 each).
_LOESS_WORK = 2_000_000


def _tricube(u: float) -> float:
    v = 1 - u * u * u
    return v * v * v


def _median(values: list[float]) -> float:
    """d3's ``median``: the 0.5 quantile, interpolated between the two
    middle values of an even count."""
    s = sorted(values)
    at = (len(s) - 1) * 0.5
    i = int(at)
    return s[i] if i + 1 >= len(s) else s[i] + (s[i + 1] - s[i]) * (at - i)


def _fit(xs: list[float], ys: list[float], robust: list[float], bw: int) -> list[float]:
    """One pass of the local fits: at each point, the weighted line through
    its window of ``bw`` nearest neighbours, evaluated there."""
    n = len(xs)
    fit = [0.0] * n
    left, right = 0, bw - 1
    for i in range(n):
        dx = xs[i]
        edge = left if dx - xs[left] > xs[right] - dx else right
        denom = 1 / (abs(xs[edge] - dx) or 1.0)
        sw = sx = sy = sxy = sx2 = 0.0
        for k in range(left, right + 1):
            xk = xs[k]
            w = _tricube(abs(dx - xk) * denom) * robust[k]
            xkw = xk * w
            sw += w
            sx += xkw
            sy += ys[k] * w
            sxy += ys[k] * xkw
            sx2 += xk * xkw
        mx, my, mxy, mx2 = sx / sw, sy / sw, sxy / sw, sx2 / sw
        delta = mx2 - mx * mx
        slope = 0.0 if abs(delta) < 1e-24 else (mxy - mx * my) / delta
        fit[i] = my - slope * mx + slope * dx
        nxt = i + 1  # slide the window towards the next point
        if nxt < n:
            val = xs[nxt]
            while right + 1 < n and nxt > left and xs[right + 1] - val <= val - xs[left]:
                left += 1
                right += 1
    return fit


def _distinct(xs: list[float], fit: list[float], ux: float, uy: float) -> list[tuple[float, float]]:
    """One point per distinct x, moved back from the centre; the value of
    several is the mean of their fits but the first (Vega's running mean
    starts its count at the second point)."""
    out: list[list[float]] = []
    count = 0
    for x0, y in zip(xs, fit, strict=True):
        x = x0 + ux
        if out and out[-1][0] == x:
            count += 1
            out[-1][1] += (y - out[-1][1]) / count
        else:
            count = 0
            out.append([x, y])
    return [(x, y + uy) for x, y in out]


def loess(points: list[tuple[float, float]], bandwidth: float) -> list[tuple[float, float]]:
    """The locally weighted linear fit Vega-Lite's ``loess`` transform draws
    (vega-statistics' ``regressionLoess``, Cleveland's robust loess), of
    ``points`` sorted by x: for each point, a straight line fitted to its
    ``max(2, int(bandwidth * n))`` nearest neighbours weighted by the
    tricube of their distance (over the farthest one's), then refitted
    twice with bisquare weights of the residuals (over six times their
    median) so that outliers pull less. Computed on mean-centred values, as
    Vega does, and with its choices: a window that slides right while its
    next point is no farther than its first, a near-singular fit taken as
    flat, tiny weights rather than none for outliers."""
    n = len(points)
    if n < 2:
        return []  # Vega's fit of one point is NaN: nothing drawn
    ux = uy = 0.0
    for i, (x, y) in enumerate(points, start=1):  # Vega's running means
        ux += (x - ux) / i
        uy += (y - uy) / i
    xs = [x - ux for x, _ in points]
    ys = [y - uy for _, y in points]
    bw = min(n, max(2, int(bandwidth * n)))
    robust = [1.0] * n
    for rep in range(_LOESS_PASSES + 1):
        fit = _fit(xs, ys, robust, bw)
        if rep == _LOESS_PASSES:
            break
        residuals = [abs(y - f) for y, f in zip(ys, fit, strict=True)]
        middle = _median(residuals)
        if abs(middle) < _EPSILON:
            break
        args = [r / (6 * middle) for r in residuals]
        robust = [_EPSILON if a >= 1 else (1 - a * a) ** 2 for a in args]
    return _distinct(xs, fit, ux, uy)


#: The bandwidth the ``smooth`` template's slider starts at (its param's
#: value): the static drawing's.
_SMOOTH_BANDWIDTH = 0.001


def _smooth(chart: Chart, values: Mapping[str, Any]) -> str | None:
    """``smooth``: each series' raw line faint (opacity 0.2), its loess fit
    over it, on scales that hold both; a legend of strokes per revision
    (faint, as the first layer draws them) and per column."""
    dash_enc = values[t.STROKE_DASH]
    key = dash_enc.get("field") if dash_enc else None
    if key is not None and "::" in key:
        return None  # grouped by a field Vega reads as absent: its own grouping
    try:
        series = _series(chart, key)
    except ValueError:
        return None
    if not series:
        return None
    d = chart.drawn
    assert d is not None
    for p in chart.points:  # Vega fits an infinite value (and draws nothing)
        for v in (p.get(d.x), p.get(d.y)):
            if isinstance(v, float) and math.isinf(v):
                return None
    bw = max(2, int(_SMOOTH_BANDWIDTH * max(map(len, series.values()))))
    if sum(len(ps) for ps in series.values()) * bw > _LOESS_WORK:
        return None
    fits = {s: loess(ps, _SMOOTH_BANDWIDTH) for s, ps in series.items()}
    colors, dashes = _scale_map(values[t.COLOR]), _scale_map(dash_enc)
    size = float(values[t.WIDTH]), float(values[t.HEIGHT])
    sx = _Scale((x for ps in series.values() for x, _ in ps), True, size[0], False)
    every = itertools.chain(series.values(), fits.values())
    sy = _Scale([y for ps in every for _, y in ps], False, size[1], True)
    titles = str(values[t.X_LABEL]), str(values[t.Y_LABEL])
    axes, reach = _axes(sx, sy.ticks(), sy.size, titles, y_grid=True)
    layers = []
    for layer, (drawn, faint) in enumerate(((series, ' opacity="0.2"'), (fits, ""))):
        paths = []
        for (rev, k), ps in drawn.items():
            if not ps:
                continue
            line = "L".join([f"{x:.2f},{y:.2f}" for x, y in sx.pairs(sy, ps)])
            paths.append(
                f'<path d="M{line}" stroke="{colors.get(rev, "#4c78a8")}"{_dash(dashes.get(k))}>'
                f"<title>{escape(rev)}{' ' + escape(k) if k else ''}</title></path>"
            )
        layers.append(f'<g class="mark-line role-mark layer_{layer}_marks" fill="none" '
                      f'stroke-width="2"{faint}>' + "".join(paths) + "</g>")  # fmt: skip
    stroke = (
        '<path transform="translate(6,6)" d="M-5,0L5,0" stroke="{}" stroke-width="1.5"{} '
        'opacity="0.2"/>'
    )
    rows = [(r, stroke.format(c, "")) for r, c in colors.items()]
    keys = [(k, stroke.format("grey", _dash(v))) for k, v in dashes.items()]
    legends = [("rev", rows), (str(key or ""), keys)]
    return _frame(values, size, reach, axes + "".join(layers), legends, rows_of="stroke")


def _bars(chart: Chart, values: Mapping[str, Any], sort: bool) -> str | None:
    """``bar_horizontal[_sorted]``: a band per category (y, text), a bar
    per revision in it (Vega-Lite's ``yOffset``), the value on x from zero.
    Categories ascending, or by their total value descending (``sort:
    -x``), as Vega-Lite orders them."""
    d = chart.drawn
    assert d is not None
    colors = _scale_map(values[t.COLOR])
    bars: list[tuple[str, str, float]] = []
    for p in chart.points:
        category, v = p.get(d.y), p.get(d.x)
        if not isinstance(category, str):
            return None  # a number or a date as a category: Vega's formatting
        try:
            x = _number(v)
        except ValueError:
            return None
        if x is not None and x - x == 0:
            bars.append((category, str(p["rev"]), x))
    if not bars:
        return None
    totals: dict[str, float] = {}
    for category, _, x in bars:
        totals[category] = totals.get(category, 0.0) + x
    order = sorted(totals, key=lambda c: -totals[c]) if sort else sorted(totals)
    revs = [r for r in colors if any(b[1] == r for b in bars)] or sorted({b[1] for b in bars})
    size = float(values[t.WIDTH]), float(values[t.HEIGHT])
    sx = _Scale([x for *_, x in bars], True, size[0], False)
    step = size[1] / (len(order) - _BAND_PADDING + 2 * _BAND_PADDING)
    band = step * (1 - _BAND_PADDING)
    at = {c: step * _BAND_PADDING + i * step for i, c in enumerate(order)}
    sub = band / len(revs)
    slot = {r: i * sub for i, r in enumerate(revs)}
    y_ticks = [(at[c] + band / 2, c) for c in order]
    titles = str(values[t.X_LABEL]), str(values[t.Y_LABEL])
    axes, reach = _axes(sx, y_ticks, size[1], titles, y_grid=False)
    zero = sx(0.0)
    rects = "".join(
        f'<path d="M{min(zero, sx(x)):.2f},{at[c] + slot[r]:.2f}h{abs(sx(x) - zero):.2f}'
        f'v{sub:.2f}h-{abs(sx(x) - zero):.2f}Z" fill="{colors.get(r, "#4c78a8")}"/>'
        for c, r, x in bars
    )
    rows = [(r, f'<path transform="translate(6,6)" d="M-5,-5h10v10h-10Z" fill="{c}"/>')
            for r, c in colors.items()]  # fmt: skip
    marks = f'<g class="mark-rect role-mark">{rects}</g>'
    return _frame(values, size, reach, axes + marks, [("rev", rows)])


def _ramp(at: float) -> str:
    """The colour at ``at`` (0 to 1) of ``_RAMP``."""
    pos = min(max(at, 0.0), 1.0) * (len(_RAMP) - 1)
    i = min(int(pos), len(_RAMP) - 2)
    f = pos - i
    r, g, b = (round(a + (c - a) * f) for a, c in zip(_RAMP[i], _RAMP[i + 1], strict=True))
    return f"rgb({r}, {g}, {b})"


def _confusion(chart: Chart, values: Mapping[str, Any], normalized: bool) -> str | None:
    """``confusion[_normalized]``: a panel per revision (revisions
    ascending, as a Vega-Lite facet), a cell per (actual, predicted) pair
    coloured by its count (or its share of the actual class) on Vega's
    heatmap ramp, the number in it; one gradient legend."""
    d = chart.drawn
    assert d is not None
    if len(d.series) > 1:
        return None  # several files or fields in one matrix: Vega's grouping
    counts: dict[tuple[str, str, str], int] = {}
    for p in chart.points:
        x, y = p.get(d.x), p.get(d.y)
        if not isinstance(x, str) or not isinstance(y, str):
            return None  # numbers as classes: Vega's formatting
        k = (str(p["rev"]), x, y)
        counts[k] = counts.get(k, 0) + 1
    if not counts:
        return None
    cells: dict[tuple[str, str, str], float] = dict(counts)
    if normalized:
        totals: dict[tuple[str, str], int] = {}
        for (rev, x, _), n in counts.items():
            totals[rev, x] = totals.get((rev, x), 0) + n
        cells = {k: n / totals[k[0], k[1]] for k, n in counts.items()}
    revs = sorted({k[0] for k in cells})
    xs, ys = sorted({k[1] for k in cells}), sorted({k[2] for k in cells})
    w, h = float(values[t.WIDTH]), float(values[t.HEIGHT])
    bx, by = w / len(xs), h / len(ys)
    lo, hi = min(cells.values()), max(cells.values())
    label = ".2f" if normalized else "d"
    panels, headers, footers = [], [], []
    for i, rev in enumerate(revs):
        left = i * (w + _SPACING)
        rects, texts = [], []
        for (r, x, y), v in cells.items():
            if r != rev:
                continue
            cx, cy = xs.index(x) * bx, ys.index(y) * by
            color = _ramp((v - lo) / (hi - lo) if hi > lo else 0.5)
            rects.append(f'<path d="M{cx:g},{cy:g}h{bx:g}v{by:g}h-{bx:g}Z" fill="{color}"/>')
            texts.append(_text(cx + bx / 2, cy + by / 2 + 3, format(v, label), 11, "middle"))
        panels.append(
            f'<g transform="translate({left:g},0)"><g class="mark-rect role-mark">'
            f'{"".join(rects)}</g><g class="mark-text role-mark">{"".join(texts)}</g></g>'
        )
        headers.append(f'<g transform="translate({left + w / 2:g},-13)">'
                       f'<g class="mark-text role-title-text">{_text(0, 0, rev, 10, "middle")}'
                       "</g></g>")  # fmt: skip
        ticks = "".join(f'<line transform="translate({(j + 0.5) * bx:g},0)" y2="{_TICK}"/>'
                        for j in range(len(xs)))  # fmt: skip
        labels = "".join(
            _text((j + 0.5) * bx, 7, c, 10, "end", extra=" rotate(270) translate(0,3)")
            for j, c in enumerate(xs)
        )
        down = max((_width(c, 10) for c in xs), default=0) + 7 + 4 + 11
        footers.append(
            f'<g transform="translate({left:g},{h:g})"><g class="mark-rule role-axis-tick" '
            f'stroke="{_AXIS}">{ticks}</g><g class="mark-text role-axis-label">{labels}</g>'
            f'<g class="mark-rule role-axis-domain" stroke="{_AXIS}"><line x2="{w:g}"/></g>'
            f'<g class="mark-text role-axis-title">'
            f"{_text(w / 2, down, str(values[t.X_LABEL]), 11, 'middle', True)}</g></g>"
        )
    yticks = "".join(f'<line transform="translate(0,{(j + 0.5) * by:g})" x2="-{_TICK}"/>'
                     for j in range(len(ys)))  # fmt: skip
    ylabels = "".join(_text(-7, (j + 0.5) * by + 2.5, c, 10, "end") for j, c in enumerate(ys))
    reach = max((_width(c, 10) for c in ys), default=0) + 7 + 4
    y_title = _text(-reach, h / 2, str(values[t.Y_LABEL]), 11, "middle", True,
                    " rotate(-90) translate(0,-2)")  # fmt: skip
    yaxis = (
        f'<g class="mark-group role-axis"><g class="mark-rule role-axis-tick" stroke="{_AXIS}">'
        f'{yticks}</g><g class="mark-text role-axis-label">{ylabels}</g>'
        f'<g class="mark-rule role-axis-domain" stroke="{_AXIS}"><line y2="{h:g}"/></g>'
        f'<g class="mark-text role-axis-title">{y_title}</g></g>'
    )
    ticks_at = [(v, _label(v, _decimals(lo, hi))) for v in _legend_ticks(lo, hi)]
    legend_title = "share" if normalized else "count"
    legend = _gradient(legend_title, lo, hi, ticks_at)
    total_w = len(revs) * w + (len(revs) - 1) * _SPACING
    down = max((_width(c, 10) for c in xs), default=0) + 7 + 4 + 11
    left, head = _PAD + math.ceil(reach + 11), _PAD + 38
    legend_w = max([_width(legend_title, 11), *(18 + _width(s, 10) for _, s in ticks_at)])
    width = math.ceil(left + total_w + 19 + legend_w + _PAD)
    height = math.ceil(head + h + down + 4 + _PAD)
    title = _text(-reach - 11, -28, str(values[t.TITLE]), 13, "start", True)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="marks" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><rect width="{width}" '
        f'height="{height}" fill="white"/><g fill="none" transform="translate({left},{head})">'
        f'<g stroke-width="1">{yaxis}<g class="mark-group role-column-header">{"".join(headers)}'
        f'</g><g class="mark-group role-axis">{"".join(footers)}</g>{"".join(panels)}</g>'
        f'<g transform="translate({total_w + 19:g},0)">{legend}</g>'
        f'<g class="mark-group role-title"><g class="mark-text role-title-text">{title}</g></g>'
        "</g></svg>"
    )


#: Ticks of a 200 px gradient legend (measured against vl-convert: 4,
#: not the 5 of Vega's documentation, over domains from 0.1 to 37).
_LEGEND_TICKS = 4


def _decimals(lo: float, hi: float) -> int:
    return 0 if lo == hi else _ticks(lo, hi, _LEGEND_TICKS)[1]


def _legend_ticks(lo: float, hi: float) -> list[float]:
    """A gradient legend's labels: ticks of the colour domain."""
    if lo == hi:
        return [lo]
    values, _ = _ticks(lo, hi, _LEGEND_TICKS)
    return [v for v in values if lo - 1e-9 <= v <= hi + 1e-9]


def _gradient(title: str, lo: float, hi: float, ticks: list[tuple[float, str]]) -> str:
    """Vega's gradient legend: the ramp 200 px high, light at the bottom."""
    stops = "".join(f'<stop offset="{i / 20:g}" stop-color="rgb{c}"/>' for i, c in enumerate(_RAMP))
    span = hi - lo
    labels = "".join(
        _text(18, 16 + (200 - ((v - lo) / span * 200 if span else 100)) + 3, s, 10)
        for v, s in ticks
    )
    return (
        f'<defs><linearGradient id="trails-ramp" x1="0" x2="0" y1="1" y2="0">{stops}'
        f'</linearGradient></defs><g class="mark-group role-legend">'
        f'<g class="mark-text role-legend-title">{_text(0, 9, title, 11, bold=True)}</g>'
        f'<g transform="translate(0,16)"><g class="mark-rect role-legend-gradient">'
        f'<path d="M0,0h16v200h-16Z" fill="url(#trails-ramp)"/></g></g>'
        f'<g class="mark-text role-legend-label">{labels}</g></g>'
    )


def _rev_symbol(color: str, filled: bool) -> str:
    fill = color if filled else "none"
    return (f'<path transform="translate(6,6)" d="{_symbol("circle", 100)}" fill="{fill}" '
            f'stroke="{color}" stroke-width="1.5"/>')  # fmt: skip


def _key_rows(name: str, dashes: Mapping[str, Any], shapes: Mapping[str, Any]) -> list[
    tuple[str, str]
]:  # fmt: skip
    """The rows of the second legend: a dashed circle per column (line
    templates, as Vega draws them) or a shape per column (scatter)."""
    if name == "scatter":
        return [(k, f'<path transform="translate(6,6)" d="{_symbol(str(s), 100)}" '
                    'fill="grey"/>') for k, s in shapes.items()]  # fmt: skip
    return [(k, f'<path transform="translate(6,6)" d="{_symbol("circle", 100)}" stroke="grey" '
                f'stroke-width="1.5"{_dash(d)}/>') for k, d in dashes.items()]  # fmt: skip
