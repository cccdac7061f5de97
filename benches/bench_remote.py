"""Data remotes: trails against the reference tool (``dvc[s3]==3.67.1``, in
its own virtualenv) pushing to the same S3 server (moto's, in this process,
on 127.0.0.1, behind a WSGI layer that counts each tool's requests) and to
the same kind of local folder.

Workloads: N small files of 1-4 KiB (default 100,000; the reference tool
gets ``--dvc-files``, default 10,000, when it is too slow for N: the table
says so), and one 1 GiB file against a plain boto3 ``upload_file`` to the
same server (the floor: what any S3 client must send). Every figure is a
ratio measured in the same run. ``make bench`` runs it with
``--write benches/RESULTS-remote.md``; ``--quick`` is a smoke run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import Any

from bench import ensure_venv, log, machine_facts, make_big_file

HERE = Path(__file__).resolve().parent
DVC_VERSION = "3.67.1"
DVC_VENV = HERE / "work" / "dvc-s3-venv"
TRAILS = Path(sys.executable).parent / "trails"
GIT_ID = ["-c", "user.name=b", "-c", "user.email=b@b"]
KEYS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}
GiB = 1 << 30


# ----------------------------------------------------------------------------- the S3 server


class Counting:
    """WSGI middleware: requests and bytes sent per bucket (the first path
    segment)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.counts: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start: Any) -> Any:
        bucket = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
        with self.lock:
            self.counts[bucket] += 1
            self.sent[bucket] += int(environ.get("CONTENT_LENGTH") or 0)
        return self.app(environ, start)


def start_s3() -> tuple[str, Counting, Any]:
    import logging

    from moto.server import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request otherwise

    counting = Counting(DomainDispatcherApplication(create_backend_app))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = make_server("127.0.0.1", port, counting, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{port}", counting, server


def client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


# ----------------------------------------------------------------------------- projects


def env() -> dict[str, str]:
    """Both tools' environment. ``PYTHONDONTWRITEBYTECODE`` (set on these
    machines) is dropped: with it every process compiles its imports
    again (0.3-0.7 s of a no-op here, boto3's above all), which no
    installed tool pays."""
    drop = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE")
    e = {k: v for k, v in os.environ.items() if k not in drop}
    e.update(
        KEYS,
        DVC_NO_ANALYTICS="1",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        TRAILS_NO_PROGRESS="1",
    )
    return e


def run(cwd: Path, *argv: str | Path) -> float:
    """Seconds ``argv`` took (it must succeed)."""
    t = time.perf_counter()
    p = subprocess.run([str(a) for a in argv], cwd=cwd, env=env(), capture_output=True, text=True)
    secs = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"{argv} failed in {cwd}:\n{p.stdout}\n{p.stderr}")
    return secs


def make_files(root: Path, n: int, seed: int) -> None:
    rnd = random.Random(seed)
    for d in range(100):
        (root / "data" / f"d{d:02}").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / "data" / f"d{i % 100:02}" / f"f{i:06}.bin").write_bytes(
            rnd.randbytes(rnd.randint(1024, 4096))
        )
    old = time.time() - 3600
    for p in (root / "data").rglob("*"):
        os.utime(p, (old, old))


def project(
    root: Path,
    tool: str,
    exe: Path,
    n: int,
    seed: int,
    remotes: dict[str, str],
    endpoint: str,
    big: bool = False,
) -> Path:
    """A Git repo with ``data/`` (n files) added by ``tool`` and its remotes."""
    root.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    run(root, exe, "init", "-q")
    if tool == "dvc":
        for k in ("core.analytics", "core.autostage", "core.check_update"):
            run(root, exe, "config", k, "false")
    if big:
        make_big_file(root / "big.bin", GiB)
        os.utime(root / "big.bin", (time.time() - 3600,) * 2)
        run(root, exe, "add", "big.bin")
    else:
        make_files(root, n, seed)
        run(root, exe, "add", "data")
    for name, url in remotes.items():
        run(root, exe, "remote", "add", name, url)
        if url.startswith("s3://"):
            run(root, exe, "remote", "modify", name, "endpointurl", endpoint)
            run(root, exe, "remote", "modify", name, "region", "us-east-1")
    subprocess.run(["git", *GIT_ID, "add", "-A"], cwd=root, check=True)
    subprocess.run(["git", *GIT_ID, "commit", "-qm", "data"], cwd=root, check=True)
    return root


def fresh(root: Path, outs: Iterable[str] = ("data",)) -> None:
    """The project as a fresh clone has it: no cache, no local state, no
    data. They are moved aside, not deleted (the work folder goes at the
    end): on ext4 here, creating 40,000 files right after deleting as many
    cost the pull that followed 5x the system time of a pull into a new
    clone (sys 10-14 s against 2-3 s), which is not what a fresh clone
    meets."""
    trash = root.parent / "trash"
    trash.mkdir(exist_ok=True)
    for p in [root / ".dvc" / "cache", root / ".dvc" / "tmp", *(root / o for o in outs)]:
        if p.exists() or p.is_symlink():
            p.rename(trash / f"{root.name}-{p.name}-{time.monotonic_ns()}")


# ----------------------------------------------------------------------------- measuring


class Results:
    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []

    def row(self, *cells: str) -> None:
        """A row, with the load average when it was measured (the machine is
        shared: read every figure beside it)."""
        cells = (*cells, f"{os.getloadavg()[0]:.1f}")
        log(" | ".join(cells))
        self.rows.append(cells)


def ratio(ref: float, ours: float) -> str:
    return f"{ref / ours:.1f}x" if ours > 0 else "?"


def med(f: Callable[[], float], reps: int) -> float:
    return statistics.median(f() for _ in range(reps))


def med_cpu(f: Callable[[], tuple[float, float]], reps: int) -> tuple[float, float]:
    """The median wall and CPU times of ``reps`` runs."""
    runs = [f() for _ in range(reps)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def cold(root: Path, verb: str, remote: str) -> tuple[float, float]:
    """``verb`` to ``remote`` with nothing kept from the last one."""
    forget(root, verb)
    return run_cpu(root, TRAILS, verb, "-r", remote)


def forget(root: Path, verb: str) -> None:
    """Drop what the last push (its records and copies of what the remote
    holds) or pull (its record of the cache, the tree memo) kept."""
    state = root / ".dvc" / "tmp" / "trails"
    names = ("remote-pushed", "remote-seen", "remote-index") if verb == "push" else (
        "fetched", "stat-index.trees")  # fmt: skip
    for n in names:
        p = state / n
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink(missing_ok=True)


def requests(counting: Counting, bucket: str, f: Callable[[], float]) -> tuple[float, int]:
    before = counting.counts[bucket]
    secs = f()
    return secs, counting.counts[bucket] - before


def run_cpu(cwd: Path, *argv: str | Path) -> tuple[float, float]:
    """Seconds ``argv`` took, wall and CPU (user+sys of it and the
    processes it waited for): the machine is shared, the CPU time is what
    the command itself cost."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = run(cwd, *argv)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def ensure_dvc() -> Path:
    ensure_venv(DVC_VENV, "dvc", DVC_VERSION, extras="s3")
    return DVC_VENV / "bin" / "dvc"


def small_files(
    work: Path, endpoint: str, counting: Counting, n: int, n_dvc: int, res: Results, dvc: Path
) -> None:
    """Push, no-op push and pull, fresh-clone pull; S3 and a folder."""
    s3 = client(endpoint)
    for b in ("trails-small", "dvc-small"):
        s3.create_bucket(Bucket=b)
    log(f"building the projects ({n:,} and {n_dvc:,} files)")
    t = project(
        work / "t",
        "trails",
        TRAILS,
        n,
        1,
        {"s3": "s3://trails-small/p", "local": str(work / "t-store")},
        endpoint,
    )
    d = project(
        work / "d",
        "dvc",
        dvc,
        n_dvc,
        1,
        {"s3": "s3://dvc-small/p", "local": str(work / "d-store")},
        endpoint,
    )
    same = "" if n == n_dvc else f" (DVC at {n_dvc:,} files, per file)"
    scale = n / n_dvc
    for remote, bucket in (("s3", "small"), ("local", None)):
        where = "S3 (moto)" if remote == "s3" else "local folder"
        tt, tr = requests(
            counting, f"trails-{bucket}", partial(run, t, TRAILS, "push", "-r", remote)
        )
        dt, dr = requests(counting, f"dvc-{bucket}", partial(run, d, dvc, "push", "-r", remote))
        req = (
            f"requests: trails {tr:,} ({100 * tr / n:.2f}% of the files), DVC {dr:,}"
            if bucket
            else ""
        )
        res.row(
            f"push of {n:,} files, {where}{same}",
            f"{tt:.2f} s",
            f"{dt:.2f} s",
            ratio(dt * scale, tt),
            ">= 20x",
            req,
        )
        for verb in ("push", "pull"):
            # The first no-op after a push or a pull made the records
            # (``remote/known.py``) the next ones are answered by.
            run(t, TRAILS, verb, "-r", remote)
            tn, tcpu = med_cpu(partial(run_cpu, t, TRAILS, verb, "-r", remote), 3)
            dn = med(partial(run, d, dvc, verb, "-r", remote), 1)
            res.row(f"no-op {verb}, {where}{same}", f"{tn:.2f} s", f"{dn:.2f} s",
                    ratio(dn * scale, tn), "trails < 1 s",
                    f"trails CPU (user+sys) {tcpu:.2f} s; median of 3")  # fmt: skip
        # The same no-op with nothing kept from the last one (another
        # machine pushed; the records were lost): each checks every object.
        for verb in ("push", "pull"):
            tn, tcpu = med_cpu(partial(cold, t, verb, remote), 3)
            res.row(f"no-op {verb} with nothing kept from the last one, {where}", f"{tn:.2f} s",
                    "", "", "(information)",
                    f"trails CPU (user+sys) {tcpu:.2f} s; median of 3")  # fmt: skip
        # trails three times around the reference tool's one run (which
        # takes minutes), the median: one run alone is at the mercy of the
        # machine's other work. CPU time (user+sys) beside the wall time.
        trails_runs: list[tuple[float, float]] = []
        for i in range(3):
            fresh(t)
            trails_runs.append(run_cpu(t, TRAILS, "pull", "-r", remote))
            if i == 0:
                fresh(d)
                dp, dcpu = run_cpu(d, dvc, "pull", "-r", remote)
        tp = statistics.median(w for w, _ in trails_runs)
        tcpu = statistics.median(c for _, c in trails_runs)
        res.row(
            f"pull into a fresh clone, {where}{same}",
            f"{tp:.2f} s (median of 3)",
            f"{dp:.2f} s",
            ratio(dp * scale, tp),
            ">= 10x",
            f"CPU (user+sys): trails {tcpu:.2f} s, DVC {dcpu:.2f} s, "
            f"{ratio(dcpu * scale, tcpu)}; trails wall "
            + ", ".join(f"{w:.2f}" for w, _ in trails_runs)
            + " s",
        )
    # independent of the remote's size: a small project's no-op push, its
    # remote holding only its objects, then also the big project's
    s3.create_bucket(Bucket="trails-size")
    small = project(
        work / "t10", "trails", TRAILS, n // 10, 2, {"s3": "s3://trails-size/p"}, endpoint
    )
    run(small, TRAILS, "push", "-r", "s3")
    verbs = ("push", "pull")
    for verb in verbs:
        run(small, TRAILS, verb, "-r", "s3")
    alone = {v: med_cpu(partial(run_cpu, small, TRAILS, v, "-r", "s3"), 5) for v in verbs}
    run(t, TRAILS, "remote", "add", "size", "s3://trails-size/p")
    run(t, TRAILS, "remote", "modify", "size", "endpointurl", endpoint)
    run(t, TRAILS, "push", "-r", "size")
    crowded = {v: med_cpu(partial(run_cpu, small, TRAILS, v, "-r", "s3"), 5) for v in verbs}
    for v in verbs:
        (a, acpu), (c, ccpu) = alone[v], crowded[v]
        res.row(
            f"no-op {v} of {n // 10:,} objects, S3 remote holding {n // 10:,} vs "
            f"{n // 10 + n:,} objects",
            f"{a:.2f} s vs {c:.2f} s",
            "",
            f"{c / a:.2f}x",
            "about 1x",
            f"CPU (user+sys) {acpu:.2f} s vs {ccpu:.2f} s; medians of 5",
        )
    # and a no-op pull of the big project: its remote alone, then crowded
    run(small, TRAILS, "remote", "add", "size", "s3://trails-small/p")
    run(small, TRAILS, "remote", "modify", "size", "endpointurl", endpoint)
    run(small, TRAILS, "push", "-r", "size")
    before = counting.counts["trails-small"]
    pulled = med(partial(run, t, TRAILS, "pull", "-r", "s3"), 5)
    asked = (counting.counts["trails-small"] - before) / 5
    res.row(
        f"no-op pull of {n:,} objects, remote holding {n + n // 10:,} objects",
        f"{pulled:.2f} s",
        "",
        "",
        "< 1 s",
        f"{asked:.0f} requests per pull",
    )
    # exp push-like: one output changed in 1% of its files, the rest already there
    for f in sorted((t / "data").rglob("*.bin"))[: n // 100]:
        f.write_bytes(os.urandom(2048))
    run(t, TRAILS, "add", "data")
    before = counting.counts["trails-small"]
    sent = counting.sent["trails-small"]
    out = subprocess.run(
        [TRAILS, "push", "-r", "s3"], cwd=t, env=env(), capture_output=True, text=True, check=True
    ).stdout.strip()
    changed = sum(f.stat().st_size for f in sorted((t / "data").rglob("*.bin"))[: n // 100])
    total = sum(f.stat().st_size for f in (t / "data").rglob("*.bin"))
    res.row(
        "push after 1% of the files changed (what exp push sends for an experiment "
        "sharing the rest)",
        out,
        "",
        "",
        "only the missing",
        f"{counting.counts['trails-small'] - before} requests, "
        f"{(counting.sent['trails-small'] - sent) / 1e6:.2f} MB sent of {total / 1e6:.1f} MB "
        f"(changed files {changed / 1e6:.2f} MB, the rest is the new manifest and index)",
    )


def big_file(work: Path, endpoint: str, res: Results) -> None:
    s3 = client(endpoint)
    for b in ("trails-big", "floor-big"):
        s3.create_bucket(Bucket=b)
    t = project(
        work / "tb", "trails", TRAILS, 0, 0, {"s3": "s3://trails-big/p"}, endpoint, big=True
    )
    from boto3.s3.transfer import TransferConfig

    cfg = TransferConfig(
        multipart_threshold=64 << 20, multipart_chunksize=64 << 20, max_concurrency=8
    )
    start = time.perf_counter()
    s3.upload_file(str(t / "big.bin"), "floor-big", "big.bin", Config=cfg)
    floor = time.perf_counter() - start
    tt = run(t, TRAILS, "push", "-r", "s3")
    res.row(
        "push of one 1 GiB file, S3 (moto)",
        f"{tt:.2f} s",
        f"boto3 upload_file {floor:.2f} s",
        f"{tt / floor:.2f}x the floor",
        "<= 1.5x",
        "",
    )
    fresh(t, ("big.bin",))
    tp = run(t, TRAILS, "pull", "-r", "s3")
    res.row(
        "pull of the 1 GiB file into a fresh clone, S3 (moto)",
        f"{tp:.2f} s",
        "",
        "",
        "(information)",
        "",
    )


def write(path: Path, res: Results, args: argparse.Namespace, load: str) -> None:
    model, ram, fs, commit = machine_facts(HERE)
    lines = [
        "# Data remotes: trails vs DVC",
        "",
        "Written by `benches/bench_remote.py` (`make bench`); do not edit by hand. "
        "Linked from RESULTS-dvc.md.",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; commit {commit}",
        f"- machine: {os.cpu_count()} vCPU ({model}), {ram:.1f} GiB RAM, work dir on {fs} "
        "(no reflinks), shared and noisy",
        f"- load average at start: {load}",
        f"- DVC {DVC_VERSION} with dvc-s3 in its own virtualenv "
        f"({DVC_VENV.relative_to(HERE.parent)})",
        "- S3: moto's server in the benchmark process on 127.0.0.1 (the same for every tool), "
        "requests counted per bucket by a WSGI layer in front of it",
        f"- files of 1-4 KiB: trails {args.files:,}, DVC {args.dvc_files:,}; where they differ, "
        "the ratio compares time per file (DVC's time x files ratio)",
        "- command: `.venv/bin/python benches/bench_remote.py "
        + " ".join(sys.argv[1:])
        + "`"
        + (" (this file: a `--quick` smoke run; its figures mean little)" if args.quick else ""),
        "- the reference tool's time per file grows with the file count, so per-file ratios "
        "understate the gap; `--dvc-files` equal to `--files` measures both at the same size",
        "- both tools run with their bytecode written (`PYTHONDONTWRITEBYTECODE` dropped), "
        "as installed tools do; CPU is user+sys of the command and its children",
        "- a no-op is measured after the first no-op that made its records "
        "(`python/trails/remote/known.py`); the rows 'with nothing kept' remove them first",
        "",
        "| measure | trails | DVC (or floor) | ratio | target | notes | load |",
        "|---|---|---|---|---|---|---|",
        *("| " + " | ".join(r) + " |" for r in res.rows),
        "",
    ]
    path.write_text("\n".join(lines))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", type=Path)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--dvc-files", type=int, default=10_000)
    ap.add_argument("--no-big", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.files, args.dvc_files = 2000, 2000
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    work = HERE / "work" / "remote-bench"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    endpoint, counting, server = start_s3()
    res = Results()
    try:
        dvc = ensure_dvc()
        small_files(work, endpoint, counting, args.files, args.dvc_files, res, dvc)
        if not args.no_big and not args.quick:
            big_file(work, endpoint, res)
    finally:
        server.shutdown()
        shutil.rmtree(work, ignore_errors=True)
    if args.write:
        write(args.write, res, args, load)
        log(f"wrote {args.write}")


if __name__ == "__main__":
    main()
