"""Python tasks in experiments that run in a folder of their own (queued,
``--temp``): the folder starts with the workspace's collection memo,
revalidated there by content hash, so an unchanged task file is not
imported to decide what runs."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import gen, git
from tests.test_tasks import FITS, TRAIN, Trails, bodies, log, project, ran, run

__all__ = ["log", "project", "run"]  # the fixtures this module uses

OTHER = """\
import os
from pathlib import Path
from typing import Annotated

import trails

if "IMPORT_LOG" in os.environ:
    with open(os.environ["IMPORT_LOG"], "a") as f:
        f.write("other\\n")


def task_other(out: Annotated[Path, trails.Out] = Path("../build/other.txt")):
    out.write_text("other")
"""


def test_queued_and_temp_runs_import_no_unchanged_task_file(
    project: Path, trails: Trails, log: Path, tmp_path: Path
) -> None:
    imports = tmp_path / "imports.log"
    env = {"TASK_LOG": str(log), "IMPORT_LOG": str(imports)}
    gen(project, {"src/task_other.py": OTHER})
    r = trails("repro", env=env)
    assert r.code == 0, r.err
    assert ran(r) == ["src/task_other.py::task_other"]
    git(project, "add", "-A")
    git(project, "commit", "-qm", "another task file")
    imports.unlink()
    bodies(log)
    assert trails("exp", "run", "--queue", "-S", "train.lr=0.2", env=env).code == 0
    r = trails("exp", "run", "--run-all", env=env)
    assert r.code == 0, r.out + r.err
    assert bodies(log) == ["fit", "fit", "train"], "the queued run decided with the memo"
    assert not imports.exists(), "task_other.py, unchanged, was not imported in the run folder"
    r = trails("exp", "run", "--temp", "-S", "train.lr=0.3", env=env)
    assert r.code == 0, r.out + r.err
    assert ran(r) == [*sorted(FITS), TRAIN]
    assert bodies(log) == ["fit", "fit", "train"]
    assert not imports.exists(), "nor in a --temp run's folder"
    # Without the workspace's memo, the run folder has to import every task file.
    (project / ".dvc/tmp/trails/tasks.json").unlink()
    r = trails("exp", "run", "--temp", "-S", "train.lr=0.4", env=env)
    assert r.code == 0, r.out + r.err
    assert imports.read_text() == "other\n"


def test_the_memo_is_never_written_through_a_link_of_the_run_folder(tmp_path: Path) -> None:
    """A run folder holds what the experiment's commit holds: a link at
    ``.dvc/tmp/trails`` (or ``.dvc/tmp``) must not take the copy outside."""
    from trails.project import Project
    from trails.tasks import cache

    workspace, outside = tmp_path / "ws", tmp_path / "outside"
    gen(workspace, {".dvc/tmp/trails/tasks.json": '{"version": 1}'})
    outside.mkdir()
    for linked in (".dvc/tmp/trails", ".dvc/tmp"):
        work = tmp_path / f"run-{linked.count('/')}"
        (work / linked).parent.mkdir(parents=True)
        (work / linked).symlink_to(outside)
        cache.carry(Project(workspace), Project(work))
        assert list(outside.iterdir()) == [], linked
    work = tmp_path / "plain"
    cache.carry(Project(workspace), Project(work))
    assert (work / ".dvc/tmp/trails/tasks.json").read_text() == '{"version": 1}'
