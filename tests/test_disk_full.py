"""A full disk while storing outputs, through the real CLI: the experiment
fails with one clear message, the cache holds no partial object, and runs
after it complete. The cache lives on a small tmpfs mounted in a private
mount namespace (``unshare -Urm``: no root needed where user namespaces are
allowed; skipped where they are not). The workspace stays on the normal
disk, so the stage's own writes succeed and only the store fails."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import gen, git

PY = sys.executable

#: Runs inside the namespace: mount the tmpfs, run the steps, list the cache
#: (the mount, and what is on it, vanish with the namespace).
DRIVER = """\
import json, os, subprocess, sys
spec = json.load(open(sys.argv[1]))
opts = "size=" + spec["size"]
subprocess.run(["mount", "-t", "tmpfs", "-o", opts, "tmpfs", spec["cache"]], check=True)
steps = []
for argv in spec["steps"]:
    p = subprocess.run(argv, cwd=spec["repo"], capture_output=True, text=True, timeout=120)
    steps.append({"code": p.returncode, "out": p.stdout, "err": p.stderr})
files = {}
for d, _, names in os.walk(spec["cache"]):
    for n in names:
        f = os.path.join(d, n)
        files[os.path.relpath(f, spec["cache"])] = os.path.getsize(f)
json.dump({"steps": steps, "cache": files}, open(spec["out"], "w"))
"""

GEN = (
    "import json, os, re\n"
    "mb = float(re.search(r'mb: (\\S+)', open('params.yaml').read()).group(1))\n"
    "open('big.bin', 'wb').write(os.urandom(int(mb * 1e6)))\n"
    "json.dump({'mb': mb}, open('m.json', 'w'))\n"
)
PIPELINE = f"""\
stages:
  gen:
    cmd: {PY} gen.py
    deps: [gen.py]
    params: [mb]
    outs: [big.bin]
    metrics:
      - m.json:
          cache: false
"""


def _namespaces_work(where: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    where.mkdir()
    probe = ["unshare", "-Urm", "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)]
    return subprocess.run(probe, capture_output=True).returncode == 0


def _in_small_disk(tmp: Path, repo: Path, cache: Path, size: str, steps: list[list[str]]) -> Any:
    spec = tmp / "spec.json"
    out = tmp / "out.json"
    spec.write_text(json.dumps({"size": size, "cache": str(cache), "repo": str(repo),
                                "steps": steps, "out": str(out)}))  # fmt: skip
    (tmp / "driver.py").write_text(DRIVER)
    subprocess.run(["unshare", "-Urm", PY, str(tmp / "driver.py"), str(spec)], check=True)
    return json.loads(out.read_text())


def test_a_full_cache_disk_fails_the_experiment_and_leaves_no_partial_object(
    repo: Path, tmp_path: Path
) -> None:
    if not _namespaces_work(tmp_path / "probe"):
        pytest.skip("no user and mount namespaces here (unshare -Urm) to mount a small tmpfs")
    cache = tmp_path / "cache"
    cache.mkdir()
    trails = [PY, "-m", "trails"]
    subprocess.run([*trails, "init"], cwd=repo, check=True, capture_output=True)
    with (repo / ".dvc" / "config").open("a") as f:
        f.write(f"[cache]\n    dir = {cache}\n")
    gen(repo, {"gen.py": GEN, "dvc.yaml": PIPELINE, "params.yaml": "mb: 0.001\n"})
    (repo / ".gitignore").write_text("/raw.bin\n")
    (repo / "raw.bin").write_bytes(bytes(range(256)) * 20_000)  # 5 MB
    ident = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    res = _in_small_disk(
        tmp_path,
        repo,
        cache,
        "4m",
        [
            [*trails, "repro"],
            [*ident, "add", "-A"],
            [*ident, "commit", "-qm", "baseline"],
            [*trails, "exp", "run", "-S", "mb=6"],  # 6 MB: the small-file copy
            ["git", "diff", "--quiet", "--", "dvc.lock"],
            [*trails, "exp", "run", "--queue", "-S", "mb=12"],  # 12 MB: the kernel copy
            [*trails, "exp", "run", "--run-all"],
            [*trails, "queue", "status"],
            [*trails, "exp", "run", "-S", "mb=0.002"],
            [*trails, "add", "raw.bin"],
        ],
    )
    steps = res["steps"]
    assert [s["code"] for s in steps[:3]] == [0, 0, 0], steps[:3]

    ws = steps[3]
    assert ws["code"] == 1
    assert "Error: 'big.bin' was not stored: no space left on the cache's disk" in ws["err"]
    assert "trails gc" in ws["err"] and "Traceback" not in ws["err"]
    assert steps[4]["code"] == 0, "dvc.lock does not record an output the cache lacks"

    queued = steps[6]
    assert queued["code"] == 1 and "1 experiment(s) failed" in queued["err"]
    assert "'big.bin' was not stored: no space left" in queued["out"]
    assert "failed" in steps[7]["out"]

    assert steps[8]["code"] == 0, steps[8]["err"]
    assert "Ran experiment(s)" in steps[8]["out"]

    add = steps[9]
    assert add["code"] == 1, add
    assert "Error: 'raw.bin' was not stored: no space left on the cache's disk" in add["err"]
    assert not (repo / "raw.bin.dvc").exists(), "no .dvc file for data the cache lacks"
    assert (repo / "raw.bin").stat().st_size == 5_120_000, "the data itself is untouched"

    objects = {f: n for f, n in res["cache"].items() if f != "gc.lock"}  # gc's lock, empty
    assert not [f for f in objects if f.startswith("tmp/")], f"temporary files left: {objects}"
    stored = [f for f in objects if f.startswith("files/")]
    # The two small runs' big.bin and m.json (uncached, kept for the run-cache).
    assert len(stored) == 4, f"the two small runs' outputs only: {objects}"
    assert all(size < 10_000 for size in objects.values()), objects
    exps = git(repo, "for-each-ref", "--format=%(refname)", "refs/exps/").split()
    assert len([r for r in exps if not r.startswith("refs/exps/failed/")]) == 1, exps
    assert len([r for r in exps if r.startswith("refs/exps/failed/")]) == 1, exps
