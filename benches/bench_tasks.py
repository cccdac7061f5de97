"""Python tasks: trails against pytask on the same task files.

Two workloads, each written twice (the same functions, one spelled for
``pytask``'s ``Product``, one for ``trails.Out``/``trails.Param``), in two
scratch projects under ``benches/work/tasks-bench/``:

- *wide*: 1,000 tasks in 100 ``task_*.py`` files, each copying its own
  input file to its own output;
- *chain*: a 10-task pipeline, the first task reading a param
  (``trails.Param("p")``; for pytask, ``params.yaml`` as a dependency it
  parses), each next task reading the previous one's output.

Measured, each a whole process, interleaved with its reference: ``collect``
(trails warm: its per-file cache holds; cold: the cache removed, every file
imported), the no-op build (``trails repro`` / ``pytask``), and, on the
chain, every task run (``repro -f`` / ``pytask build -f``; trails with its
task server, and with ``TRAILS_TASK_SERVER=0``, a fresh interpreter per
task, wall and CPU time) and the param flipped 1 -> 2 -> 1: how many task
bodies each tool runs for the flip back (each body appends to a log). CPU
time is user+sys of every process a run starts, the servers that outlive
it included: this process is their subreaper and reaps them. pytask is installed into
its own virtualenv, ``benches/work/pytask-venv`` (reused when it holds the
right version), never a dependency of trails. Run ``make bench``, or alone:
``.venv/bin/python benches/bench_tasks.py --write benches/RESULTS-tasks.md``
(sizes: ``--files 100 --per-file 10 --chain 10 --reps 5``; ``--quick``).
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import os
import resource
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from bench import (
    GIT_ENV,
    Contender,
    Sample,
    Table,
    ensure_venv,
    log,
    machine_facts,
    measure,
    verdict,
)

HERE = Path(__file__).resolve().parent
PYTASK_VERSION = "0.6.0"
PYTASK_VENV = HERE / "work" / "pytask-venv"
WORK = HERE / "work" / "tasks-bench"
TRAILS = Path(sys.executable).parent / "trails"

WIDE_FILE = {
    "trails": (
        "from pathlib import Path\nfrom typing import Annotated\n\nimport trails\n\n{tasks}"
    ),
    "pytask": (
        "from pathlib import Path\nfrom typing import Annotated\n\nfrom pytask import Product\n\n"
        "{tasks}"
    ),
}
WIDE_TASK = {
    "trails": (
        "\ndef task_{f}_{t}(src: Path = Path('in/{f}_{t}.txt'),\n"
        "             out: Annotated[Path, trails.Out] = Path('out/{f}_{t}.txt')):\n"
        "    out.write_text(src.read_text())\n\n"
    ),
    "pytask": (
        "\ndef task_{f}_{t}(src: Path = Path('in/{f}_{t}.txt'),\n"
        "             out: Annotated[Path, Product] = Path('out/{f}_{t}.txt')):\n"
        "    out.write_text(src.read_text())\n\n"
    ),
}
CHAIN_HEAD = {
    "trails": (
        "import os\nfrom pathlib import Path\nfrom typing import Annotated\n\nimport trails\n\n\n"
        "def _log(name):\n    with open(os.environ['BODY_LOG'], 'a') as f:\n"
        "        f.write(name + '\\n')\n\n\n"
        "def task_0(p: Annotated[int, trails.Param('p')],\n"
        "           out: Annotated[Path, trails.Out] = Path('c/0.txt')):\n"
        "    _log('0')\n    out.parent.mkdir(exist_ok=True)\n    out.write_text(str(p))\n"
    ),
    "pytask": (
        "import os\nfrom pathlib import Path\nfrom typing import Annotated\n\n"
        "from pytask import Product\n\n\n"
        "def _log(name):\n    with open(os.environ['BODY_LOG'], 'a') as f:\n"
        "        f.write(name + '\\n')\n\n\n"
        "def task_0(params: Path = Path('params.yaml'),\n"
        "           out: Annotated[Path, Product] = Path('c/0.txt')):\n"
        "    _log('0')\n    p = int(params.read_text().split(':')[1])\n"
        "    out.parent.mkdir(exist_ok=True)\n    out.write_text(str(p))\n"
    ),
}
CHAIN_TASK = (
    "\n\ndef task_{i}(src: Path = Path('c/{j}.txt'),\n"
    "           out: Annotated[Path, {product}] = Path('c/{i}.txt')):\n"
    "    _log('{i}')\n    out.write_text(src.read_text() + '+{i}')\n"
)
PRODUCT = {"trails": "trails.Out", "pytask": "Product"}


#: Both tools run as users run them: with their bytecode cached.
BASE_ENV = {k: v for k, v in GIT_ENV.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [os.fspath(a) for a in argv], cwd=cwd, capture_output=True, text=True,
        env={**BASE_ENV, **(env or {})}, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{argv} failed ({done.returncode}): {done.stdout[-1500:]}"
                           f"{done.stderr[-1500:]}")  # fmt: skip
    return done.stdout


def _adopt_orphans() -> None:
    """Become the subreaper of what the measured commands leave running
    (trails' task server and its helpers exit just after trails), so that
    reaping them counts their CPU time too (``RUSAGE_CHILDREN``)."""
    ctypes.CDLL(None).prctl(36, 1)  # PR_SET_CHILD_SUBREAPER


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _reap() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


class CpuTimed:
    """A command whose CPU time (with its orphans') is kept per call; the
    warm-up's is dropped, as ``measure`` drops its time."""

    def __init__(self, argv: list[str | Path], cwd: Path, env: dict[str, str] | None = None):
        self.argv, self.cwd, self.env = argv, cwd, env
        self.cpu: list[float] = []

    def __call__(self) -> str:
        before = _children_cpu()
        out = run(self.argv, self.cwd, self.env)
        _reap()
        self.cpu.append(_children_cpu() - before)
        return out

    def fmt(self) -> str:
        kept = self.cpu[1:]
        med = statistics.median(kept)
        return f"{med * 1e3:.0f} ms [{min(kept) * 1e3:.0f}-{max(kept) * 1e3:.0f}]"


def make_project(tool: str, files: dict[str, str]) -> Path:
    if tool == "pytask":
        files = {**files, **PYTASK_ROOT}
    root = WORK / tool
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    if tool == "trails":
        run(["git", "init", "-q"], root)
        run([TRAILS, "init"], root)
    return root


def wide_files(tool: str, n_files: int, per_file: int) -> dict[str, str]:
    files: dict[str, str] = {}
    for f in range(n_files):
        tasks = "".join(WIDE_TASK[tool].format(f=f, t=t) for t in range(per_file))
        files[f"tasks/task_{f}.py"] = WIDE_FILE[tool].format(tasks=tasks)
        for t in range(per_file):
            files[f"tasks/in/{f}_{t}.txt"] = f"{f} {t}\n"
            files["tasks/out/.keep"] = ""
    return files


#: pytask's root is the first folder up with a ``pyproject.toml``: each
#: scratch project gets one, so its state (``pytask.lock``, ``.pytask/``)
#: stays in it, not in this repository.
PYTASK_ROOT = {"pyproject.toml": "[tool.pytask.ini_options]\npaths = ['.']\n"}


def chain_files(tool: str, n: int) -> dict[str, str]:
    body = CHAIN_HEAD[tool] + "".join(
        CHAIN_TASK.format(i=i, j=i - 1, product=PRODUCT[tool]) for i in range(1, n)
    )
    return {"task_chain.py": body, "params.yaml": "p: 1\n"}


def build(tool: str, root: Path, exe: Path, env: dict[str, str] | None = None) -> str:
    return run([exe, "repro"] if tool == "trails" else [exe, "build"], root, env)


def bench_wide(pytask: Path, n_files: int, per_file: int, reps: int) -> Table:
    n = n_files * per_file
    roots = {tool: make_project(tool, wide_files(tool, n_files, per_file))
             for tool in ("trails", "pytask")}  # fmt: skip
    cache = roots["trails"] / ".dvc/tmp/trails/tasks.json"
    out = run([TRAILS, "collect"], roots["trails"])
    assert f"{n} tasks collected." in out, out[-300:]
    out = run([pytask, "collect"], roots["pytask"])
    assert f"{n}" in out, out[-300:]
    log(f"wide: collect ({n} tasks in {n_files} files)")
    collect = measure([
        Contender("trails warm", lambda: run([TRAILS, "collect"], roots["trails"])),
        Contender("trails cold", lambda: run([TRAILS, "collect"], roots["trails"]),
                  setup=lambda: cache.unlink(missing_ok=True)),
        Contender("pytask", lambda: run([pytask, "collect"], roots["pytask"])),
    ], reps)  # fmt: skip
    # The first build: pytask runs its tasks; trails records the same
    # outputs without starting 1,000 task processes (`commit`), which
    # leaves the state a run leaves (dvc.lock, cache).
    for rel, text in wide_files("trails", n_files, per_file).items():
        if rel.startswith("tasks/in/"):
            (roots["trails"] / rel.replace("/in/", "/out/")).write_text(text)
    run([TRAILS, "commit", "-f"], roots["trails"])
    build("pytask", roots["pytask"], pytask)
    log("wide: no-op build")
    noop = measure([
        Contender("trails", lambda: build("trails", roots["trails"], TRAILS)),
        Contender("pytask", lambda: build("pytask", roots["pytask"], pytask)),
    ], reps)  # fmt: skip
    assert "Data and pipelines are up to date." in str(noop["trails"].result)
    table = Table(f"{n} tasks in {n_files} files", ["measure", "trails", "pytask", "ratio",
                                                    "goal", "met?"])  # fmt: skip
    _rows(table, collect, noop)
    table.notes.append(
        "collect, warm: the per-file cache holds (the usual case: nothing imported); cold: "
        "`.dvc/tmp/trails/tasks.json` removed before each run, so every task file is imported "
        "(in one collector process per CPU, forked from trails') and its code identity computed."
    )
    table.notes.append(f"load average (1, 5, 15 min) after this table: {_load()}")
    return table


def _rows(table: Table, collect: dict[str, Sample], noop: dict[str, Sample]) -> None:
    ref = collect["pytask"].median
    for name in ("trails warm", "trails cold"):
        s = collect[name]
        ratio = ref / s.median
        met = f"{verdict(s.median < 1)} / {verdict(ratio >= 3)}"
        table.rows.append([f"collect ({name.split()[1]})", s.fmt(), collect["pytask"].fmt(),
                           f"{ratio:.1f}x faster", "< 1 s / >= 3x", met])  # fmt: skip
    t, p = noop["trails"], noop["pytask"]
    ratio = p.median / t.median
    met = f"{verdict(t.median < 0.3)} / {verdict(ratio >= 5)}"
    table.rows.append(["no-op build", t.fmt(), p.fmt(), f"{ratio:.1f}x faster", "< 0.3 s / >= 5x",
                       met])  # fmt: skip


def bench_chain(pytask: Path, n: int, reps: int) -> tuple[Table, Table]:
    roots = {tool: make_project(tool, chain_files(tool, n)) for tool in ("trails", "pytask")}
    logs = {tool: WORK / f"{tool}-bodies.log" for tool in roots}
    exes = {"trails": TRAILS, "pytask": pytask}

    def go(tool: str) -> str:
        return build(tool, roots[tool], exes[tool], {"BODY_LOG": str(logs[tool])})

    def bodies(tool: str) -> int:
        count = len(logs[tool].read_text().split()) if logs[tool].exists() else 0
        logs[tool].unlink(missing_ok=True)
        return count

    for tool in roots:
        go(tool)
        assert bodies(tool) == n, tool
    log("chain: collect and no-op build")
    memo = roots["trails"] / ".dvc/tmp/trails/tasks.json"
    timed = {
        "trails warm": CpuTimed([TRAILS, "collect"], roots["trails"]),
        "trails cold": CpuTimed([TRAILS, "collect"], roots["trails"]),
        "trails cold, exec": CpuTimed([TRAILS, "collect"], roots["trails"],
                                      {"TRAILS_COLLECT_FORK": "0"}),
        "pytask": CpuTimed([pytask, "collect"], roots["pytask"]),
    }  # fmt: skip
    collect = measure([
        Contender(name, t, setup=(lambda: memo.unlink(missing_ok=True)) if "cold" in name else None)
        for name, t in timed.items()
    ], reps)  # fmt: skip
    noop = measure([Contender("trails", lambda: go("trails")),
                    Contender("pytask", lambda: go("pytask"))], reps)  # fmt: skip
    table = Table(f"a {n}-task pipeline", ["measure", "trails", "pytask", "ratio", "goal",
                                           "met?"])  # fmt: skip
    _rows(table, collect, noop)
    exec_cold = collect["trails cold, exec"]
    table.rows.insert(2, [
        "collect (cold, the collector a fresh interpreter: `TRAILS_COLLECT_FORK=0`)",
        exec_cold.fmt(), collect["pytask"].fmt(),
        f"{collect['pytask'].median / exec_cold.median:.1f}x faster", "-", "-",
    ])  # fmt: skip
    cpu = {name: statistics.median(t.cpu[1:]) for name, t in timed.items()}
    table.rows[3:3] = [  # after the collect rows, before the no-op build's
        [f"collect ({name.split(' ', 1)[1]}), CPU (user+sys, all processes)",
         timed[name].fmt(), timed["pytask"].fmt(), f"{cpu['pytask'] / cpu[name]:.1f}x less",
         "-", "-"]
        for name in ("trails warm", "trails cold", "trails cold, exec")
    ]  # fmt: skip
    table.notes.append(
        "collect, cold: `.dvc/tmp/trails/tasks.json` removed before each run, so the task file "
        "is imported (in a collector forked from trails' process: no interpreter start, "
        "nothing imported twice; with `TRAILS_COLLECT_FORK=0`, as before, in a fresh "
        "`python -c` interpreter) and its code identity computed."
    )
    forced = bench_forced(roots, logs, pytask, n, reps)
    flips: dict[str, tuple[int, int]] = {}
    for tool in roots:
        bodies(tool)
        (roots[tool] / "params.yaml").write_text("p: 2\n")
        go(tool)
        forward = bodies(tool)
        (roots[tool] / "params.yaml").write_text("p: 1\n")
        go(tool)
        flips[tool] = (forward, bodies(tool))
    t, p = flips["trails"], flips["pytask"]
    table.rows.append([
        "param flipped 1 -> 2 -> 1: task bodies run for 1 -> 2 / for 2 -> 1",
        f"{t[0]} / {t[1]}", f"{p[0]} / {p[1]}", "-", "trails 0 for the flip back",
        verdict(t[1] == 0 and p[1] > 0),
    ])  # fmt: skip
    table.notes.append(
        "The flip back: trails finds each task's earlier run in its run-cache (same code, "
        "params and inputs) and restores the outputs from the cache; pytask only skips work "
        "whose inputs are unchanged since its last run, so it recomputes."
    )
    table.notes.append(f"load average (1, 5, 15 min) after this table: {_load()}")
    return table, forced


def bench_forced(
    roots: dict[str, Path], logs: dict[str, Path], pytask: Path, n: int, reps: int
) -> Table:
    """Every task of the chain run (forced): the cost of starting task
    workers, with trails' task server and without it."""
    log("chain: every task run (forced)")
    runs = {
        "trails": CpuTimed([TRAILS, "repro", "-f"], roots["trails"],
                           {"BODY_LOG": str(logs["trails"])}),
        "trails fresh": CpuTimed([TRAILS, "repro", "-f"], roots["trails"],
                                 {"BODY_LOG": str(logs["trails"]), "TRAILS_TASK_SERVER": "0"}),
        "pytask": CpuTimed([pytask, "build", "-f"], roots["pytask"],
                           {"BODY_LOG": str(logs["pytask"])}),
    }  # fmt: skip
    got = measure([Contender(name, r) for name, r in runs.items()], reps)
    expected = {"trails": 2 * (reps + 1) * n, "pytask": (reps + 1) * n}  # every body, every run
    for tool in logs:
        assert len(logs[tool].read_text().split()) == expected[tool], tool
        logs[tool].unlink()
    server, fresh, ref = got["trails"], got["trails fresh"], got["pytask"]
    cpu = {name: statistics.median(r.cpu[1:]) for name, r in runs.items()}
    table = Table(f"every task of the {n}-task pipeline run (`repro -f` / `pytask build -f`)",
                  ["measure", "trails, task server", "trails, a fresh interpreter per task",
                   "pytask", "server vs fresh"])  # fmt: skip
    table.rows.append(["wall", server.fmt(), fresh.fmt(), ref.fmt(),
                       f"{fresh.median / server.median:.2f}x faster"])  # fmt: skip
    table.rows.append(["CPU (user+sys, all processes)", runs["trails"].fmt(),
                       runs["trails fresh"].fmt(), runs["pytask"].fmt(),
                       f"{cpu['trails fresh'] / cpu['trails']:.2f}x less"])  # fmt: skip
    per_task = (cpu["trails fresh"] - cpu["trails"]) / n
    table.notes.append(
        f"Starting a task's worker: {per_task * 1e3:.0f} ms of CPU less per task with the "
        "server (a fork of a process that imported the worker's modules once) than with a "
        f"fresh interpreter per task; wall {(fresh.median - server.median) / n * 1e3:.0f} ms "
        "less per task. trails also hashes and stores each output in its cache, which pytask "
        "does not."
    )
    table.notes.append(f"load average (1, 5, 15 min) after this table: {_load()}")
    return table


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", type=Path, help="Write the Markdown results here.")
    parser.add_argument("--quick", action="store_true", help="Small workloads, 2 repetitions.")
    parser.add_argument("--files", type=int, help="Task files of the wide workload (100).")
    parser.add_argument("--per-file", type=int, default=10, help="Tasks per file (10).")
    parser.add_argument("--chain", type=int, default=10, help="Tasks of the pipeline (10).")
    parser.add_argument("--reps", type=int, help="Repetitions of each measure (5).")
    args = parser.parse_args()
    ensure_venv(PYTASK_VENV, "pytask", PYTASK_VERSION)
    pytask = PYTASK_VENV / "bin" / "pytask"
    WORK.mkdir(parents=True, exist_ok=True)
    reps = args.reps or (2 if args.quick else 5)
    n_files = args.files or (10 if args.quick else 100)
    load_before = os.getloadavg()[0]
    _adopt_orphans()
    wide = bench_wide(pytask, n_files, args.per_file, reps)
    tables = [wide, *bench_chain(pytask, args.chain, reps)]
    model, mem_gib, fstype, commit = machine_facts(WORK)
    lines = [
        "# trails tasks against pytask",
        "",
        "Written by `make bench` (`benches/bench_tasks.py`); do not edit by hand.",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; commit: {commit}",
        f"- CPUs: {os.cpu_count()} ({model}), RAM {mem_gib:.1f} GiB, file system {fstype}; "
        f"shared and noisy: load average {load_before:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end (absolute times scale with it; ratios less)",
        f"- pytask {PYTASK_VERSION} in its own virtualenv; whole processes, median [min-max] "
        f"of {reps} interleaved runs after a warm-up; ratios of medians measured in this run",
        "",
    ]
    text = "\n".join(lines) + "\n".join(t.markdown() for t in tables)
    print(text)
    if args.write:
        args.write.write_text(text)
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
