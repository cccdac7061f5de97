"""Benchmarks of trails against the reference tool, DVC 3.67.1, on the same projects.

Each workload is built twice, as two identical Git repositories (same
``dvc.yaml``, ``params.yaml``, data and stage script), one driven by ``dvc``
and one by ``trails``. Every figure is a ratio against DVC measured in the same
run, with the repetitions of the two tools interleaved; DVC gets fewer
repetitions where it takes tens of seconds. Each time is ``median [min-max]``
and each ratio a ratio of medians.

Every tool command runs under a small intermediate Python process (``PROBE``)
that is a child subreaper: it times the command, then collects every process
the command left behind (DVC's queue workers detach themselves), and reports
the peak RSS of the largest process of the tree (``RUSAGE_CHILDREN``) and the
bytes the tree wrote (``write_bytes`` of ``/proc/self/io``, into which Linux
folds the counters of every reaped descendant).

DVC is installed by this script into its own virtualenv, ``benches/work/dvc-venv``
(reused when it already holds the right version); it is never a dependency of
trails. Run ``make bench`` (``.venv/bin/python benches/bench_dvc.py --write
benches/RESULTS-dvc.md``); ``--quick`` is a smoke run with small workloads whose
figures mean little. Scratch projects live in ``benches/work/dvc-bench/`` and
are deleted at the end.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import random
import re
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from bench import (
    Sample,
    Table,
    ensure_venv,
    first_line,
    log,
    machine_facts,
    make_big_file,
    verdict,
)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DVC_VERSION = "3.67.1"
DVC_VENV = HERE / "work" / "dvc-venv"
TRAILS_EXE = Path(sys.executable).parent / "trails"
#: The interpreter the stage commands run with (the venv's base Python, by
#: absolute path: the ``python3`` on PATH here is a slow pyenv shim script).
STAGE_PY = os.path.realpath(sys.executable)
GIT_ID = ["-c", "user.name=b", "-c", "user.email=b@b"]
MiB = 1 << 20
GiB = 1 << 30
#: Data files are aged by this much, past both tools' racy-timestamp windows.
AGE_SECONDS = 3600.0
SEED = 20240601


@dataclass(frozen=True)
class Config:
    """Workload sizes and repetition counts; ``quick`` is a smoke run."""

    quick: bool
    # 1. pipeline over many files
    w1_files: int
    w1_dirs: int
    first_reps: tuple[int, int]  # (trails, dvc)
    noop_reps: tuple[int, int]
    touch_reps: tuple[int, int]
    # 2. experiments
    baselines: int
    exps_per_baseline: tuple[int, int]
    show_reps: tuple[int, int]
    # 3. queue
    big_size: int
    w3_files: int
    queued: int
    train_sleep: float
    queue_reps: tuple[int, int]
    queue_timeout: float
    # 4. data tracking
    w4_files: int
    w4_dirs: int
    w4_big: int
    add_reps: tuple[int, int]  # the plain-read floor gets the trails count
    readd_reps: tuple[int, int]
    w4_status_reps: tuple[int, int]
    checkout_reps: tuple[int, int]  # cp -al gets the trails count
    big_add_reps: tuple[int, int]

    @staticmethod
    def make(quick: bool) -> Config:
        if quick:
            return Config(
                True,
                w1_files=2_000,
                w1_dirs=16,
                first_reps=(2, 1),
                noop_reps=(2, 1),
                touch_reps=(2, 1),
                baselines=3,
                exps_per_baseline=(10, 2),
                show_reps=(2, 1),
                big_size=32 * MiB,
                w3_files=500,
                queued=4,
                train_sleep=0.2,
                queue_reps=(1, 1),
                queue_timeout=300,
                w4_files=2_000,
                w4_dirs=16,
                w4_big=64 * MiB,
                add_reps=(1, 1),
                readd_reps=(1, 1),
                w4_status_reps=(1, 1),
                checkout_reps=(1, 1),
                big_add_reps=(1, 1),
            )
        return Config(
            False,
            w1_files=100_000,
            w1_dirs=256,
            first_reps=(3, 2),
            noop_reps=(5, 3),
            touch_reps=(5, 3),
            baselines=10,
            exps_per_baseline=(100, 10),
            show_reps=(5, 2),
            big_size=GiB,
            w3_files=10_000,
            queued=8,
            train_sleep=1.0,
            queue_reps=(3, 1),
            queue_timeout=900,
            w4_files=100_000,
            w4_dirs=256,
            w4_big=2 * GiB,
            add_reps=(3, 1),
            readd_reps=(3, 2),
            w4_status_reps=(3, 2),
            checkout_reps=(3, 1),
            big_add_reps=(3, 1),
        )


# --------------------------------------------------------------------------- running tools

#: ``python -S -c PROBE OUT TIMEOUT GRACE ARGV...``: runs ARGV in its own
#: session as a child subreaper, so that daemonised descendants come back to
#: it; writes a JSON record to OUT. The wall time is the main command's
#: (from spawn to exit); the tree's leftovers are then reaped for up to GRACE
#: seconds (and killed after that) so that their RSS and I/O are counted.
PROBE = r"""
import ctypes, json, os, resource, signal, sys, time
out, timeout, grace, argv = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4:]
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
state = {"timed_out": False}
def kids():
    found = []
    for t in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{t}/children") as f:
                found += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return found
def kill_all():
    for k in kids():
        for fn in (os.killpg, os.kill):
            try:
                fn(k, signal.SIGKILL)
            except OSError:
                pass
t0 = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ, setsid=True)
def on_alarm(signum, frame):
    state["timed_out"] = True
    kill_all()
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, timeout)
_, status, _ = os.wait4(pid, 0)
wall = time.perf_counter() - t0
signal.setitimer(signal.ITIMER_REAL, 0)
left = len(kids())
deadline = time.monotonic() + grace
while kids():
    if time.monotonic() > deadline:
        kill_all()
    try:
        os.wait4(-1, os.WNOHANG)
    except ChildProcessError:
        break
    time.sleep(0.05)
io = {}
with open("/proc/self/io") as f:
    for line in f:
        k, v = line.split(":")
        io[k] = int(v)
with open(out, "w") as f:
    json.dump({
        "code": os.waitstatus_to_exitcode(status), "wall": wall, "left": left,
        "linger": time.perf_counter() - t0 - wall, "timed_out": state["timed_out"],
        "maxrss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        "write_bytes": io["write_bytes"], "cancelled": io["cancelled_write_bytes"],
    }, f)
"""


@dataclass
class Run:
    """One command run under the probe."""

    argv: list[str]
    code: int
    wall: float
    maxrss: int  # bytes, largest process of the tree
    write_bytes: int
    output: str
    left: int  # processes still alive when the main command exited
    linger: float  # seconds they took to go away
    timed_out: bool

    @property
    def ok(self) -> bool:
        return self.code == 0 and not self.timed_out


def probe(
    argv: Sequence[str], cwd: Path, env: dict[str, str], timeout: float = 3600, grace: float = 120
) -> Run:
    """Run ``argv`` under the probe; its output is captured, never shown."""
    fd, out = tempfile.mkstemp(prefix="probe-", suffix=".json")
    os.close(fd)
    try:
        done = subprocess.run(
            [sys.executable, "-S", "-c", PROBE, out, str(timeout), str(grace), *argv],
            cwd=cwd,
            env=env,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        text = (done.stdout + done.stderr).decode(errors="replace")
        if done.returncode != 0:
            raise RuntimeError(f"probe failed ({done.returncode}) for {list(argv)}: {text[-2000:]}")
        rec = json.loads(Path(out).read_text())
    finally:
        os.unlink(out)
    return Run(
        list(argv),
        int(rec["code"]),
        float(rec["wall"]),
        int(rec["maxrss_kib"]) * 1024,
        int(rec["write_bytes"]),
        text,
        int(rec["left"]),
        float(rec["linger"]),
        bool(rec["timed_out"]),
    )


class ToolError(Exception):
    """A tool command failed: the exact command, where, and its output."""

    def __init__(self, tool: str, root: Path, run: Run) -> None:
        how = "timed out" if run.timed_out else f"exited with {run.code}"
        cmd = " ".join([tool, *run.argv[1:]])
        super().__init__(f"`{cmd}` (in {root}) {how}:\n{run.output.strip()[-3000:]}")


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        DVC_NO_ANALYTICS="1",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        COLUMNS="200",
        PAGER="cat",
    )
    return env


@dataclass(frozen=True)
class Tool:
    name: str
    exe: Path
    env: dict[str, str]

    @staticmethod
    def make(name: str, exe: Path, **extra_env: str) -> Tool:
        env = base_env()
        # DVC's queue starts its workers as `dvc` from PATH.
        env["PATH"] = f"{exe.parent}{os.pathsep}{env.get('PATH', '')}"
        env.update(extra_env)
        return Tool(name, exe, env)


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *GIT_ID, *args], cwd=root, env=base_env(), capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {root}: {done.stderr.decode()}")
    return done.stdout.decode()


@dataclass
class Project:
    """One copy of a workload, driven by one tool."""

    tool: Tool
    root: Path

    @property
    def name(self) -> str:
        return self.tool.name

    def run(self, *args: str, check: bool = True, timeout: float = 3600, grace: float = 120) -> Run:
        r = probe([str(self.tool.exe), *args], self.root, self.tool.env, timeout, grace)
        if check and not r.ok:
            raise ToolError(self.name, self.root, r)
        return r

    def git(self, *args: str) -> str:
        return git(self.root, *args)

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def exp_refs(self, baseline: str) -> int:
        """Experiments recorded on a baseline (DVC's ref layout, which trails shares)."""
        prefix = f"refs/exps/{baseline[:2]}/{baseline[2:]}/"
        return len(self.git("for-each-ref", "--format=%(refname)", prefix).splitlines())


def new_project(tool: Tool, root: Path, files: dict[str, str]) -> Project:
    """A Git repository with the tool initialised, ``files`` written and committed."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    p = Project(tool, root)
    p.git("init", "-q")
    p.git("config", "user.name", "b")
    p.git("config", "user.email", "b@b")
    if tool.name == "dvc":
        p.run("init", "-q")
        for key, value in (
            ("core.analytics", "false"),
            ("core.autostage", "false"),
            ("core.check_update", "false"),
        ):
            p.run("config", key, value)
    else:
        p.run("init")
    for rel, text in files.items():
        (root / rel).write_text(text)
    p.commit("init")
    return p


def pair(work: Path, files: dict[str, str], tools: Sequence[Tool]) -> list[Project]:
    return [new_project(t, work / t.name, files) for t in tools]


# --------------------------------------------------------------------------- trails snapshot


def snapshot_trails(dest: Path) -> str:
    """Copy trails' Python package (native module included) out of the work
    tree, byte-compiled, so that edits made while the benchmark runs do not
    change what it measures; the ``trails`` command then imports it through
    ``PYTHONPATH``. Returns a digest of the copied files."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(
        REPO / "python" / "trails",
        dest / "trails",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    h = hashlib.sha256()
    for f in sorted(dest.rglob("*")):
        if f.is_file():
            h.update(f.relative_to(dest).as_posix().encode() + b"\0" + f.read_bytes())
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(dest / "trails")],
        check=True,
        capture_output=True,
    )
    return h.hexdigest()[:12]


# --------------------------------------------------------------------------- DVC install


def ensure_dvc(venv: Path) -> Path:
    """``dvc==DVC_VERSION`` in its own virtualenv, installed if missing or wrong."""
    if not (venv / "bin" / "dvc").exists() and venv.exists():
        shutil.rmtree(venv)
    ensure_venv(venv, "dvc", DVC_VERSION)
    return venv / "bin" / "dvc"


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Step:
    """A timed command with its own repetition count and an untimed set-up."""

    name: str
    run: Callable[[], Run]
    reps: int
    setup: Callable[[], None] | None = None


def measure(steps: Sequence[Step]) -> dict[str, list[Run]]:
    """Run each step ``reps`` times, alternating the order (A B, B A, ...), so that
    drift on a shared machine lands on both tools; no warm-up (each workload
    states what ran before)."""
    results: dict[str, list[Run]] = {s.name: [] for s in steps}
    for rep in range(max(s.reps for s in steps)):
        order = [s for s in steps if rep < s.reps]
        for s in order if rep % 2 == 0 else reversed(order):
            if s.setup is not None:
                s.setup()
            results[s.name].append(s.run())
        log(
            f"  rep {rep + 1}: "
            + ", ".join(f"{s.name} {results[s.name][-1].wall:.3f}s" for s in order)
        )
    return results


def sample(runs: Sequence[Run]) -> Sample:
    return Sample(times=[r.wall for r in runs])


def secs(x: float) -> str:
    """A duration in a unit that fits."""
    if abs(x) >= 1:
        return f"{x:.3g} s" if abs(x) < 100 else f"{x:.0f} s"
    return f"{x * 1e3:.3g} ms"


def mb(values: Sequence[int]) -> str:
    med = statistics.median(values)
    return f"{med / 1e6:.0f} MB [{min(values) / 1e6:.0f}-{max(values) / 1e6:.0f}]"


def size_text(n: int) -> str:
    return f"{n / GiB:g} GiB" if n >= GiB else f"{n / MiB:g} MiB"


def xfaster(ref: float, ours: float) -> str:
    return f"{ref / ours:.1f}x" if ours > 0 else "inf"


@dataclass
class Report:
    """Tables in order, and what went wrong (tool failures, surprising output)."""

    tables: list[Table] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        log("PROBLEM: " + text.splitlines()[0])
        self.problems.append(text)

    def expect(self, ok: bool, what: str, run: Run | None = None) -> None:
        if not ok:
            if run is None:
                self.problem(what)
                return
            cmd = " ".join([Path(run.argv[0]).name, *run.argv[1:]])
            self.problem(f"{what} (`{cmd}`):\n{run.output.strip()[-1500:]}")

    def check(self, res: dict[str, list[Run]], ok: Callable[[str], bool], what: str) -> None:
        """Check every run's output; report the first failure of each tool."""
        for name, runs in res.items():
            bad = [r for r in runs if not ok(r.output)]
            if bad:
                self.expect(False, f"{name}: {what} ({len(bad)} of {len(runs)} runs)", bad[0])


# --------------------------------------------------------------------------- project files

STAGE_SCRIPT = '''\
"""A cheap stage for the benchmarks: python stage.py NAME [SLEEP [LOG]]."""
import json
import os
import sys
import time

name = sys.argv[1]
pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0


def param(key):
    with open("params.yaml") as f:
        return next(ln.split(":", 1)[1].strip() for ln in f if ln.strip().startswith(key + ":"))


if name == "prepare":
    with open("prepared.txt", "w") as f:
        f.write("prepared\\n")
elif name == "train":
    time.sleep(pause)
    with open("prepared.txt") as f:
        text = f.read()
    with open("model.txt", "w") as f:
        f.write(text + param("lr") + "\\n")
elif name == "evaluate":
    with open("model.txt") as f:
        size = len(f.read())
    with open("metrics.json", "w") as f:
        json.dump({"acc": size / 100, "loss": 1 - size / 100}, f)
elif name == "score":
    lr, epochs = float(param("lr")), float(param("epochs"))
    with open("metrics.json", "w") as f:
        json.dump({"acc": round(1 - lr / (1 + epochs), 6), "loss": lr}, f)
if len(sys.argv) > 3:
    with open(sys.argv[3], "a") as f:
        f.write(f"{name}\\t{os.getcwd()}\\t{time.time():.3f}\\n")
'''

PARAMS = "train:\n  lr: 0.1\n  epochs: 10\n"


def stage_cmd(name: str, pause: float, stage_log: Path) -> str:
    return f"{STAGE_PY} stage.py {name} {pause:g} {stage_log}"


def pipeline_yaml(pause: float, stage_log: Path, fetch_from: Path | None = None) -> str:
    """prepare (on the data folder) -> train (on train.lr) -> evaluate (metrics),
    preceded by a ``fetch`` stage that copies the data in when ``fetch_from`` is set."""
    fetch = ""
    if fetch_from is not None:
        fetch = f"  fetch:\n    cmd: cp -r {fetch_from} data\n    outs:\n    - data\n"
    return (
        "stages:\n" + fetch + f"  prepare:\n    cmd: {stage_cmd('prepare', 0, stage_log)}\n"
        "    deps:\n    - stage.py\n    - data\n    outs:\n    - prepared.txt\n"
        f"  train:\n    cmd: {stage_cmd('train', pause, stage_log)}\n"
        "    deps:\n    - stage.py\n    - prepared.txt\n    params:\n    - train.lr\n"
        "    outs:\n    - model.txt\n"
        f"  evaluate:\n    cmd: {stage_cmd('evaluate', 0, stage_log)}\n"
        "    deps:\n    - stage.py\n    - model.txt\n"
        "    metrics:\n    - metrics.json:\n        cache: false\n"
    )


def make_files(root: Path, n: int, n_dirs: int, seed: int = SEED) -> None:
    """``n`` files of 1-4 KiB (contents from a fixed seed, unique per file) in
    ``n_dirs`` folders, aged past the racy-timestamp windows."""
    rng = random.Random(seed)
    pool = rng.randbytes(MiB)
    past = time.time() - AGE_SECONDS
    dirs = [root / f"d{d:03d}" for d in range(n_dirs)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        size = rng.randint(1024, 4096)
        off = rng.randrange(len(pool) - size)
        p = dirs[i % n_dirs] / f"f{i:06d}.bin"
        p.write_bytes((f"{i}\n".encode() + pool[off : off + size])[:size])
        os.utime(p, (past, past))


def by_hand(cmds: dict[str, str], scratch: Path, reps: int) -> dict[str, float]:
    """Median wall time of each stage command run by hand (through ``sh -c``, as
    the tools run them), in order, in a scratch folder holding the stage script."""
    return {k: statistics.median(v) for k, v in by_hand_samples(cmds, scratch, reps).items()}


def by_hand_samples(cmds: dict[str, str], scratch: Path, reps: int) -> dict[str, list[float]]:
    """``reps`` timings of each command (after one untimed warm-up round)."""
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "stage.py").write_text(STAGE_SCRIPT)
    (scratch / "params.yaml").write_text(PARAMS)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(reps + 1):  # the first round warms up
        for name, cmd in cmds.items():
            start = time.perf_counter()
            subprocess.run(["sh", "-c", cmd], cwd=scratch, check=True, capture_output=True)
            times[name].append(time.perf_counter() - start)
    return {k: v[1:] for k, v in times.items()}


def stage_runs(stage_log: Path, root: Path, name: str) -> int:
    """How many times the stage ``name`` ran under ``root`` (temp folders included)."""
    if not stage_log.exists():
        return 0
    prefix = str(root)
    return sum(
        1
        for ln in stage_log.read_text().splitlines()
        if ln.split("\t")[0] == name and ln.split("\t")[1].startswith(prefix)
    )


# --------------------------------------------------------------------------- 1: pipelines

W1_HEADERS = ["measure", "trails", "DVC", "DVC / trails", "target", "met?"]


#: Where ``discard`` moves what a repetition leaves; emptied with the scratch
#: folder at the end of the workload (set by ``main``).
TRASH: list[Path] = []


def discard(path: Path) -> None:
    """Move ``path`` out of the way instead of deleting it. On this ext4
    (mounted with ``discard``), a file created shortly after many were
    deleted is several times slower to create (the kernel skips recently
    freed inodes), which would slow the next timed run that writes a cache,
    whichever tool it is; deleting happens once, after the workload."""
    if not (path.exists() or path.is_symlink()):
        return
    if not TRASH:
        remove_path(path)
        return
    TRASH[0].mkdir(parents=True, exist_ok=True)
    path.rename(TRASH[0] / f"{len(list(TRASH[0].iterdir()))}-{path.name}")


def drop_cache_and_state(p: Project) -> None:
    """Delete ``.dvc/cache``, ``.dvc/tmp`` (trails' stat index, DVC's state and
    run-cache links) and DVC's site cache folder (its hash database; one workload
    runs at a time, so it holds only this project's)."""
    dirs = [p.root / ".dvc" / "cache", p.root / ".dvc" / "tmp"]
    if site_cache := p.tool.env.get("DVC_SITE_CACHE_DIR"):
        dirs.append(Path(site_cache))
    for d in dirs:
        discard(d)


def reset_first_run(p: Project) -> None:
    """Forget everything a run left: outputs, lock file, cache, state, run-cache."""
    for rel in ("dvc.lock", "prepared.txt", "model.txt", "metrics.json"):
        (p.root / rel).unlink(missing_ok=True)
    drop_cache_and_state(p)
    os.sync()


def w1_row_time(
    what: str, res: dict[str, list[Run]], target: float | None, limit: float | None
) -> list[str]:
    tr, dv = sample(res["trails"]), sample(res["dvc"])
    ratio = dv.median / tr.median
    if target is None:
        return [what, tr.fmt(), dv.fmt(), f"{ratio:.1f}x", "(information)", "n/a"]
    ok = ratio >= target and (limit is None or tr.median < limit)
    goal = f">= {target:g}x" + (f" and trails < {limit:g} s" if limit else "")
    return [what, tr.fmt(), dv.fmt(), f"{ratio:.1f}x", goal, verdict(ok)]


def bench_pipeline(work: Path, cfg: Config, tools: Sequence[Tool], rep: Report) -> Table:
    """Workload 1: prepare -> train -> evaluate over a folder of many small files."""
    n = cfg.w1_files
    table = Table(
        f"1. Pipeline over a data folder of {n:,} files of 1-4 KiB (cheap commands)", W1_HEADERS
    )
    rep.tables.append(table)
    stage_log = work / "stage-log.txt"
    files = {
        "dvc.yaml": pipeline_yaml(0, stage_log),
        "params.yaml": PARAMS,
        "stage.py": STAGE_SCRIPT,
        ".gitignore": "/data/\n",
    }
    log(f"bench 1: two projects, {n:,} data files each")
    projects = pair(work, files, tools)
    for p in projects:
        make_files(p.root / "data", n, cfg.w1_dirs)
    os.sync()
    tr, dv = projects if projects[0].name == "trails" else projects[::-1]
    cmds = {s: stage_cmd(s, 0, Path(os.devnull)) for s in ("prepare", "train", "evaluate")}
    own = by_hand(cmds, work / "by-hand", 5)
    cmd_time = sum(own.values())
    log(f"bench 1: the three commands by hand: {cmd_time * 1e3:.0f} ms")
    rss: dict[str, dict[str, list[int]]] = {}

    def steps(
        what: str, args: Sequence[str], reps: tuple[int, int], setup: Callable[[Project], None]
    ) -> dict[str, list[Run]]:
        log(f"bench 1: {what}")
        res = measure(
            [
                Step(p.name, partial(p.run, *args), r, partial(setup, p))
                for p, r in ((tr, reps[0]), (dv, reps[1]))
            ]
        )
        rss[what] = {k: [r.maxrss for r in v] for k, v in res.items()}
        return res

    first = steps("first `repro`", ["repro"], cfg.first_reps, reset_first_run)
    rep.check(
        first,
        lambda out: all(f"Running stage '{s}'" in out for s in cmds),
        "first repro did not run every stage",
    )
    table.rows.append(w1_row_time("first `repro`, total", first, None, None))
    t_over = sample(first["trails"]).median - cmd_time
    d_over = sample(first["dvc"]).median - cmd_time
    table.rows.append(
        [
            "first `repro`, overhead (total - commands)",
            secs(t_over),
            secs(d_over),
            xfaster(d_over, t_over),
            ">= 5x",
            verdict(d_over / t_over >= 5 if t_over > 0 else True),
        ]
    )

    def nothing(p: Project) -> None:
        return None

    noop = steps("no-op `repro`", ["repro"], cfg.noop_reps, nothing)
    rep.check(noop, lambda out: "Running stage" not in out, "no-op repro ran a stage")
    table.rows.append(w1_row_time("no-op `repro`", noop, 20, 0.5))
    status = steps("no-op `status`", ["status"], cfg.noop_reps, nothing)
    rep.check(status, lambda out: "up to date" in out, "no-op status reports changes")
    table.rows.append(w1_row_time("no-op `status`", status, 20, 0.5))
    floor = sample(git_status_floor(work, tr, cfg.noop_reps[0], rep))
    t_status, d_status = sample(status["trails"]).median, sample(status["dvc"]).median
    table.rows.append(
        [
            "floor: `git status --porcelain -uno` over the same files (scratch Git index)",
            f"git {floor.fmt()}; trails' no-op `status` = {t_status / floor.median:.1f}x git",
            f"DVC's no-op `status` / 20 = {secs(d_status / 20)}",
            f"{d_status / floor.median:.1f}x (DVC / git)",
            "(information)",
            "n/a",
        ]
    )

    victim = Path("data") / "d007" / "f000007.bin"
    touch = steps(
        "`status` after touching one data file",
        ["status"],
        cfg.touch_reps,
        lambda p: os.utime(p.root / victim),
    )
    rep.check(touch, lambda out: "up to date" in out, "status after a touch reports changes")
    table.rows.append(
        w1_row_time("`status` after touching one data file's mtime", touch, None, None)
    )
    counter = iter(range(1_000_000))

    def change(p: Project) -> None:
        (p.root / victim).write_bytes(f"changed {next(counter)}\n".encode() * 100)

    changed = steps("`status` after changing one data file", ["status"], cfg.touch_reps, change)
    rep.check(
        changed,
        lambda out: "prepare" in out and "up to date" not in out,
        "status misses a changed data file",
    )
    table.rows.append(w1_row_time("`status` after changing one data file", changed, None, None))

    t_peak = max(max(v["trails"]) for v in rss.values())
    d_peak = max(max(v["dvc"]) for v in rss.values())
    table.rows.append(
        [
            "peak memory (max RSS, all the commands above)",
            f"{t_peak / 1e6:.0f} MB",
            f"{d_peak / 1e6:.0f} MB",
            f"{d_peak / t_peak:.1f}x",
            ">= 3x",
            verdict(d_peak / t_peak >= 3),
        ]
    )
    for what, v in rss.items():
        table.rows.append(
            [
                f"max RSS: {what}",
                mb(v["trails"]),
                mb(v["dvc"]),
                f"{statistics.median(v['dvc']) / statistics.median(v['trails']):.1f}x",
                "(information)",
                "n/a",
            ]
        )
    table.notes += [
        f"Repetitions: trails / DVC: first repro {cfg.first_reps[0]} / {cfg.first_reps[1]}, "
        f"no-op {cfg.noop_reps[0]} / {cfg.noop_reps[1]}, after a touch or a change "
        f"{cfg.touch_reps[0]} / {cfg.touch_reps[1]}; interleaved, no warm-up run (the first "
        "repro is the warm-up of the no-op runs). Each tool is one process timed from spawn "
        "to exit (start-up included).",
        "The data folder is a plain, git-ignored dependency of `prepare` (not `dvc add`-ed, "
        "not cached): both tools accept it and record its tree hash in `dvc.lock` "
        "(DVC: md5 `.dir`, trails: blake3 `.dir`). Its files were aged one hour, page cache "
        "warm.",
        "'First repro' starts from nothing each time: outputs, `dvc.lock`, `.dvc/cache`, "
        "`.dvc/tmp` and DVC's site cache folder (its hash database) are moved aside "
        "(untimed, then `sync`; deleted after the workload: on this ext4, files created "
        "right after many were deleted are several times slower to create, which would "
        "slow the next run's cache writes). "
        f"So DVC md5-hashes the {n:,} files, trails blake3-hashes them and writes its stat "
        "index.",
        f"Commands' own time: {secs(cmd_time)} for the three (median of 5 runs by hand "
        f"through `sh -c`: prepare {secs(own['prepare'])}, train {secs(own['train'])}, "
        f"evaluate {secs(own['evaluate'])}); overhead = median total - that.",
        "'Touch' sets one data file's mtime to now (content unchanged) before each run: both "
        "must re-read that one file and still say up to date. 'Change' rewrites that file "
        "with new content before each run: both must report `prepare` changed. Every "
        "output was checked.",
        "Max RSS is that of the largest process of the tool's process tree (commands "
        "included), from `wait4` in an intermediate process. MB = 10^6 bytes.",
        f"Floor: `git status --porcelain -uno` ({cfg.noop_reps[0]} runs, right after the "
        "no-op `status` runs) with a scratch Git directory whose index and HEAD hold only "
        f"the {n:,} data files (`git add -f data` and a commit, untimed) and the trails "
        "project as work tree: git stats every tracked file against its index (in parallel "
        "threads, its default) and reads nothing, the least a no-op check can do. The "
        "no-op targets ask for 20x "
        f"DVC, that is {secs(d_status / 20)} for `status` here, against git's "
        f"{secs(floor.median)} for this stat pass alone; trails also starts Python and "
        "reads `dvc.yaml`, `dvc.lock` and `params.yaml`.",
    ]
    return table


def git_status_floor(work: Path, p: Project, reps: int, rep: Report) -> list[Run]:
    """``git status --porcelain -uno`` over the data folder of ``p``, from a scratch
    Git directory whose index and HEAD hold only those files: git only stats each
    file against its index, the floor of a no-op check on this machine."""
    env = base_env() | {"GIT_DIR": str(work / "floor.git"), "GIT_WORK_TREE": str(p.root)}
    for args in (["init", "-q"], ["add", "-f", "data"], [*GIT_ID, "commit", "-q", "-m", "data"]):
        subprocess.run(["git", *args], cwd=p.root, env=env, check=True, capture_output=True)
    argv = [shutil.which("git") or "/usr/bin/git", "status", "--porcelain", "-uno"]
    log("bench 1: floor: `git status --porcelain -uno` over the data files")
    res = measure([Step("git", partial(plain_run, "git", argv, p.root, env), reps)])
    rep.check(res, lambda out: not out.strip(), "the floor's git status reports changes")
    return res["git"]


def plain_run(name: str, argv: Sequence[str], cwd: Path, env: dict[str, str]) -> Run:
    """A reference command (not one of the two tools) under the probe; fails loudly."""
    r = probe(argv, cwd, env)
    if not r.ok:
        raise ToolError(name, cwd, r)
    return r


# --------------------------------------------------------------------------- 2: experiments

EXP_NAME = re.compile(r"\[(b\d+e\d+)\]")


def set_param(path: Path, key: str, value: str) -> None:
    """What ``sed -i 's/KEY: .*/KEY: VALUE/'`` does, without a process."""
    text = re.sub(rf"(?m)^(\s*{key}:) .*$", rf"\g<1> {value}", path.read_text())
    path.write_text(text)


def build_experiments(p: Project, baselines: int, per: int) -> tuple[list[str], list[float]]:
    """``baselines`` commits, each with ``per`` experiments made by ``exp save``
    after an edit of ``train.lr``; returns the baselines and the save times."""
    heads, times = [], []
    for b in range(baselines):
        set_param(p.root / "params.yaml", "epochs", str(b + 1))
        p.run("repro")
        p.commit(f"baseline {b}")
        heads.append(p.head())
        for i in range(per):
            set_param(p.root / "params.yaml", "lr", f"0.{i + 1:04d}")
            times.append(p.run("exp", "save", "-n", f"b{b}e{i}").wall)
        p.git("checkout", "-q", "--", ".")
        log(f"bench 2: {p.name}: baseline {b + 1}/{baselines}, {len(times)} experiments")
    return heads, times


def exp_show_cache(p: Project) -> Path:
    if p.name == "trails":
        return p.root / ".dvc" / "tmp" / "trails" / "exp-show-cache.json"
    return p.root / ".dvc" / "tmp" / "exps" / "cache"


def drop_cache(p: Project) -> None:
    path = exp_show_cache(p)
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def bench_experiments(work: Path, cfg: Config, tools: Sequence[Tool], rep: Report) -> Table:
    """Workload 2: ``exp show`` over many experiments; workspace ``exp run`` vs ``repro``."""
    nt, nd = (cfg.baselines * k for k in cfg.exps_per_baseline)
    table = Table(
        f"2. Experiments: `exp show` of {nt:,} trails / {nd:,} DVC experiments on "
        f"{cfg.baselines} baselines",
        ["measure", "trails", "DVC", "trails advantage", "target", "met?"],
    )
    rep.tables.append(table)
    stage_log = work / "stage-log.txt"
    files = {
        "dvc.yaml": (
            f"stages:\n  score:\n    cmd: {stage_cmd('score', 0, stage_log)}\n"
            "    deps:\n    - stage.py\n    params:\n    - train.lr\n    - train.epochs\n"
            "    metrics:\n    - metrics.json:\n        cache: false\n"
        ),
        "params.yaml": PARAMS,
        "stage.py": STAGE_SCRIPT,
    }
    projects = {p.name: p for p in pair(work, files, tools)}
    tr, dv = projects["trails"], projects["dvc"]
    save_times = {}
    for p, per in ((tr, cfg.exps_per_baseline[0]), (dv, cfg.exps_per_baseline[1])):
        log(f"bench 2: {p.name}: {cfg.baselines} baselines x {per} experiments (exp save)")
        heads, save_times[p.name] = build_experiments(p, cfg.baselines, per)
        got = sum(p.exp_refs(h) for h in heads)
        rep.expect(
            got == cfg.baselines * per,
            f"{p.name}: {got} experiment refs, expected {cfg.baselines * per}",
        )
    show = ["exp", "show", "--no-pager", "-n", str(cfg.baselines)]
    expected = {"trails": nt, "dvc": nd}

    def shown(p: Project) -> Run:
        r = p.run(*show)
        n = len(set(EXP_NAME.findall(r.output)))
        rep.expect(n == expected[p.name], f"{p.name}: exp show listed {n} experiments", r)
        return r

    log("bench 2: `exp show`, cold (its results cache deleted before each run)")
    cold = measure(
        [
            Step("trails", lambda: shown(tr), cfg.show_reps[0], lambda: drop_cache(tr)),
            Step("dvc", lambda: shown(dv), cfg.show_reps[1], lambda: drop_cache(dv)),
        ]
    )
    rep.expect(exp_show_cache(tr).exists(), "trails: exp show wrote no results cache")
    rep.expect(exp_show_cache(dv).exists(), "dvc: exp show wrote no results cache")
    log("bench 2: `exp show`, warm")
    warm = measure(
        [
            Step("trails", lambda: shown(tr), cfg.show_reps[0]),
            Step("dvc", lambda: shown(dv), cfg.show_reps[1]),
        ]
    )
    for what, res, goal in (("cold", cold, None), ("warm", warm, 10.0)):
        ts, ds = sample(res["trails"]), sample(res["dvc"])
        per_t, per_d = ts.median / nt, ds.median / nd
        adv = per_d / per_t
        met = None if goal is None else adv >= goal and ts.median < 0.5
        table.rows.append(
            [
                f"`exp show --no-pager -n {cfg.baselines}`, {what}",
                f"{ts.fmt()}: {secs(per_t)} per experiment",
                f"{ds.fmt()}: {secs(per_d)} per experiment",
                f"{adv:.1f}x per experiment",
                "(information)" if goal is None else f">= {goal:g}x and trails < 0.5 s",
                verdict(met),
            ]
        )
    table.rows.append(
        [
            "`exp save` (building the workload; mean per call)",
            secs(statistics.fmean(save_times["trails"])),
            secs(statistics.fmean(save_times["dvc"])),
            xfaster(statistics.fmean(save_times["dvc"]), statistics.fmean(save_times["trails"])),
            "(information)",
            "n/a",
        ]
    )
    bench_ws_exp_run(tr, dv, cfg, table)
    table.notes += [
        f"Each baseline is a commit of a one-stage pipeline (`score`: params -> metrics.json); "
        f"its experiments were made by `exp save -n bXeY` after editing `train.lr` in "
        f"params.yaml: {cfg.exps_per_baseline[0]} per baseline for trails, "
        f"{cfg.exps_per_baseline[1]} for DVC (whose `exp save` is several times slower).",
        f"`exp show` lists the {cfg.baselines} baselines (`-n {cfg.baselines}`) with all their "
        "experiments; every run's output was checked to name each experiment. 'Per experiment' "
        "is the median time divided by the experiments shown.",
        "Cold: the tool's own exp-show results cache deleted before each run (trails: "
        "`.dvc/tmp/trails/exp-show-cache.json`, DVC: `.dvc/tmp/exps/cache/`). Warm: right "
        "after. Repetitions trails / DVC: "
        f"{cfg.show_reps[0]} / {cfg.show_reps[1]}.",
    ]
    return table


def bench_ws_exp_run(tr: Project, dv: Project, cfg: Config, table: Table) -> None:
    """What a workspace ``exp run`` adds to ``repro`` when nothing has to run."""
    names = iter(range(1_000_000))
    log("bench 2: workspace `exp run` vs `repro`, nothing to run")
    res = measure(
        [
            Step("trails repro", lambda: tr.run("repro"), cfg.noop_reps[0]),
            Step(
                "trails exp run",
                lambda: tr.run("exp", "run", "-n", f"noop{next(names)}"),
                cfg.noop_reps[0],
            ),
            Step("dvc repro", lambda: dv.run("repro"), cfg.noop_reps[1]),
            Step(
                "dvc exp run",
                lambda: dv.run("exp", "run", "-n", f"noop{next(names)}"),
                cfg.noop_reps[1],
            ),
        ]
    )
    t_add = sample(res["trails exp run"]).median - sample(res["trails repro"]).median
    d_add = sample(res["dvc exp run"]).median - sample(res["dvc repro"]).median
    table.rows.append(
        [
            "workspace `exp run` minus `repro` (no-op pipeline)",
            f"{secs(t_add)} ({sample(res['trails exp run']).fmt()} vs "
            f"{sample(res['trails repro']).fmt()})",
            f"{secs(d_add)} ({sample(res['dvc exp run']).fmt()} vs "
            f"{sample(res['dvc repro']).fmt()})",
            xfaster(d_add, t_add) if t_add > 0 else "-",
            "trails adds < 100 ms",
            verdict(t_add < 0.1),
        ]
    )
    table.notes.append(
        "Workspace `exp run -n NAME` (a new name each time, so each run records a new "
        "experiment) against `repro`, both with nothing to run; repetitions trails / DVC: "
        f"{cfg.noop_reps[0]} / {cfg.noop_reps[1]}."
    )


# --------------------------------------------------------------------------- 3: queue


@dataclass
class QueueRun:
    jobs: int
    run_all: Run
    queue_calls: list[Run]
    done: int  # experiments recorded
    ran: dict[str, int]  # stage -> times it ran


def make_w3_source(src: Path, cfg: Config) -> None:
    if src.exists():
        shutil.rmtree(src)
    (src / "small").mkdir(parents=True)
    make_big_file(src / "big.bin", cfg.big_size)
    make_files(src / "small", cfg.w3_files, 100, seed=SEED + 1)
    os.sync()


def queue_once(
    p: Project, jobs: int, cfg: Config, lrs: Sequence[str], stage_log: Path, rep: Report
) -> QueueRun:
    """Queue one experiment per learning rate, then run them all ``jobs`` at a time."""
    base = p.head()
    before = p.exp_refs(base)
    ran_before = {s: stage_runs(stage_log, p.root, s) for s in STAGES3}
    calls = [p.run("exp", "run", "--queue", "-S", f"train.lr={lr}") for lr in lrs]
    log(f"bench 3: {p.name}: queued {len(lrs)}, running them with --jobs {jobs}")
    r = p.run(
        "exp", "run", "--run-all", "--jobs", str(jobs), check=False, timeout=cfg.queue_timeout
    )
    done = p.exp_refs(base) - before
    ran = {s: stage_runs(stage_log, p.root, s) - ran_before[s] for s in STAGES3}
    log(
        f"bench 3: {p.name} --jobs {jobs}: {r.wall:.1f} s, {done}/{len(lrs)} recorded, "
        f"stages run {ran}, {r.write_bytes / 1e6:.0f} MB written, {r.left} processes left "
        f"(gone {r.linger:.1f} s later)"
    )
    if not r.ok:
        rep.problem(str(ToolError(p.name, p.root, r)))
    rep.expect(done == len(lrs), f"{p.name} --jobs {jobs}: {done} of {len(lrs)} recorded", r)
    if not r.ok or done != len(lrs):
        # Leave no queued or failed entries for the next round.
        p.run("queue", "remove", "--all", check=False)
    return QueueRun(jobs, r, calls, done, ran)


STAGES3 = ("fetch", "prepare", "train", "evaluate")


def bench_queue(work: Path, cfg: Config, tools: Sequence[Tool], rep: Report) -> Table:
    """Workload 3: 8 queued experiments of a pipeline whose train stage sleeps 1 s."""
    n = cfg.queued
    table = Table(
        f"3. Queue: {n} queued experiments, train sleeps {cfg.train_sleep:g} s, input "
        f"{size_text(cfg.big_size)} + {cfg.w3_files:,} small files",
        [
            "measure",
            "trails",
            "DVC",
            "DVC / trails",
            "target",
            "met?",
        ],
    )
    rep.tables.append(table)
    stage_log = work / "stage-log.txt"
    src = work / "source"
    log(f"bench 3: source data: {size_text(cfg.big_size)} + {cfg.w3_files:,} files")
    make_w3_source(src, cfg)
    files = {
        "dvc.yaml": pipeline_yaml(cfg.train_sleep, stage_log, fetch_from=src),
        "params.yaml": PARAMS,
        "stage.py": STAGE_SCRIPT,
    }
    projects = {p.name: p for p in pair(work, files, tools)}
    for p in projects.values():
        log(f"bench 3: {p.name}: baseline run (fetch copies the data in, cached)")
        p.run("repro")
        p.commit("baseline")
    cmds = {
        s: stage_cmd(s, cfg.train_sleep if s == "train" else 0, Path(os.devnull))
        for s in STAGES3[1:]
    }
    # The commands' own time is sampled before the rounds and again right
    # before each one: on a shared machine, the ideal then drifts with the
    # rounds it is compared to.
    hand = by_hand_samples(cmds, work / "by-hand", 3)
    results: dict[tuple[str, int], list[QueueRun]] = {}
    lr = iter(range(1, 1_000_000))
    for r in range(max(cfg.queue_reps)):
        for jobs in (1, 2):
            order = ("trails", "dvc") if (r + jobs) % 2 else ("dvc", "trails")
            for name in order:
                if r >= cfg.queue_reps[0 if name == "trails" else 1]:
                    continue
                for k, v in by_hand_samples(cmds, work / "by-hand", 2).items():
                    hand[k] += v
                lrs = [f"0.{next(lr):05d}" for _ in range(n)]
                results.setdefault((name, jobs), []).append(
                    queue_once(projects[name], jobs, cfg, lrs, stage_log, rep)
                )
    own = {k: statistics.median(v) for k, v in hand.items()}
    own_n = len(hand["train"])
    per_exp = own["train"] + own["evaluate"]
    log(f"bench 3: train + evaluate by hand: {per_exp:.3f} s (median of {own_n})")
    queue_rows(table, results, n, per_exp)
    table.notes += queue_notes(cfg, results, own, own_n)
    return table


def overhead_per_exp(q: QueueRun, per_exp: float) -> float:
    """Worker-slot time not spent in the commands that had to run, per experiment."""
    n = len(q.queue_calls)
    return (q.run_all.wall * q.jobs - n * per_exp) / n


def incomplete(qs: Sequence[QueueRun], n: int) -> str:
    """A warning when some rounds did not record every experiment."""
    short = [f"{q.done}/{n}" for q in qs if q.done != n]
    return f" (**recorded only {', '.join(short)}**)" if short else ""


def queue_rows(
    table: Table, results: dict[tuple[str, int], list[QueueRun]], n: int, per_exp: float
) -> None:
    def get(name: str, jobs: int) -> list[QueueRun]:
        return results.get((name, jobs), [])

    for jobs in (1, 2):
        t, d = get("trails", jobs), get("dvc", jobs)
        if not t or not d:
            continue
        ts = Sample(times=[q.run_all.wall for q in t])
        ds = Sample(times=[q.run_all.wall for q in d])
        ideal = n * per_exp / jobs
        ok = ts.median <= 1.15 * ideal if jobs == 2 else None
        table.rows.append(
            [
                f"`exp run --run-all --jobs {jobs}`: total wall time (ideal {secs(ideal)})",
                f"{ts.fmt()} = {ts.median / ideal:.2f}x ideal{incomplete(t, n)}",
                f"{ds.fmt()} = {ds.median / ideal:.2f}x ideal{incomplete(d, n)}",
                f"{ds.median / ts.median:.1f}x",
                "trails <= 1.15x ideal" if jobs == 2 else "(information)",
                verdict(ok),
            ]
        )
        to = statistics.median(overhead_per_exp(q, per_exp) for q in t)
        do = statistics.median(overhead_per_exp(q, per_exp) for q in d)
        table.rows.append(
            [
                f"`--jobs {jobs}`: overhead per experiment",
                secs(to),
                secs(do),
                xfaster(do, to),
                "trails < 150 ms and >= 10x",
                verdict(to < 0.15 and (to <= 0 or do / to >= 10)),
            ]
        )
        tb = statistics.median(q.run_all.write_bytes / n for q in t)
        db = statistics.median(q.run_all.write_bytes / n for q in d)
        table.rows.append(
            [
                f"`--jobs {jobs}`: bytes written per experiment",
                f"{tb / 1e6:.2f} MB",
                f"{db / 1e6:.1f} MB",
                f"{db / tb:.0f}x" if tb > 0 else "-",
                "(information)",
                "n/a",
            ]
        )
        tm = max(q.run_all.maxrss for q in t)
        dm = max(q.run_all.maxrss for q in d)
        table.rows.append(
            [
                f"`--jobs {jobs}`: peak RSS (largest process)",
                f"{tm / 1e6:.0f} MB",
                f"{dm / 1e6:.0f} MB",
                f"{dm / tm:.1f}x",
                "(information)",
                "n/a",
            ]
        )
    calls = {
        name: [
            c for (nm, _), qs in results.items() if nm == name for q in qs for c in q.queue_calls
        ]
        for name in ("trails", "dvc")
    }
    if calls["trails"] and calls["dvc"]:
        ts, ds = sample(calls["trails"]), sample(calls["dvc"])
        table.rows.append(
            [
                "one `exp run --queue -S train.lr=...` call",
                ts.fmt(),
                ds.fmt(),
                f"{ds.median / ts.median:.1f}x",
                "(information)",
                "n/a",
            ]
        )


def queue_notes(
    cfg: Config, results: dict[tuple[str, int], list[QueueRun]], own: dict[str, float], own_n: int
) -> list[str]:
    ran = {
        f"{name} --jobs {jobs}": ", ".join(f"{s} {sum(q.ran[s] for q in qs)}" for s in STAGES3)
        for (name, jobs), qs in sorted(results.items())
    }
    linger = {
        f"{name} --jobs {jobs}": max(q.run_all.linger for q in qs)
        for (name, jobs), qs in sorted(results.items())
        if any(q.run_all.left for q in qs)
    }
    notes = [
        f"Pipeline: `fetch` (`cp -r` of the source folder: a {size_text(cfg.big_size)} file "
        f"and {cfg.w3_files:,} files of 1-4 KiB, into `data/`, a cached output) -> `prepare` "
        "(depends on `data/`) -> `train` (sleeps, depends on `train.lr`) -> `evaluate` "
        "(metrics). The baseline was run and committed with `data/` in each tool's cache, "
        "so a queued experiment, which runs in a temporary folder made from Git, gets "
        "the data by checkout from the cache, as a fresh clone would. Plain git-ignored "
        "data does not work with DVC's queue: its temporary folders do not see it "
        "(tried: `prepare` fails with 'No such file or directory: .../data').",
        f"Each round queues {cfg.queued} experiments (`exp run --queue -S train.lr=X`, a new "
        "value each time, so no run-cache hit) then times `exp run --run-all --jobs N` from "
        "spawn to exit. Rounds trails / DVC: "
        f"{cfg.queue_reps[0]} / {cfg.queue_reps[1]} per job count, interleaved.",
        f"Ideal = experiments x (train + evaluate by hand: {secs(own['train'])} + "
        f"{secs(own['evaluate'])}, medians of {own_n} timings taken before the rounds and "
        "right before each one) / jobs. Overhead per experiment = (wall x jobs - "
        "experiments x commands) / experiments: the worker-slot time not spent in the "
        "commands that had to run.",
        "Bytes written: `write_bytes` of the whole process tree (commands included; workers "
        "that detach are reaped by the probe, a subreaper), over the experiments; "
        "MB = 10^6 bytes. DVC's default link type here is copy (no reflinks on ext4); "
        "trails links temporary folders by hardlink.",
        "Stages that ran, per tool and job count (all rounds): "
        + "; ".join(f"{k}: {v}" for k, v in ran.items())
        + ".",
        "Scaling to many cores: a trails worker holds no repository-wide lock (experiment "
        "refs are written by compare-and-swap transactions, cache objects by no-replace "
        "renames, the stat index by appends); the scheduler sleeps until a worker exits or "
        "gives its slot back, and up to N more workers check out and plan their "
        "experiments ahead of a free slot, so a slot passes from one experiment's last "
        "command to the next one's first in a few milliseconds. With N jobs on N cores the "
        "wall time is then about the fixed start (the CLI and the worker server's imports, "
        "~0.2 s, once) plus experiments x (commands + a few tens of ms) / N, as long as the "
        "commands themselves scale; the preparing and recording workers need CPU only "
        "between commands.",
    ]
    mine = [q for (nm, _), qs in results.items() if nm == "trails" for q in qs]
    big = max((q.run_all.maxrss for q in mine), default=0)
    usual = max((c.maxrss for q in mine for c in q.queue_calls), default=0)
    if big - usual >= 0.9 * cfg.big_size:
        notes.append(
            f"trails' peak RSS ({big / 1e6:.0f} MB) is about the size of the "
            f"{size_text(cfg.big_size)} input: a trails process read the whole file through a "
            "memory map during the run (file-backed pages count in RSS), that is, hashed it."
        )
    if linger:
        notes.append(
            "Processes still alive when `--run-all` returned (DVC's celery workers wait idle "
            "before exiting; not in the wall time, but in the bytes and RSS): "
            + "; ".join(f"{k}: gone {v:.0f} s later" for k, v in linger.items())
            + "."
        )
    return notes


# --------------------------------------------------------------------------- 4: data tracking

#: ``python -S -c READ_ALL ROOT``: the plain-read floor of adding a folder: walk it
#: with ``os.scandir`` and read each file with one ``open``, one ``read`` and one
#: ``close`` (the files hold at most 4 KiB); prints the files and bytes read.
READ_ALL = r"""
import os, sys
def files(d):
    for e in os.scandir(d):
        if e.is_dir(follow_symlinks=False):
            yield from files(e.path)
        else:
            yield e.path
n = size = 0
for path in files(sys.argv[1]):
    fd = os.open(path, os.O_RDONLY)
    size += len(os.read(fd, 1 << 20))
    os.close(fd)
    n += 1
print(n, size)
"""

#: ``cache.type hardlink`` as it appears in ``.dvc/config`` (trails has no
#: ``config`` command; it reads the reference tool's INI file).
HARDLINK_INI = "[cache]\n    type = hardlink\n"

Listing = dict[str, tuple[int, int]]


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def plain_files(root: Path) -> Listing | None:
    """Each file under ``root`` (or ``root`` itself, a file): relative path ->
    (size, mtime in ns); None when one of them is not a plain file (regular, one
    link, writable by its owner), as a tool leaves it after linking it into its
    cache."""
    paths = [root] if root.is_file() else [Path(d, f) for d, _, fs in os.walk(root) for f in fs]
    found: Listing = {}
    for path in paths:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1 or not st.st_mode & stat.S_IWUSR:
            return None
        found[path.relative_to(root).as_posix()] = (st.st_size, st.st_mtime_ns)
    return found


@dataclass
class Pristine:
    """Data kept outside the projects, put back as plain files before each add.

    Creating files is slow on this machine (``cp -r`` of 100,000 small files
    takes 15-50 s), so a copy is made only when the destination is not already
    an unchanged plain copy: after an add that linked the files into the cache
    (``cache.type hardlink``), or after an edit. The copies' times are kept: a
    reference for an add that copies every file into the cache."""

    src: Path
    listing: Listing
    copy_times: list[float] = field(default_factory=list)

    @staticmethod
    def of(src: Path) -> Pristine:
        listing = plain_files(src)
        if listing is None:
            raise RuntimeError(f"{src}: the pristine data is not plain files")
        return Pristine(src, listing)

    def restore(self, dest: Path) -> None:
        """``dest`` becomes plain, writable files of one link each with the source's
        content and aged mtimes (``cp -r --preserve=timestamps``), then ``sync``."""
        if not (dest.exists() and plain_files(dest) == self.listing):
            discard(dest)
            start = time.perf_counter()
            subprocess.run(
                ["cp", "-r", "--preserve=timestamps", str(self.src), str(dest)], check=True
            )
            self.copy_times.append(time.perf_counter() - start)
        os.sync()


def count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def tracked(p: Project, name: str) -> str:
    """The text of ``name.dvc`` ('' when missing)."""
    path = p.root / f"{name}.dvc"
    return path.read_text() if path.exists() else ""


def links_of(path: Path) -> str:
    """How a workspace file stands after a tool handled it: links and write permission."""
    st = path.lstat()
    mode = "writable" if st.st_mode & stat.S_IWUSR else "read-only"
    return f"{st.st_nlink} link{'s' if st.st_nlink > 1 else ''}, {mode}"


def set_hardlink(p: Project, on: bool) -> None:
    """Configure ``cache.type hardlink`` (or go back to the default)."""
    if p.name == "dvc":
        p.run("config", *(("cache.type", "hardlink") if on else ("--unset", "cache.type")))
        return
    config = p.root / ".dvc" / "config"
    text = config.read_text().replace(HARDLINK_INI, "") if config.exists() else ""
    config.write_text(text + HARDLINK_INI if on else text)


def change_file(path: Path, text: str) -> None:
    """New content for ``path``, written aside and renamed over it, so that a
    hardlink into a cache is replaced, never written through."""
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_text(text)
    os.replace(tmp, path)


def x_text(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio >= 0.1 else f"{ratio:.2f}x"


def ref_row(what: str, ours: Sample, ref_name: str, ref: Sample, limit: float | None) -> list[str]:
    """trails against a reference that is not DVC: trails / reference (<= ``limit``)."""
    ratio = ours.median / ref.median
    return [
        what,
        ours.fmt(),
        f"{ref_name}: {ref.fmt()}",
        f"trails / {ref_name} = {ratio:.2f}x",
        "(information)" if limit is None else f"<= {limit:g}x {ref_name}",
        verdict(None if limit is None else ratio <= limit),
    ]


@dataclass
class DataBench:
    """Workload 4's two projects, its pristine data and what the runs showed."""

    cfg: Config
    rep: Report
    work: Path
    tr: Project
    dv: Project
    folder: Pristine
    big: Pristine
    size: int  # bytes in the folder
    rss: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    links: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return self.cfg.w4_files

    def pairs(self, reps: tuple[int, int]) -> list[tuple[Project, int]]:
        return [(self.tr, reps[0]), (self.dv, reps[1])]

    def note_links(self, kind: str) -> None:
        sample_file = Path("data") / "d000" / "f000000.bin"
        self.links[kind] = {p.name: links_of(p.root / sample_file) for p in (self.tr, self.dv)}

    def keep_rss(self, what: str, res: dict[str, list[Run]]) -> None:
        self.rss[what] = {k: [r.maxrss for r in res[k]] for k in ("trails", "dvc")}

    def reset(self, p: Project, name: str, data: Pristine) -> None:
        """Undo an ``add`` of ``name``: its .dvc file, the cache and the tool's state
        go (the .gitignore entry stays), and ``name`` is plain pristine data again."""
        (p.root / f"{name}.dvc").unlink(missing_ok=True)
        drop_cache_and_state(p)
        data.restore(p.root / name)

    def add(self, p: Project, name: str, expect: str) -> Run:
        """``add NAME``; ``NAME.dvc`` must then record ``expect`` (``nfiles: N``, ``size: N``)."""
        r = p.run("add", name)
        self.rep.expect(
            expect in tracked(p, name), f"{p.name}: {name}.dvc lacks `{expect}` after add", r
        )
        return r

    def read_all(self, root: Path) -> Run:
        """The plain-read floor over ``root``; it must read every file and byte."""
        argv = [sys.executable, "-S", "-c", READ_ALL, str(root)]
        r = plain_run("read-all floor", argv, root.parent, base_env())
        self.rep.expect(
            r.output.split() == [str(self.n), str(self.size)],
            f"the read-all floor read {r.output.strip()!r} (files, bytes), "
            f"expected {self.n} {self.size}",
            r,
        )
        return r

    def add_folder(self, kind: str) -> dict[str, list[Run]]:
        """``add data`` from nothing each time, and the plain-read floor."""
        log(f"bench 4: `add data` ({kind}), with the plain-read floor")
        floor = self.work / "floor" / "data"
        floor.parent.mkdir(parents=True, exist_ok=True)
        steps = [
            Step(
                p.name,
                partial(self.add, p, "data", f"nfiles: {self.n}\n"),
                reps,
                partial(self.reset, p, "data", self.folder),
            )
            for p, reps in self.pairs(self.cfg.add_reps)
        ]
        steps.append(
            Step(
                "floor",
                partial(self.read_all, floor),
                self.cfg.add_reps[0],
                partial(self.folder.restore, floor),
            )
        )
        res = measure(steps)
        self.keep_rss(f"`add data/` ({kind})", res)
        self.note_links(kind)
        return res

    def readd(self) -> dict[str, list[Run]]:
        """A no-op ``add data`` right after an add: ``data.dvc`` must not change."""
        log("bench 4: no-op re-add")

        def once(p: Project) -> Run:
            before = tracked(p, "data")
            r = p.run("add", "data")
            self.rep.expect(
                tracked(p, "data") == before, f"{p.name}: a no-op re-add changed data.dvc", r
            )
            return r

        res = measure(
            [Step(p.name, partial(once, p), k) for p, k in self.pairs(self.cfg.readd_reps)]
        )
        self.keep_rss("no-op re-`add data/`", res)
        return res

    def status(self) -> dict[str, list[Run]]:
        """``status`` after one file of ``data/`` got new content."""
        log("bench 4: `status` after changing one file")
        counter = iter(range(1_000_000))
        victim = Path("data") / "d007" / "f000007.bin"

        def change(p: Project) -> None:
            change_file(p.root / victim, f"changed {next(counter)}\n" * 100)

        res = measure(
            [
                Step(p.name, partial(p.run, "status"), k, partial(change, p))
                for p, k in self.pairs(self.cfg.w4_status_reps)
            ]
        )
        self.rep.check(
            res,
            lambda out: "data" in out and "modified" in out and "up to date" not in out,
            "status after changing one file of data/ does not report it modified",
        )
        return res

    def checkout(self) -> dict[str, list[Run]]:
        """``checkout data.dvc`` into a workspace without ``data/`` (hardlink
        configured, the cache of the last add in place), and ``cp -al``."""
        log("bench 4: `checkout data.dvc` into an empty workspace (hardlink), and cp -al")
        cp_dest = self.work / "cp-al" / "data"
        cp_dest.parent.mkdir(parents=True, exist_ok=True)

        def empty(path: Path) -> None:
            discard(path)
            os.sync()

        def counted(run: Callable[[], Run], dest: Path, who: str) -> Run:
            r = run()
            got = count_files(dest)
            self.rep.expect(got == self.n, f"{who}: {got} files in {dest}, expected {self.n}", r)
            return r

        cp = shutil.which("cp") or "/bin/cp"
        cp_al = partial(
            plain_run, "cp", [cp, "-al", str(self.folder.src), str(cp_dest)], self.work, base_env()
        )
        steps = [
            Step(
                p.name,
                partial(counted, partial(p.run, "checkout", "data.dvc"), p.root / "data", p.name),
                k,
                partial(empty, p.root / "data"),
            )
            for p, k in self.pairs(self.cfg.checkout_reps)
        ]
        steps.append(
            Step(
                "cp -al",
                partial(counted, cp_al, cp_dest, "cp -al"),
                self.cfg.checkout_reps[0],
                partial(empty, cp_dest),
            )
        )
        res = measure(steps)
        remove_path(cp_dest)  # its files are links of the pristine source's
        self.note_links("checkout")
        return res

    def add_big(self) -> dict[str, list[Run]]:
        """``add`` of the big file from nothing each time, default cache type."""
        log(f"bench 4: `add` of one {size_text(self.cfg.w4_big)} file, default cache type")
        res = measure(
            [
                Step(
                    p.name,
                    partial(self.add, p, "big.bin", f"size: {self.cfg.w4_big}\n"),
                    k,
                    partial(self.reset, p, "big.bin", self.big),
                )
                for p, k in self.pairs(self.cfg.big_add_reps)
            ]
        )
        self.keep_rss(f"`add` of the {size_text(self.cfg.w4_big)} file", res)
        return res


def make_w4_source(src: Path, cfg: Config) -> tuple[Pristine, Pristine, int]:
    """The pristine data folder and big file, aged; returns them and the folder's bytes."""
    remove_path(src)
    make_files(src / "data", cfg.w4_files, cfg.w4_dirs, seed=SEED + 2)
    make_big_file(src / "big.bin", cfg.w4_big)
    past = time.time() - AGE_SECONDS
    os.utime(src / "big.bin", (past, past))
    os.sync()
    folder = Pristine.of(src / "data")
    return folder, Pristine.of(src / "big.bin"), sum(s for s, _ in folder.listing.values())


def bench_data(work: Path, cfg: Config, tools: Sequence[Tool], rep: Report) -> Table:
    """Workload 4: ``add`` of a folder of many small files and of one big file,
    no-op re-add, status after a change, checkout into an empty workspace."""
    n, big = cfg.w4_files, cfg.w4_big
    table = Table(
        f"4. Data tracking: `add` of {n:,} files of 1-4 KiB and of one {size_text(big)} file",
        ["measure", "trails", "DVC (or the reference named)", "DVC / trails", "target", "met?"],
    )
    rep.tables.append(table)
    log(f"bench 4: source data: {n:,} files + {size_text(big)}")
    folder, big_file, size = make_w4_source(work / "source", cfg)
    projects = {p.name: p for p in pair(work, {}, tools)}
    b = DataBench(cfg, rep, work, projects["trails"], projects["dvc"], folder, big_file, size)

    # Default cache type on both sides (reflink then copy: copy on this file system).
    plain = b.add_folder("default cache type")
    table.rows.append(w1_row_time("`add data/`, default cache type", plain, 20, None))
    readd = b.readd()
    status = b.status()
    for p in (b.tr, b.dv):
        set_hardlink(p, True)
    linked = b.add_folder("cache.type hardlink")
    table.rows.append(w1_row_time("`add data/`, `cache.type hardlink`", linked, None, None))
    for kind, res in (("default cache type", plain), ("`cache.type hardlink`", linked)):
        table.rows.append(
            ref_row(
                f"`add data/`, {kind}, against the plain-read floor",
                sample(res["trails"]),
                "floor",
                sample(res["floor"]),
                2,
            )
        )
    if folder.copy_times:
        table.rows.append(
            ref_row(
                "`add data/`, default cache type, against `cp -r` of the folder",
                sample(plain["trails"]),
                "cp -r",
                Sample(times=folder.copy_times),
                None,
            )
        )
    table.rows.append(w1_row_time("no-op re-`add data/` (right after an add)", readd, None, None))
    table.rows.append(
        w1_row_time("`status` after changing one file of `data/`", status, None, None)
    )

    checkout = b.checkout()
    table.rows.append(
        w1_row_time(
            "`checkout data.dvc` into an empty workspace, `cache.type hardlink`",
            checkout,
            None,
            None,
        )
    )
    table.rows.append(
        ref_row(
            "`checkout data.dvc` against `cp -al` of the same tree",
            sample(checkout["trails"]),
            "cp -al",
            sample(checkout["cp -al"]),
            1.3,
        )
    )

    for p in (b.tr, b.dv):
        set_hardlink(p, False)
        remove_path(p.root / "data")
        (p.root / "data.dvc").unlink(missing_ok=True)
    big_res = b.add_big()
    ts, ds = sample(big_res["trails"]), sample(big_res["dvc"])
    table.rows.append(
        [
            f"`add` of one {size_text(big)} file, default cache type",
            ts.fmt(big),
            ds.fmt(big),
            f"{ds.median / ts.median:.1f}x",
            ">= 5x",
            verdict(ds.median / ts.median >= 5),
        ]
    )
    if big_file.copy_times:
        table.rows.append(
            ref_row(
                f"`add` of the {size_text(big)} file against `cp` of it",
                ts,
                "cp",
                Sample(times=big_file.copy_times),
                None,
            )
        )
    data_rss_rows(table, b.rss)
    table.notes += data_notes(b)
    return table


def data_rss_rows(table: Table, rss: dict[str, dict[str, list[int]]]) -> None:
    t_peak = max(max(v["trails"]) for v in rss.values())
    d_peak = max(max(v["dvc"]) for v in rss.values())
    table.rows.append(
        [
            "peak memory (max RSS, all the `add` runs above)",
            f"{t_peak / 1e6:.0f} MB",
            f"{d_peak / 1e6:.0f} MB",
            x_text(d_peak / t_peak),
            "(information)",
            "n/a",
        ]
    )
    for what, v in rss.items():
        table.rows.append(
            [
                f"max RSS: {what}",
                mb(v["trails"]),
                mb(v["dvc"]),
                x_text(statistics.median(v["dvc"]) / statistics.median(v["trails"])),
                "(information)",
                "n/a",
            ]
        )


def data_notes(b: DataBench) -> list[str]:
    cfg, n = b.cfg, b.n

    def how(kind: str) -> str:
        return f"trails {b.links[kind]['trails']}, DVC {b.links[kind]['dvc']}"

    notes = [
        f"Data: {n:,} files of 1-4 KiB ({b.size / 1e6:.0f} MB) in {cfg.w4_dirs} folders, and "
        f"one {size_text(cfg.w4_big)} file, made once in a pristine source folder outside "
        "the projects and aged one hour (past both tools' racy-timestamp windows). Each "
        "project is a Git repository with the tool initialised, default configuration.",
        "Before each `add` (untimed): the .dvc file, `.dvc/cache`, `.dvc/tmp` and DVC's site "
        "cache folder (its hash database) are moved aside (deleted after the workload, as "
        "in workload 1), and the data is made plain pristine "
        "files again: when it is not already (a file with more than one link, read-only, or "
        "whose size or mtime differs from the source's), it is replaced by a `cp -r "
        "--preserve=timestamps` of the pristine source; then `sync`. So every add starts "
        "from nothing, page cache warm; the `.gitignore` entry stays. Every add's .dvc file "
        f"was checked to record `nfiles: {n}` (or the big file's size).",
        "Repetitions trails / DVC, interleaved: `add` of the folder "
        f"{cfg.add_reps[0]} / {cfg.add_reps[1]} per cache type, no-op re-add "
        f"{cfg.readd_reps[0]} / {cfg.readd_reps[1]}, status {cfg.w4_status_reps[0]} / "
        f"{cfg.w4_status_reps[1]}, checkout {cfg.checkout_reps[0]} / {cfg.checkout_reps[1]}, "
        f"`add` of the big file {cfg.big_add_reps[0]} / {cfg.big_add_reps[1]}.",
        "Default cache type: `reflink,copy` on both sides, so copy on this file system (no "
        "reflinks on ext4). `cache.type hardlink`: written into `.dvc/config` as INI for "
        "trails (it has no `config` command), `dvc config cache.type hardlink` for DVC. A "
        "workspace file after the last add: default type: "
        + how("default cache type")
        + "; hardlink: "
        + how("cache.type hardlink")
        + ".",
        "Plain-read floor: a Python process (`python -S`, start-up included, as the tools' "
        "is) that walks `data/` with `os.scandir` and reads each file with one `os.open`, "
        "`os.read`, `os.close`, on its own copy of the folder (restored like the projects' "
        "before each run), interleaved with the adds; its count of files and bytes was "
        "checked. trails' add also hashes (blake3), writes the cache and its stat index.",
        "`cp -r` / `cp`: the times of the copies the resets above made (untimed in the "
        "adds; "
        f"{len(b.folder.copy_times)} of the folder, {len(b.big.copy_times)} of the big file): "
        "what creating every file once costs here, the floor of an add that copies the data "
        "into the cache.",
        "No-op re-add: `add data` again right after the last default-type add, nothing "
        "changed; `data.dvc` was checked to come out unchanged. Status: before each run one "
        "file of `data/` gets new content (written aside and renamed over it); both tools' "
        "output was checked to report the folder modified.",
        "Checkout: with `cache.type hardlink`, the cache of the last hardlink add in place, "
        "`data/` is moved aside (untimed, `sync`), then `checkout data.dvc` is timed; all "
        f"{n:,} files were checked to be back. A workspace file after checkout: "
        + how("checkout")
        + ". Reference: `cp -al` of the pristine folder into an empty destination "
        "(a hardlink farm, as fast as a hardlink checkout can be).",
        "Max RSS is that of the largest process of the tool's process tree, from `wait4` "
        "in an intermediate process. MB = 10^6 bytes.",
    ]
    big_rss = max(b.rss[f"`add` of the {size_text(cfg.w4_big)} file"]["trails"])
    if big_rss >= 0.9 * cfg.w4_big:
        notes.append(
            f"trails' peak RSS adding the {size_text(cfg.w4_big)} file ({big_rss / 1e6:.0f} "
            "MB) is about the file's size: the whole file was resident in one trails process "
            "at once (the pages of a memory map count in RSS even though they are page "
            "cache, not private memory)."
        )
    return notes


# --------------------------------------------------------------------------- report


def header(work: Path, cfg: Config, dvc: Path, trails: Tool, digest: str) -> str:
    model, mem_gib, fstype, commit = machine_facts(work)
    lines = [
        "# trails vs DVC benchmarks",
        "",
        "Written by `make bench` (`benches/bench_dvc.py`); do not edit by hand. "
        "The core benchmarks are in `RESULTS.md`; data remotes (push, pull) in "
        "[`RESULTS-remote.md`](RESULTS-remote.md); `plots diff` against DVC in "
        "[`RESULTS-plots.md`](RESULTS-plots.md); `exp show --json` (5 baselines x 100 "
        "experiments while a queue runs, 10,000 experiments, 100 against DVC) in "
        "[`RESULTS-show.md`](RESULTS-show.md).",
    ]
    if cfg.quick:
        lines += ["", "**Quick smoke run (`--quick`): small workloads, figures not meaningful.**"]
    lines += [
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}",
        f"- commit: {commit}",
        f"- CPUs: {len(os.sched_getaffinity(0))} usable (nproc), model: {model}",
        f"- RAM: {mem_gib:.1f} GiB",
        f"- file system of the work dir: {fstype}",
        "- load average at start: "
        + ", ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (shared machine: expect noise)",
        f"- {version(trails)}, its package (`python/trails`, native module included) "
        f"copied from the work tree at the start of the run (digest {digest}) and run by "
        "`.venv/bin/trails`, so that edits made meanwhile do not change what is measured",
        f"- DVC {DVC_VERSION} from PyPI in its own virtualenv "
        f"(`{dvc.parent.parent.relative_to(REPO)}`); Python {platform.python_version()}; "
        f"{first_line(['git', '--version'])}",
        "- DVC configured with `core.analytics false`, `core.autostage false`, "
        "`core.check_update false`, `DVC_NO_ANALYTICS=1`, and its site cache folder in the "
        "scratch area (`DVC_SITE_CACHE_DIR`); everything else default on both sides",
        "- times: median [min-max] over the repetitions; ratios are ratios of medians; the two "
        "tools alternate repetition by repetition, DVC with fewer repetitions where it is slow",
    ]
    return "\n".join(lines) + "\n"


def version(tool: Tool) -> str:
    done = subprocess.run(
        [tool.exe, "--version"], env=tool.env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"`{tool.name} --version` failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


def render(head: str, rep: Report) -> str:
    text = head + "".join("\n" + t.markdown() for t in rep.tables)
    if rep.problems:
        text += "\n## Problems seen during the run\n"
    for problem in rep.problems:
        first, *rest = problem.splitlines()
        text += f"\n- {first}\n"
        if rest:
            text += "\n  ```\n" + "".join(f"  {ln}\n" for ln in rest) + "  ```\n"
    return text


# --------------------------------------------------------------------------- main

BENCHES: dict[str, Callable[[Path, Config, Sequence[Tool], Report], Table]] = {
    "1": bench_pipeline,
    "2": bench_experiments,
    "3": bench_queue,
    "4": bench_data,
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--write", type=Path, help="write the Markdown results to this file")
    p.add_argument("--quick", action="store_true", help="small smoke run (figures meaningless)")
    p.add_argument("--work", type=Path, default=HERE / "work" / "dvc-bench", help="scratch folder")
    p.add_argument("--keep-work", action="store_true", help="keep the scratch projects")
    p.add_argument("--only", default="1,2,3,4", help="workloads to run, e.g. '1,3'")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cfg = Config.make(args.quick)
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    dvc = ensure_dvc(DVC_VENV)
    snap = work / "trails-snapshot"
    digest = snapshot_trails(snap)
    tools = [
        Tool.make("trails", TRAILS_EXE, PYTHONPATH=str(snap)),
        # DVC 3 keeps its hash and link databases in a machine-wide folder
        # (/var/tmp/dvc/repo/<hash of the repo path>); keep them in the scratch area.
        Tool.make("dvc", dvc, DVC_SITE_CACHE_DIR=str(work / "dvc-site-cache")),
    ]
    head = header(work, cfg, dvc, tools[0], digest)
    rep = Report()
    try:
        for key in args.only.split(","):
            sub = work / f"w{key}"
            sub.mkdir(parents=True, exist_ok=True)
            TRASH[:] = [sub / "trash"]
            try:
                BENCHES[key](sub, cfg, tools, rep)
            except Exception as exc:  # record it, go on with the next workload
                rep.problem(f"workload {key} stopped: {exc}\n{traceback.format_exc()[-3000:]}")
            finally:
                if not args.keep_work:
                    log(f"deleting {sub}")
                    shutil.rmtree(sub, ignore_errors=True)
                    os.sync()
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    report = render(head, rep)
    print(report)
    if args.write:
        args.write.write_text(report)
        log(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
