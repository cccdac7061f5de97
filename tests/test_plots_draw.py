"""The line templates drawn by trails (``plots/draw.py``), not vl-convert:
a page of them needs no engine at all, and what it shows (the axes' ticks
and labels, a line and a point per row of each series, the legends) is
what vl-convert draws from the same spec, which the page embeds."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import gen, git
from tests.test_plots import Trails

ENGINE_BLOCKED = (
    "import sys; sys.modules['vl_convert'] = None\n"
    "from trails.cli import main; main(sys.argv[1:])\n"
)


def _sections(page: str) -> dict[str, str]:
    out = {}
    for s in page.split('<section class="plot"')[1:]:
        found = re.search(r'data-plot-id="([^"]+)"', s)
        assert found is not None
        out[found.group(1)] = s
    return out


def _svg(section: str) -> str:
    found = re.search(r"<svg\b.*?</svg>", section, re.S)
    assert found is not None
    return found.group(0)


def _spec(section: str) -> dict:
    found = re.search(r'class="vega-lite-spec">(.*?)</script>', section, re.S)
    assert found is not None
    spec: dict = json.loads(found.group(1).replace("<\\/", "</"))
    return spec


def _labels(svg: str, role: str) -> list[list[str]]:
    """The texts of each ``role`` group (axis labels: x then y)."""
    groups = re.findall(rf'<g class="mark-text {role}"[^>]*>(.*?)</g>', svg, re.S)
    return [re.findall(r"<text[^>]*>([^<]*)</text>", g) for g in groups]


#: The text marks compared with vl-convert's drawing of the same spec.
TEXT_ROLES = ("role-axis-label", "role-axis-title", "role-title-text", "role-legend-title",
              "role-legend-label")  # fmt: skip


def _beside_vega(
    section: str, roles: tuple[str, ...] = TEXT_ROLES, what: str = ""
) -> tuple[str, str]:
    """A page section's SVG, which trails drew (no Vega marker), and
    vl-convert's SVG of the section's spec; each ``roles`` text the same."""
    import vl_convert

    ours, theirs = _svg(section), vl_convert.vegalite_to_svg(_spec(section))
    assert "aria-roledescription" not in ours
    for role in roles:
        assert _labels(ours, role) == _labels(theirs, role), (what, role)
    return ours, theirs


def _count(svg: str, kind: str) -> int:
    groups = re.findall(rf'<g class="mark-{kind} role-mark[^"]*"[^>]*>(.*?)</g>', svg, re.S)
    return sum(g.count("<path") for g in groups)


def _tsv(rows: list[tuple[float, float]]) -> str:
    return "step\tvalue\n" + "".join(f"{x}\t{y}\n" for x, y in rows)


#: Ranges that exercise d3's "nice" domains, tick steps and label formats:
#: small fractions, negatives (a true minus sign), thousands, one value.
CURVES: dict[str, list[tuple[float, float]]] = {
    "small.tsv": [(i, 0.4 + i * 0.003) for i in range(60)],
    "negative.tsv": [(i - 20, -3.5 + i * 0.25) for i in range(41)],
    "large.tsv": [(i * 250, 12000 + i * i * 31) for i in range(30)],
    "flat.tsv": [(0, 5), (1, 5), (2, 5)],
}


@pytest.fixture
def curves(repo: Path, trails: Trails) -> Path:
    assert trails("init").code == 0
    plots = "".join(f"  - {name}:\n      x: step\n      y: value\n" for name in CURVES)
    plots += (
        "  - pair:\n      x: step\n      y:\n        small.tsv: value\n"
        + "        flat.tsv: value\n"
    )
    gen(repo, {"dvc.yaml": "plots:\n" + plots} | {n: _tsv(r) for n, r in CURVES.items()})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "curves")
    shifted = {n: _tsv([(x, y * 1.5) for x, y in r]) for n, r in CURVES.items()}
    gen(repo, shifted)
    return repo


def test_a_page_of_line_plots_needs_no_engine(curves: Path) -> None:
    """vl-convert made unimportable: the page is drawn anyway, a line per
    revision and a point per row of each."""
    r = subprocess.run(
        [sys.executable, "-c", ENGINE_BLOCKED, "plots", "diff", "HEAD", "-o", "out"],
        cwd=curves, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    by_id = _sections((curves / "out" / "index.html").read_text())
    assert sorted(by_id) == ["flat.tsv", "large.tsv", "negative.tsv", "pair", "small.tsv"]
    for name, rows in CURVES.items():
        svg = _svg(by_id[name])
        assert _count(svg, "line") == 2, name  # workspace and HEAD
        assert _count(svg, "symbol") == 2 * len(rows), name
        assert _labels(svg, "role-legend-label") == [["workspace"], ["HEAD"]]
    pair = _svg(by_id["pair"])
    assert _count(pair, "line") == 4  # 2 revisions x 2 files
    # the second legend: one row per file, its title the varied field
    assert _labels(pair, "role-legend-title") == [["rev"], ["filename"]]
    assert _labels(pair, "role-legend-label")[2:] == [["flat.tsv"], ["small.tsv"]]


@pytest.mark.parametrize("template", ["linear", "simple", "scatter"])
def test_axes_read_as_vl_convert_draws_them(curves: Path, trails: Trails, template: str) -> None:
    """The same embedded spec through vl-convert: the same tick labels on
    both axes, the same axis and chart titles, the same legends."""

    assert trails("plots", "diff", "HEAD", "-t", template, "-o", "out").code == 0
    by_id = _sections((curves / "out" / "index.html").read_text())
    for plot_id, section in by_id.items():
        ours, theirs = _beside_vega(section, what=plot_id)
        marks = "symbol" if template != "simple" else "line"
        assert _count(ours, marks) == _count(theirs, marks), plot_id
        width = float(re.search(r'width="([\d.]+)"', ours).group(1))  # type: ignore[union-attr]
        vega = float(re.search(r'width="([\d.]+)"', theirs).group(1))  # type: ignore[union-attr]
        assert abs(width - vega) < 25, plot_id  # laid out alike


@pytest.mark.parametrize("template", ["bar_horizontal", "bar_horizontal_sorted"])
def test_bars_read_as_vl_convert_draws_them(repo: Path, trails: Trails, template: str) -> None:
    """A bar per category and revision: the categories in Vega-Lite's order
    (ascending, or by total descending), the same axes and legend."""

    assert trails("init").code == 0
    sizes = {"c": 30, "a": 12, "b": 7, "d": 0.5}
    body = "".join(f"  - {{name: {k}, size: {v}}}\n" for k, v in sizes.items())
    pipeline = (
        f"plots:\n  - sizes.yaml:\n      template: {template}\n      x: size\n      y: name\n"
    )
    gen(repo, {"dvc.yaml": pipeline, "sizes.yaml": "items:\n" + body})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "sizes")
    gen(repo, {"sizes.yaml": "items:\n" + body.replace("30", "45")})
    assert trails("plots", "diff", "HEAD", "-o", "out").code == 0
    section = _sections((repo / "out" / "index.html").read_text())["sizes.yaml"]
    ours, theirs = _beside_vega(section, tuple(r for r in TEXT_ROLES if r != "role-legend-title"))
    assert _count(ours, "rect") == _count(theirs, "rect") == 8
    order = ["c", "a", "b", "d"] if template.endswith("sorted") else ["a", "b", "c", "d"]
    assert _labels(ours, "role-axis-label")[1] == order


@pytest.mark.parametrize("template", ["confusion", "confusion_normalized"])
def test_confusion_reads_as_vl_convert_draws_it(repo: Path, trails: Trails, template: str) -> None:
    """A panel per revision, a cell per (actual, predicted) pair with its
    count or share: the same classes, panel titles, numbers and legend as
    vl-convert's, the cells coloured on the same ramp."""

    assert trails("init").code == 0
    classes = ["bird", "cat", "dog"]
    pairs = [(classes[i % 3], classes[(i * i + i // 3) % 3]) for i in range(40)]
    csv = "actual,predicted\n" + "".join(f"{a},{b}\n" for a, b in pairs)
    pipeline = (
        f"plots:\n  - p.csv:\n      template: {template}\n      x: actual\n      y: predicted\n"
    )
    gen(repo, {"dvc.yaml": pipeline, "p.csv": csv})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "preds")
    gen(repo, {"p.csv": "actual,predicted\n" + "".join(f"{a},{b}\n" for a, b in pairs[:25])})
    assert trails("plots", "diff", "HEAD", "-o", "out").code == 0
    section = _sections((repo / "out" / "index.html").read_text())["p.csv"]
    ours, theirs = _beside_vega(section)

    def cells(svg: str) -> tuple[list[list[str]], list[list[int]]]:
        """Each panel's numbers, and its cells' colours as RGB channels."""
        rects = re.findall(r'<g class="mark-rect role-mark[^"]*"[^>]*>(.*?)</g>', svg, re.S)
        texts = re.findall(r'<g class="mark-text role-mark[^"]*"[^>]*>(.*?)</g>', svg, re.S)
        colors = [[int(c) for rgb in re.findall(r'fill="rgb\(([^)]+)\)"', r)
                   for c in rgb.split(",")] for r in rects]  # fmt: skip
        return [re.findall(r">([^<]*)</text>", x) for x in texts], colors

    (numbers, colors), (vega_numbers, vega_colors) = cells(ours), cells(theirs)
    assert len(numbers) == 2 and numbers == vega_numbers
    # the ramp interpolated linearly between Vega's 21 steps: within 2 of its spline
    assert [len(c) for c in colors] == [len(c) for c in vega_colors]
    assert all(abs(a - b) <= 2 for c, v in zip(colors, vega_colors, strict=True)
               for a, b in zip(c, v, strict=True))  # fmt: skip


def test_values_that_are_not_numbers_go_to_the_engine(repo: Path, trails: Trails) -> None:
    """Dates on x are vl-convert's to draw (a time scale), on the same page."""
    assert trails("init").code == 0
    gen(repo, {
        "dvc.yaml": "plots:\n  - days.csv:\n      x: day\n      y: n\n  - n.csv:\n      y: n\n",
        "days.csv": "day,n\n2024-01-01,3\n2024-01-02,5\n",
        "n.csv": "n\n3\n5\n",
    })  # fmt: skip
    assert trails("plots", "show", "-o", "out").code == 0
    by_id = _sections((repo / "out" / "index.html").read_text())
    assert "aria-roledescription" in _svg(by_id["days.csv"])  # Vega's
    assert "aria-roledescription" not in _svg(by_id["n.csv"])  # ours
    assert _count(_svg(by_id["n.csv"]), "symbol") == 2


def test_a_project_template_named_linear_is_not_ours(repo: Path, trails: Trails) -> None:
    """A template file of the project, even under a built-in's name, is
    drawn by vl-convert: only the built-in specs are known here."""
    assert trails("init").code == 0
    printed = trails("plots", "templates", "linear")
    assert printed.code == 0
    spec = json.loads(printed.out)
    spec["title"] = "custom"
    pipeline = "plots:\n  - n.csv:\n      template: .dvc/plots/linear.json\n      y: n\n"
    gen(repo, {".dvc/plots/linear.json": json.dumps(spec), "dvc.yaml": pipeline,
               "n.csv": "n\n3\n5\n"})  # fmt: skip
    assert trails("plots", "show", "-o", "out").code == 0
    svg = _svg(_sections((repo / "out" / "index.html").read_text())["n.csv"])
    assert "aria-roledescription" in svg and ">custom</text>" in svg


def test_names_from_files_are_text_in_the_svg(repo: Path, trails: Trails) -> None:
    """Titles, labels, field and file names are written into the SVG by
    trails: escaped, so a crafted one stays text (no element, no script)."""
    assert trails("init").code == 0
    hostile = "<script>alert(1)</script>"
    gen(repo, {
        "dvc.yaml": "plots:\n  - pair:\n      title: '" + hostile + "'\n      x: s\n"
                    "      x_label: '<b>x</b>'\n      y:\n        a.csv: 'v<i>'\n"
                    "        b.csv: 'v<i>'\n",
        "a.csv": "s,v<i>\n0,1\n1,2\n",
        "b.csv": "s,v<i>\n0,3\n1,4\n",
    })  # fmt: skip
    assert trails("plots", "show", "-o", "out").code == 0
    svg = _svg(_sections((repo / "out" / "index.html").read_text())["pair"])
    assert "aria-roledescription" not in svg  # ours
    assert "<script" not in svg and "<b>" not in svg and "<i>" not in svg
    assert _labels(svg, "role-title-text") == [["&lt;script&gt;alert(1)&lt;/script&gt;"]]
    assert _labels(svg, "role-axis-title")[0] == ["&lt;b&gt;x&lt;/b&gt;"]


def test_plots_renderer_vl_convert_draws_every_chart_with_the_engine(
    curves: Path, trails: Trails
) -> None:
    """``plots.renderer = vl-convert`` in ``.dvc/config``: the escape hatch,
    every chart Vega's; a value it does not know is one line, nothing written."""
    assert trails("config", "plots.renderer", "vl-convert").code == 0
    assert trails("plots", "show", "small.tsv", "-o", "out").code == 0
    svg = _svg(_sections((curves / "out" / "index.html").read_text())["small.tsv"])
    assert "aria-roledescription" in svg  # Vega's
    assert trails("config", "plots.renderer", "vega").code == 0
    r = trails("plots", "show", "small.tsv", "-o", "other")
    assert r.code == 1 and "plots.renderer: unknown renderer 'vega'" in r.err
    assert "Traceback" not in r.err and not (curves / "other").exists()
    assert trails("config", "plots.renderer", "trails").code == 0
    assert trails("plots", "show", "small.tsv", "-o", "out").code == 0
    svg = _svg(_sections((curves / "out" / "index.html").read_text())["small.tsv"])
    assert "aria-roledescription" not in svg


def _line_paths(svg: str, layer: int) -> list[list[tuple[float, float]]]:
    """The points of each line of one layer (``layer_N_marks``), in pixels."""
    groups = re.findall(rf'<g class="mark-line role-mark layer_{layer}_marks"[^>]*>(.*?)</g>',
                        svg, re.S)  # fmt: skip
    return [[(float(x), float(y)) for x, y in (p.split(",") for p in d.split("L"))]
            for g in groups for d in re.findall(r' d="M([^"]*)"', g)]  # fmt: skip


def test_smooth_is_drawn_as_vl_convert_draws_it(repo: Path, trails: Trails) -> None:
    """``smooth``: the raw curves faint, their loess fit over them, at the
    slider's first bandwidth (0.001: 3 neighbours for 3,000 points, so the
    fit smooths and its robustness passes reweigh the outliers). No engine
    needed; the same axes, legends and lines as vl-convert's, each fitted
    point within a tenth of a pixel of Vega's."""
    import random

    assert trails("init").code == 0
    rng = random.Random(7)

    def curve(shift: float) -> str:
        lines = []
        for i in range(3000):  # duplicate steps, noise, outliers
            loss = 1 / (1 + i / 300) + shift + rng.gauss(0, 0.02) + (0.3 if i % 97 == 0 else 0)
            lines.append(f"{i // 2},{loss:.5f},{rng.random():.4f}\n")
        return "step,loss,acc\n" + "".join(lines)

    pipeline = ("plots:\n  - curve:\n      template: smooth\n      x: step\n"
                "      y:\n        c.csv: [loss, acc]\n")  # fmt: skip
    gen(repo, {"dvc.yaml": pipeline, "c.csv": curve(0.0)})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "curve")
    gen(repo, {"c.csv": curve(0.1)})
    r = subprocess.run(
        [sys.executable, "-c", ENGINE_BLOCKED, "plots", "diff", "HEAD", "-o", "out"],
        cwd=repo, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    section = _sections((repo / "out" / "index.html").read_text())["curve"]
    ours, theirs = _beside_vega(section)
    for layer, points in ((0, 3000), (1, 1500)):  # the raw curves; a fit per distinct step
        mine, vega = _line_paths(ours, layer), _line_paths(theirs, layer)
        assert len(mine) == len(vega) == 4  # 2 revisions x 2 columns
        for a, b in zip(mine, vega, strict=True):
            assert len(a) == len(b) == points
            assert max(abs(p - q) for u, v in zip(a, b, strict=True)
                       for p, q in zip(u, v, strict=True)) < 0.1  # fmt: skip
    width = float(re.search(r'width="([\d.]+)"', ours).group(1))  # type: ignore[union-attr]
    vega_w = float(re.search(r'width="([\d.]+)"', theirs).group(1))  # type: ignore[union-attr]
    assert abs(width - vega_w) < 25


@pytest.mark.parametrize("bandwidth", [0.3, 0.05, 1.0])
def test_loess_fits_as_vega_statistics_does(bandwidth: float) -> None:
    """``draw.loess`` at other bandwidths than the template's, against
    Vega's own transform: wide windows, duplicate x, outliers."""
    import random

    import vl_convert

    from trails.plots.draw import loess

    rng = random.Random(3)
    rows = []
    for i in range(80):
        x = i // 2 if i < 30 else i * 1.5
        y = (x / 10) ** 2 / 10 + rng.gauss(0, 1) + (15 if i % 17 == 0 else 0)
        rows.append({"x": x, "y": y})
    rng.shuffle(rows)

    def axis(domain: list[int]) -> dict:
        return {"field": "xy"[domain[0] < 0], "type": "quantitative",
                "scale": {"nice": False, "zero": False, "domain": domain}}  # fmt: skip

    spec = {
        "data": {"values": rows}, "width": 300, "height": 300, "mark": "line",
        "transform": [{"loess": "y", "on": "x", "bandwidth": bandwidth}],
        "encoding": {"x": axis([0, 200]), "y": axis([-10, 30])},
    }  # fmt: skip
    svg = vl_convert.vegalite_to_svg(spec)
    found = re.search(r'aria-roledescription="line mark" d="M([^"]*)"', svg)
    assert found is not None
    vega = [tuple(map(float, p.split(","))) for p in found.group(1).split("L")]
    fit = loess(sorted(((r["x"], r["y"]) for r in rows), key=lambda p: p[0]), bandwidth)
    mine = [(x / 200 * 300, 300 - (y + 10) / 40 * 300) for x, y in fit]
    assert len(mine) == len(vega) == 65  # one per distinct x
    pairs = zip(mine, vega, strict=True)
    assert max(abs(p - q) for u, v in pairs for p, q in zip(u, v, strict=True)) < 0.01
