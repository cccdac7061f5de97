"""What user code imports: ``from trails.api import params_show, exp_show,
make_checkpoint``. Same names and meaning as the reference tool's
``dvc.api`` functions of the same names."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

SIGNAL_FILE = "DVC_CHECKPOINT"


def params_show(*targets: str, repo: str | None = None) -> dict[str, Any]:
    """The params the workspace's stages read, merged from their files (or
    only from ``targets`` files), as nested dicts."""
    from trails import params
    from trails.experiments import show
    from trails.pipeline import load_graph
    from trails.project import Project

    project = Project.find(Path(repo) if repo else None)
    files = show.files_of(project, load_graph(project)).params
    out: dict[str, Any] = {}
    for f in targets or files:
        path = project.root / f
        if path.exists():
            out.update(params.load_file(path, f))
    return out


def exp_show(repo: str | None = None, num: int = 1) -> list[dict[str, Any]]:
    """The rows of ``trails exp show --json``: the workspace, each baseline
    and its experiments, with their params and metrics."""
    from trails.cli.exp import _baselines, collect_rows, rows_json
    from trails.git import Git
    from trails.project import Project

    project = Project.find(Path(repo) if repo else None)
    git = Git(project.root)
    rows, _ = collect_rows(project, _baselines(git, False, False, False, num, ()), False)
    return rows_json(rows)


def make_checkpoint() -> None:
    """Signal a checkpoint: create ``$DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT`` and
    wait until trails has recorded it and removed the file. Outside a
    trails (or DVC) run, ``DVC_CHECKPOINT`` is unset and this returns at
    once, so training code can call it unconditionally."""
    root = os.environ.get("DVC_ROOT")
    if not root or os.environ.get("DVC_CHECKPOINT") != "1":
        return
    signal = Path(root) / ".dvc" / "tmp" / SIGNAL_FILE
    signal.parent.mkdir(parents=True, exist_ok=True)
    signal.touch()
    while signal.exists():
        time.sleep(0.01)
