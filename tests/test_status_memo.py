"""The no-op check's shortcuts (issue #20 item 1) never give a stale
answer: the tree memo beside the stat index (a folder or file whose stats
all match takes its remembered hash) and the tracked-file listing kept
with ``.git/index``'s stat. Each change below is made after a status that
recorded the memo, and must be reported by the next one."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result, baseline, gen, git
from tests.test_files import _logging_git, _stages

INDEX = ".dvc/tmp/trails/stat-index"
PIPELINE = "stages:\n  s:\n    cmd: echo s\n    deps: [data, train.py]\n"


def _settle(repo: Path, trails: Callable[..., Result], *paths: str) -> None:
    """Back-date ``paths`` past the racy window, then a no-op status: it
    records the memo the next change must get past."""
    old = time.time() - 3600
    for p in paths:
        os.utime(repo / p, (old, old))
    r = trails("status")
    assert r.code == 0 and "up to date" in r.out, r.out + r.err


def _changed(trails: Callable[..., Result], *expected: str) -> None:
    r = trails("status")
    assert r.code == 0 and "up to date" not in r.out, r.out + r.err
    for e in expected:
        assert e in r.out, r.out


def test_every_change_gets_past_the_tree_memo(repo: Path, trails: Callable[..., Result]) -> None:
    baseline(repo, trails, {
        "data/a.txt": "aaaa", "data/sub/b.txt": "bbbb", "train.py": "print(1)\n",
        "raw/r.txt": "rrrr", "raw/q.txt": "qqqq", "dvc.yaml": PIPELINE,
    }, add=("raw",), age=3600)  # fmt: skip
    _settle(repo, trails)
    # The memo answers alone: without the stat index, a no-op status reads
    # no file and so writes no index.
    for p in (repo / INDEX, repo / f"{INDEX}.log"):
        p.unlink(missing_ok=True)
    _settle(repo, trails)
    assert (repo / f"{INDEX}.trees").is_file() and not (repo / INDEX).exists()

    edits: list[tuple[Callable[[], object], Callable[[], object], tuple[str, ...], str]] = [
        # (change, undo, paths to back-date after the undo, reported)
        (lambda: (repo / "data/a.txt").write_text("AAAA"),  # same size
         lambda: (repo / "data/a.txt").write_text("aaaa"), ("data/a.txt",), "s:"),
        (lambda: gen(repo, {"data/sub/new/n.txt": "n"}),
         lambda: (repo / "data/sub/new/n.txt").unlink(), (), "s:"),
        (lambda: (repo / "data/sub/b.txt").rename(repo / "data/sub/c.txt"),
         lambda: (repo / "data/sub/c.txt").rename(repo / "data/sub/b.txt"), (), "s:"),
        (lambda: (repo / "data/a.txt").unlink(),
         lambda: (repo / "data/a.txt").write_text("aaaa"), ("data/a.txt",), "s:"),
        (lambda: (repo / "data/a.txt").chmod(0o755),
         lambda: (repo / "data/a.txt").chmod(0o644), (), "s:"),
        (lambda: (repo / "train.py").write_text("print(2)\n"),
         lambda: (repo / "train.py").write_text("print(1)\n"), ("train.py",), "s:"),
        (lambda: (repo / "raw/q.txt").write_text("QQQQ"),
         lambda: (repo / "raw/q.txt").write_text("qqqq"), ("raw/q.txt",), "(1 modified): q.txt"),
    ]  # fmt: skip
    for change, undo, aged, reported in edits:
        change()
        _changed(trails, reported)
        undo()
        _settle(repo, trails, *aged)


def test_a_damaged_or_hostile_memo_is_only_a_slower_check(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    """The memos under ``.dvc/tmp`` are read, never trusted: garbage is an
    empty memo, and a listing kept for another index stat is asked again."""
    baseline(repo, trails, {"data/a.txt": "aaaa", "train.py": "1", "dvc.yaml": PIPELINE}, age=3600)
    _settle(repo, trails)
    memo = repo / f"{INDEX}.trees"
    good = memo.read_bytes()
    memo.write_bytes(good[:-9] + bytes([good[-9] ^ 1]) + good[-8:])
    (repo / "data/a.txt").write_text("AAAA")
    _changed(trails, "s:")
    (repo / "data/a.txt").write_text("aaaa")
    _settle(repo, trails, "data/a.txt")
    assert memo.read_bytes() != good[:-9] + bytes([good[-9] ^ 1]) + good[-8:]  # rewritten
    tracked = repo / ".dvc/tmp/trails/tracked.json"
    tracked.write_text('{"version": 1, "key": [0], "paths": ["nope/dvc.yaml"]}')
    env, log = _logging_git(tmp_path)
    assert _stages(lambda *a: trails(*a, env=env)) == ["s"]
    assert [c for c in log.read_text().splitlines() if "--cached" in c]


def test_a_lock_file_that_moves_is_compared_with_the_memo(
    repo: Path, trails: Callable[..., Result]
) -> None:
    """The memo gives the workspace's hash; what it is compared with is
    read each time (``dvc.lock`` and a ``.dvc`` file from another commit)."""
    baseline(repo, trails, {
        "data/a.txt": "aaaa", "train.py": "print(1)\n", "raw/r.txt": "rrrr", "dvc.yaml": PIPELINE,
    }, add=("raw",), age=3600)  # fmt: skip
    gen(repo, {"data/a.txt": "AAAA", "raw/r.txt": "RRRR"}, age=3600)
    assert trails("add", "raw").code == 0 and trails("repro").code == 0
    git(repo, "commit", "-qam", "v2")
    _settle(repo, trails)
    git(repo, "checkout", "-q", "HEAD~1", "--", "dvc.lock", "raw.dvc")
    _changed(trails, "s:", "raw.dvc:", "(1 modified): r.txt")
    git(repo, "checkout", "-q", "HEAD", "--", "dvc.lock", "raw.dvc")
    _settle(repo, trails)


def test_tracked_listing_kept_while_git_index_is_unchanged(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    """No ``ls-files --cached`` while ``.git/index`` keeps its stat; a
    ``git rm --cached`` or ``git add -f`` of a pipeline file is seen."""
    stage = "stages:\n  {n}:\n    cmd: echo {n}\n"
    baseline(repo, trails, {
        "dvc.yaml": stage.format(n="top"), "sub/dvc.yaml": stage.format(n="sub"),
    })  # fmt: skip
    gen(repo, {".gitignore": "sub/\nnew/\n", "new/dvc.yaml": stage.format(n="new")})
    time.sleep(0.2)  # the index past the racy window: its listing is kept
    assert _stages(trails) == ["sub/dvc.yaml:sub", "top"]
    env, log = _logging_git(tmp_path)
    assert _stages(lambda *a: trails(*a, env=env)) == ["sub/dvc.yaml:sub", "top"]
    assert not [c for c in log.read_text().splitlines() if "--cached" in c]
    git(repo, "rm", "-q", "--cached", "sub/dvc.yaml")  # now untracked and git-ignored
    assert _stages(trails) == ["top"]
    git(repo, "add", "-f", "new/dvc.yaml")
    assert _stages(trails) == ["new/dvc.yaml:new", "top"]
    time.sleep(0.2)
    assert _stages(trails) == ["new/dvc.yaml:new", "top"]  # kept, and still right
    git(repo, "rm", "-q", "--cached", "new/dvc.yaml")
    assert _stages(trails) == ["top"]
    gen(repo, {"fresh/deep/dvc.yaml": stage.format(n="deep")})  # a new pipeline, new folders
    assert _stages(trails) == ["fresh/deep/dvc.yaml:deep", "top"]


def test_repro_after_a_remembered_no_op_runs_what_changed(
    repo: Path, trails: Callable[..., Result]
) -> None:
    """``repro`` takes hashes through the same memo (without the early
    walk): a change after a remembered no-op reruns the stage."""
    baseline(repo, trails, {"data/a.txt": "aaaa", "train.py": "1", "dvc.yaml": PIPELINE}, age=3600)
    _settle(repo, trails)
    r = trails("repro")
    assert r.code == 0 and "up to date" in r.out, r.out + r.err
    (repo / "data/a.txt").write_text("AAAA")
    r = trails("repro")
    assert r.code == 0 and "Running stage 's'" in r.out, r.out + r.err
