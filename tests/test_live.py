"""``trails.live.Live``: DVCLive's files, the extension's step signal,
checkpoints per step in ``exp run``, and ``plots`` drawing what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import Result, gen, git
from trails.live import STEP_SIGNAL, Live, LiveError

Trails = Callable[..., Result]


def test_files_in_dvclives_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".dvc").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DVC_ROOT", raising=False)
    with Live() as live:
        live.log_params({"lr": 0.1, "model": {"units": 8}})
        live.log_param("epochs", 2)
        for step in range(2):
            live.log_metric("train/loss", 1.0 / (step + 1))
            live.log_metric("acc", step / 2, plot=False)
            live.next_step()
            signal = json.loads((tmp_path / STEP_SIGNAL).read_text())
            assert signal["step"] == step and isinstance(signal["pid"], int)
    d = tmp_path / "dvclive"
    assert json.loads((d / "metrics.json").read_text()) == {
        "train": {"loss": 0.5},
        "acc": 0.5,
        "step": 1,
    }
    tsv = (d / "plots" / "metrics" / "train" / "loss.tsv").read_text()
    assert tsv == "step\ttrain/loss\n0\t1.0\n1\t0.5\n"
    assert not (d / "plots" / "metrics" / "acc.tsv").exists()
    assert yaml.safe_load((d / "params.yaml").read_text()) == {
        "lr": 0.1,
        "model": {"units": 8},
        "epochs": 2,
    }
    assert not (tmp_path / STEP_SIGNAL).exists()  # end() removes it
    Live()  # a new run starts clean
    assert not (d / "metrics.json").exists() and not (d / "plots" / "metrics").exists()


def test_a_queued_run_signals_the_project_it_runs_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = tmp_path / ".dvc" / "tmp" / "exps" / "abc123"
    run.mkdir(parents=True)
    monkeypatch.chdir(run)
    monkeypatch.setenv("DVC_ROOT", str(run))
    live = Live()
    live.next_step()
    assert json.loads((tmp_path / STEP_SIGNAL).read_text())["step"] == 0
    assert not (run / STEP_SIGNAL).exists()


def test_bad_values_and_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    live = Live()
    with pytest.raises(LiveError, match="metric 'x': str is not a number"):
        live.log_metric("x", "high")
    with pytest.raises(LiveError, match="must be a relative name"):
        live.log_metric("../../escape", 1)
    live.log_metric("nan", float("nan"))
    assert (tmp_path / "dvclive/plots/metrics/nan.tsv").read_text().endswith("0\tnan\n")


def test_import_is_light() -> None:
    code = (
        "import sys, trails.live\n"
        "heavy = {'rich', 'click', 'yaml', 'msgspec', 'trails._core', 'trails.api'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


TRAIN = """\
import os
from trails.live import Live

epochs = int(os.environ.get("EPOCHS", "3"))
with Live(checkpoint=True) as live:
    live.log_param("epochs", epochs)
    for _ in range(epochs):
        live.log_metric("loss", 1.0 / (live.step + 1))
        open("model.txt", "w").write(str(live.step))
        live.next_step()
"""

STAGE = f"""\
stages:
  train:
    cmd: {sys.executable} train.py
    deps: [train.py]
    outs:
      - model.txt:
          checkpoint: true
    metrics:
      - dvclive/metrics.json:
          cache: false
          persist: true
    plots:
      - dvclive/plots/metrics:
          cache: false
          persist: true
          x: step
"""


def test_checkpoint_per_step_in_exp_run_and_plots_draw_it(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, {"train.py": TRAIN, "dvc.yaml": STAGE})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    r = trails("exp", "run", "--name", "live")
    assert r.code == 0, r.err
    (ref,) = git(repo, "for-each-ref", "--format=%(refname)", "refs/exps/").split()
    chain = git(repo, "rev-list", ref, "^HEAD").split()
    assert len(chain) == 3  # a checkpoint per step
    steps = [json.loads(git(repo, "show", f"{c}:dvclive/metrics.json"))["step"] for c in chain]
    assert steps == [2, 1, 0]
    tsv = git(repo, "show", f"{chain[0]}:dvclive/plots/metrics/loss.tsv")
    assert tsv.splitlines() == ["step\tloss", "0\t1.0", "1\t0.5", "2\t0.3333333333333333"]
    # a second run continues the chain and the curve from step 3
    r = trails("exp", "run", env={"EPOCHS": "2"})
    assert r.code == 0, r.err
    tsv = (repo / "dvclive/plots/metrics/loss.tsv").read_text().splitlines()
    assert [row.split("\t")[0] for row in tsv[1:]] == ["0", "1", "2", "3", "4"]
    doc = json.loads(trails("plots", "diff", chain[1][:10], "live", "--json", "--split").out)
    (plot,) = doc["data"]["dvclive/plots/metrics/loss.tsv"]
    points = plot["anchor_definitions"]["<DVC_METRIC_DATA>"]
    assert plot["revisions"] == [chain[1][:10], "live"]
    assert [p["step"] for p in points if p["rev"] == chain[1][:10]] == [0, 1]
    assert [p["step"] for p in points if p["rev"] == "live"] == [0, 1, 2, 3, 4]


def test_log_artifact_adds_outside_a_stage_only(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, {"model.bin": "weights", "other.bin": "more"})
    script = (
        "import os, sys\n"
        "from trails.live import Live, LiveError\n"
        "live = Live()\n"
        "live.log_artifact('model.bin')\n"
        "os.environ['DVC_ROOT'] = os.getcwd()  # as inside a stage: the stage declares it\n"
        "live.log_artifact('other.bin')\n"
        "try:\n"
        "    live.log_artifact('missing.bin')\n"
        "except LiveError as exc:\n"
        "    print(exc)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DVC_ROOT"}
    r = subprocess.run([sys.executable, "-c", script], cwd=repo, capture_output=True, text=True,
                       env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "log_artifact: 'missing.bin' does not exist" in r.stdout
    assert (repo / "model.bin.dvc").is_file() and not (repo / "other.bin.dvc").exists()
