"""Two builds of trails' facade over the Rust core, compared call for call.

Changing what crosses the PyO3 boundary (tuples to named records, in
December 2026) must not slow the calls that cross it most: one object per
file (``hash_files``, ``parse_manifest``, ``diff_manifests``) or one per
call over many files (``scan_tree``, ``store_tree``, ``checkout_tree``,
``hash_paths``). This script times each call in a child process per build,
the builds' repetitions interleaved (A B B A A B ...), and prints the ratio of
medians (after / before).

    python benches/bench_boundary.py --before /path/to/old/python [--files N]

``--before`` is a folder holding an older ``trails`` package with its built
``_core`` (for instance ``git archive main python | tar -x -C /tmp/old`` and
the ``_core.abi3.so`` of that build copied beside it); the "after" side is
the ``trails`` this interpreter imports. Not part of ``make bench``: it
needs two builds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trails

#: Run in a child with the build under test first on sys.path.
CHILD = r"""
import json, os, sys, time
from trails import core
work, root = sys.argv[1], sys.argv[2]
cache, index, dest = (os.path.join(work, x) for x in ("cache", "index", "dest"))
files = [os.path.join(dp, f) for dp, _, fs in os.walk(root) for f in fs]
tree = core.scan_tree(root, index)
core.store_tree(cache, root, index)
core.checkout_tree(cache, tree.hash, dest, ["copy"], index)
other = core.scan_tree(dest, None).manifest
calls = {
    "hash_files (one record per file)": lambda: core.hash_files(files),
    "hash_paths (files, one index)": lambda: core.hash_paths(files[:2000], index),
    "scan_tree (warm index)": lambda: core.scan_tree(root, index),
    "parse_manifest (one record per entry)": lambda: core.parse_manifest(tree.manifest),
    "diff_manifests": lambda: core.diff_manifests(tree.manifest, other),
    "store_tree (all stored)": lambda: core.store_tree(cache, root, index),
    "checkout_tree (no-op)": lambda: core.checkout_tree(cache, tree.hash, dest, ["copy"], index),
}
out = {}
for name, call in calls.items():
    best = []
    for _ in range(int(sys.argv[3])):
        t = time.perf_counter(); call(); best.append(time.perf_counter() - t)
    out[name] = min(best)
print(json.dumps(out))
"""


def make_tree(root: Path, n: int) -> None:
    rng = random.Random(7)
    old = time.time() - 3600
    for i in range(n):
        p = root / f"d{i % 64:02d}" / f"f{i:06d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(rng.randint(64, 4096)))
        os.utime(p, (old, old))


def run(pythonpath: str, work: Path, tree: Path, best: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": pythonpath}
    argv = [sys.executable, "-c", CHILD, str(work), str(tree), str(best)]
    out = subprocess.run(argv, env=env, check=True, capture_output=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--before", required=True, help="folder holding the older trails package")
    p.add_argument("--files", type=int, default=20_000)
    p.add_argument("--reps", type=int, default=5, help="processes per build")
    p.add_argument("--best", type=int, default=10, help="calls per process (the fastest counts)")
    args = p.parse_args()
    after = str(Path(trails.__file__).resolve().parent.parent)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        make_tree(work / "tree", args.files)
        samples: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
        sides = [("before", args.before), ("after", after)]
        for rep in range(args.reps):
            # Which build goes first alternates, so that neither always runs second.
            for side, path in sides if rep % 2 == 0 else sides[::-1]:
                # Each side has its own cache, index and checkout of the same tree.
                (work / side).mkdir(exist_ok=True)
                for name, t in run(path, work / side, work / "tree", args.best).items():
                    samples[side].setdefault(name, []).append(t)
    print(f"{args.files} files of 64 B-4 KiB: fastest of {args.best} calls per process, "
          f"median of {args.reps} processes per build")  # fmt: skip
    print("| call | before (ms) | after (ms) | after / before |")
    print("|---|---|---|---|")
    for name, before in samples["before"].items():
        b = statistics.median(before) * 1e3
        a = statistics.median(samples["after"][name]) * 1e3
        print(f"| {name} | {b:.1f} | {a:.1f} | {a / b:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
