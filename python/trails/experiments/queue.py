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

import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from trails.errors import TrailsError
from trails.experiments.records import QueuedArgs, RecordError, RunDir, RunStatus, decode
from trails.experiments.refs import ExperimentError
from trails.git import ZERO, Git

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


def args_of(git: Git, sha: str) -> QueuedArgs:
    """The run arguments stored in an entry's commit message."""
    return _parse_args(git.message(sha), sha[:7])


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


def entries(
    git: Git, *, failed: bool = False, refs: list[tuple[str, str, int]] | None = None
) -> list[Entry]:
    """Queued (or failed) entries, FIFO; ``refs`` reuses a listing of
    ``refs/exps/`` already made."""
    prefix = FAILED if failed else QUEUE
    rows = [r for r in refs if r[0].startswith(prefix)] if refs is not None else git.refs(prefix)
    return [Entry(ref, sha, ts) for ref, sha, ts in sorted(rows)]


def find(git: Git, spec: str) -> Entry:
    """An entry (queued or failed) by id prefix."""
    every = entries(git) + entries(git, failed=True)
    hits = [e for e in every if e.sha.startswith(spec.lower())]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise ExperimentError(f"'{spec}' is ambiguous: " + ", ".join(e.id for e in hits))
    import difflib

    close = difflib.get_close_matches(spec, [e.id for e in every], n=1)
    raise ExperimentError(
        f"'{spec}' is not a queued experiment",
        hint=f"Did you mean '{close[0]}'?" if close else "'trails queue status' lists them.",
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
