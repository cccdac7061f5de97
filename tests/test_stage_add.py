"""`trails stage add` through the real CLI: the stage written with every
flag, the user's comments and order kept, bad additions refused with the
file untouched."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, gen
from trails import yamlio

Trails = Callable[..., Result]

ORIGINAL = (
    "# my pipeline\nstages:\n  prep:  # first stage\n    cmd: echo hi > a.txt\n    outs: [a.txt]\n"
)


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    assert trails("init").code == 0
    gen(repo, {"dvc.yaml": ORIGINAL})
    return repo


def test_stage_add_writes_every_kind_of_entry(project: Path, trails: Trails) -> None:
    r = trails(
        "stage", "add", "-n", "train", "-d", "a.txt", "-p", "lr,epochs", "-p", "cfg.toml:x",
        "-o", "model.pt", "-O", "log.txt", "--outs-persist", "state", "-c", "ckpt.pt",
        "-m", "m.json", "-M", "mm.json", "--plots", "p.csv", "--plots-no-cache", "pp.csv",
        "-w", ".", "--always-changed", "--desc", "trains", "python", "train.py", "--lr", "3",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert "Added stage 'train' to 'dvc.yaml'" in r.out
    text = (project / "dvc.yaml").read_text()
    assert text.startswith(ORIGINAL), "comments and existing stages untouched"
    train = yamlio.loads(text)["stages"]["train"]
    assert train == {
        "cmd": "python train.py --lr 3",
        "wdir": ".",
        "deps": ["a.txt"],
        "params": ["lr", "epochs", {"cfg.toml": ["x"]}],
        "outs": [
            "model.pt",
            {"log.txt": {"cache": False}},
            {"state": {"persist": True}},
            {"ckpt.pt": {"checkpoint": True}},
        ],
        "metrics": ["m.json", {"mm.json": {"cache": False}}],
        "plots": ["p.csv", {"pp.csv": {"cache": False}}],
        "always_changed": True,
        "desc": "trains",
    }
    assert trails("dag").out.splitlines()[-1] == "train  <- prep"


def test_existing_name_needs_force(project: Path, trails: Trails) -> None:
    r = trails("stage", "add", "-n", "prep", "echo", "x")
    assert r.code == 1
    assert "Error: dvc.yaml: stage 'prep' already exists" in r.err
    assert (project / "dvc.yaml").read_text() == ORIGINAL
    r = trails("stage", "add", "-f", "-n", "prep", "-o", "b.txt", "echo", "x", ">", "b.txt")
    assert r.code == 0, r.err
    assert yamlio.load(project / "dvc.yaml")["stages"]["prep"]["cmd"] == "echo x > b.txt"


def test_an_addition_that_breaks_the_graph_changes_nothing(project: Path, trails: Trails) -> None:
    r = trails("stage", "add", "-n", "dup", "-o", "a.txt", "echo")
    assert r.code == 1
    assert "output 'a.txt' is declared by both stage 'prep'" in r.err
    assert (project / "dvc.yaml").read_text() == ORIGINAL
    r = trails("stage", "add", "-n", "bad@name", "echo")
    assert r.code == 1
    assert "stage name 'bad@name' may not contain '@'" in r.err


def test_stage_add_run(project: Path, trails: Trails) -> None:
    r = trails("stage", "add", "--run", "-n", "hello", "-o", "h.txt", "echo hello > h.txt")
    assert r.code == 0, r.err
    assert (project / "h.txt").read_text() == "hello\n"
    assert "hello:" in (project / "dvc.lock").read_text()


def test_stage_add_in_a_subfolder(project: Path, trails: Trails) -> None:
    from tests.conftest import run_trails

    (project / "sub").mkdir()
    r = run_trails("stage", "add", "-n", "s", "-o", "o", "touch o", cwd=project / "sub")
    assert r.code == 0, r.err
    assert "Added stage 's' to 'sub/dvc.yaml'" in r.out
    assert "sub/dvc.yaml:s" in trails("dag").out
