"""Issue #14, gc: never through a symbolic link, only names that are
objects, run folders of killed experiments read as projects, and no
collection while a pipeline or queued run is storing."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, gen, git

Trails = Callable[..., Result]
PY = sys.executable
OBJ = "ab" + "c" * 62


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    assert trails("init").code == 0
    gen(repo, {"data/a.csv": "a\n", "data/b.csv": "b\n"}, age=60)
    assert trails("add", "data").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    return repo


def _objects(project: Path) -> set[str]:
    root = project / ".dvc/cache/files/blake3"
    return {p.relative_to(root).as_posix() for p in root.glob("*/*")}


def test_gc_never_follows_a_link_and_removes_only_objects(
    project: Path, trails: Trails, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    gen(elsewhere, {"c" * 62: "not ours", "d" * 62 + ".dir": "[]", "notes": "x"}, age=7200)
    store = project / ".dvc/cache/files/blake3"
    (store / "zz").symlink_to(elsewhere)
    (store / "ab").symlink_to(elsewhere)
    gen(store, {f"cd/{'e' * 62}/inside": "a folder named like an object",
                "cd/README": "not an object name",
                f"cd/{'f' * 62}": "an unused object"})  # fmt: skip
    tmp = project / ".dvc/cache/tmp"
    tmp.rmdir()
    tmp.symlink_to(elsewhere)
    r = trails("gc", "-w", "-f")
    assert r.code == 0, r.err
    assert r.out.startswith("Removed 1 cache objects"), r.out
    for name in ("ab", "zz"):
        assert f"Warning: skipped '{store / name}': a symbolic link in the cache, not followed" \
            in r.err  # fmt: skip
    assert f"Warning: skipped '{tmp}': a symbolic link in the cache" in r.err
    assert f"skipped '{store / 'cd' / ('e' * 62)}': not a regular file" in r.err
    assert sorted(p.name for p in elsewhere.iterdir()) == sorted(["c" * 62, "d" * 62 + ".dir",
                                                                   "notes"])  # fmt: skip
    assert (store / "cd/README").exists() and (store / f"cd/{'e' * 62}/inside").exists()
    assert not (store / f"cd/{'f' * 62}").exists()
    assert trails("checkout").code == 0 and trails("status").code == 0


def test_gc_reads_the_folders_of_killed_runs_as_projects(project: Path, trails: Trails) -> None:
    """A run folder left by SIGKILL holds its own ``.dvc/`` folder: gc
    neither reads it as a ``.dvc`` file nor drops what its lock names."""
    gen(project, {"out.txt": "made by a killed run\n"}, age=60)
    assert trails("add", "out.txt").code == 0
    doc = (project / "out.txt.dvc").read_text()
    (project / "out.txt.dvc").unlink()
    run = project / ".dvc/tmp/exps/1700000000-abc"
    gen(run, {".dvc/config.local": "", "dvc.yaml": "stages: {}\n", "sub/x.dvc": doc})
    (run / "weird.dvc").mkdir()
    before = _objects(project)
    r = trails("gc", "-w", "-f")
    assert r.code == 0, r.err
    assert "Is a directory" not in r.err
    assert r.out.startswith("Nothing to remove"), r.out
    assert _objects(project) == before


PIPE = f"""\
stages:
  first:
    cmd: {PY} -c "open('a.txt', 'w').write('A' + open('p.txt').read())"
    deps: [p.txt]
    outs: [a.txt]
  second:
    cmd: {PY} -c "import pathlib, time; s = pathlib.Path(r'{{started}}'); s.touch();
      g = pathlib.Path(r'{{go}}');
      [time.sleep(0.05) for _ in iter(lambda:g.exists(), True)];
      {{extra}}open('b.txt', 'w').write(open('a.txt').read() + 'B')"
    deps: [a.txt]
    outs: [b.txt]
"""


def _pipeline(project: Path, tmp_path: Path, extra: str = "") -> tuple[Path, Path]:
    started, go = tmp_path / "started", tmp_path / "go"
    gen(project, {"dvc.yaml": PIPE.format(started=started, go=go, extra=extra), "p.txt": "1"})
    git(project, "add", "-A")
    git(project, "commit", "-qm", "pipeline")
    return started, go


def _start(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([PY, "-m", "trails", *args], cwd=project, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def _wait(path: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the stage never started"
        time.sleep(0.05)


def _gc_refused(trails: Trails, project: Path) -> None:
    before = _objects(project)
    r = trails("gc", "-w", "-f")
    assert r.code == 1, (r.out, r.err)
    assert "a pipeline or experiment is storing into the cache now; nothing was removed" in r.err
    assert "Run 'trails gc' again when it has finished" in r.err
    assert _objects(project) == before
    dry = trails("gc", "-w", "--dry")
    assert dry.code == 0 and dry.out.startswith("Would remove"), "--dry only looks"
    assert "Warning: a pipeline or experiment is storing into the cache now; what it has " \
        "stored may be listed here, and gc would refuse" in dry.err  # fmt: skip


def test_gc_waits_for_a_workspace_run_mid_pipeline(
    project: Path, trails: Trails, tmp_path: Path
) -> None:
    started, go = _pipeline(project, tmp_path)
    run = _start(project, "exp", "run", "-n", "mid")
    try:
        _wait(started, run)  # 'first' stored a.txt, not yet in any dvc.lock
        _gc_refused(trails, project)
    finally:
        go.touch()
        out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    assert "Ran experiment(s): mid" in out
    dry = trails("gc", "-w", "--dry")
    assert dry.code == 0 and "Warning" not in dry.err, "the run has ended: no warning"
    assert trails("gc", "-w", "-f").code == 0
    (project / "a.txt").unlink()
    (project / "b.txt").unlink()
    r = trails("exp", "apply", "--force", "mid")
    assert r.code == 0, r.err
    assert (project / "b.txt").read_text() == "A1B"


def test_gc_waits_for_a_queued_run(project: Path, trails: Trails, tmp_path: Path) -> None:
    started, go = _pipeline(project, tmp_path)
    gen(project, {"p.txt": "2"})
    git(project, "commit", "-qam", "p2")
    assert trails("exp", "run", "--queue", "-n", "queued").code == 0
    run = _start(project, "exp", "run", "--run-all")
    try:
        _wait(started, run)
        _gc_refused(trails, project)
    finally:
        go.touch()
        out, err = run.communicate(timeout=60)
    assert run.returncode == 0, (out, err)
    assert trails("gc", "-w", "-f").code == 0
    r = trails("exp", "apply", "--force", "queued")
    assert r.code == 0, r.err
    assert (project / "b.txt").read_text() == "A2B"


def test_an_experiment_whose_objects_vanished_is_not_recorded(
    project: Path, trails: Trails, tmp_path: Path
) -> None:
    _, go = _pipeline(
        project, tmp_path,
        extra="import shutil; shutil.rmtree('.dvc/cache/files/blake3'); ",
    )  # fmt: skip
    go.touch()
    r = trails("exp", "run", "-n", "lost")
    assert r.code == 1, r.out
    assert "not recording the experiment: the cache has lost the objects of 'a.txt'" in r.err
    assert "Traceback" not in r.err
    assert git(project, "for-each-ref", "refs/exps") == ""


def test_gc_that_cannot_lock_the_cache_removes_nothing(project: Path, trails: Trails) -> None:
    gen(project, {f".dvc/cache/files/blake3/cd/{'f' * 62}": "an unused object"})
    lock = project / ".dvc/cache/gc.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    r = trails("gc", "-w", "-f")
    assert r.code == 1
    assert f"cannot lock the cache for gc: {lock}: Is a directory; nothing was removed" in r.err
    assert "gc needs to create and flock that file; check the cache folder's permissions" in r.err
    assert (project / f".dvc/cache/files/blake3/cd/{'f' * 62}").exists()
