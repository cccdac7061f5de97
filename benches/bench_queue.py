"""Queue benchmarks at many-core scale (issue #20 item 3), on sleep-bound
stages (they need no CPU, so this 2-core machine can run 32 at once):

- ``exp run --queue`` per call with 1,000 entries already queued, against
  the same call with (almost) none, and ``queue status`` with 1,000 entries;
- 256 experiments of one 1 s stage at ``--jobs 32`` and 16 at ``--jobs 2``:
  wall against the ideal (experiments / jobs x 1 s), and trails' own CPU
  per experiment (user + sys of every process the run started, git
  included, less the stages' own, measured alone in the same run);
- 8 experiments at ``--jobs 2`` whose stage depends on 2,000 and on 20,000
  Git-tracked files: the overhead per experiment must not grow with them
  (a worker moves its folder from one commit to the next by their diff).

Run by ``make bench``; writes ``benches/RESULTS-queue.md``. The CPU figure
counts every descendant: this process is a child subreaper
(``PR_SET_CHILD_SUBREAPER``), so any process orphaned when the CLI exits
(a forkserver, on a terminal) is reaped here and its time counted.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import machine_facts

HERE = Path(__file__).resolve().parent
TRAILS = [sys.executable, "-m", "trails"]
PR_SET_CHILD_SUBREAPER = 36


def _subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def _reap_orphans() -> None:
    """Wait for every descendant left (the forkserver exits once the CLI
    that started it is gone), so that its time is counted."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@dataclass
class Run:
    wall: float
    cpu: float
    out: str


#: As a user's machine runs trails: with its modules' bytecode cached (a
#: session here may set PYTHONDONTWRITEBYTECODE, and then every process
#: compiles trails' sources again: ~0.1 s of each call).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(cwd: Path, *args: str, check: bool = True) -> Run:
    cpu0, t0 = _cpu(), time.perf_counter()
    p = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    _reap_orphans()
    if check and p.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return Run(wall, _cpu() - cpu0, p.stdout)


def trails(cwd: Path, *args: str, check: bool = True) -> Run:
    return run(cwd, *TRAILS, *args, check=check)


STAGE_CMD = "sleep 1"


def _queue_floor(root: Path, reps: int) -> tuple[float, int]:
    """What an ``exp run --queue`` cannot go below: the interpreter with the
    native module loaded, plus as many git processes as the call starts
    (counted by a ``git`` on PATH that logs and hands over), each at the
    cost of the cheapest one. Tells a goal missed by Python's work from
    one missed by the processes it needs."""
    shim = root.parent / "git-shim"
    shim.mkdir(exist_ok=True)
    log = shim / "calls.log"
    real = shutil.which("git", path=ENV.get("PATH"))
    (shim / "git").write_text(f'#!/bin/sh\necho x >> "{log}"\nexec "{real}" "$@"\n')
    (shim / "git").chmod(0o755)
    env = {**ENV, "PATH": f"{shim}{os.pathsep}{ENV.get('PATH', '')}"}
    subprocess.run([*TRAILS, "exp", "run", "--queue", "-S", "units=-1"], cwd=root, env=env,
                   capture_output=True, check=True)  # fmt: skip
    gits = len(log.read_text().splitlines())
    start = statistics.median(
        run(root, sys.executable, "-c", "import trails._core").wall for _ in range(reps)
    )
    one = statistics.median(run(root, "git", "rev-parse", "HEAD").wall for _ in range(reps * 3))
    return start + gits * one, gits


def project(work: Path, name: str, files: int = 0) -> Path:
    """A Git project whose one stage sleeps 1 s and reads ``units``; with
    ``files``, it also depends on a folder of that many Git-tracked files."""
    root = work / name
    shutil.rmtree(root, ignore_errors=True)
    (root / "data").mkdir(parents=True)
    for i in range(files):
        (root / "data" / f"{i // 1000:03d}").mkdir(exist_ok=True)
        (root / "data" / f"{i // 1000:03d}" / f"f{i}.txt").write_text(f"{i}\n" * 8)
    deps = "    deps: [data]\n" if files else ""
    (root / "dvc.yaml").write_text(
        f"stages:\n  train:\n    cmd: {STAGE_CMD}\n{deps}    params: [units]\n"
    )
    (root / "params.yaml").write_text("units: 0\n")
    for args in (["init", "-q"], ["config", "user.email", "b@x"], ["config", "user.name", "b"]):
        run(root, "git", *args)
    trails(root, "init")
    trails(root, "repro")
    run(root, "git", "add", "-A")
    run(root, "git", "commit", "-qm", "baseline")
    return root


def stage_cpu(work: Path, n: int) -> float:
    """CPU of one stage command alone (the shell and ``sleep``), in s."""
    runs = [run(work, "sh", "-c", STAGE_CMD.replace("1", "0")).cpu for _ in range(n)]
    return statistics.median(runs)


@dataclass
class QueueRun:
    n: int
    jobs: int
    wall: float
    cpu_per_exp_ms: float

    @property
    def ideal(self) -> float:
        return -(-self.n // self.jobs) * 1.0

    @property
    def ratio(self) -> float:
        return self.wall / self.ideal

    @property
    def overhead_ms(self) -> float:
        """Wall beyond the ideal, per experiment in its slot."""
        return (self.wall - self.ideal) * self.jobs / self.n * 1000


def queue_run(root: Path, n: int, jobs: int, per_stage: float) -> QueueRun:
    trails(root, "exp", "run", "--queue", "-S", f"units=range(1,{n + 1})")
    r = trails(root, "exp", "run", "--run-all", "--jobs", str(jobs))
    if r.out.count("done as") != n:
        raise SystemExit(f"{n} experiments expected:\n{r.out}")
    own = (r.cpu - n * per_stage) / n * 1000
    trails(root, "queue", "remove", "--all")
    return QueueRun(n, jobs, r.wall, own)


def median_ms(xs: list[float]) -> str:
    return f"{statistics.median(xs) * 1000:.0f} ms [{min(xs) * 1000:.0f}-{max(xs) * 1000:.0f}]"


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--write", type=Path, help="write the Markdown results to this file")
    p.add_argument("--quick", action="store_true", help="small smoke run (sizes / 10)")
    p.add_argument("--calls", type=int, default=1000, help="entries queued for the call rows")
    p.add_argument("--big", type=int, default=256, help="experiments of the many-jobs row")
    p.add_argument("--big-jobs", type=int, default=32, help="--jobs of the many-jobs row")
    p.add_argument("--small", type=int, default=16, help="experiments of the -j2 row")
    p.add_argument("--files", type=int, nargs=2, default=(2000, 20000), metavar=("FEW", "MANY"),
                   help="Git-tracked files of the two tracked-files rows")  # fmt: skip
    p.add_argument("--files-n", type=int, default=8, help="experiments of each tracked-files run")
    p.add_argument("--reps", type=int, default=7, help="whole processes per call row")
    p.add_argument("--only", choices=("calls", "jobs", "files"), action="append",
                   help="run only these parts (repeatable; default: all)")  # fmt: skip
    a = p.parse_args()
    if a.quick:
        a.calls, a.big, a.reps = 100, 32, 3
        a.files = (a.files[0] // 10, a.files[1] // 10)
    return a


def main() -> int:
    args = _args()
    parts = set(args.only or ("calls", "jobs", "files"))
    _subreaper()
    work = HERE / "work" / "queue"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    many, big_n, reps = args.calls, args.big, args.reps
    files_small, files_big = args.files
    per_stage = stage_cpu(work, 10)
    load_start = os.getloadavg()[0]
    med = statistics.median
    yes = {True: "yes", False: "**NO**"}
    rows: list[str] = []

    if "calls" in parts:
        print("queue calls", file=sys.stderr)
        small = project(work, "calls")
        empty = [trails(small, "exp", "run", "--queue", "-S", f"units={i}").wall
                 for i in range(reps)]  # fmt: skip
        trails(small, "queue", "remove", "--all")
        trails(small, "exp", "run", "--queue", "-S", f"units=range(1000,{1000 + many})")
        full = [trails(small, "exp", "run", "--queue", "-S", f"units={i}").wall
                for i in range(reps)]  # fmt: skip
        status = [trails(small, "queue", "status").wall for _ in range(reps)]
        floor, gits = _queue_floor(small, reps)
        trails(small, "queue", "remove", "--all")
        rows += [
            f"| `exp run --queue`, {many} entries queued | {median_ms(full)} | with none queued: "
            f"{median_ms(empty)}, **{med(full) / med(empty):.2f}x** | < 100 ms | "
            f"{yes[med(full) < 0.1]} |",
            f"| floor of `exp run --queue`: `python -c 'import trails._core'` + its {gits} git "
            f"processes (each timed as `git rev-parse HEAD`) | {floor * 1e3:.0f} ms | "
            f"the call / the floor: **{med(full) / floor:.1f}x** | (information) | - |",
            f"| `queue status`, {many + reps} entries | {median_ms(status)} | - | < 0.2 s | "
            f"{yes[med(status) < 0.2]} |",
        ]
    if "jobs" in parts:
        print(f"{big_n} x 1 s at -j{args.big_jobs}", file=sys.stderr)
        big = queue_run(project(work, "big"), big_n, args.big_jobs, per_stage)
        print(f"{args.small} x 1 s at -j2", file=sys.stderr)
        j2 = queue_run(project(work, "j2"), args.small, 2, per_stage)
        for r, target in ((big, True), (j2, False)):
            rows.append(
                f"| {r.n} x 1 s stage at `--jobs {r.jobs}`: wall | {r.wall:.2f} s | ideal "
                f"{r.ideal:.0f} s, **{r.ratio:.2f}x** | "
                + (f"<= 1.1x | {yes[r.ratio <= 1.1]} |" if target else "- | - |")
            )
            rows.append(
                f"| same: trails' own CPU per experiment | {r.cpu_per_exp_ms:.1f} ms | - | "
                f"<= 30 ms | {yes[r.cpu_per_exp_ms <= 30]} |"
            )
    if "files" in parts:
        n = args.files_n
        print(f"{n} x 1 s at -j2 over {files_small} and {files_big} tracked files", file=sys.stderr)
        runs: dict[int, tuple[QueueRun, QueueRun]] = {}
        for nfiles in (files_small, files_big):
            root = project(work, f"files-{nfiles}", nfiles)
            # The first run checks each kept folder out; the second moves them.
            runs[nfiles] = (queue_run(root, n, 2, per_stage), queue_run(root, n, 2, per_stage))
        for nfiles, pair in runs.items():
            for r, when in zip(pair, ("first run (each folder checked out)", "next run"),
                               strict=True):  # fmt: skip
                rows.append(
                    f"| {n} x 1 s at `--jobs 2`, stage depends on {nfiles:,} Git-tracked files, "
                    f"{when}: overhead per experiment | {r.overhead_ms:.0f} ms (CPU "
                    f"{r.cpu_per_exp_ms:.0f} ms) | wall {r.ratio:.2f}x ideal | - | - |"
                )
        for k, when in ((0, "first run"), (1, "next run")):
            few, lots = runs[files_small][k], runs[files_big][k]
            growth = lots.overhead_ms / max(few.overhead_ms, 1.0)
            rows.append(
                f"| {when}: overhead over {files_big:,} files / over {files_small:,} files | "
                f"**{growth:.2f}x** | CPU {lots.cpu_per_exp_ms / max(few.cpu_per_exp_ms, 1.0):.2f}x"
                f" | the same (~1x) | {yes[growth <= 1.5]} |"
            )
    shutil.rmtree(work, ignore_errors=True)
    load_end = os.getloadavg()[0]
    model, mem_gib, fstype, commit = machine_facts(HERE)
    text = "\n".join(
        [
            "# trails queue benchmarks",
            "",
            "Written by `make bench` (`benches/bench_queue.py`); do not edit by hand.",
            "",
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; commit: {commit}",
            f"- CPUs: {os.cpu_count()} ({model}), RAM {mem_gib:.1f} GiB, file system {fstype};"
            " shared and noisy",
            f"- times: median [min-max] of {reps} whole processes; queue runs once each",
            f"- load average (1 min) at the start / end: {load_start:.1f} / {load_end:.1f} (other"
            " processes share the 2 CPUs: above ~2, every figure here is inflated)",
            "",
            "| measure | trails | reference | target | met? |",
            "|---|---|---|---|---|",
            *rows,
            "",
            "- Ideal: experiments / jobs x 1 s (the stage sleeps 1 s). Overhead per experiment:"
            " (wall - ideal) x jobs / experiments, the time each holds its slot beyond its stage.",
            "- CPU: user + sys of every process the `--run-all` started (the CLI, its long-lived"
            " workers, git, the stages), less the stages' own (the shell and `sleep`,"
            f" {per_stage * 1000:.1f} ms each, measured alone in the same run), per experiment.",
            "- Tracked files: the stage depends on a folder of that many Git-tracked files; a"
            " worker keeps its folder and moves it from one experiment's commit to the next by"
            " their diff (`Git.move_folder`), so an experiment that changes one param writes one"
            " file. Kept folders (at most 2 x jobs) outlive the run: the first run of a project"
            " checks each out once (over 8 experiments at `--jobs 2`, half of them pay a full"
            " checkout, whose cost is creating the files), the next run moves them. What still"
            " grows with the tree in a moved folder: Git's stat of the index at the snapshot"
            " (`git add -A`), the untracked walk (`git clean`), Git's read and write of the"
            " kept index (`read-tree -m`) and the stage's dependency check (a stat of each"
            " file); the folder's pipeline files are listed from its kept index past ~4,500"
            " files (`files.adopt_index`), not by a walk.",
            f"- Command: `python benches/bench_queue.py [--only calls|jobs|files] [--calls N]"
            f" [--big N --big-jobs J] [--small N] [--files FEW MANY --files-n N] [--reps N]`;"
            f" this run: {' '.join(sys.argv[1:]) or '(defaults)'}.",
            "",
        ]
    )
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
