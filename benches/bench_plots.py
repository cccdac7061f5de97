"""``plots diff`` of 2 and of 20 revisions: trails against the reference
tool (DVC 3.67.1, in the virtualenv ``bench_dvc.py`` builds), on one Git
repository both read.

The project declares two plots at the top of ``dvc.yaml``: a TSV loss curve
(``x: step``, ``y: loss``) and a JSON file with two columns (``y: {file:
[train, test]}``), each of 100 rows; every revision is a commit that
changes both (tags ``r0``..``r19``). Two commands are timed, whole
processes, repetitions of the two tools interleaved: the VS Code
extension's call (``plots diff REVS --json --split -o DIR``) and the HTML
page (``plots diff REVS -o DIR``; the reference tool's page loads Vega from
a CDN, trails' embeds SVG drawn locally, so trails does more work there).
The figure is the ratio of medians.

Run by ``make bench``: ``.venv/bin/python benches/bench_plots.py --write
benches/RESULTS-plots.md``; ``--quick`` is a smoke run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import machine_facts
from bench_dvc import DVC_VENV, DVC_VERSION, base_env, ensure_dvc

HERE = Path(__file__).resolve().parent
TRAILS = Path(sys.executable).parent / "trails"
ROWS = 100
GOAL = 5.0

PIPELINE = """\
plots:
  - logs/loss.tsv:
      x: step
      y: loss
      title: Loss
  - accuracy:
      x: epoch
      y:
        eval/acc.json: [train, test]
"""


#: The template with a transform to compute (``smooth``: a loess fit per
#: curve, ``plots/draw.py``; vl-convert drew it before, its engine started
#: by the first chart).
ENGINE_PIPELINE = """\
plots:
  - logs/loss.tsv:
      template: smooth
      x: step
      y: loss
"""


def _git(root: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", *args],
        cwd=root, check=True, capture_output=True,
    )  # fmt: skip


def _write(root: Path, rev: int) -> None:
    loss = "".join(f"{i}\t{1 / (i + 1 + rev):.6f}\n" for i in range(ROWS))
    (root / "logs" / "loss.tsv").write_text("step\tloss\n" + loss)
    acc = [{"epoch": i, "train": 0.5 + rev / 100 + i / 1000, "test": 0.4 + rev / 100}
           for i in range(ROWS)]  # fmt: skip
    (root / "eval" / "acc.json").write_text(json.dumps({"acc": acc}))


def build(root: Path, revs: int, dvc: Path, engine: bool = False) -> None:
    """The repository; ``engine``: the loss curve with the smooth template alone."""
    shutil.rmtree(root, ignore_errors=True)
    (root / "logs").mkdir(parents=True)
    (root / "eval").mkdir()
    _git(root, "init", "-q")
    subprocess.run([dvc, "init", "-q"], cwd=root, check=True, env=base_env())
    (root / "dvc.yaml").write_text(ENGINE_PIPELINE if engine else PIPELINE)
    for r in range(revs):
        _write(root, r)
        _git(root, "add", "-A")
        _git(root, "commit", "-qm", f"r{r}")
        _git(root, "tag", f"r{r}")


def _env() -> dict[str, str]:
    """Both tools as installed: byte-code caches written and used."""
    env = base_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _time(argv: list[str], cwd: Path, check_json: list[str] | None) -> tuple[float, float]:
    """Wall time, and CPU time (user + system of the process and the
    children it waited for): on this shared machine the steadier figure."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=_env())
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed: {done.stderr[-2000:]}")
    if check_json is not None:
        doc = json.loads(done.stdout)
        if sorted(doc["data"]) != check_json:
            raise RuntimeError(f"{argv[0]}: unexpected plots {sorted(doc['data'])}")
    return elapsed, cpu


def measure(
    root: Path, tools: dict[str, Path], args: list[str], reps: int, cold: bool = False
) -> dict[str, list[tuple[float, float]]]:
    """``(wall, CPU)`` of each run; ``cold``: trails' SVG cache removed
    before each of its runs, so every chart is drawn each time."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in tools}
    check = ["accuracy", "logs/loss.tsv"] if "--json" in args else None
    for rep in range(-1, reps):
        order = list(tools.items()) if rep % 2 == 0 else list(reversed(tools.items()))
        for name, exe in order:
            if cold and name == "trails":
                shutil.rmtree(root / ".dvc" / "tmp" / "trails" / "plots-svg", ignore_errors=True)
            t = _time([os.fspath(exe), "plots", "diff", *args], root, check)
            if rep >= 0:
                times[name].append(t)
        print(f"  {' '.join(args[:2])}...: rep {rep + 1}/{reps}", file=sys.stderr)
    return times


def fmt(runs: list[tuple[float, float]]) -> str:
    xs = [w for w, _ in runs]
    med = statistics.median(xs)
    cpu = statistics.median(c for _, c in runs)
    return f"{med * 1e3:.0f} ms [{min(xs) * 1e3:.0f}-{max(xs) * 1e3:.0f}] (CPU {cpu * 1e3:.0f} ms)"


def ratio(runs: dict[str, list[tuple[float, float]]], i: int) -> float:
    """DVC's median over trails' (``i``: 0 wall, 1 CPU)."""
    return statistics.median(r[i] for r in runs["dvc"]) / statistics.median(
        r[i] for r in runs["trails"]
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--write", type=Path, help="write the Markdown results to this file")
    p.add_argument("--quick", action="store_true", help="small smoke run")
    args = p.parse_args()
    reps = 2 if args.quick else 5
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    dvc = ensure_dvc(DVC_VENV)
    work = HERE / "work" / "plots"
    root = work / "repo"
    build(root, 20, dvc)
    engine_root = work / "engine-repo"
    build(engine_root, 2, dvc, engine=True)
    tools = {"trails": TRAILS, "dvc": dvc}
    rows = []
    cases = [
        (n, root, label, extra, cold)
        for n in (2, 20)
        for label, extra, cold in (
            ("`--json --split` (the VS Code extension's call)", ["--json", "--split"], False),
            ("HTML page, charts unchanged since the last page (SVG cache)", [], False),
            ("HTML page, cold (every chart drawn: no SVG cache)", [], True),
        )
    ] + [(2, engine_root, "HTML page, cold, a `smooth` plot (a loess fit per curve)", [], True)]
    for n, where, label, extra, cold in cases:
        revs = [f"r{i}" for i in range(n)]
        print(f"plots diff of {n} revisions, {label}", file=sys.stderr)
        t = measure(where, tools, [*revs, *extra, "-o", "out"], reps, cold)
        wall, cpu = ratio(t, 0), ratio(t, 1)
        met = ", ".join(f"{k} {'yes' if v >= GOAL else '**NO**'}"
                        for k, v in (("wall", wall), ("CPU", cpu)))  # fmt: skip
        rows.append(
            f"| {n} | {label} | {fmt(t['trails'])} | {fmt(t['dvc'])} | "
            f"**{wall:.1f}x** wall, {cpu:.1f}x CPU | {met} |"
        )
    shutil.rmtree(work, ignore_errors=True)
    model, mem_gib, fstype, commit = machine_facts(HERE)
    text = "\n".join(
        [
            "# trails plots benchmarks",
            "",
            "Written by `make bench` (`benches/bench_plots.py`); do not edit by hand.",
            "",
            f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; commit: {commit}",
            f"- CPUs: {os.cpu_count()} ({model}), RAM {mem_gib:.1f} GiB, file system {fstype};"
            " shared and noisy, no reflinks; load average at the end: "
            + ", ".join(f"{x:.1f}" for x in os.getloadavg()),
            f"- reference: DVC {DVC_VERSION}; times: whole processes (byte-code cached, after"
            f" an untimed warm-up), median [min-max] of {reps} wall, and the median CPU (user +"
            " system of the process and its children: the steadier figure here), the two tools"
            " interleaved; ratio: DVC's median over trails'",
            f"- workload: one Git repository both tools read; two plots of {ROWS} rows each"
            " (a TSV curve, a JSON file with two columns), changed by every commit; for the"
            " last row another, the TSV curve alone with the `smooth` template",
            "",
            f"| revisions | output | trails | DVC | trails faster | goal >= {GOAL:.0f}x met? |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "- Reproduce: `.venv/bin/python benches/bench_plots.py` (part of `make bench`).",
            "- The HTML rows are not the same work: DVC writes a page whose charts a browser"
            " draws with Vega fetched from a CDN; trails draws every chart itself and embeds the"
            " SVG, so its page works offline. A chart's SVG is kept by content"
            " (`.dvc/tmp/trails/plots-svg`): a page of charts already drawn (the usual case of"
            " a page re-made while one experiment changes) is read back; a cold row is the"
            " first page of new data (after a reboot too: nothing is kept running). Every"
            " built-in template is drawn by trails itself (`plots/draw.py`, Vega's layout and"
            " `smooth`'s loess fit, no JavaScript engine); vl-convert, whose engine start"
            " (~0.6 s of CPU) and per-chart cost (0.1-0.4 s) a page paid before, draws only"
            " a project's own templates.",
            f"- load average at the start: {load}",
            "",
        ]
    )
    print(text)
    if args.write:
        args.write.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
