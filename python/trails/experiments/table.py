"""The rows and columns of ``exp show``: a tree per baseline (workspace,
baseline, its experiments), every metric and param as a column, with the
guide's filters (include/exclude globs, keep/drop regexes, only-changed,
param-deps) and sorting."""

from __future__ import annotations

import fnmatch
import functools
import re
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from trails.experiments.refs import Exp
from trails.experiments.show import Files, Snapshot, tracked

MISSING = "-"


@dataclass
class Row:
    kind: str  # workspace | baseline | experiment
    rev: str  # "workspace" or a commit
    name: str | None
    baseline: str | None
    created: int | None
    snap: Snapshot
    label: str = ""
    #: The Ray node a queued entry runs on now (``queue.running_node``).
    node: str = ""


@dataclass(frozen=True)
class Column:
    section: str  # metrics | params
    file: str
    key: str
    title: str


@dataclass(frozen=True)
class ShowOptions:
    include_metrics: Sequence[str] = ()
    exclude_metrics: Sequence[str] = ()
    include_params: Sequence[str] = ()
    exclude_params: Sequence[str] = ()
    keep: str | None = None
    drop: str | None = None
    param_deps: bool = False
    only_changed: bool = False
    sort_by: str | None = None
    sort_order: str = "asc"
    no_timestamp: bool = False
    sha: bool = False
    precision: int = 5
    extra: dict[str, Any] = field(default_factory=dict)


def experiment_rows(
    baseline_row: Row,
    exps: list[tuple[Exp, Snapshot]],
    opts: ShowOptions,
    waiting: Sequence[Row] = (),
    checkpoints: dict[str, list[tuple[str, Snapshot]]] | None = None,
) -> list[Row]:
    """The tree under a baseline: experiments (newest first), each followed
    by its earlier checkpoints, then queued ones marked ``*`` and failed
    ones marked ``!`` (as the guide shows)."""
    tops = [
        Row("experiment", e.sha, e.name, e.baseline, e.created, snap)
        for e, snap in sorted(exps, key=lambda x: -x[0].created)
    ]
    tops += list(waiting)
    rows: list[Row] = []
    for i, r in enumerate(tops):
        last = i == len(tops) - 1
        branch = "└──" if last else "├──"
        if r.kind == "queued":
            r.label = f"{branch} *{r.rev[:7]}" + (
                f" [running on node {r.node[:8]}]" if r.node else ""
            )
        elif r.kind == "failed":
            r.label = f"{branch} !{r.rev[:7]} [failed]"
        else:
            r.label = f"{branch} {r.rev[:7]}" + ("" if opts.sha else f" [{r.name}]")
        rows.append(r)
        below = (checkpoints or {}).get(r.rev, []) if r.kind == "experiment" else []
        for j, (sha, snap) in enumerate(below):
            twig = "└──" if j == len(below) - 1 else "├──"
            label = ("    " if last else "│   ") + f"{twig} {sha[:7]}"
            rows.append(Row("checkpoint", sha, r.name, r.baseline, None, snap, label))
    return rows


def _columns(rows: list[Row], files: Files, opts: ShowOptions) -> list[Column]:
    found: dict[tuple[str, str, str], None] = {}
    for section in ("metrics", "params"):
        for r in rows:
            values = r.snap.metrics if section == "metrics" else r.snap.params
            for f, kv in values.items():
                for k in kv:
                    found[(section, f, k)] = None
    # How many columns (any file, either section) hold each key: one pass,
    # not a scan of every column per column (200,000 params took forever).
    # As the reference tool, a key held twice, or a fixed column's name, is
    # shown with its file.
    holders = Counter(k for _, _, k in found)
    cols = []
    for section, f, k in found:
        clash = holders[k] > 1 or k in CSV_HEADERS
        title = f"{f}:{k}" if clash or (section == "params" and f != "params.yaml") else k
        cols.append(Column(section, f, k, title))
    return [c for c in cols if _wanted(c, files, opts)]


def _matches(c: Column, patterns: Sequence[str]) -> bool:
    return any(
        fnmatch.fnmatchcase(name, p)
        for p in patterns
        for name in (c.title, c.key, f"{c.file}:{c.key}")
    )


def _wanted(c: Column, files: Files, opts: ShowOptions) -> bool:
    inc = opts.include_metrics if c.section == "metrics" else opts.include_params
    exc = opts.exclude_metrics if c.section == "metrics" else opts.exclude_params
    if inc and not _matches(c, inc):
        return False
    if exc and _matches(c, exc):
        return False
    if opts.keep and not re.search(opts.keep, c.title):
        return False
    if opts.drop and re.search(opts.drop, c.title):
        return False
    if opts.param_deps and c.section == "params":
        return tracked(c.key, files.deps.get(c.file, ()))
    return True


def value(r: Row, c: Column) -> Any:
    values = r.snap.metrics if c.section == "metrics" else r.snap.params
    return values.get(c.file, {}).get(c.key, MISSING)


def fmt(v: Any, precision: int) -> str:
    if v is MISSING or v == MISSING:
        return MISSING
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.{precision}g}"
    if v is None:
        return "null"
    return str(v)


def created(ts: int | None) -> str:
    if ts is None:
        return MISSING
    return _created(ts // 60, time.strftime("%Y-%m-%d"))


@functools.lru_cache(maxsize=4096)
def _created(minute: int, today: str) -> str:
    """Per minute: 10,000 rows made in a few minutes format a few times."""
    t = time.localtime(minute * 60)
    if time.strftime("%Y-%m-%d", t) == today:
        return time.strftime("%I:%M %p", t)
    return time.strftime("%b %d, %Y", t)


def build(rows: list[Row], files: Files, opts: ShowOptions) -> tuple[list[str], list[list[str]]]:
    """Headers and cells of the table."""
    cols, rows = _layout(rows, files, opts)
    headers = ["Experiment"] + ([] if opts.no_timestamp else ["Created"]) + [c.title for c in cols]
    cells = []
    for r in rows:
        line = [r.label] + ([] if opts.no_timestamp else [created(r.created)])
        cells.append(line + [fmt(value(r, c), opts.precision) for c in cols])
    return headers, cells


def _layout(rows: list[Row], files: Files, opts: ShowOptions) -> tuple[list[Column], list[Row]]:
    """The columns shown (filters, --only-changed) and the rows in order
    (--sort-by), shared by the table and the CSV."""
    cols = _columns(rows, files, opts)
    if opts.only_changed:
        cols = [c for c in cols if len({repr(value(r, c)) for r in rows}) > 1]
    if opts.sort_by:
        key_cols = [c for c in cols if opts.sort_by in (c.title, c.key, f"{c.file}:{c.key}")]
        if not key_cols:
            from trails.experiments.refs import ExperimentError

            raise ExperimentError(
                f"--sort-by '{opts.sort_by}' is not a metric or param column",
                hint="Columns: " + ", ".join(c.title for c in cols),
            )
        rows = _sorted(rows, key_cols[0], opts.sort_order == "desc")
    return cols, rows


#: The reference tool's first CSV columns, in its order.
CSV_HEADERS = ("Experiment", "rev", "typ", "Created", "parent", "State", "Executor")


def _csv_value(v: Any, precision: int | None) -> str:
    """As the reference tool writes a CSV cell: Python's ``str`` of the
    value as stored (``True``, ``0.16666666666666666``), floats rounded to
    ``precision`` significant digits only when it is given; empty if
    missing."""
    if v is MISSING or v == MISSING:
        return ""
    if isinstance(v, float) and precision:
        return f"{v:.{precision}g}"
    return str(v)


def csv_table(
    rows: list[Row], files: Files, opts: ShowOptions, precision: int | None
) -> tuple[list[str], list[list[str]]]:
    """``exp show --csv`` with the reference tool's columns, so that a
    script written for its CSV reads ours: ``rev``, ``typ`` (baseline,
    branch_commit, branch_base: the last of its baseline), ``parent``,
    ``State``/``Executor`` (only when some row has one), ISO timestamps."""
    from datetime import datetime

    cols, ordered = _layout(rows, files, opts)  # the table's columns, filters and sort
    lines: list[list[str]] = []
    for r in ordered:
        typ = "baseline"
        if r.kind == "checkpoint":
            typ = "checkpoint_commit"
        elif r.kind in ("experiment", "queued", "failed"):
            typ = "branch_base" if r.label.startswith("└──") else "branch_commit"
        rev = "workspace" if r.kind == "workspace" else r.rev[:7]
        when = "" if r.created is None else datetime.fromtimestamp(r.created).isoformat()
        state = {"queued": "Queued", "failed": "Failed"}.get(r.kind, "")
        executor = "Dvc-task" if state else ""  # the reference tool's name for its queue
        name = "" if typ == "baseline" else r.name or ""
        fixed = [name, rev, typ, when, "", state, executor]
        lines.append(fixed + [_csv_value(value(r, c), precision) for c in cols])
    drop = {i for i in (5, 6) if not any(line[i] for line in lines)}
    if opts.no_timestamp:
        drop.add(3)
    headers = [h for i, h in enumerate(CSV_HEADERS) if i not in drop] + [c.title for c in cols]
    return headers, [[x for i, x in enumerate(line) if i not in drop] for line in lines]


def _sorted(rows: list[Row], col: Column, desc: bool) -> list[Row]:
    """Sort experiments within each baseline, each with its checkpoint
    chain under it; the workspace and baselines stay where they are."""
    out: list[Row] = []
    group: list[list[Row]] = []  # an experiment (or queued entry), then its checkpoints

    def flush() -> None:
        have = [g for g in group if isinstance(value(g[0], col), int | float)]
        rest = [g for g in group if g not in have]
        have.sort(key=lambda g: value(g[0], col), reverse=desc)
        ordered = have + rest
        for i, (top, *chain) in enumerate(ordered):
            last = i == len(ordered) - 1
            top.label = ("└── " if last else "├── ") + top.label.split(" ", 1)[1]
            for c in chain:
                c.label = ("    " if last else "│   ") + c.label[4:]
            out.extend([top, *chain])
        group.clear()

    for r in rows:
        if r.kind in ("experiment", "queued", "failed"):
            group.append([r])
        elif r.kind == "checkpoint" and group:
            group[-1].append(r)
        else:
            flush()
            out.append(r)
    flush()
    return out
