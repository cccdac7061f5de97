"""``--executor`` without a cluster: Ray not installed, bad resources, a
bad executor in the config; each one message, exit 1, the queue as it was."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result, baseline, git

Trails = Callable[..., Result]

FILES = {"dvc.yaml": "stages:\n  s:\n    cmd: echo hi > out\n    outs: [out]\n"}


def _queued(repo: Path, trails: Trails) -> None:
    baseline(repo, trails, FILES)
    assert trails("exp", "run", "--queue").code == 0


def test_without_ray_it_names_the_extra(repo: Path, trails: Trails, tmp_path: Path) -> None:
    _queued(repo, trails)
    shim = tmp_path / "shim" / "ray"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    r = trails("exp", "run", "--run-all", "--executor", "ray", env={"PYTHONPATH": str(shim.parent)})
    assert r.code == 1, r.out + r.err
    assert r.err.strip().splitlines() == [
        "Error: --executor ray needs Ray, not installed: pip install 'trails[ray]'"
    ]
    assert git(repo, "for-each-ref", "refs/exps/queue") != "", "the entry stays queued"
    r = trails("queue", "start", "--executor", "ray", env={"PYTHONPATH": str(shim.parent)})
    assert r.code == 1 and "pip install 'trails[ray]'" in r.err


def test_bad_resources_and_executor_are_one_message(repo: Path, trails: Trails) -> None:
    _queued(repo, trails)
    r = trails("exp", "run", "--run-all", "--executor", "ray", "--resources", "num_gpus=lots")
    assert r.code == 1 and "--resources: 'num_gpus=lots' is not NAME=AMOUNT" in r.err, r.err
    assert "Traceback" not in r.err
    r = trails("exp", "run", "--executor", "ray")
    assert r.code == 2 and "--executor, --address and --resources go with --run-all" in r.err
    r = trails("exp", "run", "--run-all", "--address", "127.0.0.1:1")
    assert r.code == 1 and "--address and --resources need --executor ray" in r.err
    (repo / ".dvc" / "config").write_text("[exp]\n    executor = slurm\n")
    r = trails("exp", "run", "--run-all")
    assert r.code == 1 and "[exp] executor = slurm: not an executor" in r.err, r.err
    assert git(repo, "for-each-ref", "refs/exps/queue") != ""
