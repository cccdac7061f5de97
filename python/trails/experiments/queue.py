"""The experiment queue, kept in Git: one ref per entry under
``refs/exps/queue/`` (named ``<ns timestamp>-<commit>``, so listing the refs
in name order is FIFO), pointing at a stash-like commit of the workspace at
queue time (tracked and staged files, with the ``-S`` edits applied; the
workspace itself is not changed). The run arguments are JSON in the commit
message, never pickled. Each ``--queue`` call creates its own ref with
``update-ref`` expecting none, so concurrent calls lose nothing.

Failed entries move to ``refs/exps/failed/``; their logs stay in
``.dvc/tmp/exps/run/<id>/``."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trails.errors import did_you_mean
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
    args: dict[str, Any]


def read_entry(git: Git, ref: str) -> QueuedRun | None:
    """An entry, its parents and its run arguments in one ``git log`` call;
    None if the ref is gone (another worker took the entry)."""
    out = git.run("log", "-1", "--format=%H%n%ct%n%P%n%B", ref, "--", check=False)
    sha, _, rest = out.partition("\n")
    created, _, rest = rest.partition("\n")
    parents, _, msg = rest.partition("\n")
    if len(sha) != 40:
        return None
    entry = Entry(ref, sha, int(created) if created.isdigit() else 0)
    return QueuedRun(entry, tuple(parents.split()), _parse_args(msg))


def args_of(git: Git, sha: str) -> dict[str, Any]:
    """The run arguments stored in an entry's commit message."""
    return _parse_args(git.message(sha))


def _parse_args(msg: str) -> dict[str, Any]:
    try:
        doc = json.loads(msg.split("\n", 2)[2]) if msg.startswith(HEADER) else {}
    except (IndexError, ValueError):
        doc = {}
    return doc if isinstance(doc, dict) else {}


def enqueue(
    git: Git, args: Mapping[str, Any], edits: Mapping[str, bytes], rev: str | None = None
) -> Entry:
    """Queue the workspace (tracked and staged files) with ``edits``; with
    ``rev`` (a checkpoint), that commit's files instead, to continue it."""
    baseline = str(args.get("baseline") or git.head())
    tree = git.tree_with(rev, edits) if rev else git.snapshot_tree(tracked_only=True, blobs=edits)
    body = json.dumps({**args, "baseline": baseline, "rev": rev}, sort_keys=True)
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
    raise ExperimentError(
        f"'{spec}' is not a queued experiment",
        hint=did_you_mean(
            spec, [e.id for e in every], otherwise="'trails queue status' lists them."
        ),
    )


def run_dir(root: Path, entry_id: str) -> Path:
    """Where an entry's log and result are kept (also after a failure)."""
    return root / ".dvc" / "tmp" / "exps" / "run" / entry_id


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


def read_result(root: Path, entry_id: str) -> dict[str, Any] | None:
    """What a worker wrote of its entry's run (``result.json``: status,
    name, error...); None if it wrote nothing (yet)."""
    try:
        doc = json.loads((run_dir(root, entry_id) / "result.json").read_text())
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def succeeded(root: Path) -> list[Succeeded]:
    """Entries run by workers that succeeded, oldest first: ``queue status``
    lists them until ``queue remove --success`` forgets them."""
    base = root / ".dvc" / "tmp" / "exps" / "run"
    out = []
    for d in base.iterdir() if base.is_dir() else ():
        doc = read_result(root, d.name)
        if doc is not None and doc.get("status") == "success":
            created = doc.get("created")
            out.append(Succeeded(d.name, str(doc.get("name") or ""),
                                 created if isinstance(created, int) else 0))  # fmt: skip
    return sorted(out, key=lambda s: (s.created, s.id))


def forget(root: Path, entry_id: str) -> None:
    """Remove an entry's run folder (log, result)."""
    shutil.rmtree(run_dir(root, entry_id), ignore_errors=True)
