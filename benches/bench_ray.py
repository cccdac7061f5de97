"""The Ray executor on a local 3-node cluster (issue #17): a head without
CPUs and two worker nodes of one CPU each (``ray.cluster_utils.Cluster``),
a folder as the cache remote. N queued experiments whose stage sleeps S
seconds and reads a ``trails add``-ed input of F files:

- wall of ``--run-all -j 2 --executor ray`` against the ideal (N x S / 2),
  and the per-experiment overhead against the local executor at the same
  concurrency on an identical queue, run interleaved (ms: (wall - ideal)
  x jobs / N for each);
- bytes shipped per experiment after the first on its node (Git bundles
  received and cache objects fetched, from the workers' log lines);
- time from ``--run-all`` to the first stage starting on a node.

    .venv/bin/python benches/bench_ray.py [--n 16] [--files 2000] [--sleep 1]
        [--rounds 1] [--write benches/RESULTS-ray.md] [--trace FILE]

``--trace FILE``: each Ray run's steps (the driver's and the lanes',
``TRAILS_RAY_TRACE``) and its stages' starts, in seconds from its
``--run-all``, into FILE.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from bench import machine_facts

TRAILS = [sys.executable, "-m", "trails"]
JOBS = 2
TRAIN = (
    "import os, re, sys, time\n"
    "print(f'STAGE_START {time.time()}', flush=True)\n"
    "n = sum(len(open(os.path.join('data', f)).read()) for f in os.listdir('data'))\n"
    "time.sleep(float(sys.argv[1]))\n"
    "seed = re.search(r'seed: (\\S+)', open('params.yaml').read()).group(1)\n"
    "open('model.bin', 'w').write(f'{seed} {n}')\n"
)


def _run(cmd: list[str], cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b",
           "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}  # fmt: skip
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    return p.stdout


def _project(root: Path, files: int, sleep: float) -> Path:
    repo = root / "repo"
    repo.mkdir(parents=True)
    _run(["git", "init", "-q"], repo)
    _run([*TRAILS, "init"], repo)
    (repo / "data").mkdir()
    for i in range(files):
        (repo / "data" / f"{i:05}.txt").write_text(f"{i}\n")
    _run([*TRAILS, "add", "data"], repo)
    (repo / "train.py").write_text(TRAIN)
    (repo / "params.yaml").write_text("seed: 0\n")
    (repo / "dvc.yaml").write_text(
        f"stages:\n  train:\n    cmd: {sys.executable} train.py {sleep}\n"
        "    deps: [train.py, data]\n    params: [seed]\n    outs: [model.bin]\n"
    )
    _run([*TRAILS, "remote", "add", "-d", "store", str(root / "remote")], repo)
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "baseline"], repo)
    return repo


def _queue(repo: Path, n: int, round_: int) -> None:
    for i in range(n):
        _run([*TRAILS, "exp", "run", "--queue", "-S", f"seed={round_ * 1000 + i + 1}"], repo)


def _logs(repo: Path) -> list[str]:
    base = repo / ".dvc" / "tmp" / "exps" / "run"
    return [p.read_text() for p in base.glob("*/output.log")]


def _clear_logs(repo: Path) -> None:
    shutil.rmtree(repo / ".dvc" / "tmp" / "exps" / "run", ignore_errors=True)


def _timed(repo: Path, extra: list[str]) -> tuple[float, float]:
    """Wall of one --run-all, and the seconds until the first stage began."""
    start = time.time()
    _STARTED.append(start)
    _run([*TRAILS, "exp", "run", "--run-all", "-j", str(JOBS), *extra], repo)
    wall = time.time() - start
    starts = [float(m) for log in _logs(repo) for m in re.findall(r"STAGE_START (\S+)", log)]
    return wall, (min(starts) - start) if starts else float("nan")


def _shipped(repo: Path) -> list[tuple[float, str, int, int]]:
    """(stage start, node, bundle bytes, fetched bytes) of each experiment,
    from its log."""
    pat = r"on node (\w+) \(received (\d+) bytes of Git bundles, fetched (\d+) bytes"
    out = []
    for log in _logs(repo):
        start = re.findall(r"STAGE_START (\S+)", log)
        for a, b, c in re.findall(pat, log):
            out.append((float(start[0]) if start else 0.0, a, int(b), int(c)))
    return out


def _write_trace(out: Path, raw: Path, repo: Path, round_: int) -> None:
    """The run's trace lines and its stages' starts, from its start."""
    lines = raw.read_text().splitlines() if raw.exists() else []
    events = [(float(t), f"{pid} {what}") for t, pid, what in (ln.split(" ", 2) for ln in lines)]
    events += [(float(m), "STAGE_START") for log in _logs(repo)
               for m in re.findall(r"STAGE_START (\S+)", log)]  # fmt: skip
    t0 = _STARTED[-1]
    with out.open("a") as f:
        f.write(f"# round {round_ + 1}, load {os.getloadavg()[0]:.1f}\n")
        for t, what in sorted(events):
            f.write(f"{t - t0:7.3f} {what}\n")


#: When each --run-all began.
_STARTED: list[float] = []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=16)
    ap.add_argument("--files", type=int, default=2000)
    ap.add_argument("--sleep", type=float, default=1.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--write", type=Path)
    ap.add_argument("--trace", type=Path)
    a = ap.parse_args()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from ray.cluster_utils import Cluster

    work = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    os.environ["TRAILS_RAY_SCRATCH"] = str(work / "scratch")
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    raw = work / "trace"
    if a.trace:
        os.environ["TRAILS_RAY_TRACE"] = str(raw)  # before the nodes start: they inherit it
    store = 80 * 2**20
    cluster = Cluster(
        initialize_head=True, connect=False,
        head_node_args={"num_cpus": 0, "object_store_memory": store, "include_dashboard": False},
    )  # fmt: skip
    for _ in range(2):
        cluster.add_node(num_cpus=1, object_store_memory=store)
    ray_args = ["--executor", "ray", "--address", cluster.address]
    try:
        repo = _project(work, a.files, a.sleep)
        ideal = a.n * a.sleep / JOBS
        rows: dict[str, list[tuple[float, float]]] = {"ray": [], "local": []}
        shipped: list[tuple[float, str, int, int]] = []
        loads = [os.getloadavg()[0]]
        for r in range(a.rounds):
            for kind, extra in (("ray", ray_args), ("local", [])):
                _clear_logs(repo)
                _queue(repo, a.n, r * 2 + (kind == "local"))
                raw.unlink(missing_ok=True)
                rows[kind].append(_timed(repo, extra))
                if a.trace and kind == "ray":
                    _write_trace(a.trace, raw, repo, r)
                loads.append(os.getloadavg()[0])
                if kind == "ray":
                    shipped += _shipped(repo)
        report = _report(a, ideal, rows, shipped, loads, work)
    finally:
        cluster.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    print(report)
    if a.write:
        a.write.write_text(report)


def _report(
    a: argparse.Namespace,
    ideal: float,
    rows: dict[str, list[tuple[float, float]]],
    shipped: list[tuple[float, str, int, int]],
    loads: list[float],
    work: Path,
) -> str:
    model, mem, fs, commit = machine_facts(work)
    wall = {k: statistics.median(w for w, _ in v) for k, v in rows.items()}
    first = {k: statistics.median(f for _, f in v) for k, v in rows.items()}
    over = {k: (wall[k] - ideal) * JOBS / a.n * 1000 for k in wall}
    # Less the start (connecting to the cluster, the first worker processes):
    # what each further experiment costs.
    steady = {k: (wall[k] - first[k] - ideal) * JOBS / a.n * 1000 for k in wall}
    seen: set[str] = set()
    first_on_node, later = [], []
    for _, node, bundles, fetched in sorted(shipped):
        (later if node in seen else first_on_node).append(bundles + fetched)
        seen.add(node)
    later_med = statistics.median(later) if later else float("nan")
    first_med = statistics.median(first_on_node) if first_on_node else float("nan")
    lines = [
        "# Ray executor (issue #17)",
        "",
        f"Machine: {os.cpu_count()} vCPU {model}, {mem:.0f} GiB, {fs} without reflinks, shared "
        f"and noisy; load average {min(loads):.1f}-{max(loads):.1f} (uptime) during the run; "
        f"trails {commit}.",
        f"Cluster: `ray.cluster_utils.Cluster`, a head with 0 CPUs and 2 worker nodes of 1 CPU, "
        f"all on this machine; cache remote: a local folder. {a.n} queued experiments, one stage "
        f"that sleeps {a.sleep:g} s and reads a `trails add`-ed folder of {a.files} files; "
        f"`--jobs {JOBS}`; medians of {a.rounds} round(s), the executors interleaved.",
        "",
        "| | Ray | local |",
        "|---|---|---|",
        f"| wall (s) | {wall['ray']:.2f} | {wall['local']:.2f} |",
        f"| ideal {a.n} x {a.sleep:g} s / {JOBS} (s) | {ideal:.2f} | {ideal:.2f} |",
        f"| wall / ideal | {wall['ray'] / ideal:.2f}x | {wall['local'] / ideal:.2f}x |",
        f"| overhead per experiment (ms) | {over['ray']:.0f} | {over['local']:.0f} |",
        f"| `--run-all` to first stage start (s) | {first['ray']:.2f} | {first['local']:.2f} |",
        f"| overhead per experiment after the start (ms) | {steady['ray']:.0f} | "
        f"{steady['local']:.0f} |",
        "",
        f"Ray's overhead per experiment is {over['ray'] - over['local']:.0f} ms more than the "
        f"local executor's at the same concurrency; after the start, "
        f"{steady['ray'] - steady['local']:.0f} ms.",
        "",
        f"Bytes shipped per experiment (Git bundles received + cache objects fetched), the first "
        f"on each node: median {first_med:.0f} B; every later one on a node: median "
        f"{later_med:.0f} B (n={len(later)}): the entry's commit only, the {a.files}-file input "
        "already in the node's cache.",
        "",
        f"Reproduce: `.venv/bin/python benches/bench_ray.py --n {a.n} --files {a.files} "
        f"--sleep {a.sleep:g} --rounds {a.rounds} --write benches/RESULTS-ray.md`",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
