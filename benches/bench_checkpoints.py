"""Checkpoint benchmarks (issue: Checkpoints): signal-to-resume latency with
a small output and with a 500 MB output (against hashing, and storing, that
file alone in the same run), and ``exp show`` over 10 experiments of N
checkpoints each.

Run by ``make bench``; writes ``benches/RESULTS-checkpoints.md``. The
reference tool (DVC 3) has no checkpoints; its 2.x polled the signal file
once a second by design, which is the reference figure quoted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import machine_facts

HERE = Path(__file__).resolve().parent
TRAILS = [sys.executable, "-m", "trails"]

TRAIN = """\
import json, os, sys, time
from pathlib import Path
n = int(sys.argv[1])
signal = Path(os.environ["DVC_ROOT"]) / ".dvc" / "tmp" / "DVC_CHECKPOINT"
lat = []
start = int(Path("model.txt").read_text()) if Path("model.txt").exists() else 0
for epoch in range(start + 1, start + n + 1):
    Path("model.txt").write_text(str(epoch))
    Path("metrics.json").write_text(json.dumps({"epoch": epoch}))
    t = time.perf_counter()
    signal.touch()
    while signal.exists():
        time.sleep(0.001)
    lat.append(time.perf_counter() - t)
Path("latency.json").write_text(json.dumps(lat))
"""

#: The checkpoint loop with a big output, which also measures the references
#: (in the same process, interleaved with the checkpoints, so that a busy
#: machine slows all three alike): each epoch the whole ``model.bin`` is
#: rewritten three times with new content (one buffer made once, a new 8-byte
#: stamp at every MiB), then hashed alone (``core.hash_file``), stored alone
#: into a scratch cache outside the project (``core.store_file``, hashed while
#: copied), and checkpointed by trails. Each rewrite ends with ``sync``, what
#: the time an epoch trains gives the kernel anyway: back to back, 500 MB
#: epochs leave gigabytes dirty (the file, the cache objects) and the figures
#: measure the disk's write-back (the kernel throttles writers), 0.3 to 2.6 s
#: each, rather than trails. The file stays in the page cache.
TRAIN_BIG = """\
import json, os, sys, time
from pathlib import Path
from trails import core
n, size, scratch = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
signal = Path(os.environ["DVC_ROOT"]) / ".dvc" / "tmp" / "DVC_CHECKPOINT"
block = os.urandom(1 << 20)
buf = bytearray((block * (size // len(block) + 1))[:size])

def rewrite(stamp):
    tag = stamp.to_bytes(8, "little")
    for off in range(0, size - 8, 1 << 20):
        buf[off : off + 8] = tag
    with open("model.bin", "wb") as f:
        f.write(buf)
    os.sync()

out = {"latency": [], "hash": [], "store": []}
for epoch in range(1, n + 1):
    rewrite(3 * epoch)
    t = time.perf_counter()
    core.hash_file("model.bin")
    out["hash"].append(time.perf_counter() - t)
    rewrite(3 * epoch + 1)
    t = time.perf_counter()
    stored = core.store_file(scratch / "cache", "model.bin", scratch / "stat-index")
    out["store"].append(time.perf_counter() - t)
    assert stored.written, "the reference must store new content each time"
    rewrite(3 * epoch + 2)
    Path("metrics.json").write_text(json.dumps({"epoch": epoch}))
    t = time.perf_counter()
    signal.touch()
    while signal.exists():
        time.sleep(0.001)
    out["latency"].append(time.perf_counter() - t)
Path("latency.json").write_text(json.dumps(out))
"""

PIPELINE = """\
stages:
  train:
    cmd: {py} train.py {n}
    deps: [train.py]
    outs:
      - model.txt:
          checkpoint: true
    metrics:
      - metrics.json:
          cache: false
"""

PIPELINE_BIG = """\
stages:
  train:
    cmd: {py} train.py {n} {size} {scratch}
    deps: [train.py]
    outs:
      - model.bin:
          checkpoint: true
    metrics:
      - metrics.json:
          cache: false
"""


def sh(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
    return subprocess.run(args, cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def project(root: Path, n: int, train: str = TRAIN, pipeline: str = PIPELINE, **kw: object) -> Path:
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    sh(root, "git", "init", "-q")
    sh(root, *TRAILS, "init")
    (root / "train.py").write_text(train)
    (root / "dvc.yaml").write_text(pipeline.format(py=sys.executable, n=n, **kw))
    (root / ".gitignore").write_text("latency.json\n")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "baseline")
    return root


def latency(work: Path, n: int) -> list[float]:
    root = project(work / "latency", n)
    sh(root, *TRAILS, "exp", "run", "-n", "lat")
    return [float(x) for x in json.loads((root / "latency.json").read_text())]


def latency_big(work: Path, n: int, size: int) -> tuple[list[float], list[float], list[float]]:
    """Signal-to-resume latency with a ``size``-byte output rewritten each
    epoch, and the references measured by the training code between the
    checkpoints (see ``TRAIN_BIG``): hashing the file alone, storing it alone."""
    scratch = work / "reference"
    shutil.rmtree(scratch, ignore_errors=True)
    root = project(work / "latency-big", n, TRAIN_BIG, PIPELINE_BIG, size=size, scratch=scratch)
    sh(root, *TRAILS, "exp", "run", "-n", "big")
    got = json.loads((root / "latency.json").read_text())
    shutil.rmtree(root)  # its cache (n x size) and the scratch one need not stay on disk
    shutil.rmtree(scratch)
    return got["latency"], got["hash"], got["store"]


def show_many(work: Path, exps: int, n: int, reps: int) -> tuple[list[float], int]:
    root = project(work / "show", n)
    for i in range(exps):
        sh(root, *TRAILS, "exp", "run", "--reset", "-n", f"e{i}")
    doc = json.loads(sh(root, *TRAILS, "exp", "show", "--json"))
    shown = sum(len(r["revs"]) for top in doc[1:] for r in top["experiments"] or [])
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        sh(root, *TRAILS, "exp", "show", "--no-pager")
        times.append(time.perf_counter() - t)
    return times, shown


def fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1e3:.1f} ms [{min(xs) * 1e3:.1f}-{max(xs) * 1e3:.1f}]"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--write", type=Path, help="write the Markdown results to this file")
    p.add_argument("--quick", action="store_true", help="small smoke run")
    args = p.parse_args()
    work = HERE / "work" / "checkpoints"
    n_lat, exps, n_show, reps = (10, 2, 20, 2) if args.quick else (50, 10, 200, 5)
    n_big, big = (2, 64 * 10**6) if args.quick else (5, 500 * 10**6)
    print(f"latency: {n_lat} checkpoints", file=sys.stderr)
    lat = latency(work, n_lat)
    print(f"latency: {n_big} checkpoints of a {big // 10**6} MB output", file=sys.stderr)
    lat_big, hashed, stored = latency_big(work, n_big, big)
    print(f"exp show: {exps} experiments x {n_show} checkpoints", file=sys.stderr)
    show, shown = show_many(work, exps, n_show, reps)
    shutil.rmtree(work, ignore_errors=True)
    lat_ok = statistics.median(lat) < 0.1
    show_ok = statistics.median(show) < 1.0
    med = statistics.median
    vs_hash, vs_store = med(lat_big) / med(hashed), med(lat_big) / med(stored)
    big_ok = vs_hash <= 1.3
    mb = f"{big // 10**6} MB"
    model, mem_gib, fstype, commit = machine_facts(HERE)
    text = "\n".join(
        [
            "# trails checkpoint benchmarks",
            "",
            "Written by `make bench` (`benches/bench_checkpoints.py`); do not edit by hand.",
            "",
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; commit: {commit}",
            f"- CPUs: {os.cpu_count()} ({model}), RAM {mem_gib:.1f} GiB, file system {fstype}",
            "- times: median [min-max]",
            "",
            "| measure | trails | reference | target | met? |",
            "|---|---|---|---|---|",
            f"| signal-to-resume latency, small output ({len(lat)} checkpoints) | {fmt(lat)} | "
            f"DVC 2.x polled once a second (up to 1,000 ms) | < 100 ms median | "
            f"{'yes' if lat_ok else '**NO**'} |",
            f"| signal-to-resume latency, {mb} output ({len(lat_big)} checkpoints) | "
            f"{fmt(lat_big)} | (a) hashing the file alone: {fmt(hashed)}, "
            f"**{vs_hash:.2f}x**; (b) storing it alone: {fmt(stored)}, {vs_store:.2f}x | "
            f"<= 1.3x (a) | {'yes' if big_ok else '**NO**'} |",
            f"| `exp show` of {exps} experiments x {n_show} checkpoints ({shown} rows) | "
            f"{fmt(show)} | - | < 1 s | " + ("yes" if show_ok else "**NO**") + " |",
            "",
            "- Latency: from the training code creating `.dvc/tmp/DVC_CHECKPOINT` to the file's"
            " removal by trails, measured inside the training process; it includes the checkpoint"
            " commit (outputs stored, `dvc.lock` written, the experiment ref moved).",
            f"- {mb} output: each epoch the training code rewrites the whole file with new"
            " content (a changed 8-byte stamp every MiB of one buffer made once), then calls"
            " `sync`, as the time an epoch trains would let the kernel do (back to back, 500 MB"
            " epochs leave gigabytes dirty and the figures measure the disk's write-back), so the"
            " file is in the page cache, clean, when the signal is sent. The references are"
            " measured by the training code between the checkpoints, each on the same file"
            " rewritten the same way: (a) `trails.core.hash_file`, (b) `trails.core.store_file`"
            " into a scratch cache (hashed while copied, with a stat index). The output is cached,"
            " so on a file system without reflinks (ext4, with the default `reflink,copy` link"
            f" types; here: {fstype}) a checkpoint must copy the file into the cache: (b) is the"
            " honest floor; the issue's 1.3x target is stated against (a).",
            "- `exp show`: a whole process, warm per-commit cache (after one `--json` run).",
            "",
        ]
    )
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
