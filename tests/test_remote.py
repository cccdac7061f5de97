"""Data remotes on a local folder: sharing outputs and experiments between
clones, a corrupt remote object refused, an interrupted push resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import remote_scenario
from tests.conftest import Result, gen, git, run_trails


def _folder(url: str) -> Callable[[Path], None]:
    def setup(repo: Path) -> None:
        r = run_trails("remote", "add", "-d", "store", url, cwd=repo)
        assert r.code == 0, r.err

    return setup


def test_share_outputs_and_experiments_through_a_folder(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    remote_scenario.share(repo, trails, _folder(str(store)))
    packs = list((store / "trails-v1" / "packs").iterdir())
    assert packs and all(len(p.name) == 64 for p in packs), "content-named packs"


def test_file_url_and_a_missing_folder(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    _tracked(repo, trails, {"d/a.txt": "a"})
    assert trails("remote", "add", "-d", "store", f"file://{tmp_path}/s").code == 0
    assert trails("push").out.startswith("2 files pushed")
    assert (tmp_path / "s" / "trails-v1" / "index").is_dir()
    assert trails("remote", "add", "gone", str(tmp_path / "nowhere")).code == 0
    r = trails("fetch", "-r", "gone")
    assert r.code == 0, "nothing to fetch: the cache has it all"
    r = trails("pull", "-r", "gnoe")
    assert r.code == 1 and "Did you mean 'gone'?" in r.err


def test_a_corrupt_object_is_named_and_not_stored(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    _tracked(repo, trails, {"d/a.txt": "alpha\n", "d/b.txt": "beta\n"})
    trails("remote", "add", "-d", "store", str(store))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "remote")
    assert trails("push").code == 0
    (pack,) = (store / "trails-v1" / "packs").iterdir()
    body = pack.read_bytes()
    pack.write_bytes(body.replace(b"beta", b"bXta"))
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(repo), str(other)], check=True)
    r = run_trails("pull", cwd=other)
    assert r.code == 1
    assert "did not match their hash" in r.err and "d/b.txt" in r.err, r.err
    assert not (other / "d").exists(), "nothing checked out"
    from trails import core

    cache = other / ".dvc" / "cache"
    bad = core.hash_bytes(b"beta\n")
    assert not os.path.exists(core.object_path(cache, bad))
    assert os.path.exists(core.object_path(cache, core.hash_bytes(b"alpha\n")))


def _tracked(repo: Path, trails: Callable[..., Result], files: dict[str, str]) -> None:
    """A project whose data is ``trails add``-ed (no pipeline), committed."""
    assert trails("init").code == 0
    gen(repo, files, age=5)
    folder = next(iter(files)).split("/")[0]
    assert trails("add", folder).code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")


def _indexed(store: Path) -> list[str]:
    names: list[str] = []
    for f in (store / "trails-v1" / "index").iterdir():
        names += json.loads(f.read_bytes())["names"]
    return names


@pytest.mark.slow
def test_a_killed_push_resumes_and_the_remote_holds_each_object_once(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    files = {f"many/{i:05}.txt": f"file {i}\n" for i in range(20_000)}
    _tracked(repo, trails, files)
    store = tmp_path / "store"
    trails("remote", "add", "-d", "store", str(store))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "remote")
    env = {**os.environ, "TRAILS_PACK_OBJECTS": "400"}
    quiet = subprocess.DEVNULL
    args = [sys.executable, "-m", "trails", "push", "-j", "1"]
    proc = subprocess.Popen(args, cwd=repo, env=env, stdout=quiet, stderr=quiet)
    index = store / "trails-v1" / "index"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if index.is_dir() and len(os.listdir(index)) >= 5:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the push ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    sent_before = len(_indexed(store))
    assert 0 < sent_before < 20_001
    r = run_trails("push", cwd=repo, env={"TRAILS_PACK_OBJECTS": "400"})
    assert r.code == 0, r.err
    assert f"{sent_before:,} already there" in r.out, r.out
    names = _indexed(store)
    assert len(names) == len(set(names)) == 20_001, "every object once (and the manifest)"
    packs = {f.name for f in (store / "trails-v1" / "packs").iterdir()}
    listed = {json.loads(f.read_bytes())["pack"] for f in index.iterdir()}
    assert packs == listed, "no pack left without its index"
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(repo), str(other)], check=True)
    r = run_trails("pull", cwd=other)
    assert r.code == 0, r.err
    assert r.out.startswith("20,001 files fetched")
    assert len(list((other / "many").iterdir())) == 20_000
    assert (other / "many" / "12345.txt").read_text() == "file 12345\n"


def test_an_s3_remote_without_boto3_names_the_extra(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    _tracked(repo, trails, {"d/a.txt": "a"})
    assert trails("remote", "add", "-d", "s3", "s3://bucket/prefix").code == 0
    hide = tmp_path / "hide"
    gen(hide, {"boto3/__init__.py": "raise ImportError('hidden by the test')\n"})
    r = trails("push", env={"PYTHONPATH": str(hide)})
    assert r.code == 1, r.out
    assert r.err.strip() == "Error: S3 remotes need boto3: pip install 'trails[s3]'"


def test_a_hostile_index_is_ignored(
    repo: Path, trails: Callable[..., Result], tmp_path: Path
) -> None:
    """An index naming a pack outside the layout, or negative spans, or not
    hashing to its name, names nothing: the pull says what is missing."""
    store = tmp_path / "store"
    _tracked(repo, trails, {"d/a.txt": "alpha\n"})
    trails("remote", "add", "-d", "store", str(store))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "remote")
    assert trails("push").code == 0
    from trails import core

    index = store / "trails-v1" / "index"
    (real,) = index.iterdir()
    doc = json.loads(real.read_bytes())
    real.unlink()
    hostile = [
        {**doc, "pack": "../../../../etc/passwd"},
        {**doc, "offsets": [-5] * len(doc["names"])},
    ]
    for h in hostile:
        data = json.dumps(h).encode()
        (index / core.hash_bytes(data)).write_bytes(data)
    (index / ("0" * 64)).write_bytes(
        real.read_bytes() if real.exists() else json.dumps(doc).encode()
    )
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(repo), str(other)], check=True)
    r = run_trails("pull", cwd=other)
    assert r.code == 1, r.out
    assert "does not have 1 object(s): d\n" in r.err and "Traceback" not in r.err, r.err
    assert not (other / "d").exists()
