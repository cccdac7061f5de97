"""What an md5-compatible mode would cost in hashing time: md5 (the hash the
reference tool writes in dvc.lock) against blake3 (what trails writes), on
one 2 GiB file and on 100,000 files of 1-4 KiB, with the page cache warm.

    .venv/bin/python benches/bench_md5.py [--write benches/RESULTS-md5.md]

md5 is what ``hashlib`` offers (OpenSSL, one thread: md5 cannot be split
across threads); blake3 is measured as trails hashes (``trails.core``, its
thread pool) and as blake3-py on one thread, so the algorithm and the
threads can be told apart.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import blake3

from trails import core

MiB = 1 << 20


def timed(fn: Callable[[], object], reps: int) -> list[float]:
    fn()  # untimed warm-up (page cache, thread pools)
    out = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def stream(path: Path, h: Any) -> str:
    """``h`` (an md5 or blake3 hasher) over the file in 1 MiB reads."""
    with open(path, "rb") as f:
        while chunk := f.read(MiB):
            h.update(chunk)
    return str(h.hexdigest())


def md5_many(paths: list[Path]) -> None:
    for p in paths:
        hashlib.md5(p.read_bytes()).hexdigest()


def blake3_many(paths: list[Path]) -> None:
    for p in paths:
        blake3.blake3(p.read_bytes()).hexdigest()


def fmt(times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"{statistics.median(ms):.0f} ms [{min(ms):.0f}-{max(ms):.0f}]"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", type=Path)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    rows: list[tuple[str, str, list[float]]] = []
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as tmp:
        big = Path(tmp) / "big.bin"
        rnd = random.Random(0)
        block = rnd.randbytes(64 * MiB)
        with open(big, "wb") as f:
            for _ in range(32):
                f.write(block)
        size = big.stat().st_size
        gib = size / (1 << 30)
        for name, fn in (
            ("md5 (hashlib, 1 MiB reads)", lambda: stream(big, hashlib.md5())),
            (
                "blake3 (blake3-py, 1 thread, 1 MiB reads)",
                lambda: stream(big, blake3.blake3(max_threads=1)),
            ),
            ("blake3 (trails.core.hash_file)", lambda: core.hash_file(big)),
        ):
            rows.append(("2 GiB file", name, timed(fn, args.reps)))
        big.unlink()
        files = []
        for d in range(256):
            folder = Path(tmp) / "tree" / f"d{d:03}"
            folder.mkdir(parents=True)
            for i in range(100_000 // 256 + (d < 100_000 % 256)):
                p = folder / f"f{i}"
                p.write_bytes(rnd.randbytes(rnd.randint(1024, 4096)))
                files.append(p)
        for name, fn in (
            ("md5 (hashlib, read + hash each)", lambda: md5_many(files)),
            ("blake3 (blake3-py, read + hash each)", lambda: blake3_many(files)),
            ("blake3 (trails.core.hash_files, no index)", lambda: core.hash_files(files)),
        ):
            rows.append((f"{len(files):,} files of 1-4 KiB", name, timed(fn, args.reps)))
    lines = [
        "# md5 vs blake3: the hashing cost of an md5-compatible mode",
        "",
        "Written by `benches/bench_md5.py`; do not edit by hand.",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- CPUs: {os.cpu_count()} (shared machine: expect noise), "
        f"load average at start: {', '.join(f'{x:.2f}' for x in os.getloadavg())}",
        f"- trails threads: {core.threads()}; page cache warm (one untimed run first); "
        f"median [min-max] of {args.reps}",
        "",
        "| workload | hash | time | vs trails blake3 |",
        "|---|---|---|---|",
    ]
    for workload in dict.fromkeys(w for w, _, _ in rows):
        group = [(n, t) for w, n, t in rows if w == workload]
        base = statistics.median(group[-1][1])
        for name, times in group:
            ratio = statistics.median(times) / base
            extra = ""
            if workload.startswith("2 GiB"):
                extra = f", {gib / statistics.median(times):.2f} GiB/s"
            lines.append(f"| {workload} | {name} | {fmt(times)}{extra} | {ratio:.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        args.write.write_text(text)


if __name__ == "__main__":
    main()
