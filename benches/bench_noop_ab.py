"""Before and after, paired in one run: no-op ``status`` and ``repro`` of
another trails (``--before``, e.g. main's worktree) against this one, both
against ``git status --porcelain -uno``, on one project of ``--files``
files (``bench_scale``'s Git-tracked layout). Interleaved, each a whole
process; wall and CPU (user + sys of the process and its children, from
``wait4``), medians.

Run: ``.venv/bin/python benches/bench_noop_ab.py --before /work/main/.venv/bin/trails``
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_dvc import TRAILS_EXE
from bench_scale import WORK, env, make_data, project, set_up


def once(argv: list[str], cwd: Path) -> tuple[float, float]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out = proc.stdout.read() if proc.stdout else b""
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if status != 0 or (b"up to date" not in out and "git" not in argv[0]):
        raise RuntimeError(f"{argv}: exit {status}, not a no-op: {out[-500:]!r}")
    return wall, ru.ru_utime + ru.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, required=True, help="the other trails executable")
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--reps", type=int, default=9)
    args = ap.parse_args()
    work = WORK / f"ab-{args.files}"
    shutil.rmtree(work, ignore_errors=True)
    make_data(work / "data", args.files)
    root = project(work / "p", work / "data")
    set_up(root, TRAILS_EXE, "git")
    git = shutil.which("git") or "git"
    steps = {
        "git status -uno": [git, "status", "--porcelain", "-uno"],
        "before: status": [str(args.before), "status"],
        "after: status": [str(TRAILS_EXE), "status"],
        "before: repro": [str(args.before), "repro"],
        "after: repro": [str(TRAILS_EXE), "repro"],
    }
    res: dict[str, list[tuple[float, float]]] = {k: [] for k in steps}
    for argv in steps.values():
        once(argv, root)  # warm-up (and the kept answers)
    names = list(steps)
    for rep in range(args.reps):
        for name in names if rep % 2 == 0 else reversed(names):
            res[name].append(once(steps[name], root))
    g_wall = statistics.median(w for w, _ in res["git status -uno"])
    g_cpu = statistics.median(c for _, c in res["git status -uno"])
    print(f"{args.files:,} files, {args.reps} interleaved runs, load {os.getloadavg()[0]:.1f}")
    for name, runs in res.items():
        w = statistics.median(r[0] for r in runs)
        c = statistics.median(r[1] for r in runs)
        ratios = f"{w / g_wall:.2f}x | {c * 1e3:.0f} ms | {c / g_cpu:.2f}x"
        print(f"| {name} | {w * 1e3:.0f} ms | {ratios} |")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
