"""What user code imports: ``from trails.api import params_show, exp_show,
make_checkpoint``. Same names and meaning as the reference tool's
``dvc.api`` functions of the same names."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from trails.errors import TrailsError
from trails.pids import alive
from trails.repro.signal import WATCHER_PID, signal_path


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
    from trails.experiments.rows import collect_rows, rows_json, select_baselines
    from trails.git import Git
    from trails.project import Project

    project = Project.find(Path(repo) if repo else None)
    git = Git(project.root)
    rows, _ = collect_rows(project, select_baselines(git, False, False, False, num, ()), False)
    return rows_json(rows)


class CheckpointError(TrailsError):
    """``make_checkpoint`` cannot be answered: the trails process that
    watches for checkpoints has exited."""


def make_checkpoint() -> None:
    """Signal a checkpoint: create ``$DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT`` and
    wait until trails has recorded it and removed the file. Outside a
    trails (or DVC) run, ``DVC_CHECKPOINT`` is unset and this returns at
    once, so training code can call it unconditionally.

    trails names its process in ``TRAILS_CHECKPOINT_WATCHER_PID``; if that
    process exits (killed, say) while we wait, nobody will remove the file:
    it is removed here and ``CheckpointError`` raised, within a poll or two,
    rather than the training waiting forever. (DVC's stage gets no such
    variable and waits as before.)"""
    root = os.environ.get("DVC_ROOT")
    if not root or os.environ.get("DVC_CHECKPOINT") != "1":
        return
    watcher = os.environ.get(WATCHER_PID, "")
    pid = int(watcher) if watcher.isdigit() else None
    signal = signal_path(Path(root))
    signal.parent.mkdir(parents=True, exist_ok=True)
    signal.touch()
    while signal.exists():
        if pid is not None and not alive(pid):
            signal.unlink(missing_ok=True)
            raise CheckpointError(
                f"make_checkpoint: trails (pid {pid}), which records checkpoints, has "
                "exited; this checkpoint was not recorded",
                hint="Run the experiment again with 'trails exp run'.",
            )
        time.sleep(0.01)
