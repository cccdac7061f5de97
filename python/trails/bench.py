"""``trails bench``: what trails' hashing and its no-op check cost on the
user's own data, against what they use today, measured in one run.

Hashes compared (``hash``): trails' blake3 core as ``add`` and ``repro``
use it (parallel over files, memory-mapped and multithreaded for large
ones); xxh3-128 through the same Rust reader (how fast reading alone can
go); md5 and sha256 through Python's ``hashlib`` (OpenSSL), one file after
another in one thread, which is how the reference tool computes its md5
(so that row is what it would spend); and the ``b3sum`` command where it is
installed. Cold runs first drop each file's cached pages with
``posix_fadvise(POSIX_FADV_DONTNEED)`` (no root needed; pages another
process holds dirty or mapped may stay). Nothing is written: no cache, no
stat index, no Git state."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

from trails.errors import TrailsError
from trails.project import Project
from trails.versioned import Record

#: ``hashlib`` reads in blocks of this size (the reference tool reads 1 MiB too).
READ_BLOCK = 1 << 20
#: Files per ``b3sum`` process, to stay far below the argument-length limit.
B3SUM_BATCH = 1000


class BenchError(TrailsError):
    pass


@dataclass(frozen=True)
class Files:
    """The regular files to hash (symlinks and ``.git``/``.dvc`` skipped)."""

    paths: list[str]
    size: int


def tracked_data(project: Project) -> list[Path]:
    """What the project tracks and has on disk: ``trails add``-ed paths
    and cached stage outputs."""
    from trails import data
    from trails.pipeline import load_graph

    rels = [t.repo_path for t in data.tracked(project)]
    rels += [o.repo_path for s in load_graph(project).stages for o in s.cached_outs]
    paths = [project.root / r for r in dict.fromkeys(rels)]
    found = [p for p in paths if p.exists()]
    if not found:
        raise BenchError(
            "this project has no tracked data on disk (nothing added with 'trails add', "
            "no cached stage output)",
            hint="Name files or folders to hash: trails bench hash PATH...",
        )
    return found


def collect(targets: Sequence[Path]) -> Files:
    """The files under ``targets``; a missing target is an error."""
    paths: list[str] = []
    size = 0
    for target in targets:
        if not target.exists() and not target.is_symlink():
            raise BenchError(f"'{target}' does not exist", hint="Name files or folders to hash.")
        for p in _walk(target):
            st = os.lstat(p)
            if stat.S_ISREG(st.st_mode):
                paths.append(p)
                size += st.st_size
    if not paths:
        raise BenchError("no files to hash", hint="Name files or folders that hold some.")
    return Files(list(dict.fromkeys(paths)), size)


def _walk(target: Path) -> Iterator[str]:
    if not target.is_dir() or target.is_symlink():
        yield str(target)
        return
    for folder, dirs, names in os.walk(target):
        dirs[:] = sorted(d for d in dirs if d not in (".git", ".dvc"))
        yield from (os.path.join(folder, n) for n in sorted(names))


@dataclass(frozen=True)
class Hasher:
    name: str
    how: str
    run: Callable[[list[str]], object]


def _hashlib_each(algorithm: str) -> Callable[[list[str]], object]:
    def run(paths: list[str]) -> None:
        for p in paths:
            h = hashlib.new(algorithm)
            with open(p, "rb") as f:
                while block := f.read(READ_BLOCK):
                    h.update(block)
            h.hexdigest()

    return run


def _b3sum(exe: str) -> Callable[[list[str]], object]:
    def run(paths: list[str]) -> None:
        for i in range(0, len(paths), B3SUM_BATCH):
            argv = [exe, "--no-names", "--", *paths[i : i + B3SUM_BATCH]]
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)

    return run


def hashers() -> list[Hasher]:
    """trails' own first (the speed-ups are against it)."""
    from trails import core

    found = [
        Hasher("blake3 (trails)", "Rust core, every core", core.hash_files),
        Hasher("xxh3-128", "Rust core, every core", core.xxh3_files),
        Hasher("md5 (reference tool)", "hashlib, 1 thread", _hashlib_each("md5")),
        Hasher("sha256", "hashlib, 1 thread", _hashlib_each("sha256")),
    ]
    exe = shutil.which("b3sum")
    if exe:
        found.append(Hasher("b3sum", "its CLI", _b3sum(exe)))
    return found


def drop_cached_pages(paths: list[str]) -> bool:
    """Ask the kernel to forget each file's cached pages; False where it
    cannot be asked."""
    if not hasattr(os, "posix_fadvise"):
        return False
    for p in paths:
        fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return True


@dataclass(frozen=True)
class Timing:
    name: str
    how: str
    #: None when the page cache could not be dropped.
    cold: float | None
    #: The median of the warm repetitions.
    warm: float


def _timed(run: Callable[[list[str]], object], paths: list[str]) -> float:
    t = time.perf_counter()
    run(paths)
    return time.perf_counter() - t


def hash_timings(files: Files, *, reps: int, cold: bool) -> list[Timing]:
    """Each hasher cold (if asked and possible), then warm: one warm-up,
    then ``reps`` runs of each, the hashers interleaved so that a noisy
    machine slows them alike."""
    found = hashers()
    colds: dict[str, float | None] = {}
    for h in found:
        dropped = cold and drop_cached_pages(files.paths)
        colds[h.name] = _timed(h.run, files.paths) if dropped else None
    for h in found:
        h.run(files.paths)
    warm: dict[str, list[float]] = {h.name: [] for h in found}
    for _ in range(reps):
        for h in found:
            warm[h.name].append(_timed(h.run, files.paths))
    return [Timing(h.name, h.how, colds[h.name], statistics.median(warm[h.name])) for h in found]


@dataclass(frozen=True)
class StatusTiming:
    trails: list[float]
    #: None in a project without Git.
    git: list[float] | None
    #: Whether ``trails status`` found nothing to do (what is timed is then
    #: the no-op check).
    noop: bool


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    t = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        hint = "Fix what it says ('trails status' shows it too), then run again."
        raise BenchError(f"'{' '.join(argv[-4:])}' failed here: {why}", hint=hint)
    return took, proc.stdout


def status_timings(project: Project, *, reps: int) -> StatusTiming:
    """Whole processes, interleaved, after one warm-up round: ``trails
    status`` and ``git --no-optional-locks status --porcelain -uno`` (which
    never refreshes Git's index). trails runs on a copy of the stat index
    (``TRAILS_STAT_INDEX``), so the project's own is never written."""
    contenders = {"trails": [sys.executable, "-m", "trails", "status"]}
    if project.has_scm:
        contenders["git"] = ["git", "--no-optional-locks", "status", "--porcelain", "-uno"]
    times: dict[str, list[float]] = {name: [] for name in contenders}
    with tempfile.TemporaryDirectory(prefix="trails-bench-") as tmp:
        index = Path(tmp) / "stat-index"
        for suffix in ("", ".log"):
            src = Path(str(project.index_path) + suffix)
            if src.is_file():
                shutil.copyfile(src, str(index) + suffix)
        env = {**os.environ, "TRAILS_STAT_INDEX": str(index), "GIT_OPTIONAL_LOCKS": "0"}
        out = _run(contenders["trails"], project.root, env)[1]
        for name, argv in contenders.items():
            if name != "trails":
                _run(argv, project.root, env)
        for _ in range(reps):
            for name, argv in contenders.items():
                times[name].append(_run(argv, project.root, env)[0])
    return StatusTiming(times["trails"], times.get("git"), "up to date" in out)


def _rate(count: float, seconds: float | None) -> float | None:
    return None if seconds is None or seconds <= 0 else count / seconds


def hash_report(files: Files, timings: list[Timing], *, cold_asked: bool) -> HashReport:
    """The figures ``bench hash`` prints (as a table, or ``--json``);
    speed-ups are each hasher's time over trails' (above 1: trails is
    faster)."""
    ours = timings[0]
    rows = [
        HashRow(
            algorithm=t.name,
            how=t.how,
            cold_seconds=t.cold,
            warm_seconds=t.warm,
            cold_files_per_second=_rate(len(files.paths), t.cold),
            warm_files_per_second=_rate(len(files.paths), t.warm) or 0.0,
            cold_gb_per_second=_rate(files.size / 1e9, t.cold),
            warm_gb_per_second=_rate(files.size / 1e9, t.warm) or 0.0,
            trails_speedup_cold=None if t.cold is None or not ours.cold else t.cold / ours.cold,
            trails_speedup_warm=t.warm / ours.warm if ours.warm else 0.0,
        )
        for t in timings
    ]
    cold = ours.cold is not None
    note = (
        "cold: each file's cached pages dropped with posix_fadvise(DONTNEED) before each hasher"
        if cold
        else "cold runs skipped (--warm-only)"
        if not cold_asked
        else "cold runs skipped: this system cannot drop a file's cached pages"
    )
    return HashReport(files=len(files.paths), bytes=files.size, cold=cold, note=note, rows=rows)


class HashRow(msgspec.Struct, kw_only=True):
    algorithm: str
    how: str
    cold_seconds: float | None
    warm_seconds: float
    cold_files_per_second: float | None
    warm_files_per_second: float
    cold_gb_per_second: float | None
    warm_gb_per_second: float
    trails_speedup_cold: float | None
    trails_speedup_warm: float


class HashReport(Record, kw_only=True):
    """``trails bench hash --json``."""

    files: int
    bytes: int
    cold: bool
    note: str
    rows: list[HashRow]


class StatusReport(Record, kw_only=True):
    """``trails bench status --json``: medians in seconds; ``ratio`` is
    trails over git (None without Git)."""

    trails_seconds: float
    git_seconds: float | None
    ratio: float | None
    noop: bool
    runs: int


def status_report(t: StatusTiming) -> StatusReport:
    ours = statistics.median(t.trails)
    git = statistics.median(t.git) if t.git else None
    ratio = ours / git if git else None
    return StatusReport(trails_seconds=ours, git_seconds=git, ratio=ratio, noop=t.noop,
                        runs=len(t.trails))  # fmt: skip
