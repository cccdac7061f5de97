"""The sharing scenario the remote tests run against each kind of remote:
push from one clone, ``exp pull`` + ``pull`` in a second clone of a bare
Git remote, ``exp apply``, outputs byte-identical."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result, baseline, gen, git, run_trails

PY = sys.executable
PIPELINE = f"""\
stages:
  train:
    cmd: {PY} train.py
    deps: [train.py, data]
    params: [lr]
    outs: [model.bin, feats]
"""
TRAIN = (
    "import os, re\n"
    "lr = float(re.search(r'lr: (\\S+)', open('params.yaml').read()).group(1))\n"
    "open('model.bin', 'wb').write(os.urandom(3000) + str(lr).encode())\n"
    "os.makedirs('feats', exist_ok=True)\n"
    "for i in range(20):\n"
    "    open(f'feats/{i}.txt', 'w').write(f'{i} {lr}\\n' * (i + 1))\n"
)
DATA = {f"data/{i:03}.csv": f"row,{i}\n" * (i + 3) for i in range(60)}


def snapshot(
    root: Path, paths: tuple[str, ...] = ("model.bin", "feats", "data")
) -> dict[str, bytes]:
    out = {}
    for p in paths:
        q = root / p
        files = [q] if q.is_file() else sorted(f for f in q.rglob("*") if f.is_file())
        out.update({f.relative_to(root).as_posix(): f.read_bytes() for f in files})
    return out


def project(repo: Path, trails: Callable[..., Result], setup: Callable[[Path], None]) -> Path:
    """A committed project with a data set (``add``), a pipeline with a
    file and a folder output, the remote set up by ``setup`` (committed),
    and a bare Git remote ``origin``."""
    gen(repo, {"dvc.yaml": PIPELINE, "train.py": TRAIN, "params.yaml": "lr: 0.1\n", **DATA})
    baseline(repo, trails, {}, add=("data",))
    setup(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "remote")
    bare = repo.parent / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "HEAD:main")
    return bare


def clone(bare: Path, dest: Path, local_config: Path | None = None) -> Path:
    subprocess.run(["git", "clone", "-q", "-b", "main", str(bare), str(dest)], check=True)
    if local_config is not None:
        shutil.copy(local_config, dest / ".dvc" / "config.local")
    return dest


def share(repo: Path, trails: Callable[..., Result], setup: Callable[[Path], None]) -> Path:
    """Run the scenario; returns the second clone."""
    bare = project(repo, trails, setup)
    base = snapshot(repo)
    r = trails("push")
    assert r.code == 0, r.err
    assert "files pushed, 0 already there" in r.out
    again = trails("push")
    assert again.out.startswith("0 files pushed, "), again.out
    assert trails("status", "-c").out.strip() == "Cache and remote 'store' are in sync."
    assert trails("exp", "run", "-S", "lr=0.7", "-n", "fast").code == 0
    fast = snapshot(repo, ("model.bin", "feats"))
    r = trails("exp", "push", "origin", "fast")
    assert r.code == 0, r.err
    # data and feats/ unchanged are there already; model.bin and feats/ files are new
    assert "already there" in r.out and not r.out.startswith("0 files")
    local = repo / ".dvc" / "config.local"
    other = clone(bare, repo.parent / "other", local if local.exists() else None)

    def in_other(*args: str) -> Result:
        return run_trails(*args, cwd=other)

    r = in_other("status", "-c")
    assert r.code == 0 and "deleted:" in r.out and "data" in r.out, r.out
    r = in_other("pull")
    assert r.code == 0, r.err
    assert snapshot(other) == base
    r = in_other("exp", "pull", "origin", "fast")
    assert r.code == 0, r.err
    assert "fetched" in r.out
    r = in_other("exp", "apply", "fast")
    assert r.code == 0, r.err
    assert snapshot(other, ("model.bin", "feats")) == fast
    return other
