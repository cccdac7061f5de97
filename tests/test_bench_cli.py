"""`trails bench hash|status` through the real CLI: the figures it reports
match the data it was given, every hasher is there, bad input is one
message, and the project (tree, cache, .dvc/tmp, Git) is byte-identical
afterwards."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, baseline

Trails = Callable[..., Result]

PIPELINE = """\
stages:
  count:
    cmd: cat data/*/* | wc -c > total.txt
    deps: [data]
    outs: [total.txt]
"""


def snapshot(root: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under the project, ``.git`` and ``.dvc`` included: mode
    and bytes (a link: its target)."""
    found: dict[str, tuple[int, bytes]] = {}
    for folder, dirs, names in os.walk(root):
        for name in dirs + names:
            p = Path(folder, name)
            st = p.lstat()
            rel = str(p.relative_to(root))
            if p.is_symlink():
                found[rel] = (st.st_mode, os.readlink(p).encode())
            elif p.is_file():
                found[rel] = (st.st_mode, p.read_bytes())
            else:
                found[rel] = (st.st_mode, b"")
    return found


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    files: dict[str, str | bytes] = {
        f"data/p{i % 4}/f{i}.bin": hashlib.sha256(str(i).encode()).digest() * (i + 1)
        for i in range(40)
    }
    files["dvc.yaml"] = PIPELINE
    return baseline(repo, trails, files, add=("data",), age=60)


def test_bench_hash_reports_every_hasher_on_the_tracked_data(project: Path, trails: Trails) -> None:
    before = snapshot(project)
    r = trails("bench", "hash", "--json", "--reps", "1")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    data = sorted((project / "data").rglob("*.bin"))
    # The tracked data: the added folder and the stage's cached output.
    assert doc["files"] == len(data) + 1
    assert (
        doc["bytes"] == sum(p.stat().st_size for p in data) + (project / "total.txt").stat().st_size
    )
    names = [row["algorithm"] for row in doc["rows"]]
    assert names[:4] == ["blake3 (trails)", "xxh3-128", "md5 (reference tool)", "sha256"]
    ours = doc["rows"][0]
    assert ours["trails_speedup_warm"] == pytest.approx(1.0)
    for row in doc["rows"]:
        assert row["warm_seconds"] > 0 and row["warm_files_per_second"] > 0
        assert row["warm_gb_per_second"] == pytest.approx(doc["bytes"] / 1e9 / row["warm_seconds"])
    assert doc["cold"] is True, doc["note"]
    assert all(row["cold_seconds"] > 0 for row in doc["rows"])
    assert snapshot(project) == before, "bench hash changed the project"


def test_bench_hash_of_named_paths_prints_a_table_and_refuses_a_missing_one(
    project: Path, trails: Trails
) -> None:
    r = trails("bench", "hash", "data/p1", "dvc.yaml", "--warm-only", "--reps", "1")
    assert r.code == 0, r.err
    assert "11 files" in r.out, r.out  # 10 in data/p1, and dvc.yaml
    for name in ("blake3 (trails)", "md5 (reference tool)", "sha256", "xxh3-128"):
        assert name in r.out
    assert "cold runs skipped (--warm-only)" in r.out
    before = snapshot(project)
    r = trails("bench", "hash", "nope")
    assert r.code == 1
    assert "'nope' does not exist" in r.err and "Traceback" not in r.err
    assert snapshot(project) == before


def test_bench_hash_without_tracked_data_says_what_to_name(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    r = trails("bench", "hash")
    assert r.code == 1
    assert "no tracked data on disk" in r.err and "trails bench hash PATH" in r.err


def test_bench_status_times_the_noop_check_against_git_and_says_when_not_noop(
    project: Path, trails: Trails
) -> None:
    # A status records its memo of Git's listing only once .git/index is
    # 100 ms old (files.py): settled here, so that what bench status runs
    # finds the project as a user's next status would.
    time.sleep(0.15)
    assert "up to date" in trails("status").out
    before = snapshot(project)
    r = trails("bench", "status", "--json", "--reps", "2")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["noop"] is True and doc["runs"] == 2
    assert doc["trails_seconds"] > 0 and doc["git_seconds"] > 0
    assert doc["ratio"] == pytest.approx(doc["trails_seconds"] / doc["git_seconds"])
    assert snapshot(project) == before, "bench status changed the project"
    text = trails("bench", "status", "--reps", "1").out
    assert "trails / git:" in text and "note:" not in text
    (project / "data" / "p0" / "f0.bin").write_bytes(b"changed")
    before = snapshot(project)
    r = trails("bench", "status", "--reps", "1")
    assert r.code == 0, r.err
    assert "not up to date" in r.out
    assert snapshot(project) == before
