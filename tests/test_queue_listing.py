"""What a queue worker takes from its pool instead of asking Git again
(issue #20 item 3): its entry's arguments from the pool's one listing, the
check that its ref is still there from the loose ref file (Git when it is
packed), and a big run folder's pipeline files from its kept index rather
than a walk. Each must give the answer Git (or the walk) would."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, baseline, git

Trails = Callable[..., Result]

LOGGED = """\
stages:
  echo:
    cmd: (test -z "$RUN_LOG" || echo ${units} >> "$RUN_LOG") && (test ${units} != 1 || sleep 3)
      && echo ${units} > out.txt
    params: [units]
    outs: [out.txt]
"""


def _experiments(repo: Path) -> list[str]:
    rows = git(repo, "for-each-ref", "--format=%(refname)", "refs/exps/").split()
    return [r for r in rows if not r.startswith(("refs/exps/queue/", "refs/exps/failed/"))]


def test_entries_whose_refs_are_packed_run_once_each(
    repo: Path, trails: Trails, tmp_path: Path
) -> None:
    """Packed queue refs have no loose file to look at: the worker asks Git,
    and every entry still runs, once."""
    baseline(repo, trails, {"dvc.yaml": LOGGED, "params.yaml": "units: 0\n"})
    log = tmp_path / "runs.log"
    assert trails("exp", "run", "--queue", "-S", "units=range(2,8)").code == 0
    git(repo, "pack-refs", "--all")
    assert not list((repo / ".git" / "refs" / "exps" / "queue").glob("*")), "all packed"
    r = trails("exp", "run", "--run-all", "-j", "2", env={"RUN_LOG": str(log)})
    assert r.code == 0, r.err
    assert sorted(int(x) for x in log.read_text().split()) == list(range(2, 8))
    assert len(_experiments(repo)) == 6
    assert not git(repo, "for-each-ref", "refs/exps/queue/").strip()


def test_an_entry_removed_after_the_pool_listed_it_is_not_run(
    repo: Path, trails: Trails, tmp_path: Path
) -> None:
    """The pool lists the queue once, at its start; an entry removed later
    (``queue remove`` while the first experiment runs) is gone from the
    loose ref its worker looks at, so it is not run, and the others are."""
    baseline(repo, trails, {"dvc.yaml": LOGGED, "params.yaml": "units: 0\n"})
    log = tmp_path / "runs.log"
    assert trails("exp", "run", "--queue", "-S", "units=range(1,5)").code == 0
    ids = [ln.split()[0] for ln in trails("queue", "status").out.splitlines()[1:]]
    assert len(ids) == 4
    cmd = [sys.executable, "-m", "trails", "exp", "run", "--run-all", "-j", "1"]
    env = {**os.environ, "RUN_LOG": str(log)}
    pool = subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and log.read_text().split() == ["1"]):
            assert time.monotonic() < deadline and pool.poll() is None, "the first one started"
            time.sleep(0.05)
        # units=1 sleeps 3 s: the last entry has no worker yet.
        assert trails("queue", "remove", ids[3]).code == 0
        out, err = pool.communicate(timeout=120)
    finally:
        if pool.poll() is None:
            pool.kill()
    assert pool.returncode == 0, err
    assert sorted(int(x) for x in log.read_text().split()) == [1, 2, 3], out
    assert len(_experiments(repo)) == 3
    assert not git(repo, "for-each-ref", "refs/exps/queue/").strip()


def _big_project(repo: Path, trails: Trails) -> Path:
    """5,000 tracked data files (a kept index past ``INDEX_READ_BYTES``), a
    pipeline in a sub-folder, and one in a ``.dvcignore``d folder whose
    stage would fail if it were found."""
    files: dict[str, str | bytes] = {f"data/f{i}.txt": f"{i}\n" for i in range(5000)}
    files |= {
        # `top` reads the nested stage's output: repro runs that one first
        # only if it found the pipeline that makes it.
        "dvc.yaml": "stages:\n  top:\n    cmd: cat sub/seen.txt > top.txt\n"
        "    deps: [data, sub/seen.txt]\n    params: [units]\n"
        "    outs: [{top.txt: {cache: false}}]\n",
        "params.yaml": "units: 0\n",
        "sub/dvc.yaml": "stages:\n  nested:\n    cmd: cat ../params.yaml > seen.txt\n"
        "    deps: [../params.yaml]\n    outs: [{seen.txt: {cache: false}}]\n",
        "skipped/dvc.yaml": "stages:\n  never:\n    cmd: exit 3\n",
        ".dvcignore": "skipped/\n",
    }
    return baseline(repo, trails, files)


def test_a_big_run_folder_finds_its_pipelines_from_its_index(repo: Path, trails: Trails) -> None:
    """Queued experiments over 5,000 tracked files: the nested pipeline is
    found and runs in each (its output, which the top stage reads, holds the
    experiment's params), the ``.dvcignore``d one is left out, as a walk
    would have it."""
    _big_project(repo, trails)
    assert trails("exp", "run", "--queue", "-S", "units=range(1,4)").code == 0
    r = trails("exp", "run", "--run-all", "-j", "1")
    assert r.code == 0, r.err + r.out
    shas = [git(repo, "rev-parse", ref).strip() for ref in _experiments(repo)]
    assert len(shas) == 3
    seen = sorted(git(repo, "show", f"{s}:sub/seen.txt") for s in shas)
    assert seen == [f"units: {u}\n" for u in (1, 2, 3)]
    assert sorted(git(repo, "show", f"{s}:top.txt") for s in shas) == seen
    # The second run moves the kept folders: the same answer again.
    assert trails("exp", "run", "--queue", "-S", "units=7").code == 0
    assert trails("exp", "run", "--run-all", "-j", "1").code == 0
    last = {git(repo, "show", f"{ref}:sub/seen.txt") for ref in _experiments(repo)}
    assert "units: 7\n" in last


def test_a_run_folders_index_lists_what_a_walk_finds(
    repo: Path, trails: Trails, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kept index's listing of a checked-out folder equals the walk's,
    ``.dvcignore`` and all, and no walk is made for it."""
    from trails import files
    from trails.experiments.folders import git_index
    from trails.git import Git

    _big_project(repo, trails)
    g = Git(repo)
    dest = repo / ".dvc" / "tmp" / "exps" / "pool-9"
    dest.mkdir(parents=True)
    g.materialize(g.head(), dest, git_index(dest))
    walked = files.Files(dest.resolve()).listing()
    assert "sub/dvc.yaml" in walked.pipelines and "skipped/dvc.yaml" not in walked.pipelines
    files.adopt_index(dest, g.git_dir(), git_index(dest))
    assert files.of(dest).index is not None, "an index this big is read, not walked"

    def no_walk(root: Path) -> list[str]:
        raise AssertionError(f"walked {root}")

    monkeypatch.setattr(files, "_walk", no_walk)
    assert files.of(dest).listing() == walked


def test_the_worker_server_reads_the_records_layouts_before_it_forks() -> None:
    """After ``warmup`` (the server's last preload), decoding a worker's
    records reads no annotations: its forks inherit that done."""
    code = (
        "import msgspec._utils as u\n"
        "import trails.experiments.warmup\n"
        "from trails.experiments import queue\n"
        "from trails.experiments.records import EntryListing, QueuedArgs\n"
        "from trails.versioned import decode\n"
        "def never(*a, **k): raise AssertionError('annotations read again')\n"
        "u.get_class_annotations = never\n"
        "u.get_dataclass_info = never\n"
        "msg = queue.HEADER + '\\n\\n' + QueuedArgs(name='n').encode().decode()\n"
        "listing = EntryListing(created=1, parents=('a',), message=msg)\n"
        "back = decode(EntryListing, listing.encode(), 'l', '')\n"
        "run = queue.queued_run(back, 'refs/exps/queue/x', 'f' * 40)\n"
        "assert run.args.name == 'n' and run.parents == ('a',), run\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
