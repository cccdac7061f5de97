"""Faults a user meets with a data remote, through the CLI: each is one
clear message naming the remote and what to do, exit 1, and leaves the
workspace, the cache and Git as they were. Also a remote emptied behind
trails' back, which the next push notices and fills again."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result, gen, git, run_trails
from tests.test_confine_entry import snapshot

#: Files bigger than the file-size limit the full-disk test sets.
BIG = 40_000


def _project(repo: Path, trails: Callable[..., Result], store: Path) -> None:
    """``d/`` (three files of 40 kB and one small) added, a folder remote
    ``store`` as the default, all committed."""
    assert trails("init").code == 0
    files = {f"d/{i}.bin": bytes([65 + i]) * BIG for i in range(3)}
    gen(repo, {**files, "d/small.txt": "small\n"}, age=5)
    assert trails("add", "d").code == 0
    assert trails("remote", "add", "-d", "store", str(store)).code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")


def _refused(r: Result, *needles: str) -> None:
    assert r.code == 1, (r.out, r.err)
    assert "Traceback" not in r.err, r.err
    for n in needles:
        assert n in r.err, r.err


def test_unknown_remote_and_malformed_urls_change_nothing(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    _project(repo, trails, tmp_path / "store")
    before = snapshot(repo)
    for verb in ("push", "pull", "fetch"):
        _refused(trails(verb, "-r", "stroe"), "remote 'stroe' does not exist",
                 "Did you mean 'store'?")  # fmt: skip
    _refused(trails("status", "-c", "-r", "stroe"), "Did you mean 'store'?")
    _refused(trails("remote", "add", "b", "s3://"), "malformed URL 's3://': no bucket")
    _refused(trails("remote", "add", "f", "ftp://host/x"), "'ftp://' remotes are not supported")
    assert snapshot(repo) == before
    # A URL edited by hand into .dvc/config is checked when it is used (read
    # as a path, it would have made a folder named 'ftp:').
    config = repo / ".dvc" / "config"
    config.write_text(config.read_text().replace(str(tmp_path / "store"), "ftp://host/x"))
    before = snapshot(repo)
    r = trails("push")
    _refused(r, "remote 'store': 'ftp://' remotes are not supported",
             "trails remote modify store url URL")  # fmt: skip
    assert snapshot(repo) == before
    assert not list(repo.rglob("ftp:*")) and not (tmp_path / "store").exists()


def _limit_file_size() -> None:
    # A file-size limit below the objects' size: their writes fail with
    # EFBIG (Python ignores SIGXFSZ), as a full disk fails them with ENOSPC,
    # without needing a small file system (root-only) in CI.
    resource.setrlimit(resource.RLIMIT_FSIZE, (BIG // 2, resource.RLIM_INFINITY))


def test_a_full_disk_on_pull_stores_nothing_partial(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    _project(repo, trails, store)
    assert trails("push").code == 0
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(repo), str(other)], check=True)
    before = snapshot(other)
    proc = subprocess.run(
        [sys.executable, "-m", "trails", "pull"], cwd=other, capture_output=True, text=True,
        preexec_fn=_limit_file_size, timeout=120,
    )  # fmt: skip
    r = Result(proc.returncode, proc.stdout, proc.stderr)
    _refused(r, "fetching from remote 'store': cannot write", "File too large",
             "run again")  # fmt: skip
    after = snapshot(other)
    # Only complete objects may have entered the cache (none is small
    # enough here but the 6-byte one and the manifest); none half-written,
    # no temporary file left, no workspace file.
    new = sorted(set(after) - set(before) - {".dvc/cache/gc.lock"})
    assert all(k.startswith(".dvc/cache/files/") for k in new), new
    assert {k: after[k] for k in before} == before
    assert not (other / "d").exists()
    tmp = other / ".dvc" / "cache" / "tmp"
    assert not tmp.exists() or not os.listdir(tmp)
    assert len(new) <= 2, new
    r = run_trails("pull", cwd=other)
    assert r.code == 0, r.err
    assert (other / "d" / "1.bin").read_bytes() == b"B" * BIG


def test_a_remote_emptied_behind_trails_back_is_filled_again(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    _project(repo, trails, store)
    r = trails("push")
    assert r.code == 0 and r.out.startswith("5 files pushed"), r.out
    assert trails("push").out.startswith("0 files pushed, 5 already there")
    shutil.rmtree(store)
    r = trails("push")
    assert r.code == 0, r.err
    assert r.out.startswith("5 files pushed, 0 already there"), r.out
    assert "no longer has 1 index file(s)" in r.err, r.err
    # Packs deleted, their index files kept: those index files name nothing.
    for p in (store / "trails-v1" / "packs").iterdir():
        p.unlink()
    r = trails("push")
    assert r.out.startswith("5 files pushed, 0 already there"), r.out
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(repo), str(other)], check=True)
    r = run_trails("pull", cwd=other)
    assert r.code == 0, r.err
    assert (other / "d" / "small.txt").read_text() == "small\n"


def test_what_a_no_op_pull_kept_never_hides_what_the_cache_or_workspace_lost(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    """A no-op pull is answered by what the last one found (the stamps of
    the cache folders its objects are in, the tree memo's fingerprint of
    the workspace): an object gone from the cache is fetched again and a
    file replaced in the workspace is checked out again."""
    _project(repo, trails, tmp_path / "store")
    assert trails("push").code == 0
    for _ in range(2):  # the first may find the cache folders too new to vouch for
        r = trails("pull")
        assert r.code == 0 and r.out.startswith("0 files fetched, 5 already in the cache"), r.out
    assert (repo / ".dvc" / "tmp" / "trails" / "fetched").is_file()
    cache = repo / ".dvc" / "cache"
    (obj,) = [p for p in cache.rglob("*") if p.is_file() and p.read_bytes() == b"B" * BIG]
    obj.chmod(0o644)
    obj.unlink()
    r = trails("pull")
    assert r.code == 0, r.err
    assert r.out.startswith("1 file fetched, 4 already in the cache"), r.out
    assert obj.read_bytes() == b"B" * BIG
    for _ in range(2):
        assert trails("pull").code == 0
    f = repo / "d" / "0.bin"
    f.unlink()
    f.write_bytes(b"mine")
    r = trails("pull")
    assert r.code == 0, r.err
    assert f.read_bytes() == b"A" * BIG
    assert trails("status").out.strip().endswith("up to date."), trails("status").out
