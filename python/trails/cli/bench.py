"""``trails bench hash|status``: trails' speed on the user's own project,
against the tools they use today, measured in the same run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from trails.cli.context import context

if TYPE_CHECKING:
    from trails.bench import HashReport, StatusReport


@click.group()
def bench() -> None:
    """Time trails' hashing and no-op check on this project's data.

    Nothing is written: no cache object, no stat index entry, no Git state."""


@bench.command("hash")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--reps", type=click.IntRange(min=1), default=3, show_default=True,
              help="Warm repetitions of each hasher (the median is shown).")  # fmt: skip
@click.option("--warm-only", is_flag=True, help="Skip the cold runs.")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def hash_cmd(paths: tuple[Path, ...], reps: int, warm_only: bool, as_json: bool) -> None:
    """Hash files with trails' blake3 and with md5, sha256, xxh3, b3sum.

    PATHs are files or folders (default: the project's tracked data). For
    comparison: xxh3-128 through the same Rust reader (how fast reading
    alone goes); md5 (the reference tool's algorithm) and sha256 through
    Python's hashlib, one file after another in one thread, as the
    reference tool hashes; b3sum where installed. Cold runs first drop the
    files' cached pages (posix_fadvise DONTNEED, no root needed), then warm
    runs. Prints files/s, GB/s and the speed-up (that hash's time over
    trails'). Writes nothing."""
    from trails import bench as service

    targets = list(paths) or service.tracked_data(context()[0])
    files = service.collect(targets)
    timings = service.hash_timings(files, reps=reps, cold=not warm_only)
    report = service.hash_report(files, timings, cold_asked=not warm_only)
    click.echo(report.encode().decode() if as_json else _hash_table(report))


@bench.command("status")
@click.option("--reps", type=click.IntRange(min=1), default=5, show_default=True,
              help="Timed runs of each (the median is shown).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def status_cmd(reps: int, as_json: bool) -> None:
    """Time a no-op 'trails status' against 'git status'.

    Whole processes in this project, after a warm-up run, interleaved:
    'trails status' (on a copy of its stat index, so the project's own is
    never written) and 'git --no-optional-locks status --porcelain -uno'
    (which never rewrites Git's index). Prints the medians and their ratio."""
    from trails import bench as service

    report = service.status_report(service.status_timings(context()[0], reps=reps))
    click.echo(report.encode().decode() if as_json else _status_text(report))


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def _hash_table(r: HashReport) -> str:
    import sys

    from rich.console import Console
    from rich.table import Table

    caption = f"{r.note}; speed-up: that hash's time over trails' (above 1: trails is faster)"
    t = Table(title=f"{r.files:,} files, {r.bytes / 1e9:.3g} GB", caption=caption)
    t.add_column("hash")
    t.add_column("how")
    for col in ("cold files/s", "cold GB/s", "warm files/s", "warm GB/s", "speed-up cold",
                "speed-up warm"):  # fmt: skip
        t.add_column(col, justify="right")
    for row in r.rows:
        t.add_row(row.algorithm, row.how, _num(row.cold_files_per_second),
                  _num(row.cold_gb_per_second), _num(row.warm_files_per_second),
                  _num(row.warm_gb_per_second), _times(row.trails_speedup_cold),
                  _times(row.trails_speedup_warm))  # fmt: skip
    console = Console(width=None if sys.stdout.isatty() else 140)
    with console.capture() as cap:
        console.print(t)
    return cap.get().rstrip()


def _times(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def _status_text(r: StatusReport) -> str:
    lines = [f"trails status (no-op, whole process): {r.trails_seconds * 1e3:.0f} ms "
             f"(median of {r.runs})"]  # fmt: skip
    if r.git_seconds is not None and r.ratio is not None:
        lines.append(f"git status --porcelain -uno:          {r.git_seconds * 1e3:.0f} ms")
        lines.append(f"trails / git: {r.ratio:.2f}x")
    else:
        lines.append("git status: not timed (the project has no Git)")
    if not r.noop:
        lines.append("note: the project is not up to date, so this timed a check that found "
                     "changes ('trails status' lists them)")  # fmt: skip
    return "\n".join(lines)
