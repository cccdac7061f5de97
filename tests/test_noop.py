"""The no-op fast path (``trails.noop``, issue #20 item 1): a ``status`` or
``repro`` whose last answer was "up to date" prints it again without the
CLI while everything it read keeps its stamp. Each test first proves the
fast path answers (``TRAILS_NOOP_TRACE`` makes a replay say so), then
changes one kind of input and checks that the next command is not a
replay and reports the change."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, baseline, gen, git, run_trails

TRACE = {"TRAILS_NOOP_TRACE": "1"}
REPLAYED = "the kept no-op answer holds"
PIPELINE = (
    "stages:\n  s:\n    cmd: cat data/a.txt > out.txt\n"
    "    deps: [data, train.py]\n    params: [lr]\n    outs: [out.txt]\n"
)
FILES = {
    "data/a.txt": "aaaa", "data/sub/b.txt": "bbbb", "train.py": "print(1)\n",
    "params.yaml": "lr: 1\n", "raw/r.txt": "rrrr", "src/deep/keep.txt": "k",
    "dvc.yaml": PIPELINE,
}  # fmt: skip
UP_TO_DATE = {
    "status": "Data and pipelines are up to date.\n",
    "repro": "Stage 's' didn't change, skipping\nData and pipelines are up to date.\n",
}


def _project(repo: Path, trails: Callable[..., Result]) -> None:
    baseline(repo, trails, FILES, add=("raw",), age=3600)


def _settle(trails: Callable[..., Result], command: str = "status") -> None:
    """A full check that keeps its answer (past the racy window of the last
    change: a ctime cannot be set back), then a replay of it."""
    time.sleep(0.25)
    r = trails(command, env=TRACE)
    assert r.code == 0 and r.out.endswith("up to date.\n"), r.out + r.err
    r = trails(command, env=TRACE)
    assert r.code == 0 and REPLAYED in r.err, r.out + r.err
    assert r.out == UP_TO_DATE[command]


def _not_replayed(trails: Callable[..., Result], *expected: str, command: str = "status") -> Result:
    r = trails(command, env=TRACE)
    assert REPLAYED not in r.err, r.out + r.err
    for e in expected:
        assert e in r.out + r.err, r.out + r.err
    return r


TASK = "def task_hello():\n    pass\n"
STAGE = "stages:\n  n:\n    cmd: echo n\n"


def _changes(repo: Path) -> list[tuple[str, Callable[[], object], str, Callable[[], object]]]:
    """(what, change, what the next status reports, undo)."""
    lock = repo / "dvc.lock"
    cfg = repo / ".dvc" / "config"
    return [
        ("a dep edit, same size", lambda: (repo / "data/a.txt").write_text("AAAA"), "s:",
         lambda: (repo / "data/a.txt").write_text("aaaa")),
        ("a new dvc.yaml in a new folder", lambda: gen(repo, {"new/deeper/dvc.yaml": STAGE}),
         "new/deeper/dvc.yaml:n", lambda: shutil.rmtree(repo / "new")),
        ("a new dvc.yaml in a folder deep down", lambda: gen(repo, {"src/deep/dvc.yaml": STAGE}),
         "src/deep/dvc.yaml:n", lambda: (repo / "src/deep/dvc.yaml").unlink()),
        ("a new .dvc file", lambda: gen(repo, {"src/raw.dvc": (repo / "raw.dvc").read_text()}),
         "src/raw.dvc", lambda: (repo / "src/raw.dvc").unlink()),
        ("a new task file", lambda: gen(repo, {"src/deep/task_new.py": TASK}),
         "src/deep/task_new.py::task_hello", lambda: (repo / "src/deep/task_new.py").unlink()),
        ("a params edit", lambda: (repo / "params.yaml").write_text("lr: 2\n"), "s:",
         lambda: (repo / "params.yaml").write_text("lr: 1\n")),
        (".dvcignore", lambda: (repo / ".dvcignore").write_text("sub/\n"), "s:",
         lambda: (repo / ".dvcignore").unlink()),
        ("a broken config", lambda: cfg.write_text(cfg.read_text() + "[core\n"), ".dvc/config",
         lambda: cfg.write_text(cfg.read_text().replace("[core\n", ""))),
        ("dvc.lock", lambda: lock.write_text(lock.read_text().replace("lr: 1", "lr: 3")), "s:",
         lambda: lock.write_text(lock.read_text().replace("lr: 3", "lr: 1"))),
        ("a deleted output", lambda: (repo / "out.txt").unlink(), "s:",
         lambda: (repo / "out.txt").write_text("aaaa")),
        ("trails add-ed data", lambda: (repo / "raw/r.txt").write_text("RRRR"), "raw.dvc",
         lambda: (repo / "raw/r.txt").write_text("rrrr")),
    ]  # fmt: skip


def test_status_sees_every_kind_of_change_after_a_kept_answer(
    repo: Path, trails: Callable[..., Result]
) -> None:
    _project(repo, trails)
    _settle(trails)
    for what, change, reported, undo in _changes(repo):
        change()
        r = _not_replayed(trails, reported)
        assert r.out != UP_TO_DATE["status"], what
        r = _not_replayed(trails, reported)  # a changed answer is never kept
        undo()
        _settle(trails)


def test_repro_sees_a_change_after_a_kept_answer(repo: Path, trails: Callable[..., Result]) -> None:
    _project(repo, trails)
    _settle(trails, "repro")
    (repo / "data/a.txt").write_text("AAAA")
    _not_replayed(trails, "Running stage 's'", command="repro")
    assert (repo / "out.txt").read_text() == "AAAA"
    _settle(trails, "repro")
    (repo / "params.yaml").write_text("lr: 2\n")
    _not_replayed(trails, "Running stage 's'", command="repro")
    _settle(trails, "repro")
    (repo / "out.txt").unlink()
    _not_replayed(trails, "s", command="repro")
    assert (repo / "out.txt").read_text() == "AAAA"  # restored or rerun, never skipped
    _settle(trails, "repro")


def test_a_racy_edit_that_restores_size_and_mtime_is_seen(
    repo: Path, trails: Callable[..., Result]
) -> None:
    """A file whose mtime is within the racy window of the command's start
    is not trusted: after an edit that puts back its size and mtime (same
    inode), the next check is a full one and sees it. The window is made
    certain here with an mtime ahead of the clock (a test cannot start a
    process within 0.1 s of a write on a loaded machine)."""
    _project(repo, trails)
    _settle(trails)
    a = repo / "data/a.txt"
    soon = time.time_ns() + 60 * 10**9
    os.utime(a, ns=(soon, soon))  # the same bytes: still up to date
    for _ in range(2):
        r = trails("status", env=TRACE)
        assert r.out == UP_TO_DATE["status"] and REPLAYED not in r.err, r.out + r.err
    with open(a, "r+") as f:  # same inode, same size
        f.write("AAAA")
    os.utime(a, ns=(soon, soon))
    _not_replayed(trails, "s:")


def test_git_checkout_of_another_commit_is_seen(repo: Path, trails: Callable[..., Result]) -> None:
    _project(repo, trails)
    (repo / "dvc.yaml").write_text(PIPELINE + "  t:\n    cmd: echo t\n")
    git(repo, "commit", "-qam", "a second stage")
    git(repo, "checkout", "-q", "HEAD~1")
    _settle(trails)
    git(repo, "checkout", "-q", "-")
    _not_replayed(trails, "t:")
    git(repo, "checkout", "-q", "HEAD~1")
    _settle(trails)


def test_the_answer_is_kept_per_command_line_folder_and_environment(
    repo: Path, trails: Callable[..., Result]
) -> None:
    _project(repo, trails)
    _settle(trails)
    r = trails("status", "--json", env=TRACE)
    assert r.out == "{}\n" and REPLAYED not in r.err
    r = trails("status", "--json", env=TRACE)  # kept for its own command line
    assert r.out == "{}\n" and REPLAYED in r.err
    r = trails("status", env=TRACE)
    assert r.out == UP_TO_DATE["status"] and REPLAYED not in r.err
    r = trails("status", env={**TRACE, "TRAILS_AS_DVC": "1"})
    assert REPLAYED not in r.err
    r = trails("status", "s", env=TRACE)
    assert REPLAYED not in r.err and r.out == UP_TO_DATE["status"]
    r = run_trails("status", cwd=repo / "src", env=TRACE)
    assert REPLAYED not in r.err and r.out == UP_TO_DATE["status"]


@pytest.mark.parametrize("command", ["status", "repro"])
def test_a_damaged_kept_answer_is_only_a_full_check(
    repo: Path, trails: Callable[..., Result], command: str
) -> None:
    _project(repo, trails)
    _settle(trails, command)
    kept = repo / ".dvc" / "tmp" / "trails" / f"noop-{command}"
    good = kept.read_bytes()
    for bad in (b"", good[:-40], good.replace(b"up to date", b"changed!!!"), b"\0" * 50):
        kept.write_bytes(bad)
        r = trails(command, env=TRACE)
        assert r.code == 0 and r.out == UP_TO_DATE[command], (bad, r.out, r.err)


def test_task_files_and_what_they_import(repo: Path, trails: Callable[..., Result]) -> None:
    """A task file's imported project module is stamped once collection is
    warm; an edit of it is seen."""
    baseline(repo, trails, {
        "helper.py": "N = 1\n",
        "task_a.py": "import helper\n\ndef task_one():\n    print(helper.N)\n",
    }, age=3600)  # fmt: skip
    _settle(trails)
    (repo / "helper.py").write_text("N = 2\n")
    _not_replayed(trails, "task_a.py::task_one")


@pytest.mark.parametrize("command", ["status", "repro"])
def test_a_replay_loads_no_cli_yaml_or_git(
    repo: Path, trails: Callable[..., Result], command: str
) -> None:
    """What the fast path is for: the standard library and the native
    module only (``-X importtime`` lists every module a process imports)."""
    _project(repo, trails)
    _settle(trails, command)
    argv = [sys.executable, "-X", "importtime", "-m", "trails", command]
    r = subprocess.run(argv, cwd=repo, env={**os.environ, **TRACE}, capture_output=True, text=True)
    assert r.stdout == UP_TO_DATE[command] and REPLAYED in r.stderr, r.stderr[-2000:]
    imported = {ln.rsplit("|", 1)[-1].strip() for ln in r.stderr.splitlines() if "|" in ln}
    assert "trails._core" in imported
    assert not imported & {"click", "yaml", "msgspec", "trails.cli", "trails.git", "subprocess"}
