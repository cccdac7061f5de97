"""Which files belong to the project (``trails.files``): one listing, the
core's ``.dvcignore`` rules, every Git process through ``git.py``."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result, baseline, gen, git

STAGE = "stages:\n  {name}:\n    cmd: echo {name}\n"


def _stages(trails: Callable[..., Result]) -> list[str]:
    r = trails("dag")
    assert r.code == 0, r.err
    return sorted(line.split()[0] for line in r.out.splitlines() if line.strip())


def _logging_git(tmp: Path) -> tuple[dict[str, str], Path]:
    """An environment whose ``git`` logs each call's arguments, one line a
    call, before running the real one."""
    real = shutil.which("git")
    assert real is not None
    bin_dir, log = tmp / "bin", tmp / "git.log"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec {real} "$@"\n')
    (bin_dir / "git").chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def test_dvcignore_negation_keeps_a_pipeline(repo: Path, trails: Callable[..., Result]) -> None:
    """``!`` lines count, as in every walk of the core (the pipeline finder
    used to skip them, and lost ``exp_keep``)."""
    assert trails("init").code == 0
    gen(repo, {
        "exp_old/dvc.yaml": STAGE.format(name="old"),
        "exp_keep/dvc.yaml": STAGE.format(name="keep"),
        ".dvcignore": "exp_*/\n!exp_keep/\n",
    })  # fmt: skip
    assert _stages(trails) == ["exp_keep/dvc.yaml:keep"]


def test_nested_dvcignore_applies_below_its_folder(
    repo: Path, trails: Callable[..., Result]
) -> None:
    assert trails("init").code == 0
    gen(repo, {
        "dvc.yaml": STAGE.format(name="top"),
        "sub/dvc.yaml": STAGE.format(name="sub"),
        "sub/old/dvc.yaml": STAGE.format(name="old"),
        "other/old/dvc.yaml": STAGE.format(name="other"),
        "sub/.dvcignore": "old/\n",
    })  # fmt: skip
    git(repo, "add", "sub/dvc.yaml", "sub/old/dvc.yaml")  # tracked or not, the same rules
    assert _stages(trails) == ["other/old/dvc.yaml:other", "sub/dvc.yaml:sub", "top"]


def test_pipeline_in_an_ignored_folder_is_not_loaded(
    repo: Path, trails: Callable[..., Result]
) -> None:
    """A broken ``dvc.yaml`` inside a ``.dvcignore``-d folder is never read,
    tracked by Git or not; its ``.dvc`` files are not data of the project."""
    assert trails("init").code == 0
    gen(repo, {
        "dvc.yaml": STAGE.format(name="top"),
        "vendor/dvc.yaml": "stages: [not, a, mapping\n",
        "vendor/sub/dvc.yaml": "stages: [broken\n",
        "vendor/x.dvc": "outs: nonsense\n",
        ".dvcignore": "vendor\n",
    })  # fmt: skip
    git(repo, "add", "vendor/sub/dvc.yaml")
    assert _stages(trails) == ["top"]
    r = trails("status")
    assert r.code == 0, r.err
    (repo / ".dvcignore").write_text("# nothing ignored\n")
    r = trails("status")
    assert r.code == 1 and "vendor/" in r.err and "dvc.yaml:" in r.err


def test_new_pipeline_inside_a_stage_folder_is_found(
    repo: Path, trails: Callable[..., Result]
) -> None:
    """Git's lookup of new files goes around a stage's data folder (the
    stat pass walks it); what is new in there is found by the folders'
    remembered mtimes, so a file added to an old folder still counts."""
    baseline(repo, trails, {
        "data/a/x.txt": "x", "data/b/y.txt": "y",
        "dvc.yaml": "stages:\n  s:\n    cmd: echo s\n    deps: [data]\n",
    })  # fmt: skip
    old = time.time() - 3600
    for d in ("data", "data/a", "data/b"):
        os.utime(repo / d, (old, old))
    time.sleep(0.2)  # past the racy window of the folders' ctime (set by utime)
    assert _stages(trails) == ["s"]
    memo = json.loads((repo / ".dvc/tmp/trails/bulk-dirs.json").read_text())
    assert memo["version"] == 2 and memo["dirs"]["data/a"][0] is not None  # trusted next time
    gen(repo, {"data/a/dvc.yaml": STAGE.format(name="inner"), "data/b/new.dvc": "outs: []\n"})
    assert _stages(trails) == ["data/a/dvc.yaml:inner", "s"]
    (repo / "data/a/dvc.yaml").unlink()
    assert _stages(trails) == ["s"]
    # Git-ignored there: not part of the project, as anywhere else.
    gen(repo, {"data/b/dvc.yaml": STAGE.format(name="ignored"), ".gitignore": "data/b/\n"})
    assert _stages(trails) == ["s"]


def test_no_op_status_asks_git_once_for_each_kind(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    """One ``ls-files --cached`` (the index) and one ``--others`` whose
    pathspecs keep Git out of the stage's data folder, for pipelines and
    ``.dvc`` files together."""
    baseline(repo, trails, {
        "data/f.txt": "f", "src/train.py": "print()", "raw/r.txt": "r",
        "dvc.yaml": "stages:\n  s:\n    cmd: echo s\n    deps: [data, src]\n",
    }, add=("raw",))  # fmt: skip
    env, log = _logging_git(tmp_path)
    r = trails("status", env=env)
    assert r.code == 0 and "up to date" in r.out, r.out + r.err
    calls = [c for c in log.read_text().splitlines() if c.startswith("ls-files")]
    assert [c.split()[1:3] for c in calls] == [["-z", "--cached"], ["-z", "--others"]]
    others = calls[1]
    assert ":(glob)**/" not in others and "data/" not in others and "src/" not in others
    assert ":(literal)raw.dvc" in others  # by name: no pattern at the root


def test_metrics_of_two_revisions_through_one_git_process(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    metrics = "metrics: [{m.json: {cache: false}}, {n.json: {cache: false}}]"
    baseline(repo, trails, {
        "dvc.yaml": f"stages:\n  s:\n    cmd: sh w.sh\n    {metrics}\n",
        "w.sh": """echo '{"acc": 0.5}' > m.json; echo '{"loss": 2}' > n.json\n""",
    })  # fmt: skip
    gen(repo, {"m.json": '{"acc": 0.75}', "n.json": '{"loss": 1}'})
    git(repo, "commit", "-qam", "better")
    env, log = _logging_git(tmp_path)
    r = trails("metrics", "diff", "HEAD~1", "HEAD", "--json", env=env)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["m.json"]["acc"] == {"old": 0.5, "new": 0.75, "diff": 0.25}
    assert doc["n.json"]["loss"] == {"old": 2, "new": 1, "diff": -1}
    calls = log.read_text().splitlines()
    assert [c for c in calls if not c.startswith("ls-files")] == ["cat-file --batch"]
    r = trails("metrics", "diff", "nope", "HEAD")
    assert r.code == 1 and "'nope' is not a Git revision" in r.err


def test_a_dependency_outside_the_project_is_not_searched(
    repo: Path, trails: Callable[..., Result]
) -> None:
    """A stage may read a folder outside the project: its names are not
    the project's, and Git is never asked about them."""
    gen(repo.parent, {"ext/sub/x.dvc": "outs: []\n", "ext/dvc.yaml": "stages: [broken\n"})
    assert trails("init").code == 0
    gen(repo, {"dvc.yaml": "stages:\n  s:\n    cmd: echo\n    deps: [../ext]\n"})
    r = trails("status")
    assert r.code == 0 and "never run" in r.out, r.err
