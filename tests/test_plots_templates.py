"""Every built-in template, filled with the points of two revisions, is a
Vega-Lite spec vl-convert draws, with no anchor left."""

from __future__ import annotations

import pytest

from trails.plots import templates
from trails.plots.charts import Chart
from trails.plots.convert import convert


def _chart(name: str) -> Chart:
    rows = {"f.csv": [{"actual": a, "predicted": p, "n": i}
                      for i, (a, p) in enumerate(["aa", "ab", "bb"])]}  # fmt: skip
    props = {"x": "actual", "y": "predicted"} if name.startswith("confusion") else {"y": "n"}
    if name.startswith("bar"):
        props = {"x": "n", "y": "actual"}
    chart = Chart("f.csv", templates.builtin(name), props)
    for rev in ("workspace", "HEAD"):
        drawn = convert(rev, props, "f.csv", rows)
        chart.revisions.append(rev)
        chart.points += drawn.points
        chart.drawn = chart.drawn or drawn
    return chart


@pytest.mark.parametrize("name", templates.names())
def test_each_template_renders(name: str) -> None:
    import vl_convert

    chart = _chart(name)
    spec = chart.spec()
    assert not templates.anchors_in(spec)
    svg = vl_convert.vegalite_to_svg(spec)
    assert svg.startswith("<svg") and 'class="mark-' in svg
    content, defs = chart.split()
    assert "<DVC_METRIC_DATA>" in defs and "<DVC_METRIC_X>" not in templates.anchors_in(content)


def test_fill_splices_list_anchors_and_keeps_other_strings() -> None:
    spec = {"groupby": [templates.GROUP_BY, "x"], "t": "a <DVC_METRIC_TITLE>", "v": templates.TITLE}
    filled = templates.fill(spec, {templates.GROUP_BY: ["rev", "field"], templates.TITLE: "T"})
    assert filled == {"groupby": ["rev", "field", "x"], "t": "a <DVC_METRIC_TITLE>", "v": "T"}
