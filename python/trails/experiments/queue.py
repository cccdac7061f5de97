"""The experiment queue, kept in Git: one ref per entry under
``refs/exps/queue/`` (named ``<ns timestamp>-<commit>``, so listing the refs
in name order is FIFO), pointing at a stash-like commit of the workspace at
queue time (tracked and staged files, with the ``-S`` edits applied; the
workspace itself is not changed). The run arguments are JSON in the commit
message (``records.QueuedArgs``), never pickled. Each ``--queue`` call creates its own ref with
``update-ref`` expecting none, so concurrent calls lose nothing.

Failed entries move to ``refs/exps/failed/``; their logs stay in
``.dvc/tmp/exps/run/<id>/``."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trails.errors import TrailsError, did_you_mean
from trails.experiments.records import (
    EntryListing,
    QueuedArgs,
    RecordError,
    RunDir,
    RunStatus,
    decode,
)
from trails.experiments.refs import ExperimentError
from trails.git import ZERO, Git

if TYPE_CHECKING:
    from trails.experiments.options import ExpRunOptions
    from trails.project import Project

QUEUE = "refs/exps/queue/"
FAILED = "refs/exps/failed/"
HEADER = "trails queued experiment"


@dataclass(frozen=True)
class Entry:
    ref: str
    sha: str
    created: int

    @property
    def id(self) -> str:
        return self.sha[:7]

    @property
    def failed(self) -> bool:
        return self.ref.startswith(FAILED)


@dataclass(frozen=True)
class QueuedRun:
    """An entry as a worker reads it: its commit's parents (the first is
    the baseline, so the baseline is known to exist) and its run arguments."""

    entry: Entry
    parents: tuple[str, ...]
    args: QueuedArgs


def read_entry(git: Git, ref: str) -> QueuedRun | None:
    """An entry, its parents and its run arguments in one ``git log`` call;
    None if the ref is gone (another worker took the entry). Arguments it
    cannot read are a ``RecordError``."""
    out = git.run("log", "-1", "--format=%H%n%ct%n%P%n%B", ref, "--", check=False)
    sha, _, rest = out.partition("\n")
    created, _, rest = rest.partition("\n")
    parents, _, msg = rest.partition("\n")
    if len(sha) != 40:
        return None
    entry = Entry(ref, sha, int(created) if created.isdigit() else 0)
    return QueuedRun(entry, tuple(parents.split()), _parse_args(msg, entry.id))


def queued_run(listing: EntryListing, ref: str, sha: str) -> QueuedRun:
    """The entry as ``read_entry`` reads it, from the pool's listing; a
    ``RecordError`` if its arguments cannot be read."""
    entry = Entry(ref, sha, listing.created)
    return QueuedRun(entry, listing.parents, _parse_args(listing.message, entry.id))


def listed(git: Git) -> tuple[list[Entry], dict[str, EntryListing]]:
    """Queued entries, FIFO, and each one's listing by ref: every message
    through one ``for-each-ref``, so that no worker reads its own."""
    rows = sorted(git.ref_messages(QUEUE))
    entries = [Entry(ref, sha, ts) for ref, sha, ts, _, _ in rows]
    return entries, {
        ref: EntryListing(created=ts, parents=tuple(parents.split()), message=msg)
        for ref, _, ts, msg, parents in rows
    }


def args_of(git: Git, sha: str) -> QueuedArgs:
    """The run arguments stored in an entry's commit message."""
    return _parse_args(git.message(sha), sha[:7])


def args_in(message: str, sha: str) -> QueuedArgs:
    """``args_of`` of a message already read (many entries, one read)."""
    return _parse_args(message, sha[:7])


def _parse_args(msg: str, entry_id: str) -> QueuedArgs:
    head, _, body = msg.partition("\n\n")
    source = f"queued experiment {entry_id}: its arguments"
    hint = "Remove the entry ('trails queue remove') and queue it again."
    if head != HEADER:
        raise RecordError(f"{source} are missing (not a trails queue entry)", hint=hint)
    return decode(QueuedArgs, body, source, hint)


def enqueue(
    git: Git, args: QueuedArgs, edits: Mapping[str, bytes], rev: str | None = None
) -> Entry:
    """Queue the workspace (tracked and staged files) with ``edits``; with
    ``rev`` (a checkpoint), that commit's files instead, to continue it."""
    import msgspec

    baseline = args.baseline or git.head()
    tree = git.tree_with(rev, edits) if rev else git.snapshot_tree(tracked_only=True, blobs=edits)
    body = msgspec.structs.replace(args, baseline=baseline, rev=rev).encode().decode()
    sha = git.commit_tree(tree, [baseline], f"{HEADER}\n\n{body}")
    ref = f"{QUEUE}{time.time_ns():020d}-{sha[:12]}"
    git.update_ref(ref, sha, ZERO)
    return Entry(ref, sha, int(time.time()))


def _named_now(git: Git, baseline: str, names: Sequence[str | None]) -> list[str | None]:
    """A name for each entry given none, chosen when it is queued, as the
    reference tool does (``exp show --json`` shows it; the VS Code
    extension keys a row by its name, so a name that appeared only once
    the run ended made a new row of it): ``exp-`` and 5 random hex
    digits, none taken on the baseline, by a queued entry, or in this
    batch. The run records its experiment under it."""
    import secrets

    from trails.experiments.refs import list_exps

    taken = {e.name for e in list_exps(git, baseline)} | {n for n in names if n}
    taken |= {listed.name for listed in listing(git) if listed.name}
    out: list[str | None] = []
    for given in names:
        n = given
        while n is None or (given is None and n in taken):
            n = "exp-" + secrets.token_hex(3)[:5]
        taken.add(n)
        out.append(n)
    return out


def entries(
    git: Git, *, failed: bool = False, refs: list[tuple[str, str, int]] | None = None
) -> list[Entry]:
    """Queued (or failed) entries, FIFO; ``refs`` reuses a listing of
    ``refs/exps/`` already made."""
    prefix = FAILED if failed else QUEUE
    rows = [r for r in refs if r[0].startswith(prefix)] if refs is not None else git.refs(prefix)
    return [Entry(ref, sha, ts) for ref, sha, ts in sorted(rows)]


@dataclass(frozen=True)
class Listed:
    """An entry as ``queue status`` lists it: its experiment's name (None
    if its arguments cannot be read; running it says why)."""

    entry: Entry
    name: str | None


def listing(git: Git) -> list[Listed]:
    """Queued then failed entries, FIFO, with their names: every message
    through one ``for-each-ref`` per kind, whatever the number of entries.
    Queued first: an entry a worker moves to the failed refs meanwhile is
    then seen once or twice, never missed; once it is."""
    out = []
    seen: set[str] = set()
    for prefix in (QUEUE, FAILED):
        for ref, sha, ts, msg, _ in sorted(git.ref_messages(prefix)):
            if sha in seen:
                continue
            seen.add(sha)
            entry = Entry(ref, sha, ts)
            try:
                name: str | None = _parse_args(msg.rstrip("\n"), entry.id).name or "-"
            except TrailsError:
                name = None
            out.append(Listed(entry, name))
    return out


def run_states(root: Path, entries: Sequence[Entry]) -> list[str]:
    """What ``queue status`` says of each entry: failed, queued, queued
    (prepared: its worker waits for a slot) or running (and its stage).
    The run folders are listed once: an entry without one never started,
    so 1,000 queued entries cost no stat each."""
    base = run_dir(root, "-").path.parent
    try:
        started = set(os.listdir(base))
    except OSError:
        started = set()
    out = []
    for e in entries:
        if e.failed:
            out.append("failed")
            continue
        rundir = run_dir(root, e.id)
        if e.id not in started:
            out.append("queued")
        elif rundir.waiting.exists():
            out.append("queued (prepared)")
        elif rundir.lock.exists() and _held(rundir):
            stage = rundir.stage
            where = _node(rundir) + (f" ({stage.read_text()})" if stage.exists() else "")
            out.append("running" + where)
        else:
            out.append("queued")
    return out


def _held(rundir: RunDir) -> bool:
    """Whether the lock's process (a worker, or the Ray driver) still runs:
    one killed outright leaves its lock, and its entry is queued again."""
    from trails.pids import alive

    try:
        return alive(int(rundir.lock.read_text() or "0"))
    except (OSError, ValueError):
        return False


def _node(rundir: RunDir) -> str:
    """`` on node <id>`` of an entry running on a Ray cluster."""
    try:
        node = rundir.node.read_text()[:8]
    except OSError:
        return ""
    return f" on node {node}" if node else ""


def running_node(rundir: RunDir) -> str:
    """The Ray node an entry runs on now (empty: it does not, or not on
    Ray): the driver writes the node as the task starts there, and holds
    the entry's lock while it runs. The file is read as untrusted: only a
    node id's characters, at most 64 of them."""
    try:
        node = rundir.node.read_text().strip()
    except OSError:
        return ""
    if not node or len(node) > 64 or not node.isalnum() or rundir.waiting.exists():
        return ""
    return node if _held(rundir) else ""


def find(git: Git, spec: str) -> Entry:
    """An entry (queued or failed) by id prefix."""
    every = entries(git) + entries(git, failed=True)
    hits = [e for e in every if e.sha.startswith(spec.lower())]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise ExperimentError(f"'{spec}' is ambiguous: " + ", ".join(e.id for e in hits))
    raise ExperimentError(
        f"'{spec}' is not a queued experiment",
        hint=did_you_mean(
            spec, [e.id for e in every], otherwise="'trails queue status' lists them."
        ),
    )


def run_dir(root: Path, entry_id: str) -> RunDir:
    """Where an entry's log and result are kept (also after a failure)."""
    return RunDir(root, entry_id)


def mark_failed(git: Git, entry: Entry) -> None:
    git.move_ref(FAILED + entry.ref.removeprefix(QUEUE), entry.sha, None, consumed=entry.ref)


def remove(git: Git, entry: Entry) -> None:
    """Drop an entry (queued or failed) and its log."""
    git.delete_ref(entry.ref)
    forget(git.root, entry.id)


@dataclass(frozen=True)
class Succeeded:
    """An entry that ran to success and whose log is kept (its ref is gone:
    it became an experiment)."""

    id: str
    name: str
    created: int


def succeeded(root: Path, warn: Callable[[str], None]) -> list[Succeeded]:
    """Entries run by workers that succeeded, oldest first: ``queue status``
    lists them until ``queue remove --success`` forgets them. A result it
    cannot read is passed to ``warn`` and left out."""
    base = root / ".dvc" / "tmp" / "exps" / "run"
    out = []
    for d in base.iterdir() if base.is_dir() else ():
        try:
            res = run_dir(root, d.name).read_result()
        except TrailsError as exc:
            warn(f"{exc} ({exc.hint})")
            continue
        if res is not None and res.status is RunStatus.SUCCESS:
            out.append(Succeeded(d.name, res.name, res.created))
    return sorted(out, key=lambda s: (s.created, s.id))


def forget(root: Path, entry_id: str) -> None:
    """Remove an entry's run folder (log, result)."""
    shutil.rmtree(run_dir(root, entry_id).path, ignore_errors=True)


@dataclass(frozen=True)
class Removal:
    """What ``queue remove`` removes: queued or failed entries (ref and
    log), and succeeded entries' records (their experiments stay)."""

    entries: list[Entry]
    succeeded: list[str]


def removal(
    root: Path,
    git: Git,
    ids: Sequence[str],
    *,
    queued: bool,
    failed: bool,
    success: bool,
    warn: Callable[[str], None],
) -> Removal:
    """The entries ``ids`` name (an id prefix: a queued or failed entry
    first, else one succeeded entry), plus every queued, failed or
    succeeded one as the flags say; each once."""
    done = [d.id for d in succeeded(root, warn)]
    targets: list[Entry] = []
    forgotten: list[str] = []
    for i in ids:
        try:
            targets.append(find(git, i))
        except ExperimentError:
            hits = [d for d in done if d.startswith(i.lower())]
            if len(hits) != 1:
                raise
            forgotten.append(hits[0])
    targets += entries(git) if queued else []
    targets += entries(git, failed=True) if failed else []
    forgotten += done if success else []
    return Removal(list({t.ref: t for t in targets}.values()), list(dict.fromkeys(forgotten)))


def log_chunks(root: Path, git: Git, entry_id: str, follow: bool) -> Iterator[str]:
    """The log of an entry (running, failed or succeeded: by its run
    folder's name or an id prefix), as it grows while it runs if
    ``follow``."""
    rundir = run_dir(root, entry_id)
    if not rundir.path.is_dir():
        rundir = run_dir(root, _entry_id(root, git, entry_id))
    if not rundir.log.exists():
        raise TrailsError(f"experiment {entry_id} has no log yet (it has not run)")
    with rundir.log.open("r", errors="replace") as f:
        while True:
            chunk = f.read()
            if chunk:
                yield chunk
            elif not follow or not rundir.lock.exists():
                return
            else:
                time.sleep(0.1)


def _entry_id(root: Path, git: Git, spec: str) -> str:
    """The run folder ``spec`` names: an entry's id prefix, else the name
    it was queued with or ran as (the VS Code extension's ``queue logs
    NAME``); a name given twice is ambiguous."""
    try:
        return find(git, spec).id
    except ExperimentError as exc:
        named = {x.entry.id for x in listing(git) if x.name == spec}
        named |= {d.id for d in succeeded(root, lambda _: None) if d.name == spec}
        if len(named) == 1:
            return named.pop()
        if named:
            raise ExperimentError(
                f"'{spec}' names several entries: {', '.join(sorted(named))}",
                hint="Name one by its id ('trails queue status' lists them).",
            ) from None
        raise exc from None


def enqueue_runs(
    project: Project,
    git: Git,
    run: ExpRunOptions,
    from_rev: str | None = None,
    copy_paths: Sequence[str] = (),
    *,
    echo: Callable[[str], None],
    announce: bool = True,
) -> list[str]:
    """Queue one entry per combination of ``run``'s -S sweeps (``exp run
    --queue``/``--temp``) and return their refs; the workspace is not
    changed (the edits go into the entries' commits). Every check (targets,
    names, paths, the checkpoint) runs before the first entry is queued.
    ``from_rev``: a checkpoint to continue from; ``copy_paths``: untracked
    or ignored paths copied from the workspace into the entry's folder when
    it runs. ``announce``: say "Queued" (not for --temp, whose entry runs
    now)."""
    import dataclasses

    from trails import data
    from trails.experiments.options import queued_edits
    from trails.experiments.record import check_free
    from trails.experiments.refs import resolve, validate_name
    from trails.pipeline import load_graph
    from trails.repro.selection import cwd_folder, select

    opts, name, message, force = run.repro, run.name, run.message, run.force
    set_params, strict = run.set_params, run.strict_params
    head = git.head()
    graph = load_graph(project)
    select(graph, project, opts)  # bad targets fail before anything is queued
    combos = queued_edits(project, set_params, strict, lambda w: echo(f"Warning: {w}"))
    names = (
        [name]
        if len(combos) == 1
        else [f"{name}-{i}" if name else None for i in range(1, len(combos) + 1)]
    )
    for n in names:
        if n is not None:
            validate_name(git, n)
    copied = [data.target(project, c, "--copy-paths") for c in copy_paths]
    for c in copy_paths:
        if not Path(c).exists():
            raise ExperimentError(
                f"--copy-paths: '{c}' does not exist",
                hint="Name an untracked or ignored file or folder of the workspace.",
            )
    # Every ReproOptions flag travels (records.QueuedArgs.repro), but those
    # that mean something else in a worker: --jobs is the pool's number of
    # experiments at once, and a worker has no terminal to ask in or debug
    # at (--dry cannot queue at all: the CLI refuses it).
    repro = dataclasses.replace(opts, targets=(), dry=False, interactive=False, pdb=False, jobs=1)
    # The entry runs at the root of its folder: targets named from a
    # sub-folder are spelled from the root.
    here = cwd_folder(project)
    targets = [
        t if opts.recursive else graph.locate(t, glob=opts.glob, cwd=here) for t in opts.targets
    ]
    rev_sha, baseline = None, None
    if from_rev:
        try:
            e = resolve(git, from_rev, head)
        except ExperimentError:
            raise ExperimentError(
                f"'{from_rev}' is not a checkpoint of an experiment",
                hint="'trails exp show' lists experiments and their checkpoints.",
            ) from None
        rev_sha, baseline = e.sha, e.baseline
    baseline = baseline or head  # asked of Git once, not once per entry
    check_free(git, baseline, [n for n in names if n], force)
    if None in names:
        names = _named_now(git, baseline, names)
    ids = []
    for n, edits in zip(names, combos, strict=True):
        args = QueuedArgs(name=n, message=message, force=force, targets=tuple(targets),
                          repro=repro, baseline=baseline, copy_paths=tuple(copied))  # fmt: skip
        entry = enqueue(git, args, edits, rev_sha)
        if announce:
            echo(f"Queued experiment '{entry.id}' for future execution.")
        ids.append(entry.ref)
    return ids
