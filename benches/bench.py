"""Benchmarks of trails' Rust core against the tools people would otherwise use.

Every figure is a ratio against a reference measured in the same run, on the
same machine, with the repetitions of trails and of the reference interleaved,
so that a shared or noisy machine slows both sides alike. Each time is shown as
``median [min-max]`` over its repetitions and each ratio is a ratio of medians.

Run ``make bench`` (that is, ``.venv/bin/python benches/bench.py --write
benches/RESULTS.md``). ``--quick`` shrinks the workloads and repetitions for a
smoke run whose figures mean little. The workloads live in ``benches/work/``
(git-ignored) and are deleted at the end, even when a benchmark fails.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import importlib.util
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import blake3

from trails import core

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MiB = 1 << 20
GiB = 1 << 30
RSS_TARGET_BYTES = 150 * 10**6
#: Files are aged by this much, past the stat index's 100 ms racy window.
AGE_SECONDS = 3600.0
#: A reproducible environment for git: no system or user configuration.
GIT_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
T0 = time.perf_counter()
#: What the clean-up leaves in the work folder: bench_dvc.py's DVC virtualenv,
#: slow to install and reused when it holds the right version.
KEEP_IN_WORK = ("dvc-venv",)


@dataclass(frozen=True)
class Config:
    """Workload sizes and repetition counts; ``quick`` is a smoke run."""

    quick: bool
    big_size: int
    n_files: int
    n_dirs: int
    reps: int
    slow_reps: int
    rss_reps: int
    seed: int = 20240601

    @staticmethod
    def make(quick: bool) -> Config:
        if quick:
            return Config(True, 256 * MiB, 5_000, 256, reps=2, slow_reps=2, rss_reps=1)
        return Config(False, 2 * GiB, 100_000, 256, reps=5, slow_reps=3, rss_reps=3)


def log(msg: str) -> None:
    """Progress on stderr, with the elapsed time, so a long run shows where it is."""
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- measuring


def num(x: float) -> str:
    """Three significant figures without falling into exponent notation."""
    return f"{x:.0f}" if x >= 100 else f"{x:.3g}"


@dataclass
class Sample:
    """The times of one contender; ``result`` is what its last run returned,
    kept so that results can be checked against each other."""

    times: list[float] = field(default_factory=list)
    result: object = None

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def last(self) -> str:
        """The latest recorded time, for progress lines (the warm-up is not recorded)."""
        return f"{self.times[-1]:.3f}s" if self.times else "done"

    def fmt(self, size: int | None = None) -> str:
        """``median [min-max]`` in a unit that fits; with ``size``, the
        throughput of the median too."""
        med, lo, hi = self.median, min(self.times), max(self.times)
        scale, unit = (1.0, "s") if med >= 1 else (1e3, "ms")
        text = f"{num(med * scale)} {unit} [{num(lo * scale)}-{num(hi * scale)}]"
        if size is not None:
            text += f", {size / GiB / med:.2f} GiB/s"
        return text


@dataclass(frozen=True)
class Contender:
    """A timed callable and an untimed ``setup`` run before each call (for
    example deleting a destination), so that preparation never counts."""

    name: str
    run: Callable[[], object]
    setup: Callable[[], None] | None = None


def measure(contenders: Sequence[Contender], reps: int) -> dict[str, Sample]:
    """Time each contender ``reps`` times after one untimed warm-up run.

    Repetitions are interleaved (A B, B A, A B...) rather than run as blocks,
    so that drift on a shared machine lands on every side instead of one."""
    samples = {c.name: Sample() for c in contenders}
    for rep in range(-1, reps):
        order = list(contenders) if rep % 2 == 0 else list(reversed(contenders))
        for c in order:
            if c.setup is not None:
                c.setup()
            start = time.perf_counter()
            result = c.run()
            elapsed = time.perf_counter() - start
            samples[c.name].result = result
            if rep >= 0:
                samples[c.name].times.append(elapsed)
        label = "warm-up" if rep < 0 else f"rep {rep + 1}/{reps}"
        log(f"  {label}: " + ", ".join(f"{c.name} {samples[c.name].last()}" for c in contenders))
    return samples


def run_quiet(argv: Sequence[str | os.PathLike[str]], cwd: Path | None = None) -> str:
    """Run a command, fail loudly on a non-zero exit, return its stdout."""
    done = subprocess.run(
        [os.fspath(a) for a in argv], cwd=cwd, env=GIT_ENV, capture_output=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return done.stdout.decode()


def remove(path: Path) -> None:
    """Delete a file or a tree if present, then flush the file system, so the
    write-back of one repetition does not slow the next."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
    os.sync()


# --------------------------------------------------------------------------- reporting


@dataclass
class Table:
    """One benchmark's results as a Markdown table with notes beneath."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [f"## {self.title}", ""]
        lines.append("| " + " | ".join(self.headers) + " |")
        lines.append("|" + "|".join("---" for _ in self.headers) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        if self.notes:
            lines.append("")
            lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"


COMPARE_HEADERS = ["comparison", "trails", "reference", "reference time"]


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("yes" if ok else "**NO**")


def first_line(argv: Sequence[str]) -> str:
    """The first line of a command's output, or '?' when it cannot run."""
    try:
        out = subprocess.run(argv, capture_output=True, check=False, text=True).stdout
    except OSError:
        return "?"
    return out.strip().splitlines()[0] if out.strip() else "?"


def machine_facts(work: Path) -> tuple[str, float, str, str]:
    """CPU model, RAM in GiB, the work dir's file system, and the code
    version (short commit, marked when the work tree has changes): what
    every results header states. Shared with bench_dvc.py."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")),
        platform.processor() or "?",
    )
    mem_kib = next(
        int(ln.split()[1])
        for ln in Path("/proc/meminfo").read_text().splitlines()
        if ln.startswith("MemTotal:")
    )
    df = first_line(["sh", "-c", f"df -T '{work}' | tail -n 1"]).split()
    fstype = df[1] if len(df) > 1 else first_line(["stat", "-f", "-c", "%T", str(work)])
    rev = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    commit = rev.stdout.strip() if rev.returncode == 0 else "uncommitted"
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "--no-optional-locks", "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if dirty and rev.returncode == 0:
        commit += " (with uncommitted changes in the work tree)"
    return model, mem_kib / 2**20, fstype, commit


def machine_header(work: Path, cfg: Config) -> str:
    """What the figures depend on: CPU, memory, file system, code version."""
    model, mem_gib, fstype, commit = machine_facts(work)
    spec = importlib.util.find_spec("trails._core")  # located, not imported: core's job
    so = Path(spec.origin) if spec and spec.origin else None
    built = (
        f"{datetime.datetime.fromtimestamp(so.stat().st_mtime, datetime.UTC):%Y-%m-%d %H:%M UTC}"
        if so
        else "?"
    )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "# trails benchmarks",
        "",
        "Written by `make bench` (`benches/bench.py`); do not edit by hand.",
    ]
    if cfg.quick:
        lines += ["", "**Quick smoke run (`--quick`): small workloads, figures not meaningful.**"]
    lines += [
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}",
        f"- commit: {commit}; `trails._core` built {built}",
        f"- CPUs: {len(os.sched_getaffinity(0))} usable (nproc), model: {model}",
        f"- RAM: {mem_gib:.1f} GiB",
        f"- file system of the work dir: {fstype}",
        f"- load average at start: {load} (shared machine: expect noise)",
        f"- Python {platform.python_version()}, trails threads: {core.threads()}, "
        f"blake3-py {blake3.__version__}, {first_line(['git', '--version'])}, "
        f"{first_line(['cp', '--version'])}",
        "- times: median [min-max] over the repetitions; ratios are ratios of medians; "
        "trails and its reference alternate repetition by repetition, after one untimed "
        "warm-up run each",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- 1: one big file


def venv_version(venv: Path, dist: str) -> str | None:
    """The version of ``dist`` installed in the virtualenv ``venv``, if any."""
    py = venv / "bin" / "python"
    if not py.exists():
        return None
    done = subprocess.run(
        [py, "-c", f"import importlib.metadata as m; print(m.version({dist!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def ensure_venv(venv: Path, dist: str, version: str, extras: str = "") -> None:
    """``dist[extras]==version`` in its own virtualenv (a reference tool,
    never a dependency of trails), installed if missing or of another
    version. Through uv when trails' venv has it (the dev extra does): the
    reference tool's 90 packages took ~100 s with pip and ~7 s with uv here,
    which is most of what the differential test's setup cost."""
    if venv_version(venv, dist) == version:
        log(f"reusing {dist} {version} in {venv}")
        return
    spec = f"{dist}[{extras}]=={version}" if extras else f"{dist}=={version}"
    log(f"installing {spec} into {venv}")
    if venv.exists():
        shutil.rmtree(venv)
    uv = Path(sys.executable).parent / "uv"
    if uv.exists():
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, venv], check=True)
        install = [uv, "pip", "install", "-q", "--python", venv / "bin" / "python", spec]
    else:
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        install = [venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", spec]
    subprocess.run(install, check=True)
    got = venv_version(venv, dist)
    if got != version:
        raise RuntimeError(f"installed {dist} reports version {got}, expected {version}")


def find_b3sum() -> str | None:
    """The b3sum CLI, installed from Debian if missing; None if that fails."""
    found = shutil.which("b3sum")
    if found:
        return found
    log("b3sum not found; installing the Debian package")
    for argv in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "b3sum"]):
        try:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
        except OSError as e:
            log(f"  {argv[0]}: {e}")
            return None
        if done.returncode != 0:
            log(f"  {' '.join(argv)} failed: {done.stderr.strip()[-500:]}")
            return None
    return shutil.which("b3sum")


def make_big_file(path: Path, size: int) -> None:
    """Random-ish bytes, fast: one 64 MiB random block written repeatedly."""
    block = os.urandom(min(64 * MiB, size))
    with path.open("wb") as f:
        left = size
        while left > 0:
            f.write(block[: min(left, len(block))])
            left -= len(block)


def md5_file(path: Path) -> str:
    """The reference tool's algorithm, streamed in 1 MiB chunks without copies."""
    h = hashlib.md5()
    buf = bytearray(MiB)
    view = memoryview(buf)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def blake3_py(path: Path) -> str:
    return blake3.blake3(max_threads=blake3.blake3.AUTO).update_mmap(path).hexdigest()


def b3sum_file(exe: str, path: Path) -> str:
    return run_quiet([exe, "--no-names", path]).strip()


def bench_hash(work: Path, cfg: Config) -> Table:
    """Benchmark 1: hash one big file from the page cache."""
    size = cfg.big_size
    table = Table(
        f"1. Hash one {size / GiB:g} GiB file (page cache)",
        [*COMPARE_HEADERS, "speed-up (ref / trails)", "target", "met?"],
    )
    exe = find_b3sum()
    big = work / "big.bin"
    try:
        log(f"bench 1: writing {size / GiB:g} GiB to {big}")
        make_big_file(big, size)
        with big.open("rb") as f:  # warm the page cache
            while f.read(64 * MiB):
                pass
        contenders = [
            Contender("trails", lambda: core.hash_file(big).hash),
            Contender("blake3-py", lambda: blake3_py(big)),
        ]
        if exe:
            contenders.append(Contender("b3sum", lambda: b3sum_file(exe, big)))
        log("bench 1: trails.core.hash_file vs blake3-py" + (" vs b3sum" if exe else ""))
        fast = measure(contenders, cfg.reps)
        log("bench 1: trails.core.hash_file vs hashlib.md5")
        slow = measure([contenders[0], Contender("md5", lambda: md5_file(big))], cfg.slow_reps)
    finally:
        big.unlink(missing_ok=True)
    tr = fast["trails"]
    assert tr.result == fast["blake3-py"].result, "trails and blake3-py disagree"
    if exe:
        assert tr.result == fast["b3sum"].result, "trails and b3sum disagree"
        s = fast["b3sum"]
        ratio = s.median / tr.median
        row = [
            tr.fmt(size),
            "`b3sum`",
            s.fmt(size),
            f"{ratio:.2f}x",
            ">= 1.0x",
            verdict(ratio >= 1),
        ]
    else:
        row = [tr.fmt(size), "`b3sum`", "b3sum unavailable", "-", ">= 1.0x", "n/a"]
    table.rows.append(["throughput vs b3sum CLI", *row])
    t2, md5 = slow["trails"], slow["md5"]
    r2 = md5.median / t2.median
    table.rows.append(
        [
            "throughput vs hashlib.md5",
            t2.fmt(size),
            "`hashlib.md5`, 1 MiB chunks",
            md5.fmt(size),
            f"{r2:.2f}x",
            ">= 5x",
            verdict(r2 >= 5),
        ]
    )
    b = fast["blake3-py"]
    r3 = b.median / tr.median
    table.rows.append(
        [
            "throughput vs blake3-py",
            tr.fmt(size),
            "`blake3` PyPI, `update_mmap`, AUTO threads",
            b.fmt(size),
            f"{r3:.2f}x",
            "(information)",
            "n/a",
        ]
    )
    table.notes += [
        "trails' hash was checked equal to blake3-py's" + (" and b3sum's." if exe else "."),
        "b3sum runs as a process (start-up included, about a millisecond); the others are "
        "in-process calls.",
        f"The md5 comparison has its own trails repetitions ({cfg.slow_reps}, md5 being slow).",
    ]
    return table


# --------------------------------------------------------------------------- 2-4: many small files


@dataclass(frozen=True)
class TreeWork:
    """The many-small-files workload and the paths the benchmarks share."""

    work: Path
    root: Path
    paths: list[str]

    @property
    def n(self) -> int:
        return len(self.paths)


def make_tree(work: Path, cfg: Config) -> TreeWork:
    """``n_files`` files of 1-4 KiB (sizes from a fixed seed) in ``n_dirs``
    folders, aged past the stat index's racy window so that it records them."""
    root = work / "tree"
    remove(root)
    rng = random.Random(cfg.seed)
    pool = rng.randbytes(MiB)
    past = time.time() - AGE_SECONDS
    dirs = [root / f"d{d:03d}" for d in range(cfg.n_dirs)]
    for d in dirs:
        d.mkdir(parents=True)
    paths = []
    for i in range(cfg.n_files):
        size = rng.randint(1024, 4096)
        off = rng.randrange(len(pool) - size)
        data = (f"{i}\n".encode() + pool[off : off + size])[:size]  # unique per file
        p = os.fspath(dirs[i % cfg.n_dirs] / f"f{i:06d}.bin")
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.utime(p, (past, past))
        paths.append(p)
    return TreeWork(work, root, paths)


def python_read_all(paths: Sequence[str]) -> int:
    """The floor for reading every file from Python: open, read to EOF, close."""
    total = 0
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            while chunk := os.read(fd, 65536):
                total += len(chunk)
        finally:
            os.close(fd)
    return total


def scan_checked(root: Path, index: Path, expect_read: int) -> core.Tree:
    tree = core.scan_tree(root, index=index)
    assert tree.files_read == expect_read, (tree.files_read, expect_read)
    return tree


def make_git_repo(tw: TreeWork) -> Path:
    """A scratch repository with the same tree committed and its index refreshed."""
    repo = tw.work / "gitrepo"
    remove(repo)
    run_quiet(["cp", "-a", tw.root, repo])
    run_quiet(["git", "init", "-q"], cwd=repo)
    run_quiet(["git", "add", "-A"], cwd=repo)
    run_quiet(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "tree"],
        cwd=repo,
    )
    git_status(repo)
    return repo


def git_status(repo: Path) -> str:
    out = run_quiet(["git", "status", "--porcelain", "-uno"], cwd=repo)
    assert out == "", f"git status not clean: {out[:200]}"
    return out


SCAN_CHILD = (
    "import sys\n"
    "from trails import core\n"
    "t = core.scan_tree(sys.argv[1], index=sys.argv[2])\n"
    "sys.exit(0 if t.files_read == int(sys.argv[3]) else 3)\n"
)


def ratio_row(what: str, tr: Sample, ref_name: str, ref: Sample, target: float | None) -> list[str]:
    """A comparison row whose ratio is trails' median time over the reference's."""
    r = tr.median / ref.median
    met = None if target is None else r <= target
    goal = "(information)" if target is None else f"<= {target:g}"
    return [what, tr.fmt(), ref_name, ref.fmt(), f"{r:.2f}", goal, verdict(met)]


def bench_scan(tw: TreeWork, cfg: Config) -> tuple[Table, str]:
    """Benchmark 2: hash a tree with a cold index, then re-check it warm."""
    table = Table(
        f"2. Scan {tw.n:,} files of 1-4 KiB in {cfg.n_dirs} folders",
        [*COMPARE_HEADERS, "ratio (trails / ref)", "target", "met?"],
    )
    cold_idx, warm_idx = tw.work / "cold.idx", tw.work / "warm.idx"
    log("bench 2a: cold-index scan_tree vs Python read of every file")
    cold = measure(
        [
            Contender(
                "trails", lambda: scan_checked(tw.root, cold_idx, tw.n), lambda: remove(cold_idx)
            ),
            Contender("python-read", lambda: python_read_all(tw.paths)),
        ],
        cfg.reps,
    )
    tree = cold["trails"].result
    assert isinstance(tree, core.Tree) and tree.nfiles == tw.n
    table.rows.append(
        ratio_row(
            "first hash, cold index",
            cold["trails"],
            "Python `os.open`/`os.read`/`os.close` loop",
            cold["python-read"],
            1.5,
        )
    )
    log("bench 2b: building the scratch git repository")
    repo = make_git_repo(tw)
    remove(warm_idx)
    scan_checked(tw.root, warm_idx, tw.n)
    log("bench 2b: warm scan_tree vs git status")
    child = [sys.executable, "-c", SCAN_CHILD, os.fspath(tw.root), os.fspath(warm_idx), "0"]
    warm = measure(
        [
            Contender("trails", lambda: scan_checked(tw.root, warm_idx, 0)),
            Contender("git-status", lambda: git_status(repo)),
            Contender("trails-process", lambda: run_quiet(child)),
        ],
        cfg.reps,
    )
    git_name = "`git status --porcelain -uno` (process)"
    table.rows.append(
        ratio_row("no-op re-check, warm index", warm["trails"], git_name, warm["git-status"], 1.5)
    )
    table.rows.append(
        ratio_row(
            "no-op re-check, as a process (`python -c`, import included)",
            warm["trails-process"],
            git_name,
            warm["git-status"],
            None,
        )
    )
    table.notes += [
        "Page cache warm on both sides (the files were just written and each side has an "
        "untimed warm-up run); 'cold' means an empty stat index: every cold repetition "
        "deletes it first, and the time includes writing it.",
        "trails is timed in-process around the library call; git as a subprocess, so its "
        "process start-up (a few ms) is included. The last row puts trails on the same "
        "footing (Python start-up and `import trails.core` included).",
        "The Python reference only reads (no hashing, no walk: the path list is built "
        "beforehand) on one thread; trails walks, stats, reads and hashes on "
        f"{core.threads()} threads.",
        "Every warm repetition asserted `files_read == 0`; git status was asserted clean.",
    ]
    return table, tree.hash


def reflink_supported(tw: TreeWork) -> bool:
    probe = tw.work / "reflink-probe"
    probe.unlink(missing_ok=True)
    done = subprocess.run(
        ["cp", "--reflink=always", tw.paths[0], os.fspath(probe)], capture_output=True, check=False
    )
    probe.unlink(missing_ok=True)
    return done.returncode == 0


class FreshDest:
    """A never-used destination folder for every run, all deleted at the end.

    Deleting a destination between repetitions would skew the copy case: on
    ext4 without a journal (as here), creating a file skips every inode freed
    in the last minute or more (the kernel's ``recently_deleted()``), so
    100,000 creations right after 100,000 deletions turn quadratic; in a trial
    run that made ``cp -r`` vary from 9 s to 63 s. So nothing is deleted until
    the comparison is over."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.count = 0
        self.current = base / "0"

    def advance(self) -> None:
        """Untimed set-up: pick the next folder and flush earlier write-back."""
        self.count += 1
        self.current = self.base / str(self.count)
        self.base.mkdir(parents=True, exist_ok=True)
        os.sync()


def checkout_into(cache: Path, tree_hash: str, dest: FreshDest, link: str, n: int) -> None:
    out = core.checkout_tree(cache, tree_hash, dest.current, [link])
    assert out.link == link and out.added == n, out


def cp_into(cp: Sequence[str], root: Path, dest: FreshDest) -> str:
    return run_quiet([*cp, root, dest.current])


def bench_checkout(tw: TreeWork, cfg: Config, tree_hash: str) -> Table:
    """Benchmark 3: materialise the tree from the cache into an empty folder."""
    table = Table(
        f"3. Check out the {tw.n:,}-file tree from the cache into an empty folder",
        [*COMPARE_HEADERS, "ratio (trails / ref)", "target", "met?"],
    )
    cache = tw.work / "cache"
    log("bench 3: store_tree (once, untimed)")
    stored = core.store_tree(cache, tw.root, tw.work / "store.idx")
    assert stored.hash == tree_hash, "store_tree and scan_tree disagree on the tree hash"
    cases = [("hardlink", ["cp", "-al"], 1.3), ("copy", ["cp", "-r"], None)]
    if reflink_supported(tw):
        cases.append(("reflink", ["cp", "-r", "--reflink=always"], None))
    for link, cp, target in cases:
        log(f"bench 3: checkout_tree [{link}] vs {' '.join(cp)}")
        dest_t, dest_c = (
            FreshDest(tw.work / f"co-trails-{link}"),
            FreshDest(tw.work / f"co-cp-{link}"),
        )
        s = measure(
            [
                Contender(
                    "trails",
                    partial(checkout_into, cache, tree_hash, dest_t, link, tw.n),
                    dest_t.advance,
                ),
                Contender("cp", partial(cp_into, cp, tw.root, dest_c), dest_c.advance),
            ],
            cfg.reps,
        )
        got = core.scan_tree(dest_t.current).hash
        assert got == tree_hash, f"{link} checkout differs from the tree"
        table.rows.append(
            ratio_row(f'`["{link}"]`', s["trails"], f"`{' '.join(cp)}`", s["cp"], target)
        )
        log(f"bench 3: deleting the {link} destinations")
        remove(dest_t.base)
        remove(dest_c.base)
    if len(cases) == 2:
        table.rows.append(
            ['`["reflink"]`', "not supported on this file system", "-", "-", "-", "-", "n/a"]
        )
    table.notes += [
        "trails is timed in-process; cp as a subprocess (start-up included). Each repetition "
        "writes to a new, never-used folder, with the file system synced beforehand (untimed).",
        "Destinations are deleted only after each comparison, not between repetitions: on "
        "ext4 without a journal, creating files right after deleting as many is slowed "
        "by the kernel skipping recently freed inodes (`recently_deleted()`), which made "
        "`cp -r` vary from 9 s to 63 s in a trial run.",
        "trails checks every object is in the cache before touching the destination; after "
        "the last repetition the checkout was re-scanned and its tree hash checked.",
    ]
    return table


#: Runs the command in argv[1:] and prints its exit code and peak RSS (KiB).
RSS_PROBE = (
    "import os, sys\n"
    "pid = os.posix_spawn(sys.argv[1], sys.argv[1:], dict(os.environ))\n"
    "_, status, usage = os.wait4(pid, 0)\n"
    "print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)\n"
)


def child_max_rss(argv: Sequence[str]) -> int:
    """Peak resident set size of one process running ``argv``, in bytes.

    Measured through a small intermediate Python (``-S``) rather than by this
    process's own ``wait4``: Linux carries the parent's peak RSS over into a
    forked child's ``ru_maxrss``, and this process is large after benchmark 1,
    so a direct child would report this process's size. The intermediate's
    own few MB are a floor shared by every run, the baseline included."""
    out = run_quiet([sys.executable, "-S", "-c", RSS_PROBE, *argv]).split()
    code, kib = int(out[0]), int(out[1])
    if code != 0:
        raise RuntimeError(f"child {list(argv[:3])} exited with {code}")
    return kib * 1024


def bench_rss(tw: TreeWork, cfg: Config) -> Table:
    """Benchmark 4: peak memory of the scans of benchmark 2, each in its own process."""
    table = Table(
        f"4. Peak memory (max RSS) scanning the {tw.n:,}-file tree",
        [
            "run",
            "peak RSS",
            "baseline: `import trails.core` only",
            "ratio (run / baseline)",
            "above baseline",
            "target",
            "met?",
        ],
    )
    idx = tw.work / "rss.idx"
    py = sys.executable
    base_argv = [py, "-c", "import trails.core"]
    cold_argv = [py, "-c", SCAN_CHILD, os.fspath(tw.root), os.fspath(idx), str(tw.n)]
    warm_argv = [py, "-c", SCAN_CHILD, os.fspath(tw.root), os.fspath(idx), "0"]
    runs: dict[str, list[int]] = {"baseline": [], "cold": [], "warm": []}
    for rep in range(cfg.rss_reps):
        runs["baseline"].append(child_max_rss(base_argv))
        remove(idx)
        runs["cold"].append(child_max_rss(cold_argv))
        runs["warm"].append(child_max_rss(warm_argv))
        log(
            f"bench 4: rep {rep + 1}/{cfg.rss_reps}: "
            + ", ".join(f"{k} {v[-1] / 1e6:.1f} MB" for k, v in runs.items())
        )
    remove(idx)

    def fmt(v: list[int]) -> str:
        return f"{statistics.median(v) / 1e6:.1f} MB [{min(v) / 1e6:.1f}-{max(v) / 1e6:.1f}]"

    base = statistics.median(runs["baseline"])
    for name, label in (
        ("cold", "cold-index scan (hashes every file)"),
        ("warm", "warm-index re-check"),
    ):
        v = runs[name]
        med = statistics.median(v)
        table.rows.append(
            [
                label,
                fmt(v),
                fmt(runs["baseline"]),
                f"{med / base:.2f}",
                f"{(med - base) / 1e6:.1f} MB",
                "< 150 MB",
                verdict(max(v) < RSS_TARGET_BYTES),
            ]
        )
    table.notes += [
        f"{cfg.rss_reps} child processes each (the venv's Python running `core.scan_tree`); "
        "RSS from `wait4` in a small intermediate process (a direct child of the benchmark "
        "would inherit its large peak), MB = 10^6 bytes.",
        "'met?' judges the worst repetition, not the median.",
    ]
    return table


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--write", type=Path, help="write the Markdown results to this file")
    p.add_argument("--quick", action="store_true", help="small smoke run (figures meaningless)")
    p.add_argument("--work", type=Path, default=HERE / "work", help="scratch folder")
    p.add_argument("--keep-work", action="store_true", help="keep the small-file tree afterwards")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run every benchmark, print the Markdown report, and write it if asked."""
    args = parse_args(argv)
    cfg = Config.make(args.quick)
    work: Path = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    header = machine_header(work, cfg)
    tables: list[Table] = []
    try:
        tables.append(bench_hash(work, cfg))
        log(f"writing {cfg.n_files:,} small files under {work / 'tree'}")
        tw = make_tree(work, cfg)
        scan_table, tree_hash = bench_scan(tw, cfg)
        tables += [scan_table, bench_checkout(tw, cfg, tree_hash), bench_rss(tw, cfg)]
    finally:
        (work / "big.bin").unlink(missing_ok=True)
        if not args.keep_work:
            log(f"deleting {work} (but for {', '.join(KEEP_IN_WORK)})")
            for child in work.iterdir():
                if child.name in KEEP_IN_WORK:
                    continue
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
            os.sync()  # so that a run right after this one is not slowed by our deletions
    report = header + "".join("\n" + t.markdown() for t in tables)
    print(report)
    if args.write:
        args.write.write_text(report)
        log(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
