"""``trails plots``: definitions in dvc.yaml, data at revisions (the
workspace, commits, experiments), the --json shapes the VS Code extension
reads, the offline HTML page and images, the templates."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, baseline, gen, git

Trails = Callable[..., Result]

PIPELINE = """\
plots:
  - logs/loss.tsv:
      x: step
      y: loss
      title: Loss
  - accuracy:
      x: epoch
      y:
        eval/acc.json: [train, test]
  - classes:
      template: confusion
      x: actual
      y:
        preds.csv: predicted
  - sizes.yaml:
      template: bar_horizontal
      x: size
      y: name
stages:
  train:
    cmd: echo ok
    plots:
      - logs/lr.csv:
          cache: false
"""


def _tsv(losses: list[float]) -> str:
    return "step\tloss\n" + "".join(f"{i}\t{v}\n" for i, v in enumerate(losses))


def _acc(n: int, shift: float) -> str:
    rows = [{"epoch": i, "train": 0.5 + shift + i / 100, "test": 0.4 + shift} for i in range(n)]
    return json.dumps({"acc": rows})


FILES = {
    "dvc.yaml": PIPELINE,
    "logs/loss.tsv": _tsv([1.0, 0.5, 0.25]),
    "logs/lr.csv": "lr\n0.1\n0.05\n",
    "eval/acc.json": _acc(4, 0.0),
    "preds.csv": "actual,predicted\ncat,cat\ndog,cat\ndog,dog\n",
    "sizes.yaml": "items:\n  - {name: a, size: 3}\n  - {name: b, size: 5}\n",
}


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    assert trails("init").code == 0
    gen(repo, FILES)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    gen(repo, {"logs/loss.tsv": _tsv([0.9, 0.4, 0.2, 0.1]), "eval/acc.json": _acc(4, 0.1)})
    return repo


def _json(trails: Trails, *args: str) -> dict:
    r = trails("plots", *args, "--json")
    assert r.code == 0, r.err
    doc: dict = json.loads(r.out)
    return doc


def test_diff_split_json_has_the_extensions_shape(project: Path, trails: Trails) -> None:
    doc = _json(trails, "diff", "HEAD", "--split")
    assert "errors" not in doc
    assert sorted(doc["data"]) == ["accuracy", "classes", "logs/loss.tsv", "logs/lr.csv",
                                   "sizes.yaml"]  # fmt: skip
    for plots in doc["data"].values():
        (plot,) = plots
        assert set(plot) == {"type", "revisions", "content", "anchor_definitions"}
        assert plot["type"] == "vega"
        assert plot["content"]["data"] == {"values": "<DVC_METRIC_DATA>"}
        assert plot["content"]["title"] == "<DVC_METRIC_TITLE>"
    loss = doc["data"]["logs/loss.tsv"][0]
    assert loss["revisions"] == ["workspace", "HEAD"]
    anchors = loss["anchor_definitions"]
    assert anchors["<DVC_METRIC_TITLE>"] == "Loss"
    assert anchors["<DVC_METRIC_COLOR>"]["scale"]["domain"] == ["workspace", "HEAD"]
    points = anchors["<DVC_METRIC_DATA>"]
    assert [p["rev"] for p in points].count("workspace") == 4
    assert [p["rev"] for p in points].count("HEAD") == 3
    assert points[0] == {"step": 0, "loss": 0.9, "rev": "workspace",
                         "filename": "logs/loss.tsv", "field": "loss"}  # fmt: skip
    acc = doc["data"]["accuracy"][0]["anchor_definitions"]
    assert acc["<DVC_METRIC_Y_LABEL>"] == "y"
    dash = acc["<DVC_METRIC_STROKE_DASH>"]
    assert dash["field"] == "field" and dash["scale"]["domain"] == ["test", "train"]
    assert len(acc["<DVC_METRIC_DATA>"]) == 2 * 2 * 4  # revisions x fields x rows
    assert all("dvc_inferred_y_value" in p for p in acc["<DVC_METRIC_DATA>"])


def test_each_revision_draws_the_plots_its_dvc_yaml_declares(project: Path, trails: Trails) -> None:
    """HEAD's dvc.yaml declares the loss plot with another title and a
    stage plot; the workspace's declares a plot HEAD does not have. Each
    revision is drawn from its own definitions."""
    workspace = PIPELINE.replace("title: Loss", "title: Loss now").replace(
        "  - sizes.yaml:", "  - logs/lr.csv:\n      title: Rate\n  - sizes.yaml:"
    )
    gen(project, {"dvc.yaml": workspace.split("stages:")[0]})
    doc = _json(trails, "diff", "HEAD", "--split")
    assert "errors" not in doc, doc.get("errors")
    loss = doc["data"]["logs/loss.tsv"][0]
    assert loss["revisions"] == ["workspace", "HEAD"], "declared by both"
    assert loss["anchor_definitions"]["<DVC_METRIC_TITLE>"] == "Loss now", "the first's title"
    lr = doc["data"]["logs/lr.csv"][0]
    assert lr["revisions"] == ["workspace", "HEAD"], "top level here, a stage plot at HEAD"
    gen(project, {"dvc.yaml": workspace.replace("  - accuracy:", "  - old-acc:")})
    git(project, "commit", "-qam", "renamed")
    gen(project, {"dvc.yaml": workspace})
    doc = _json(trails, "diff", "HEAD", "HEAD~1", "--split")
    assert doc["data"]["old-acc"][0]["revisions"] == ["HEAD"], "only where it is declared"
    assert doc["data"]["accuracy"][0]["revisions"] == ["HEAD~1"]
    gen(project, {"dvc.yaml": "plots: [unclosed"})
    git(project, "commit", "-qam", "broken")
    gen(project, {"dvc.yaml": workspace})
    doc = _json(trails, "diff", "HEAD", "HEAD~1", "--split")
    (err,) = doc["errors"]
    assert err["rev"] == "HEAD" and "dvc.yaml" in err["msg"], err
    assert doc["data"]["accuracy"][0]["revisions"] == ["HEAD"], "the workspace's plots"
    assert doc["data"]["old-acc"][0]["revisions"] == ["HEAD~1"]


def test_show_json_without_split_is_complete(project: Path, trails: Trails) -> None:
    doc = _json(trails, "show", "logs/loss.tsv")
    (plot,) = doc["data"]["logs/loss.tsv"]
    assert plot["revisions"] == ["workspace"]
    assert "<DVC_METRIC" not in json.dumps(plot["content"])
    assert len(plot["content"]["data"]["values"]) == 4
    assert list(plot["datapoints"]) == ["workspace"]


def test_a_folder_target_selects_the_plots_in_it_once(project: Path, trails: Trails) -> None:
    assert sorted(_json(trails, "show", "logs", "--split")["data"]) == [
        "logs/loss.tsv",
        "logs/lr.csv",
    ]


def test_a_file_missing_at_a_revision_leaves_it_out(project: Path, trails: Trails) -> None:
    gen(project, {"extra.csv": "a,b\n1,2\n3,4\n"})
    doc = _json(trails, "diff", "HEAD", "--targets", "extra.csv", "--split")
    assert doc["data"]["extra.csv"][0]["revisions"] == ["workspace"]


def test_no_header_names_columns_by_position(project: Path, trails: Trails) -> None:
    gen(project, {"raw.csv": "1,10\n2,20\n3,15\n"})
    doc = _json(trails, "show", "raw.csv", "--no-header", "-x", "0", "-y", "1", "--split")
    points = doc["data"]["raw.csv"][0]["anchor_definitions"]["<DVC_METRIC_DATA>"]
    assert [(p["0"], p["1"]) for p in points] == [(1, 10), (2, 20), (3, 15)]


def test_a_missing_field_is_an_error_entry_not_a_crash(project: Path, trails: Trails) -> None:
    gen(project, {"logs/loss.tsv": "step\tcost\n0\t1\n"})
    doc = _json(trails, "diff", "HEAD", "--targets", "logs/loss.tsv")
    assert doc["data"]["logs/loss.tsv"][0]["revisions"] == ["HEAD"]
    (err,) = doc["errors"]
    assert err["rev"] == "workspace" and err["name"] == "logs/loss.tsv"
    assert "no field 'loss'" in err["msg"]


def _svg_marks(page: str, kind: str) -> list[int]:
    """Per chart of the page, the number of ``kind`` marks (SVG paths)
    vl-convert drew: a line is one path per series, a symbol one per point."""
    counts = []
    for section in page.split('<section class="plot"')[1:]:
        groups = re.findall(rf'<g class="mark-{kind} role-mark[^"]*"[^>]*>(.*?)</g>', section, re.S)
        counts.append(sum(g.count("<path") for g in groups))
    return counts


def test_show_writes_an_offline_page_with_one_chart_per_plot(project: Path, trails: Trails) -> None:
    r = trails("plots", "diff", "HEAD", "-o", "out")
    assert r.code == 0, r.err
    assert r.out.strip() == (project / "out" / "index.html").as_uri()
    page = (project / "out" / "index.html").read_text()
    assert "<script src" not in page and "http://" not in page.replace(
        "http://www.w3.org", ""
    )  # nothing to fetch (the SVG namespace is a name, not a fetch)
    ids = re.findall(r'data-plot-id="([^"]+)"', page)
    assert ids == ["logs/loss.tsv", "accuracy", "classes", "sizes.yaml", "logs/lr.csv"]
    lines = _svg_marks(page, "line")
    assert lines[0] == 2  # a curve per revision
    assert lines[1] == 4  # 2 revisions x train/test
    specs = re.findall(r'<script type="application/json" class="vega-lite-spec">(.*?)</script>',
                       page, re.S)  # fmt: skip
    assert len(specs) == 5 and json.loads(specs[0])["title"] == "Loss"


def test_charts_drawn_once_per_content(project: Path, trails: Trails) -> None:
    """An unchanged chart's SVG comes from ``.dvc/tmp/trails/plots-svg``
    (vl-convert is not asked again); a changed one is drawn anew."""
    assert trails("plots", "show", "logs/loss.tsv", "accuracy", "-o", "out").code == 0
    cache = project / ".dvc" / "tmp" / "trails" / "plots-svg"
    first = sorted(cache.iterdir())
    assert len(first) == 2 and all(p.read_text().startswith("<svg") for p in first)
    for p in first:  # marked, so that a page built from the cache shows it
        p.write_text(p.read_text().replace("<svg", "<svg data-from-cache='1'", 1))
    assert trails("plots", "show", "logs/loss.tsv", "accuracy", "-o", "out").code == 0
    page = (project / "out" / "index.html").read_text()
    assert page.count("data-from-cache='1'") == 2, "both charts reused"
    gen(project, {"logs/loss.tsv": _tsv([0.8, 0.3])})
    assert trails("plots", "show", "logs/loss.tsv", "accuracy", "-o", "out").code == 0
    page = (project / "out" / "index.html").read_text()
    assert page.count("data-from-cache='1'") == 1, "the changed chart drawn again"
    assert len(list(cache.iterdir())) == 3
    assert trails("plots", "show", "accuracy", "--format", "svg", "-o", "img").code == 0
    assert "data-from-cache" in (project / "img" / "accuracy.svg").read_text()


def test_images_one_file_per_plot(project: Path, trails: Trails) -> None:
    assert trails("plots", "show", "--format", "svg", "-o", "img").code == 0
    names = sorted(p.name for p in (project / "img").iterdir())
    assert names == ["accuracy.svg", "classes.svg", "logs_loss.tsv.svg", "logs_lr.csv.svg",
                     "sizes.yaml.svg"]  # fmt: skip
    assert (project / "img" / "accuracy.svg").read_text().startswith("<svg")
    assert trails("plots", "show", "logs/lr.csv", "--format", "png", "-o", "img").code == 0
    assert (project / "img" / "logs_lr.csv.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_templates_list_print_write(project: Path, trails: Trails) -> None:
    r = trails("plots", "templates")
    assert r.out.split() == [
        *("linear", "simple", "scatter", "smooth", "confusion", "confusion_normalized"),
        *("bar_horizontal", "bar_horizontal_sorted"),
    ]
    spec = json.loads(trails("plots", "templates", "smooth").out)
    assert spec["data"] == {"values": "<DVC_METRIC_DATA>"}
    r = trails("plots", "templates", "-o", "tpl")
    assert r.code == 0 and len(list((project / "tpl").glob("*.json"))) == 8
    r = trails("plots", "templates", "linaer")
    assert r.code == 1 and "no template named 'linaer'" in r.err and "linear" in r.err


def test_a_custom_template_from_dvc_plots(project: Path, trails: Trails) -> None:
    spec = json.loads(trails("plots", "templates", "simple").out)
    spec["title"] = "custom <DVC_METRIC_TITLE>"  # not an anchor: kept as is
    gen(project, {".dvc/plots/mine.json": json.dumps(spec)})
    doc = _json(trails, "show", "logs/loss.tsv", "-t", "mine")
    assert doc["data"]["logs/loss.tsv"][0]["content"]["title"] == "custom <DVC_METRIC_TITLE>"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("  - ../outside.csv\n", "is outside the project"),
        ("  - .git/config\n", "inside .git/"),
        ("  - p:\n      y: {../x.csv: a}\n", "is outside the project"),
        ("  - p:\n      colour: red\n", "unknown plot property 'colour'"),
    ],
)
def test_bad_definitions_are_refused_with_the_file_and_line(
    repo: Path, trails: Trails, entry: str, message: str
) -> None:
    assert trails("init").code == 0
    gen(repo, {"dvc.yaml": "plots:\n  - a.csv\n" + entry, "a.csv": "x\n1\n"})
    r = trails("plots", "show", "--json")
    assert r.code == 1 and message in r.err and "dvc.yaml:3" in r.err
    assert "Traceback" not in r.err


def _trained(repo: Path, trails: Trails, writes: str, plots: str) -> None:
    """A committed baseline whose stage reads ``lr`` and runs ``writes``
    (Python), declaring ``plots`` (the YAML of one plots entry)."""
    train = f"import os, yaml\nlr = yaml.safe_load(open('params.yaml'))['lr']\n{writes}"
    stage = (
        f"stages:\n  train:\n    cmd: {sys.executable} train.py\n    deps: [train.py]\n"
        f"    params: [lr]\n    plots:\n      - {plots}\n"
    )
    baseline(repo, trails, {"train.py": train, "dvc.yaml": stage, "params.yaml": "lr: 1.0\n"})


def test_diff_of_experiments_by_name(repo: Path, trails: Trails) -> None:
    writes = (
        "open('loss.tsv', 'w').write('step\\tloss\\n' + "
        "''.join(f'{i}\\t{lr / (i + 1)}\\n' for i in range(3)))\n"
    )
    _trained(repo, trails, writes, "loss.tsv:\n          cache: false")
    for lr, name in (("2.0", "high"), ("0.5", "low")):
        r = trails("exp", "run", "-S", f"lr={lr}", "--name", name)
        assert r.code == 0, r.err
    doc = _json(trails, "diff", "HEAD", "high", "low", "--split")
    loss = doc["data"]["loss.tsv"][0]
    assert loss["revisions"] == ["HEAD", "high", "low"]
    firsts = {p["rev"]: p["loss"] for p in loss["anchor_definitions"]["<DVC_METRIC_DATA>"]
              if p["step"] == 0}  # fmt: skip
    assert firsts == {"HEAD": 1.0, "high": 2.0, "low": 0.5}
    r = trails("plots", "diff", "HEAD", "hihg")
    assert r.code == 1 and "'hihg' is neither a Git revision nor an experiment" in r.err
    assert "high" in r.err


def test_without_the_plots_extra_one_line_names_it(project: Path) -> None:
    """What trails does not draw itself (PNG images) needs vl-convert."""
    code = (
        "import sys; sys.modules['vl_convert'] = None\n"
        "from trails.cli import main; main(['plots', 'show', '--format', 'png'])\n"
    )
    import subprocess

    r = subprocess.run([sys.executable, "-c", code], cwd=project, capture_output=True, text=True)
    assert r.returncode == 1
    assert "pip install 'trails[plots]'" in r.stderr and "Traceback" not in r.stderr
    assert not (project / "dvc_plots").exists()


def test_cached_plot_outputs_of_experiments_come_from_the_cache(repo: Path, trails: Trails) -> None:
    writes = (
        "os.makedirs('curves', exist_ok=True)\n"
        "for name in ('loss', 'acc'):\n"
        "    open(f'curves/{name}.csv', 'w').write('v\\n' + f'{lr}\\n{lr / 2}\\n')\n"
    )
    _trained(repo, trails, writes, "curves")
    assert "curves" not in git(repo, "ls-files")
    assert trails("exp", "run", "-S", "lr=4.0", "--name", "big").code == 0
    doc = _json(trails, "diff", "HEAD", "big", "--split")
    assert sorted(doc["data"]) == ["curves/acc.csv", "curves/loss.csv"]
    points = doc["data"]["curves/loss.csv"][0]["anchor_definitions"]["<DVC_METRIC_DATA>"]
    assert [(p["rev"], p["v"]) for p in points] == [("HEAD", 1.0), ("HEAD", 0.5),
                                                    ("big", 4.0), ("big", 2.0)]  # fmt: skip


def test_nothing_is_read_or_written_outside_the_project(
    project: Path, trails: Trails, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n42\n")
    (project / "leak.csv").symlink_to(secret)
    doc = _json(trails, "show", "leak.csv", "logs/lr.csv")
    assert list(doc["data"]) == ["logs/lr.csv"]  # the link out of the project is not followed
    r = trails("plots", "show", "-o", str(tmp_path / "elsewhere"))
    assert r.code == 1 and "is outside the project" in r.err
    assert not (tmp_path / "elsewhere").exists()


def test_image_plots_per_revision_where_the_extension_reads_them(
    repo: Path, trails: Trails
) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"head"
    assert trails("init").code == 0
    gen(repo, {"dvc.yaml": "plots:\n  - eval/cm.png\n", "eval/cm.png": png})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    gen(repo, {"eval/cm.png": png + b"-new"})
    doc = _json(trails, "diff", "HEAD", "--split", "-o", ".dvc/tmp/plots")
    shots = doc["data"]["eval/cm.png"]
    assert [(s["type"], s["revisions"]) for s in shots] == [
        ("image", ["workspace"]),
        ("image", ["HEAD"]),
    ]
    got = [Path(s["url"]).read_bytes() for s in shots]
    assert got == [png + b"-new", png]
    assert all(Path(s["url"]).parent == repo / ".dvc" / "tmp" / "plots" for s in shots)
    r = trails("plots", "diff", "HEAD", "-o", ".dvc/config-out")
    assert r.code == 1 and "inside .dvc/" in r.err  # only the extension's folder
    assert trails("plots", "diff", "HEAD", "-o", "out").code == 0
    page = (repo / "out" / "index.html").read_text()
    assert page.count('<img alt="eval/cm.png at ') == 2 and "data:image/png;base64," in page


def test_pipeline_files_are_parsed_once_per_text(project: Path, trails: Trails) -> None:
    """The parsed dvc.yaml is kept by its text (``yamlmemo``): the second
    answer is the first, an edited file is read anew, a damaged memo is
    ignored and rewritten."""
    first = trails("plots", "diff", "HEAD", "--json", "--split")
    memo = project / ".dvc" / "tmp" / "trails" / "yaml-memo.json"
    assert first.code == 0 and PIPELINE in json.loads(memo.read_text())["entries"][0]["text"]
    again = trails("plots", "diff", "HEAD", "--json", "--split")
    assert again.code == 0 and again.out == first.out
    gen(project, {"dvc.yaml": PIPELINE.replace("title: Loss", "title: Losses")})
    doc = _json(trails, "diff", "HEAD")
    assert doc["data"]["logs/loss.tsv"][0]["content"]["title"] == "Losses"
    memo.write_text('{"version": 1, "entries": [{"text": 3}, [')
    gen(project, {"dvc.yaml": PIPELINE})
    damaged = trails("plots", "diff", "HEAD", "--json", "--split")
    assert damaged.code == 0 and damaged.out == first.out
    assert json.loads(memo.read_text())["version"] == 1


def test_what_json_cannot_hold_is_parsed_each_time(repo: Path, trails: Trails) -> None:
    """A YAML key that is a number stays a number on the second run (JSON
    would have made it the string "1", a file name): such a text is not kept."""
    assert trails("init").code == 0
    gen(repo, {"dvc.yaml": "plots:\n  - p:\n      y: {1: a}\n", "1": "a\n1\n"})
    for _ in range(2):
        r = trails("plots", "show", "--json")
        assert r.code == 1 and "dvc.yaml:2: a plot's file must be a path, not 1" in r.err, r.err


def test_bad_definitions_name_their_line_from_the_memo_too(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, {"dvc.yaml": "plots:\n  - a.csv\n  - p:\n      colour: red\n", "a.csv": "x\n1\n"})
    for _ in range(2):
        r = trails("plots", "show", "--json")
        assert r.code == 1 and "dvc.yaml:3: unknown plot property 'colour'" in r.err, r.err


def test_many_revisions_of_long_paths_through_one_git_reader(repo: Path, trails: Trails) -> None:
    """More questions than one chunk of the object reader holds (16 KiB:
    30 revisions x 2 files of ~300-byte paths, one with spaces), one revision
    lacking a file: the same answer as one ``cat-file`` call per round."""
    assert trails("init").code == 0
    deep = "/".join(["a folder"] * 30) + "/loss.tsv"
    other = "/".join(["b"] * 130) + "/acc.csv"
    gen(repo, {"dvc.yaml": f"plots:\n  - {deep}\n  - {other}\n"})
    for i in range(30):
        gen(repo, {deep: _tsv([1.0 / (i + 1), 0.5])})
        if i != 7:
            gen(repo, {other: f"acc\n{i}\n"})
        elif (repo / other).exists():
            (repo / other).unlink()
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"r{i}")
        git(repo, "tag", f"r{i}")
    doc = _json(trails, "diff", *[f"r{i}" for i in range(30)])
    assert doc["data"][deep][0]["revisions"] == [f"r{i}" for i in range(30)]
    assert doc["data"][other][0]["revisions"] == [f"r{i}" for i in range(30) if i != 7]
    assert [p["loss"] for p in doc["data"][deep][0]["datapoints"]["r29"]] == [1.0 / 30, 0.5]


def test_a_broken_object_reader_falls_back_to_one_call_per_round(project: Path) -> None:
    """A reader process that died (or a Git without ``--batch-command``)
    answers nothing wrong: the round is asked the one-shot way."""
    from trails import git as git_mod

    g = git_mod.Git(project)
    with g.one_reader():
        assert g.object_types(["HEAD^{commit}", "HEAD:nothing"])[1] is None
        reader = git_mod._READERS[project]
        assert reader is not None and reader.proc is not None
        reader.proc.kill()
        reader.proc.wait()
        assert g.read_blobs(["HEAD:logs/lr.csv", "HEAD:nothing"]) == [b"lr\n0.1\n0.05\n", None]
        assert project not in git_mod._READERS  # the rest of the block: one-shot calls
    assert project not in git_mod._READERS


def test_csv_cells_are_numbers_cell_by_cell(repo: Path, trails: Trails) -> None:
    """A column is converted at once where it can be, with the values a
    cell at a time gives: integers stay integers beside fractions, text
    stays text, a short row keeps the fields it has."""
    assert trails("init").code == 0
    gen(repo, {
        "dvc.yaml": "plots:\n  - t.csv:\n      x: a\n      y: b\n  - r.csv:\n      y: b\n",
        "t.csv": "a,b,c,d\n1,1.5,x,1e3\n2,2,3,7\n3,0.25,4,-2.5\n",
        "r.csv": "a,b\n1,2\n3\n",
    })  # fmt: skip
    doc = _json(trails, "show")
    rows = doc["data"]["t.csv"][0]["datapoints"]["workspace"]
    assert [(r["a"], r["b"], r["c"], r["d"]) for r in rows] == [
        (1, 1.5, "x", 1000.0), (2, 2, 3, 7), (3, 0.25, 4, -2.5)
    ]  # fmt: skip
    assert [type(r["b"]) for r in rows] == [float, int, float]
    short = doc["data"]["r.csv"][0]["datapoints"]["workspace"]
    assert [(r["a"], r.get("b")) for r in short] == [(1, 2), (3, None)]
