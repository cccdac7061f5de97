"""`trails add` and `.dvc` files through the real CLI: add, status with the
files that changed, checkout, remove, unprotect, data in queued runs, and
every refusal."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, exp_rows, gen, git
from trails import yamlio

Trails = Callable[..., Result]


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    assert trails("init").code == 0
    gen(repo, {f"data/part{i % 3}/f{i}.csv": f"row {i}\n" for i in range(30)}, age=60)
    return repo


def test_add_writes_a_dvc_file_and_ignores_the_data(project: Path, trails: Trails) -> None:
    r = trails("add", "data")
    assert r.code == 0, r.err
    assert "Added 'data' (30 files, " in r.out
    assert "git add data.dvc .gitignore" in r.out
    doc = yamlio.load(project / "data.dvc")
    out = doc["outs"][0]
    assert (out["path"], out["hash"], out["nfiles"]) == ("data", "blake3", 30)
    assert out["blake3"].endswith(".dir")
    assert "/data" in (project / ".gitignore").read_text().splitlines()
    again = trails("add", "data")
    assert again.out.strip() == "'data' didn't change"
    assert trails("status").out.strip() == "Data and pipelines are up to date."


def test_status_names_changed_files_and_checkout_restores(project: Path, trails: Trails) -> None:
    assert trails("add", "data").code == 0
    (project / "data/part1/f1.csv").write_text("edited\n")
    (project / "data/part2/f2.csv").unlink()
    r = trails("status")
    assert "data.dvc:" in r.out
    assert "'data' changed (1 modified, 1 deleted): part1/f1.csv, part2/f2.csv" in r.out
    r = trails("checkout", "data.dvc")
    assert r.code == 0, r.err
    assert r.out.strip() == "M\tdata"
    assert (project / "data/part1/f1.csv").read_text() == "row 1\n"
    assert (project / "data/part2/f2.csv").exists()
    assert trails("status").out.strip() == "Data and pipelines are up to date."


def test_add_a_file_and_remove_it(project: Path, trails: Trails) -> None:
    gen(project, {"model.bin": b"\x00" * 100})
    assert trails("add", "model.bin").code == 0
    assert yamlio.load(project / "model.bin.dvc")["outs"][0]["size"] == 100
    r = trails("remove", "model.bin.dvc")
    assert r.code == 0, r.err
    assert not (project / "model.bin.dvc").exists()
    assert (project / "model.bin").exists(), "the data stays without --outs"


def test_unprotect_makes_links_writable(project: Path, trails: Trails) -> None:
    gen(project, {".dvc/config": "[cache]\n    type = hardlink\n"})
    assert trails("add", "data").code == 0
    (project / "data").rename(project / "gone")
    assert trails("checkout").code == 0
    f = project / "data/part0/f0.csv"
    assert f.stat().st_nlink > 1, "checked out by hardlink"
    r = trails("unprotect", "data")
    assert r.code == 0, r.err
    assert f.stat().st_nlink == 1
    f.write_text("edited in place\n")
    cache_copy = subprocess.run(
        ["grep", "-rl", "edited in place", str(project / ".dvc" / "cache")], capture_output=True
    )
    assert cache_copy.stdout == b"", "the cache object was not touched"


def test_refusals(project: Path, trails: Trails) -> None:
    r = trails("add", "nothere")
    assert (r.code, r.err.strip()) == (1, "Error: 'nothere' does not exist")
    gen(project, {"code.py": "x = 1\n"})
    git(project, "add", "code.py")
    r = trails("add", "code.py")
    assert r.code == 1
    assert "'code.py' is tracked by Git" in r.err and "git rm -r --cached 'code.py'" in r.err
    gen(
        project, {"dvc.yaml": "stages:\n  s:\n    cmd: echo\n    outs: [out.txt]\n", "out.txt": "o"}
    )
    r = trails("add", "out.txt")
    assert r.code == 1
    assert "'out.txt' is an output of stage 's'" in r.err
    gen(project, {"bad.dvc": "outs:\n  - path: x\n  - path: y\n"})
    r = trails("checkout", "bad.dvc")
    assert r.code == 1
    assert "bad.dvc:1: expected 'outs' with exactly one entry" in r.err
    assert not (project / "out.txt.dvc").exists()


def test_pipelines_and_queued_runs_use_added_data(project: Path, trails: Trails) -> None:
    py = sys.executable
    count = (
        "import json, pathlib; n = len(list(pathlib.Path('data').rglob('*.csv')));"
        " json.dump({'files': n}, open('m.json', 'w'))"
    )
    gen(project, {
        "count.py": count + "\n",
        "dvc.yaml": f"stages:\n  count:\n    cmd: {py} count.py\n    deps: [data, count.py]\n"
                    "    metrics:\n      - m.json:\n          cache: false\n",
        ".dvc/config": "[cache]\n    type = hardlink,copy\n",
    })  # fmt: skip
    assert trails("add", "data").code == 0
    assert trails("repro").code == 0
    git(project, "add", "-A")
    git(project, "commit", "-qm", "base")
    assert "data" not in git(project, "ls-files").split("\n"), "the data is not in Git"
    assert trails("exp", "run", "--temp", "-n", "tmp").code == 0
    rows = exp_rows(trails("exp", "show", "--json").out)
    tmp = next(r for r in rows if r["name"] == "tmp")
    assert tmp["metrics"]["m.json"] == {"files": 30}, "the temp run saw the added data"


def test_md5_dvc_file_from_the_reference_tool(project: Path, trails: Trails) -> None:
    gen(project, {"old.dvc": "outs:\n- md5: 3fcad0a14bc4a72e8ebd8c4de4c1a6a4.dir\n  size: 8\n"
                             "  nfiles: 2\n  hash: md5\n  path: data\n"})  # fmt: skip
    r = trails("status")
    assert r.code == 0, r.err
    assert "'data' recorded with md5; run 'trails add' to re-hash" in r.out


def test_gc_keeps_what_is_used_and_removes_the_rest(project: Path, trails: Trails) -> None:
    py = sys.executable
    gen(project, {
        "dvc.yaml": f"stages:\n  copy:\n    cmd: {py} -c \"import shutil; "
                    "shutil.copy('params.yaml', 'out.txt')\"\n    deps: [params.yaml]\n"
                    "    outs: [out.txt]\n",
        "params.yaml": "v: 1\n",
    })  # fmt: skip
    assert trails("add", "data").code == 0
    assert trails("repro").code == 0
    git(project, "add", "-A")
    git(project, "commit", "-qm", "base")
    gen(project, {"params.yaml": "v: 2\n"})
    assert trails("exp", "run", "-n", "two").code == 0  # its out.txt stays in use
    git(project, "checkout", "-q", "--", ".")
    assert trails("checkout").code == 0
    (project / "data/part0/f0.csv").write_text("version 2\n")
    assert trails("add", "data").code == 0
    (project / "data/part0/f0.csv").write_text("version 3\n")
    assert trails("add", "data").code == 0  # version 2 (one file, one tree): used by nothing
    r = trails("gc")
    assert r.code == 2 and "choose what to keep" in r.err
    tmp = project / ".dvc" / "cache" / "tmp"
    gen(tmp, {"stale.tmp": "left by a killed add"}, age=7200)
    gen(tmp, {"busy.tmp": "a store running now"})
    dry = trails("gc", "-w", "--dry")
    assert dry.out.startswith("Would remove 3 cache objects"), dry.out
    r = trails("gc", "-w", "-f")
    assert r.code == 0, r.err
    assert r.out.startswith("Removed 3 cache objects")
    assert sorted(p.name for p in tmp.iterdir()) == ["busy.tmp"]
    assert trails("gc", "-w", "-f").out.startswith("Nothing to remove")
    assert trails("exp", "apply", "--force", "two").code == 0
    assert (project / "out.txt").read_text() == "v: 2\n", "the experiment's output survived"
    assert trails("status").code == 0


def test_a_corrupt_cache_object_is_named_and_nothing_changes(project: Path, trails: Trails) -> None:
    assert trails("add", "data").code == 0
    from trails import core

    h = core.hash_file(project / "data/part1/f1.csv").hash
    obj = Path(core.object_path(project / ".dvc/cache", h))
    obj.chmod(0o644)
    obj.write_text("bit rot\n")
    (project / "data/part1/f1.csv").write_text("my edit\n")
    r = trails("checkout", "data.dvc")
    assert r.code == 1
    assert "data/part1/f1.csv: cache object" in r.err and "is corrupt" in r.err
    assert "add the data again ('trails add')" in r.err
    assert (project / "data/part1/f1.csv").read_text() == "my edit\n", "left untouched"


def _objects(project: Path) -> dict[int, Path]:
    """Cache objects by inode."""
    files = (project / ".dvc" / "cache" / "files").rglob("*")
    return {p.stat().st_ino: p for p in files if p.is_file() and not p.name.endswith(".dir")}


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_add_links_the_data_into_the_cache(project: Path, trails: Trails, kind: str) -> None:
    gen(project, {".dvc/config": f"[cache]\n    type = {kind}\n", "data/dup.csv": "row 1\n"})
    r = trails("add", "data")
    assert r.code == 0, r.err
    objects = _objects(project)
    files = sorted(p for p in (project / "data").rglob("*") if not p.is_dir())
    assert len(files) == 31
    for f in files:
        assert f.is_symlink() == (kind == "symlink"), f
        assert f.stat().st_ino in objects, f"{f} is not a cache object"
        assert f.stat().st_mode & 0o222 == 0, "objects (and so the links) are read-only"
    assert len(objects) == 30, "the duplicate shares one object"
    assert (project / "data/part1/f1.csv").read_text() == "row 1\n"
    assert trails("status").out.strip() == "Data and pipelines are up to date."
    assert trails("add", "data").out.strip() == "'data' didn't change"
    r = trails("unprotect", "data/part1")
    assert r.code == 0, r.err
    (project / "data/part1/f1.csv").write_text("edited\n")
    assert (project / "data/dup.csv").read_text() == "row 1\n", "the shared object is intact"
    assert "'data' changed (1 modified): part1/f1.csv" in trails("status").out


def test_repro_links_outputs_but_not_checkpoint_outputs(project: Path, trails: Trails) -> None:
    py = sys.executable
    gen(project, {
        ".dvc/config": "[cache]\n    type = hardlink\n",
        "dvc.yaml": f"stages:\n  s:\n    cmd: {py} -c \"open('out.txt', 'w').write('o')\"\n"
                    "    outs: [out.txt]\n"
                    f"  c:\n    cmd: {py} -c \"open('ck.txt', 'a').write('c')\"\n"
                    "    outs:\n      - ck.txt:\n          checkpoint: true\n",
    })  # fmt: skip
    r = trails("repro")
    assert r.code == 0, r.err
    out, ck = project / "out.txt", project / "ck.txt"
    assert out.stat().st_ino in _objects(project), "the output became its cache object"
    assert ck.stat().st_nlink == 1 and ck.stat().st_mode & 0o200, "the stage writes it again"
    r = trails("repro", "-f")
    assert r.code == 0, r.err
    assert (out.read_text(), ck.read_text()) == ("o", "cc")


def test_add_killed_midway_leaves_no_partial_object(project: Path) -> None:
    """SIGKILL while the cache is being written: every object in the cache
    holds exactly the bytes its name says, and a second add completes."""
    from trails import core

    big = project / "data" / "big.bin"
    with big.open("wb") as f:
        for i in range(300):
            f.write(bytes([i % 256]) * (1 << 20))
    proc = subprocess.Popen([sys.executable, "-m", "trails", "add", "data"], cwd=project,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    cache = project / ".dvc" / "cache"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(cache.glob("tmp/*")):
        time.sleep(0.005)
    proc.kill()
    proc.wait()
    assert not (project / "data.dvc").exists(), "the add did not finish"
    for obj in (cache / "files").rglob("*"):
        if obj.is_file() and not obj.name.endswith(".dir"):
            assert core.hash_file(obj).hash == obj.parent.name + obj.name, f"{obj} is partial"
    r = subprocess.run([sys.executable, "-m", "trails", "add", "data"], cwd=project,
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "Added 'data' (31 files, " in r.stdout
    big.unlink()
    r = subprocess.run([sys.executable, "-m", "trails", "checkout", "data.dvc"], cwd=project,
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert big.stat().st_size == 300 << 20


def test_a_dvc_file_with_a_malformed_or_empty_hash_is_named(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, {"x.dvc": "outs:\n- path: x\n  blake3: zz\n"})
    for cmd in (["checkout"], ["status"]):
        r = trails(*cmd)
        assert r.code == 1
        assert "Error: x.dvc: 'x': 'zz' is not a well-formed blake3 hash" in r.err
        assert "Traceback" not in r.err and str(repo) not in r.err
    gen(repo, {"x.dvc": "outs:\n- path: x\n  hash: blake3\n  blake3: ''\n"})
    r = trails("checkout")
    assert r.code == 1
    assert "Error: x.dvc: 'x' has no recorded hash: nothing to check out" in r.err
    assert not (repo / "x").exists()
    gen(repo, {"dvc.lock": "schema: '2.0'\nstages:\n  a:\n    cmd: c\n    outs:\n    - path: o\n"
               "      hash: md5\n      md5: 12\n"})  # fmt: skip
    gen(repo, {"dvc.yaml": "stages:\n  a:\n    cmd: c\n    outs: [o]\n", "x.dvc": ""})
    (repo / "x.dvc").unlink()
    r = trails("status")
    assert r.code == 1
    assert "'o': '12' is not a well-formed md5 hash" in r.err
