"""The workspace as the planner sees it: the hash of every dependency and
output path, and the values in params files, computed on demand and
remembered for the command's duration (one stat-index load per batch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from trails import core, params
from trails.errors import TrailsError
from trails.pipeline.lockfile import TREE_SUFFIX, FileState


class Workspace:
    def __init__(self, root: Path, index: Path | None) -> None:
        self.root = root
        self.index = index
        self._hashes: dict[str, core.PathHash | None] = {}
        self._params: dict[str, dict[str, Any] | TrailsError] = {}

    def prefetch(self, repo_paths: list[str]) -> None:
        """Hash all of ``repo_paths`` not known yet, in one batch."""
        todo = [p for p in dict.fromkeys(repo_paths) if p not in self._hashes]
        if todo:
            results = core.hash_paths([self.root / p for p in todo], self.index)
            self._hashes.update(zip(todo, results, strict=True))

    def forget(self, repo_paths: list[str]) -> None:
        """Drop remembered hashes (the paths were just written)."""
        for p in repo_paths:
            self._hashes.pop(p, None)
        for p in repo_paths:
            self._params.pop(p, None)

    def hash(self, repo_path: str) -> core.PathHash | None:
        if repo_path not in self._hashes:
            self.prefetch([repo_path])
        return self._hashes[repo_path]

    def file_state(self, written_path: str, repo_path: str) -> FileState | None:
        """The lock-file form of the path's current state."""
        h = self.hash(repo_path)
        if h is None:
            return None
        if h.is_dir:
            return FileState(written_path, core.ALGORITHM, h.hash + TREE_SUFFIX, h.size, h.nfiles)
        return FileState(written_path, core.ALGORITHM, h.hash, h.size, isexec=h.executable)

    def params_file(self, repo_path: str) -> dict[str, Any]:
        """Parsed params file; raises ``ParamsError`` (remembered) if unreadable."""
        if repo_path not in self._params:
            try:
                self._params[repo_path] = params.load_file(self.root / repo_path, repo_path)
            except TrailsError as exc:
                self._params[repo_path] = exc
        got = self._params[repo_path]
        if isinstance(got, TrailsError):
            raise got
        return got
