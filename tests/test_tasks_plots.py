"""``trails.Plot`` with the display properties of a ``dvc.yaml`` plots
entry (``x``, ``y``, ``template``, ``title``, ``x_label``, ``y_label``),
through the real CLI: ``collect --json`` lists them, ``plots show`` and
``plots diff --json`` draw with them, changing them reruns nothing, a bad
one is one ``file:line`` message."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import Result, gen, git

Trails = Callable[..., Result]

CURVE = """\
from pathlib import Path
from typing import Annotated

import trails


def task_curve(
    plot: Annotated[
        Path,
        trails.Plot(x="step", y=["loss", "acc"], template="scatter", title="Training",
                    x_label="Step", y_label="Value"),
    ] = Path("../out/curve.csv"),
    single: Annotated[Path, trails.Plot(x="step", y="loss", cache=False)] = Path("../loss.csv"),
):
    rows = "step,loss,acc\\n1,0.9,0.1\\n2,LOSS,0.6\\n"
    plot.write_text(rows)
    single.write_text(rows)
"""


def _spec(doc: dict[str, Any], plot: str) -> dict[str, Any]:
    (entry,) = doc["data"][plot]
    assert entry["type"] == "vega"
    spec: dict[str, Any] = entry["content"]
    return spec


def _encoding(spec: dict[str, Any]) -> dict[str, Any]:
    layer = spec["layer"][0] if "layer" in spec else spec
    return {"mark": layer["mark"]["type"], **layer["encoding"]}


def test_plot_properties_reach_plots_show_and_diff(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, {"src/task_curve.py": CURVE.replace("LOSS", "0.5"), ".gitignore": "/out\n"})
    doc = json.loads(trails("collect", "--json").out)
    plots = {o["path"]: o["plot"] for o in doc["tasks"][0]["outs"]}
    assert plots == {
        "out/curve.csv": {"x": "step", "y": ["loss", "acc"], "template": "scatter",
                          "title": "Training", "x_label": "Step", "y_label": "Value"},
        "loss.csv": {"x": "step", "y": "loss"},
    }  # fmt: skip
    assert trails("repro").code == 0
    r = trails("plots", "show", "--json")
    assert r.code == 0, r.err
    spec = _spec(json.loads(r.out), "out/curve.csv")
    assert spec["title"] == "Training"
    enc = _encoding(spec)
    assert enc["mark"] == "point", "the scatter template"
    assert (enc["x"]["field"], enc["x"]["title"], enc["y"]["title"]) == ("step", "Step", "Value")
    fields = {(v["field"], v["step"]) for v in spec["data"]["values"]}
    assert fields == {("loss", 1), ("loss", 2), ("acc", 1), ("acc", 2)}, "both y fields"
    single = _encoding(_spec(json.loads(r.out), "loss.csv"))
    assert (single["x"]["field"], single["y"]["field"]) == ("step", "loss")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    # Display properties are not code: changing them reruns nothing.
    text = CURVE.replace("LOSS", "0.5").replace('title="Training"', 'title="Training, v2"')
    gen(repo, {"src/task_curve.py": text})
    assert trails("status").out.strip() == "Data and pipelines are up to date."
    gen(repo, {"src/task_curve.py": text.replace("0.5", "0.4")})
    assert trails("repro").code == 0
    r = trails("plots", "diff", "HEAD", "--json")
    assert r.code == 0, r.err
    spec = _spec(json.loads(r.out), "out/curve.csv")
    assert spec["title"] == "Training, v2"
    losses = {(v["rev"], v["dvc_inferred_y_value"]) for v in spec["data"]["values"]
              if v["field"] == "loss" and v["step"] == 2}  # fmt: skip
    assert losses == {("HEAD", 0.5), ("workspace", 0.4)}


def test_a_bad_plot_property_is_one_message(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    bad = CURVE.replace('template="scatter"', "template=3")
    gen(repo, {"src/task_curve.py": bad})
    for command in ("collect", "repro", "plots show"):
        r = trails(*command.split())
        assert r.code == 1, command
        said = "src/task_curve.py:7: task 'task_curve': argument 'plot': trails.Plot(template=...)"
        assert f"{said} must be a string, not 3" in r.err, r.err
        assert "Traceback" not in r.err
    assert not (repo / "out").exists() and not (repo / "dvc.lock").exists()
