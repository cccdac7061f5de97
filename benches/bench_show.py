"""``exp show`` at scale (issue #19): ``exp show --json`` of 5 baselines x
100 experiments while a queue runs, ``exp show`` of 10,000 experiments on
10 baselines (warm and cold per-commit cache), and ``exp show --json`` of
100 experiments against the reference tool (DVC 3.67.1, its own
virtualenv, as ``bench_dvc.py`` builds it) on the same project.

Experiments are made with one ``git fast-import`` (a commit per experiment
on its baseline, with its own params and metrics, under
``refs/exps/<2>/<38>/<name>``, the layout both tools read), so making
10,000 of them takes seconds, not hours of runs. Whole processes are
timed, as a user (or the VS Code extension) runs them.

Run: ``.venv/bin/python benches/bench_show.py --write benches/RESULTS-show.md``
(``make bench`` does)."""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import Sample, log, machine_facts

HERE = Path(__file__).resolve().parent
TRAILS = [sys.executable, "-m", "trails"]
PY = os.path.realpath(sys.executable)
# .pyc files are written and used, as an installed trails has them.
GIT_ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
           "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b",
           "GIT_COMMITTER_EMAIL": "b@b", "DVC_NO_ANALYTICS": "1"}  # fmt: skip

TRAIN = """\
import json, time, yaml
p = yaml.safe_load(open("params.yaml"))
time.sleep(p["train"]["sleep"])
json.dump({"loss": 1 / (1 + p["train"]["lr"]), "acc": p["train"]["lr"]}, open("metrics.json", "w"))
"""
PIPELINE = f"""\
stages:
  train:
    cmd: {PY} train.py
    deps: [train.py]
    params: [train]
    metrics:
      - metrics.json:
          cache: false
"""


def params(lr: float, sleep: float = 0) -> str:
    return f"train:\n  lr: {lr}\n  sleep: {sleep}\n  layers: 4\nseed: 7\n"


def metrics(lr: float) -> str:
    return json.dumps({"loss": 1 / (1 + lr), "acc": lr})


def sh(cwd: Path, *argv: str | os.PathLike[str]) -> str:
    done = subprocess.run([os.fspath(a) for a in argv], cwd=cwd, env=GIT_ENV,
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))}: {done.stderr[-2000:]}")
    return done.stdout


def project(root: Path, tool: list[str], baselines: int) -> list[str]:
    """A repository with ``baselines`` commits of the pipeline, each run
    by ``tool``; their commits, oldest first."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, *tool, "init")
    (root / "train.py").write_text(TRAIN)
    (root / "dvc.yaml").write_text(PIPELINE)
    shas = []
    for b in range(baselines):
        (root / "params.yaml").write_text(params(b / 10))
        sh(root, *tool, "repro")
        sh(root, "git", "add", "-A")
        sh(root, "git", "commit", "-qm", f"baseline {b}")
        shas.append(sh(root, "git", "rev-parse", "HEAD").strip())
    return shas


def experiments(root: Path, baselines: list[str], per: int) -> None:
    """``per`` experiments on each baseline, through one ``git fast-import``."""
    lines: list[str] = []
    mark = 0
    for b in baselines:
        for i in range(per):
            lr = round(0.001 * (i + 1), 6)
            mark += 1
            ref = f"refs/exps/{b[:2]}/{b[2:]}/e{i:05d}"
            blobs = {"params.yaml": params(lr), "metrics.json": metrics(lr)}
            lines += [f"commit {ref}", f"mark :{mark}",
                      f"committer b <b@b> {1_700_000_000 + mark} +0000",
                      "data 3", "exp", f"from {b}"]  # fmt: skip
            for path, text in blobs.items():
                data = text.encode()
                lines += [f"M 100644 inline {path}", f"data {len(data)}", data.decode()]
            lines.append("")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=root, env=GIT_ENV, check=True,
                   input="\n".join(lines) + "\n", text=True)  # fmt: skip
    # Packed, as the queue run that made them leaves them (``refs.pack_many``).
    subprocess.run(["git", "pack-refs", "--all"], cwd=root, env=GIT_ENV, check=True)


def cache_file(root: Path) -> Path:
    return root / ".dvc" / "tmp" / "trails" / "exp-show-cache.json"


class Timed:
    """Wall and CPU times (user + system of the process and the git
    processes it waited for) of repeated runs: on a shared machine the CPU
    time is the steadier figure, the wall time what a user waits."""

    def __init__(self) -> None:
        self.wall, self.cpu = Sample(), Sample()
        self.out = ""

    def run(self, root: Path, argv: list[str]) -> None:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        self.out = sh(root, *argv)
        self.wall.times.append(time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpu.times.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)

    def fmt(self) -> str:
        return f"{self.wall.fmt()} (CPU {self.cpu.fmt()})"


def timed(argv: list[str], root: Path, reps: int, cold: bool = False) -> Timed:
    """``reps`` runs after one warm-up; ``cold``: no per-commit cache."""
    got = Timed()
    sh(root, *argv)
    for _ in range(reps):
        if cold:
            cache_file(root).unlink(missing_ok=True)
        got.run(root, argv)
    log(f"  {' '.join(argv[2:])}{' (cold)' if cold else ''}: {got.fmt()}")
    return got


def count(doc_text: str) -> int:
    doc = json.loads(doc_text)
    return sum(len(r["revs"]) for top in doc[1:] for r in top["experiments"] or [])


def queue_running(root: Path) -> None:
    """Two queued experiments whose stage sleeps, and the workers started:
    ``exp show`` is then timed while a queue runs."""
    for lr in (0.5, 0.6):
        sh(root, *TRAILS, "exp", "run", "--queue", "-S", "train.sleep=600", "-S", f"train.lr={lr}")
    sh(root, *TRAILS, "queue", "start", "-j", "1")
    deadline = time.monotonic() + 60
    while "running" not in sh(root, *TRAILS, "queue", "status"):
        if time.monotonic() > deadline:
            raise RuntimeError("the queue never started running")
        time.sleep(0.2)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--write", type=Path, help="write the Markdown results to this file")
    p.add_argument("--quick", action="store_true", help="small smoke run")
    args = p.parse_args()
    work = HERE / "work" / "show"
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(HERE.parent / "python")],
                   check=False, env=GIT_ENV)  # fmt: skip
    reps = 3 if args.quick else 7
    big_b, big_n = (2, 200) if args.quick else (10, 1000)

    log("5 baselines x 100 experiments, a queue running")
    root = work / "five"
    experiments(root, project(root, TRAILS, 5), 100)
    queue_running(root)
    show5 = [*TRAILS, "exp", "show", "-n", "5", "--json"]
    n5 = count(sh(root, *show5))
    warm5 = timed(show5, root, reps)
    cold5 = timed(show5, root, reps, cold=True)
    sh(root, *TRAILS, "queue", "stop", "--kill")

    log(f"{big_b} baselines x {big_n} experiments")
    root = work / "big"
    experiments(root, project(root, TRAILS, big_b), big_n)
    table = [*TRAILS, "exp", "show", "-n", str(big_b), "--no-pager"]
    warm_big = timed(table, root, reps)
    cold_big = timed(table, root, max(3, reps // 2), cold=True)

    log("100 experiments: trails and the reference tool")
    sys.path.insert(0, str(HERE))
    import bench_dvc

    dvc = bench_dvc.ensure_dvc(bench_dvc.DVC_VENV)
    pair = {}
    for name, tool in (("trails", TRAILS), ("dvc", [str(dvc)])):
        root = work / f"pair-{name}"
        experiments(root, project(root, tool, 1), 100)
        pair[name] = root
    show = ["exp", "show", "--json"]
    argv = {"trails": [*TRAILS, *show], "dvc": [str(dvc), *show]}
    got = {n: Timed() for n in pair}
    for n in pair:
        sh(pair[n], *argv[n])  # warm each tool's own per-commit cache
    for rep in range(reps):  # interleaved, so drift lands on both
        for n in list(pair) if rep % 2 == 0 else reversed(list(pair)):
            got[n].run(pair[n], argv[n])
    assert count(got["trails"].out) == count(got["dvc"].out) == 100
    ratio = got["dvc"].wall.median / got["trails"].wall.median
    cpu_ratio = got["dvc"].cpu.median / got["trails"].cpu.median
    shutil.rmtree(work, ignore_errors=True)

    model, mem_gib, fstype, commit = machine_facts(HERE)

    def ok(t: Timed, limit: float) -> str:
        def v(s: Sample) -> str:
            return "yes" if s.median < limit else "**NO**"

        return f"wall {v(t.wall)}, CPU {v(t.cpu)}"

    text = "\n".join([
        "# trails `exp show` benchmarks",
        "",
        "Written by `make bench` (`benches/bench_show.py`); do not edit by hand.",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; commit: {commit}",
        f"- machine: {os.cpu_count()} vCPU ({model}), RAM {mem_gib:.1f} GiB, file system "
        f"{fstype} without reflinks; shared and noisy",
        f"- times: whole processes, median [min-max] of {reps}; wall, and (CPU: user + system"
        " of the process and its git children), the steadier figure on this shared machine;"
        f" load average at the start: {load}",
        "",
        "| measure | trails | reference | target | met? |",
        "|---|---|---|---|---|",
        f"| `exp show -n 5 --json`, 5 baselines x 100 experiments ({n5} revisions), a queue"
        f" running, warm | {warm5.fmt()} | - | < 300 ms | {ok(warm5, 0.3)} |",
        f"| the same, cold (no per-commit cache) | {cold5.fmt()} | - | - | - |",
        f"| `exp show` (table) of {big_b * big_n:,} experiments on {big_b} baselines, warm |"
        f" {warm_big.fmt()} | - | < 0.5 s | {ok(warm_big, 0.5)} |",
        f"| the same, cold | {cold_big.fmt()} | - | < 2 s | {ok(cold_big, 2.0)} |",
        f"| `exp show --json` of 100 experiments, warm | {got['trails'].fmt()} |"
        f" DVC {bench_dvc.DVC_VERSION}: {got['dvc'].fmt()}; **{ratio:.1f}x** wall,"
        f" {cpu_ratio:.1f}x CPU | - | - |",
        "",
        "- Experiments are commits made by `git fast-import` on their baseline (params and"
        " metrics differ per experiment), the refs both tools list; baselines are real runs.",
        "- Warm: after one run (trails' `.dvc/tmp/trails/exp-show-cache.json`, DVC's own"
        " `.dvc/tmp/exps/cache`); cold: trails' cache removed before each run (files in the"
        " page cache).",
        "- The queue: two entries whose stage sleeps, one worker (`queue start -j 1`), so one"
        " is running and shown with its folder's metrics, the other queued.",
        "",
    ])  # fmt: skip
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
