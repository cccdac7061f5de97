"""``trails.api``: params_show, exp_show (same rows as ``exp show --json``),
make_checkpoint outside a run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result, exp_rows, gen

Trails = Callable[..., Result]


def _api(repo: Path, code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", f"import json\nfrom trails import api\n{code}"],
        cwd=repo, capture_output=True, text=True, check=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("DVC_")},
    )  # fmt: skip
    return out.stdout


def test_params_show_and_exp_show(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, {
        "params.yaml": "lr: 0.1\nmodel:\n  units: 8\n",
        "other.toml": "[opt]\nmomentum = 0.9\n",
        "dvc.yaml": "stages:\n  s:\n    cmd: echo\n    params: [lr, other.toml:opt.momentum]\n",
    })  # fmt: skip
    got = json.loads(_api(repo, "print(json.dumps(api.params_show()))"))
    assert got == {"lr": 0.1, "model": {"units": 8}, "opt": {"momentum": 0.9}}
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "b"], cwd=repo,
        check=True,
    )  # fmt: skip
    assert trails("exp", "save", "-n", "one").code == 0
    rows = json.loads(_api(repo, "print(json.dumps(api.exp_show()))"))
    assert rows == exp_rows(trails("exp", "show", "--json").out)
    assert [r["name"] for r in rows] == [None, None, "one"]


def test_make_checkpoint_outside_a_run_returns_at_once(repo: Path) -> None:
    assert _api(repo, "api.make_checkpoint(); print('done')").strip() == "done"
    assert not (repo / ".dvc" / "tmp" / "DVC_CHECKPOINT").exists()
