"""No-op ``trails status`` and ``trails repro`` as whole processes, against
``git status --porcelain -uno`` on the same tree and the reference tool's
``dvc status`` (issue #20 item 1), at 10k, 100k and 1M files of 1-4 KiB.

Two layouts, each a Git repository with one stage (``train``: deps the data
folder and ``train.py``, params ``lr``, outs ``model.txt``):

- ``git``: the data folder is tracked by Git (a stage dependency only);
- ``ignored``: the data folder is ``add``-ed (``data.dvc`` in Git, the
  folder git-ignored) and is the stage's dependency too.

Every project gets its own copy of the data (hardlinks of one generated
tree, made before any tool looks at them, so no index sees a changed
ctime), its own ``.git``, and is set up by the tool itself (``init``,
``add``, ``repro``, commits). Then, warm (one untimed run each), the
contenders run interleaved, each ``reps`` times under ``bench_dvc``'s probe
(wall time, peak RSS of the process tree): ratios are of medians measured in
the same run. The reference tool is measured up to ``--dvc-max`` files
(default 100k: at 1M its set-up alone would take the better part of an
hour here); it runs from its own virtualenv (``bench_dvc.ensure_dvc``).

``.pyc`` files are written (``PYTHONDONTWRITEBYTECODE`` dropped) and the
warm-up run makes them, as an installed package has them.

Run: ``.venv/bin/python benches/bench_scale.py --write benches/RESULTS-scale.md``
(``make bench``); ``--sizes 10000,100000`` for a shorter run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import log, machine_facts
from bench_dvc import DVC_VENV, GIT_ID, STAGE_PY, TRAILS_EXE, Run, base_env, ensure_dvc, probe

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "scale"
FILES_PER_DIR = 1000
AGE_SECONDS = 3600.0
TARGET = 1.5  # x git status, from the issue
GIT = shutil.which("git") or "/usr/bin/git"


def env() -> dict[str, str]:
    e = base_env()
    e.pop("PYTHONDONTWRITEBYTECODE", None)
    return e


def sh(cwd: Path, *argv: str | Path) -> None:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env(), capture_output=True)
    if done.returncode != 0:
        out = (done.stdout + done.stderr).decode(errors="replace")
        raise RuntimeError(f"{' '.join(map(str, argv))} failed in {cwd}:\n{out[-3000:]}")


def make_data(dest: Path, n: int) -> None:
    """``n`` files of 1-4 KiB of random bytes, ``FILES_PER_DIR`` a folder,
    aged past both tools' racy-timestamp windows."""
    rnd = random.Random(n)
    blob = os.urandom(4096 * 64)
    old = datetime.datetime.now().timestamp() - AGE_SECONDS
    for d in range((n + FILES_PER_DIR - 1) // FILES_PER_DIR):
        folder = dest / f"d{d:04d}"
        folder.mkdir(parents=True)
        for i in range(d * FILES_PER_DIR, min(n, (d + 1) * FILES_PER_DIR)):
            size, at = rnd.randint(1024, 4096), rnd.randrange(0, len(blob) - 4096)
            p = folder / f"f{i}.bin"
            p.write_bytes(i.to_bytes(8, "little") + blob[at : at + size - 8])
            os.utime(p, (old, old))


def project(root: Path, data: Path) -> Path:
    """A project's files over hardlinks of ``data`` (its tool sets it up)."""
    root.mkdir(parents=True)
    sh(root, "git", "init", "-q")
    sh(root, "cp", "-al", data, root / "data")
    (root / "train.py").write_text("open('model.txt', 'w').write('m')\n")
    (root / "params.yaml").write_text("lr: 0.1\n")
    (root / "dvc.yaml").write_text(
        "stages:\n  train:\n"
        f"    cmd: {STAGE_PY} train.py\n"
        "    deps: [data, train.py]\n    params: [lr]\n    outs: [model.txt]\n"
    )
    return root


def set_up(root: Path, exe: Path, layout: str) -> None:
    sh(root, exe, "init")
    if layout == "ignored":
        sh(root, exe, "add", "data")
    sh(root, "git", *GIT_ID, "add", "-A")
    sh(root, "git", *GIT_ID, "commit", "-qm", "baseline")
    sh(root, exe, "repro")
    sh(root, "git", *GIT_ID, "add", "-A")
    sh(root, "git", *GIT_ID, "commit", "-qm", "ran")


@dataclass(frozen=True)
class Timed:
    """A probed run and the CPU time (user + sys) of its process tree, the
    probe's own included (``PROBE_FLOOR`` measures that)."""

    run: Run
    cpu: float

    @property
    def wall(self) -> float:
        return self.run.wall

    @property
    def maxrss(self) -> int:
        return self.run.maxrss


#: The probe around nothing: its CPU is taken off every contender's.
PROBE_FLOOR = "probe (/bin/true)"


def timed(argv: list[str], cwd: Path, expect: str) -> Callable[[], Timed]:
    def run() -> Timed:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = probe(argv, cwd, env(), timeout=3600, grace=30)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.code != 0 or expect not in r.output:
            raise RuntimeError(f"{argv} in {cwd}: exit {r.code}, not a no-op:\n{r.output[-2000:]}")
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return Timed(r, cpu)

    return run


def cpu_ms(runs: list[Timed], floor: float) -> float:
    return max(0.0, statistics.median(r.cpu for r in runs) - floor) * 1e3


def measure(steps: dict[str, Callable[[], Timed]], reps: int) -> dict[str, list[Timed]]:
    """Warm-up, then ``reps`` rounds alternating the order."""
    for name, step in steps.items():
        step()
        log(f"  warm: {name}")
    out: dict[str, list[Timed]] = {k: [] for k in steps}
    names = list(steps)
    for rep in range(reps):
        for name in names if rep % 2 == 0 else reversed(names):
            out[name].append(steps[name]())
        log(f"  rep {rep + 1}: " + ", ".join(f"{k} {out[k][-1].wall:.3f}s" for k in names))
    return out


def med(runs: list[Timed]) -> float:
    return statistics.median(r.wall for r in runs)


def fmt(runs: list[Timed]) -> str:
    ts = [r.wall for r in runs]
    return f"{med(runs) * 1e3:.0f} ms [{min(ts) * 1e3:.0f}-{max(ts) * 1e3:.0f}]"


def bench_size(n: int, dvc: Path | None, reps: int) -> list[list[str]]:
    work = WORK / str(n)
    if work.exists():
        shutil.rmtree(work)
    log(f"{n} files: generating")
    make_data(work / "data", n)
    tools = {"trails": TRAILS_EXE} | ({"dvc": dvc} if dvc else {})
    roots = {
        (tool, layout): project(work / f"{tool}-{layout}", work / "data")
        for tool in tools
        for layout in ("git", "ignored")
    }
    rows = []
    for (tool, layout), root in roots.items():
        log(f"{n} files: set-up of {tool}, {layout} layout")
        set_up(root, tools[tool], layout)
    for layout in ("git", "ignored"):
        tr = roots[("trails", layout)]
        steps = {
            "git status -uno": timed(
                ["/usr/bin/env", "git", "status", "--porcelain", "-uno"], tr, ""
            ),
            "trails status": timed([str(TRAILS_EXE), "status"], tr, "up to date"),
            "trails repro": timed([str(TRAILS_EXE), "repro"], tr, "up to date"),
            # The start-up floor: the interpreter, click and the CLI table.
            "trails --version": timed([str(TRAILS_EXE), "--version"], tr, ""),
            PROBE_FLOOR: timed(["/bin/true"], tr, ""),
        }
        if dvc:
            steps["dvc status"] = timed([str(dvc), "status"], roots[("dvc", layout)], "up to date")
        log(f"{n} files, {layout} layout: measuring")
        res = measure(steps, reps)
        g = med(res["git status -uno"])
        st, rp = med(res["trails status"]), med(res["trails repro"])
        ref = f"{med(res['dvc status']) / st:.1f}x" if dvc else "not measured"
        rss = max(r.maxrss for r in res["trails status"]) / 1e6
        floor = statistics.median(r.cpu for r in res[PROBE_FLOOR])
        gc, sc, rc = (cpu_ms(res[k], floor) for k in ("git status -uno", "trails status",
                                                       "trails repro"))  # fmt: skip
        rows.append([
            f"{n:,}", layout, fmt(res["git status -uno"]), fmt(res["trails status"]),
            f"{st / g:.2f}x", fmt(res["trails repro"]), f"{rp / g:.2f}x",
            f"{gc:.0f} / {sc:.0f} / {rc:.0f} ms", f"{sc / gc:.2f}x / {rc / gc:.2f}x" if gc else "-",
            fmt(res["dvc status"]) if dvc else "-", ref, f"{rss:.0f} MB",
            fmt(res["trails --version"]), f"{os.getloadavg()[0]:.1f}",
        ])  # fmt: skip
    shutil.rmtree(work)
    return rows


HEADERS = [
    "files", "layout", "git status -uno", "trails status", "status / git",
    "trails repro", "repro / git", "CPU git / status / repro (median, user+sys)",
    "CPU status / git, repro / git", "dvc status", "dvc / trails status", "trails peak RSS",
    "trails --version (start-up)", "load avg (1 min, at the end)",
]  # fmt: skip


#: What a no-op check does (counted with ``strace -f -c`` on 100k files,
#: both layouts): the shape behind the figures.
NOTES = [
    "What a no-op `trails status` / `repro` does (`python/trails/noop.py`): the "
    "entry point finds the last up-to-date answer kept for the same command line, "
    "folder and environment, and one call into the core stats what it depended on "
    "(the data tree walked once for its tree-memo fingerprint, the pipeline, lock, "
    "params, config and ignore files, `.git/index`, every folder outside the "
    "trees); all as recorded: the answer is printed, without click, YAML or Git. "
    "Anything else: the full check, as follows. "
    "A full check: one walk of the data folder "
    "(the core's stat pass: about 2 `getdents64` per folder and one `fstatat` per "
    "file, the stage's dependency and the `.dvc`-tracked data hashed in one batch); "
    "the tree memo beside the stat index (`<index>.trees`) gives each folder's hash "
    "when the stats it was made of are unchanged (no stat-index load, no lookups, no "
    "manifest); `status` starts that walk on a core thread while Python loads the "
    "CLI and the pipeline (`core.prefetch_walks`). Git is asked once: `ls-files "
    "--others`, whose pathspecs lead it around the stage's folders (new files in "
    "there are found by remembered folder stats); the `--cached` listing is kept "
    "with `.git/index`'s stat. Before (e3c7928): two `ls-files --cached --others` "
    "walks of the whole tree and a second stat pass.",
    "The rest is start-up: the interpreter, click (which imports `uuid`, "
    "`datetime`, `inspect`), PyYAML's C loader for `dvc.yaml`/`dvc.lock`, the native "
    "module; the `trails --version` column is the floor of any trails command. "
    "It is a fixed cost, so the ratio to git falls as the tree grows.",
    "In the `ignored` layout Git tracks a handful of files and stats nothing of "
    "the data, while any no-op check of data that Git does not track must stat "
    "it (or ask a file watcher, issue #20 item 2): there `git status -uno` is no "
    "floor, and the `git` layout's git figure is the one to hold trails against.",
]


def report(rows: list[list[str]], reps: int, dvc_max: int) -> str:
    model, mem_gib, fstype, commit = machine_facts(WORK)
    lines = [
        "# No-op status and repro at scale (issue #20 item 1)",
        "",
        f"Machine: {os.cpu_count()} vCPU {model}, {mem_gib:.0f} GiB, {fstype} (no reflinks), "
        "shared with other jobs and noisy; trails at " + commit + ". "
        f"{datetime.date.today().isoformat()}. Whole processes, warm page cache, "
        f"median [min-max] of {reps} interleaved runs; ratios of medians from the same run. "
        f"Target: status and repro <= {TARGET}x `git status --porcelain -uno`. "
        f"The reference tool (dvc 3.67.1) measured up to {dvc_max:,} files.",
        "",
        "| " + " | ".join(HEADERS) + " |",
        "|" + "|".join("---" for _ in HEADERS) + "|",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        *NOTES,
        "",
        "Reproduce: `.venv/bin/python benches/bench_scale.py --write benches/RESULTS-scale.md`.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        default="10000,100000,1000000",
        help="comma-separated file counts (default: %(default)s; 1M takes "
        "~1 h on this machine under load, 10k+100k ~10 min without DVC)",
    )
    ap.add_argument(
        "--dvc-max",
        type=int,
        default=100_000,
        help="largest size the reference tool is set up for (0: never; "
        "its set-up at 100k took ~20 min here)",
    )
    ap.add_argument("--reps", type=int, default=5, help="timed runs per contender")
    ap.add_argument("--write", type=Path, help="the Markdown table to write")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    dvc = ensure_dvc(DVC_VENV) if any(n <= args.dvc_max for n in sizes) else None
    rows: list[list[str]] = []
    for n in sizes:
        rows += bench_size(n, dvc if n <= args.dvc_max else None, args.reps)
        text = report(rows, args.reps, args.dvc_max)
        if args.write:
            args.write.write_text(text)  # after each size: a long run keeps what it measured
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
