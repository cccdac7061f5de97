"""Differential: where the reference tool answers the same call of the VS
Code DVC extension, its JSON and trails' have the same structure (keys,
nesting, value types) on the same project. DVC 3.67.1 runs from its own
virtualenv (``benches/work/dvc-venv``, built as ``make bench`` builds it);
the test is skipped, saying why, only when that cannot be built."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import git, run_trails

pytestmark = pytest.mark.slow

BENCHES = Path(__file__).resolve().parent.parent / "benches"
PY = os.path.realpath(sys.executable)

FILES = {
    "train.py": "import json, yaml\np = yaml.safe_load(open('params.yaml'))\n"
                "m = {'acc': p['train']['lr'], 'nested': {'x': 1}}\n"
                "json.dump(m, open('metrics.json', 'w'))\n"
                "open('model.bin', 'w').write('m')\n",
    "dvc.yaml": f"stages:\n  train:\n    cmd: {PY} train.py\n    deps: [data, train.py]\n"
                "    params: [train.lr]\n    outs: [model.bin]\n"
                "    metrics: [{metrics.json: {cache: false}}]\n",
    "params.yaml": "train:\n  lr: 0.1\n  epochs: 3\n",
    "data/a": "1\n",
    "data/b": "2\n",
    "raw/x": "r\n",
}  # fmt: skip

#: Keys whose value may be null on one side and set on the other:
#: ``meta`` holds ``has_checkpoints`` only where DVC 2 had checkpoints. (A
#: queued entry's name is not one: both tools name it when it is queued.)
LOOSE = {"meta"}


@pytest.fixture(scope="module")
def dvc() -> Path:
    sys.path.insert(0, str(BENCHES))
    try:
        bench_dvc = importlib.import_module("bench_dvc")
        return Path(bench_dvc.ensure_dvc(bench_dvc.DVC_VENV))
    except (OSError, subprocess.CalledProcessError, RuntimeError) as exc:
        pytest.skip(f"cannot build the reference tool's virtualenv: {exc}")
    finally:
        sys.path.remove(str(BENCHES))


def _project(root: Path, tool: list[str]) -> None:
    root.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)

    def run(*args: str) -> str:
        who = {f"GIT_{r}_{f}": v for r in ("AUTHOR", "COMMITTER")
               for f, v in (("NAME", "t"), ("EMAIL", "t@t"))}  # fmt: skip
        env = {**os.environ, "DVC_NO_ANALYTICS": "1", **who}
        p = subprocess.run([*tool, *args], cwd=root, capture_output=True, text=True, env=env)
        assert p.returncode == 0, f"{tool[-1]} {' '.join(args)}: {p.stderr}"
        return p.stdout

    run("init")
    for rel, text in FILES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    run("add", "raw")
    run("repro")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "baseline")
    run("exp", "run", "-S", "train.lr=0.2")
    run("exp", "run", "--queue", "-S", "train.lr=0.3")


def shape(value: Any, key: str = "") -> Any:
    """The structure of a JSON value: keys (trails' own ``trails`` left
    out), nesting and the type of each leaf."""
    if key in LOOSE:
        return "loose"
    if isinstance(value, dict):
        return {k: shape(v, k) for k, v in value.items() if k != "trails"}
    if isinstance(value, list):
        return [shape(v) for v in value]
    return {bool: "bool", int: "number", float: "number", str: "string"}.get(type(value), "null")


def test_exp_show_json_has_the_reference_tools_structure(dvc: Path, tmp_path: Path) -> None:
    _project(tmp_path / "dvc", [str(dvc)])
    _project(tmp_path / "trails", [sys.executable, "-m", "trails"])
    head = git(tmp_path / "dvc", "rev-parse", "HEAD").strip()
    theirs = json.loads(subprocess.run(
        [dvc, "exp", "show", "-n", "1", "--json"], cwd=tmp_path / "dvc", capture_output=True,
        text=True, check=True, env={**os.environ, "DVC_NO_ANALYTICS": "1"},
    ).stdout)  # fmt: skip
    r = run_trails("exp", "show", "-n", "1", "--json", cwd=tmp_path / "trails")
    assert r.code == 0, r.err
    ours = json.loads(r.out)
    assert len(theirs) == len(ours) == 2 and theirs[1]["rev"] == head
    assert shape(ours) == shape(theirs)
    # the values that do not depend on the hash kind agree too
    for a, b in zip(ours, theirs, strict=True):
        assert a["data"]["params"] == b["data"]["params"]
        assert a["data"]["metrics"] == b["data"]["metrics"]
        assert {k: v["nfiles"] for k, v in a["data"]["deps"].items()} == {
            k: v["nfiles"] for k, v in b["data"]["deps"].items()
        }
