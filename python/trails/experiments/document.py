"""``trails exp show --json``: the reference tool's document, typed once.

The VS Code DVC extension reads this (``ExpShowOutput`` in its
``extension/src/cli/dvc/contract.ts``; DVC 3's ``ExpState`` list): the
workspace first (``rev: "workspace"``), then each baseline commit with its
``experiments``, ranges of revisions (an experiment, then its earlier
checkpoints, as DVC 2 listed a checkpoint chain) with an ``executor``
saying whether the range is queued, running or failed (``null``: a
finished experiment, as the reference tool writes it). Field names and
order are the reference tool's; what trails knows beyond them is under a
key of its own, ``trails`` (``Facts``), so a reader of DVC's shape never
meets a field it does not know where it looks.

``tests/schemas/exp-show.json`` is the same contract as a JSON Schema,
written from the extension's TypeScript types; the tests validate every
document against it."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from trails.experiments.show import Entry, Files, Recorded, Snapshot, record_files
from trails.pids import alive
from trails.pipeline.stage import join
from trails.versioned import Record

if TYPE_CHECKING:
    from trails.experiments.table import Row
    from trails.git import Git
    from trails.pipeline.graph import Graph
    from trails.project import Project

State = Literal["queued", "running", "success", "failed"]
Kind = Literal["workspace", "baseline", "experiment", "checkpoint", "queued", "running", "failed"]


class Error(msgspec.Struct):
    msg: str
    type: str = ""


class FileData(msgspec.Struct):
    """A params or metrics file: its values, nested as in the file."""

    data: dict[str, Any]


class Dep(msgspec.Struct):
    hash: str | None = None
    size: int | None = None
    nfiles: int | None = None


class Out(msgspec.Struct):
    hash: str | None = None
    size: int | None = None
    nfiles: int | None = None
    use_cache: bool = True
    is_data_source: bool = False


class Meta(msgspec.Struct):
    has_checkpoints: bool = False


class ExpData(msgspec.Struct):
    rev: str
    timestamp: str | None
    params: dict[str, FileData]
    metrics: dict[str, FileData]
    deps: dict[str, Dep]
    outs: dict[str, Out]
    meta: Meta


class Local(msgspec.Struct, omit_defaults=True):
    """Where a run runs: its folder, log, worker pid, a failure's exit
    code; ``task_id``, the queue entry's commit (``trails queue logs ID``
    takes it), left out for a workspace run (the extension's type has it
    optional, and a string when present)."""

    root: str | None
    log: str | None
    pid: int | None
    returncode: int | None
    task_id: str | None = None


class RayRun(msgspec.Struct):
    """Where a run of ``--executor ray`` runs: the Ray node's id (as
    ``queue status`` shows its first 8 characters)."""

    node: str


class Executor(msgspec.Struct, omit_defaults=True):
    """``ray``: trails' own key, present only for a run on a Ray cluster
    (the extension's type has no such key and reads past it)."""

    state: State
    name: str | None
    local: Local | None
    ray: RayRun | None = None


class Facts(Record):
    """trails' own facts about a revision, under the ``trails`` key (the
    document's layout version is this record's ``version``)."""

    kind: Kind
    baseline: str | None = None
    created: int | None = None
    error: str | None = None


class ExpState(msgspec.Struct):
    rev: str
    name: str | None = None
    data: ExpData | None = None
    error: Error | None = None
    experiments: list[ExpRange] | None = None
    trails: Facts | None = None


class ExpRange(msgspec.Struct):
    revs: list[ExpState]
    executor: Executor | None = None
    name: str | None = None


#: The executor name the extension knows for a queued run (its ``Executor``
#: enum: ``dvc-task`` or ``workspace``).
TASK = "dvc-task"


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys (as ``exp show`` keeps them) back into the file's
    nesting. A key that itself holds a dot comes back nested too."""
    from trails.nesting import put

    out: dict[str, Any] = {}
    for key, value in flat.items():
        put(out, key.split("."), value)
    return out


def _iso(ts: int | None) -> str | None:
    # As the reference tool: the commit time in local time, no zone.
    return datetime.fromtimestamp(ts).isoformat() if ts is not None else None


class _Shape:
    """Which recorded entries are deps and which outs (and how), from the
    workspace's pipeline: one answer for every revision."""

    def __init__(self, graph: Graph, dvcfiles: Iterable[str]) -> None:
        self.stages = list(graph.stages)
        self.dvcfiles = sorted(dvcfiles)
        self.has_checkpoints = any(s.has_checkpoints for s in graph.stages)

    def data(self, rev: str, ts: int | None, snap: Snapshot, *, metrics: bool = True) -> ExpData:
        rec = snap.recorded or Recorded((), {}, {})
        deps: dict[str, Dep] = {}
        outs: dict[str, Out] = {}
        for s in self.stages:
            key = f"{s.lock_path}:{s.name}"
            got = {join(s.wdir, e.path): e for e in rec.deps.get(key, [])}
            for d in s.deps:
                deps[d.repo_path] = _dep(got.get(d.repo_path))
            made = {join(s.wdir, e.path): e for e in rec.outs.get(key, [])}
            for o in s.outs:
                if o.kind == "outs":
                    e = made.get(o.repo_path)
                    outs[o.repo_path] = Out(*_fields(e), use_cache=o.cache)
        for f in self.dvcfiles:
            for e in rec.outs.get(f, []):
                path = join(os.path.dirname(f) or ".", e.path)
                outs[path] = Out(*_fields(e), use_cache=True, is_data_source=True)
        return ExpData(
            rev=rev,
            timestamp=_iso(ts),
            params={f: FileData(nest(v)) for f, v in snap.params.items()},
            metrics={f: FileData(nest(v)) for f, v in snap.metrics.items()} if metrics else {},
            deps=deps,
            outs=outs,
            meta=Meta(has_checkpoints=self.has_checkpoints),
        )


def _fields(e: Entry | None) -> tuple[str | None, int | None, int | None]:
    return (e.hash, e.size, e.nfiles) if e is not None else (None, None, None)


def _dep(e: Entry | None) -> Dep:
    return Dep(*_fields(e))


def _executor(project: Project, row: Row) -> tuple[Executor, str | None]:
    """A queued or failed entry's executor (running: a live worker holds
    its lock and is not waiting for a slot), and a failure's message."""
    from trails.errors import TrailsError
    from trails.experiments.queue import run_dir, running_node

    task = row.rev  # the entry's commit, as the reference tool's task id
    rundir = run_dir(project.root, task[:7])
    log = str(rundir.log) if rundir.log.exists() else None
    if row.kind == "failed":
        code: int | None = None
        try:
            res = rundir.read_result()
            error = res.error if res is not None else None
            code = res.returncode if res is not None else None
        except TrailsError as exc:
            error = str(exc)
        # No code recorded (an older trails wrote the result, or none): the worker's own 1.
        local = Local(None, log, None, 1 if code is None else code, task)
        return Executor("failed", TASK, local), error or None
    try:
        pid: int | None = int(rundir.lock.read_text())
    except (OSError, ValueError):
        pid = None
    if pid is None or rundir.waiting.exists() or not alive(pid):
        return Executor("queued", TASK, Local(None, None, None, None, task)), None
    node = running_node(rundir)
    if node:  # on a Ray node: no folder here
        return Executor("running", TASK, Local(None, log, pid, None, task), RayRun(node)), None
    try:  # written by the worker as it starts; a pool's kept folder or the entry's own
        folder = rundir.folder.read_text()
    except OSError:
        folder = str(project.tmp_dir / "exps" / task[:7])
    return Executor("running", TASK, Local(folder, log, pid, None, task)), None


#: The reference tool's order of a baseline's ranges, each newest first.
_ORDER = {"running": 0, "success": 1, "queued": 2, "failed": 3}


def _sort_key(r: ExpRange) -> tuple[int, int]:
    head = r.revs[0].trails
    return _ORDER[r.executor.state if r.executor else "success"], -((head and head.created) or 0)


class _Builder:
    """The document of ``rows.collect_rows``' rows (read with
    ``recorded``), one range per experiment or entry under its baseline."""

    def __init__(self, project: Project, git: Git, shape: _Shape, files: Files) -> None:
        self.project, self.git, self.shape, self.files = project, git, shape, files

    def pending(self, r: Row, name: str | None) -> ExpRange:
        """A queued, running or failed entry's range; a running one shows
        the metrics its folder holds now (its latest step)."""
        from trails.experiments.show import read_folder

        executor, error = _executor(self.project, r)
        running = executor.state == "running"
        snap = r.snap
        if running and executor.local is not None and executor.local.root:
            live = read_folder(Path(executor.local.root), self.files)
            snap = Snapshot(r.snap.params, live.metrics, r.snap.recorded)
        kind: Kind = "running" if running else ("failed" if r.kind == "failed" else "queued")
        facts = Facts(kind=kind, baseline=r.baseline, created=r.created, error=error)
        data = self.shape.data(r.rev, r.created, snap, metrics=running)
        return ExpRange([ExpState(r.rev, name, data, trails=facts)], executor, name)

    def build(self, rows: list[Row], names: Mapping[str, str | None]) -> list[ExpState]:
        data = self.shape.data
        times = self.git.commit_times([r.rev for r in rows if r.kind == "checkpoint"])
        out: list[ExpState] = []
        ranges: dict[str, list[ExpRange]] = {}
        for r in rows:
            under = ranges.get(r.baseline or "", [])
            if r.kind == "workspace":
                facts = Facts(kind="workspace")
                out.append(
                    ExpState("workspace", data=data("workspace", None, r.snap), trails=facts)
                )
            elif r.kind == "baseline":
                facts = Facts(kind="baseline", created=r.created)
                out.append(ExpState(r.rev, names.get(r.rev), data(r.rev, r.created, r.snap),
                                    trails=facts))  # fmt: skip
                ranges[r.rev] = []
            elif r.kind == "experiment":
                facts = Facts(kind="experiment", baseline=r.baseline, created=r.created)
                state = ExpState(r.rev, r.name, data(r.rev, r.created, r.snap), trails=facts)
                under.append(ExpRange([state], None, r.name))
            elif r.kind == "checkpoint":
                ts = times.get(r.rev)
                facts = Facts(kind="checkpoint", baseline=r.baseline, created=ts)
                under[-1].revs.append(ExpState(r.rev, None, data(r.rev, ts, r.snap), trails=facts))
            else:
                under.append(self.pending(r, names.get(r.rev)))
        if (ws := self.workspace_run(rows[0])) is not None and ws[0] in ranges:
            ranges[ws[0]].append(ws[1])
        for state in out[1:]:
            state.experiments = sorted(_joined(ranges[state.rev]), key=_sort_key) or None
        return out

    def workspace_run(self, ws: Row) -> tuple[str, ExpRange] | None:
        """An ``exp run`` in the workspace that is running now, as the
        reference tool shows it: a range under its baseline whose one
        revision is ``workspace`` (the workspace's values: its latest
        step), run by the ``workspace`` executor."""
        from trails.experiments.records import WorkspaceRun, workspace_run_path
        from trails.versioned import RecordError, decode

        path = workspace_run_path(self.project.root)
        try:
            run = decode(WorkspaceRun, path.read_bytes(), str(path), "")
        except (OSError, RecordError):
            return None
        if not alive(run.pid):
            return None  # left by a run killed outright
        facts = Facts(kind="running", baseline=run.baseline, created=run.started)
        data = self.shape.data("workspace", run.started, ws.snap)
        state = ExpState("workspace", run.name, data, trails=facts)
        local = Local(str(self.project.root), None, run.pid, None)
        return run.baseline, ExpRange([state], Executor("running", "workspace", local), run.name)


def _joined(ranges: list[ExpRange]) -> list[ExpRange]:
    """A running checkpoint experiment as one range: the checkpoints it
    has made so far (recorded under its name, so also listed as a done
    experiment) follow its running head, as the extension shows a
    checkpoint run in progress; listed once, running."""
    running = {r.name: r for r in ranges
               if r.name and r.executor is not None and r.executor.state == "running"}  # fmt: skip
    if not running:
        return ranges
    out = []
    for r in ranges:
        head = running.get(r.name) if r.executor is None and r.name else None
        if head is None:
            out.append(r)
            continue
        for state in r.revs:
            state.name = None
            if state.trails is not None:
                state.trails.kind = "checkpoint"
        head.revs += r.revs
    return out


def baseline_names(git: Git, shas: Iterable[str]) -> dict[str, str | None]:
    """A baseline's name as the reference tool gives it: the branch whose
    head it is, else a tag on it, else none."""
    wanted = set(shas)
    names: dict[str, str | None] = {}
    out = git.run("for-each-ref", "--format=%(refname) %(objectname)", "refs/tags/", "refs/heads/")
    listed = [ln.rpartition(" ") for ln in out.splitlines()]
    for prefix in ("refs/tags/", "refs/heads/"):  # branches win
        for ref, _, sha in listed:
            if sha in wanted and ref.startswith(prefix):
                names[sha] = ref.removeprefix(prefix)
    return names


def queued_names(git: Git, shas: Iterable[str]) -> dict[str, str | None]:
    """The experiment name each queued or failed entry was given (or
    chosen when it was queued); None when its arguments cannot be read,
    or for an entry queued unnamed by a trails that named it at its run."""
    from trails.errors import TrailsError
    from trails.experiments.queue import args_in

    wanted = list(shas)
    out: dict[str, str | None] = {}
    # Their commits in one ``cat-file --batch``, not a ``git log`` each.
    for sha, (_, raw) in zip(wanted, git.read_objects([f"{s}^{{commit}}" for s in wanted]),
                             strict=True):  # fmt: skip
        try:
            message = raw.decode().partition("\n\n")[2]
            out[sha] = args_in(message.rstrip("\n"), sha).name
        except (TrailsError, UnicodeDecodeError):
            out[sha] = None
    return out


def show(
    project: Project,
    git: Git,
    baselines: list[str],
    *,
    sha: bool = False,
    queued: bool = True,
    failed: bool = True,
) -> list[ExpState]:
    """``exp show --json``'s document for ``baselines``."""
    from trails import data
    from trails.experiments.rows import collect_rows
    from trails.pipeline import load_graph

    graph = load_graph(project)
    dvcfiles = data.find(project)
    files = record_files(graph, dvcfiles)
    # Queue entries are read even with ``queued`` False: a running one is
    # an entry too, and stays in the document (as the reference tool's).
    rows, shown = collect_rows(project, baselines, sha, failed=failed, recorded=files)
    names = {} if sha else baseline_names(git, baselines)
    names.update(queued_names(git, [r.rev for r in rows if r.kind in ("queued", "failed")]))
    doc = _Builder(project, git, _Shape(graph, dvcfiles), shown).build(rows, names)
    for state in doc[1:] if not queued else ():
        kept = [r for r in state.experiments or [] if (r.executor and r.executor.state) != "queued"]
        state.experiments = kept or None
    return doc


def encode(doc: list[ExpState]) -> bytes:
    """The document as ``exp show --json`` prints it: on one line, as the
    reference tool does. Values YAML or TOML parsed that JSON has no type
    for (dates): as text."""
    return msgspec.json.encode(doc, enc_hook=str)
