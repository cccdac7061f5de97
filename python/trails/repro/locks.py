"""Reading and writing each ``dvc.lock``: entries are read once per command,
changed in memory, and written back together (in ``dvc.yaml``'s stage
order) by ``write``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from trails.pipeline import lockfile
from trails.pipeline.graph import Graph
from trails.pipeline.lockfile import LockEntry
from trails.pipeline.stage import Stage


class Locks:
    def __init__(self, root: Path, graph: Graph) -> None:
        self.root = root
        self.graph = graph
        #: Entries of each lock file read so far, by its repo-relative path.
        self.files: dict[str, dict[str, LockEntry]] = {}
        self.dirty: set[str] = set()
        #: Lock files already looked at for the reference tool's note.
        self._origin_checked: set[str] = set()

    def of(self, stage: Stage) -> dict[str, LockEntry]:
        """The entries of the stage's lock file (read on first use)."""
        if stage.lock_path not in self.files:
            self.files[stage.lock_path] = lockfile.read(self.root, stage.lock_path)
        return self.files[stage.lock_path]

    def record(self, stage: Stage, entry: LockEntry) -> None:
        self.of(stage)[stage.name] = entry
        self.dirty.add(stage.lock_path)

    def write(self, note: Callable[[str], None]) -> list[str]:
        """Write the changed lock files; their paths. ``note`` gets the
        reference tool's note, once per file it made."""
        written = []
        for relpath in sorted(self.dirty):
            entries = self.files[relpath]
            # dvc.yaml's order, then the tasks' (they share the root's lock).
            order = [s.name for s in self.graph.stages if s.lock_path == relpath]
            ordered = {n: entries[n] for n in order if n in entries}
            if relpath not in self._origin_checked:
                self._origin_checked.add(relpath)
                if lockfile.made_by_reference_tool(self.root, relpath):
                    note(lockfile.reference_note(relpath))
            lockfile.write(self.root, relpath, ordered)
            written.append(relpath)
        self.dirty.clear()
        return written
