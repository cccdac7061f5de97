"""The queue's records: every JSON document that crosses from the process
that queues or schedules an experiment to the worker that runs it, or that
a worker leaves in its run folder (issue #15, step 3). Each is a
``msgspec.Struct`` with a ``version``; a document without one is version 1
(what trails wrote before records had versions). A reader meets a newer
version or a damaged document as a ``RecordError`` naming the file and what
to do, never a ``KeyError``.

Also here: ``WorkerExit``, the worker's exit codes as both sides know them,
and ``RunDir``, the names of the files in an entry's run folder.

``exp show --json``'s document (the reference tool's shape) is typed in
``experiments/document.py``, so that its schema lives in one place too."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from trails.repro.selection import ReproOptions
from trails.versioned import Record, RecordError, decode

__all__ = [
    "CheckpointState", "EntryListing", "QueuedArgs", "Record", "RecordError", "RunDir",
    "RunResult", "RunStatus", "WorkerExit", "WorkspaceRun", "decode",
]  # fmt: skip


class QueuedArgs(Record):
    """A queued run's arguments, kept as JSON in its entry's commit message.
    ``repro`` is the whole ``ReproOptions`` (derived, so no flag is dropped
    on the way), less ``targets``, which are kept as spelled from the root;
    ``rev``: the checkpoint the run continues."""

    name: str | None = None
    message: str | None = None
    force: bool = False
    targets: tuple[str, ...] = ()
    repro: ReproOptions = ReproOptions()
    baseline: str | None = None
    rev: str | None = None
    copy_paths: tuple[str, ...] = ()


class EntryListing(Record):
    """What the pool listed of a queued entry besides its ref and commit,
    handed to the worker that runs it (which then reads no Git for it):
    its queue time, parents and commit message (``queue.listed``)."""

    created: int
    parents: tuple[str, ...]
    message: str


class RunStatus(enum.Enum):
    """How a worker's run of an entry ended, as ``result.json`` says."""

    SUCCESS = "success"
    FAILED = "failed"
    RELEASED = "released"
    INTERRUPTED = "interrupted"


class RunResult(Record):
    """A worker's ``result.json``: how its entry's run ended; ``created``,
    the entry's queue time (``queue status`` sorts by it)."""

    status: RunStatus
    name: str = ""
    sha: str = ""
    created: int = 0
    error: str = ""
    #: A failed run's exit code: the failing stage command's, else 1 (the
    #: worker's own); ``exp show --json`` reports it as ``returncode``.
    returncode: int | None = None


class CheckpointState(Record):
    """``checkpoint.json``: the checkpoint chain the next run continues."""

    baseline: str
    name: str | None = None
    tip: str | None = None


class WorkspaceRun(Record):
    """``.dvc/tmp/trails/workspace-run.json``: an ``exp run`` in the
    workspace (not queued) while it runs, so that ``exp show --json``
    shows it as running (the extension's ``workspace`` executor). ``name``:
    None until the run records it (a derived name hashes the result)."""

    pid: int
    baseline: str
    name: str | None = None
    started: int = 0


def workspace_run_path(root: Path) -> Path:
    return root / ".dvc" / "tmp" / "trails" / "workspace-run.json"


class WorkerExit(enum.IntEnum):
    """A worker's exit code, as the worker returns it and the pool reads it."""

    DONE = 0
    FAILED = 1
    #: Another worker took the entry (or its ref is gone).
    TAKEN = 3
    #: Let go by the pool before it started (``queue stop``); still queued.
    RELEASED = 4
    #: Interrupted (Ctrl+C, ``queue kill``); still queued.
    INTERRUPTED = 130


@dataclass(frozen=True)
class RunDir:
    """An entry's run folder, ``.dvc/tmp/exps/run/<id>/``, and its files:
    the one place their names are spelled."""

    root: Path
    entry_id: str

    @property
    def path(self) -> Path:
        return self.root / ".dvc" / "tmp" / "exps" / "run" / self.entry_id

    def rel(self, name: str) -> str:
        """A file of the folder as messages name it (from the root)."""
        return f".dvc/tmp/exps/run/{self.entry_id}/{name}"

    @property
    def lock(self) -> Path:
        """The worker's claim on the entry: its pid, while it runs."""
        return self.path / "lock"

    @property
    def stage(self) -> Path:
        """The stage the worker is running, for ``queue status``."""
        return self.path / "stage"

    @property
    def waiting(self) -> Path:
        """Present while a prepared worker waits for a slot."""
        return self.path / "waiting"

    @property
    def result(self) -> Path:
        """``RunResult``, written when the run ends."""
        return self.path / "result.json"

    @property
    def log(self) -> Path:
        """The worker's and its stages' output."""
        return self.path / "output.log"

    @property
    def folder(self) -> Path:
        """The folder the entry runs in (a pool's kept folder, or its own),
        written when the worker starts: ``exp show --json`` reads a running
        experiment's metrics there."""
        return self.path / "folder"

    @property
    def node(self) -> Path:
        """The Ray node an entry runs on (``--executor ray``), while it runs."""
        return self.path / "node"

    @property
    def kill(self) -> Path:
        """``queue kill``'s request to the Ray driver to cancel the entry."""
        return self.path / "kill"

    @property
    def checkpoint(self) -> Path:
        """``CheckpointState`` of an interrupted checkpoint run."""
        return self.path / "checkpoint.json"

    def read_result(self) -> RunResult | None:
        """The worker's result; None if it wrote none (yet)."""
        try:
            data = self.result.read_bytes()
        except OSError:
            return None
        return decode(
            RunResult,
            data,
            self.rel(self.result.name),
            "Remove the entry ('trails queue remove') to forget this run.",
        )

    def write_result(self, result: RunResult) -> None:
        self.result.write_bytes(result.encode())
