"""The workspace as the planner sees it: the hash of every dependency and
output path, and the values in params files, computed on demand and
remembered for the command's duration (one stat-index load per batch).

A path can also be *assumed*: present with a recorded state although not on
disk yet. An experiment's temporary folder assumes the outputs its
``dvc.lock`` records (their objects are in the cache), so that stages that
do not run never need their inputs linked in; ``defer`` records how to
link an assumed path in, and ``materialize`` does it when a stage that runs
needs it."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trails import core, params
from trails.errors import TrailsError
from trails.pipeline.graph import overlaps
from trails.pipeline.lockfile import TREE_SUFFIX, FileState


class Workspace:
    def __init__(self, root: Path, index: Path | None) -> None:
        self.root = root
        self.index = index
        self._hashes: dict[str, core.PathHash | None] = {}
        self._params: dict[str, dict[str, Any] | TrailsError] = {}
        self._assumed: dict[str, FileState] = {}
        #: Assumed paths (see ``defer``) and how to link each one in.
        self._deferred: dict[str, Callable[[], object]] = {}

    def assume(self, repo_path: str, state: FileState) -> None:
        self._assumed[repo_path] = state
        self._hashes.pop(repo_path, None)

    def assumed(self) -> list[str]:
        return list(self._assumed)

    def defer(self, repo_path: str, state: FileState, link: Callable[[], object]) -> None:
        """Count ``repo_path`` as present in ``state`` without creating it;
        ``link`` creates it when a stage that runs needs it."""
        self.assume(repo_path, state)
        self._deferred[repo_path] = link

    def materialize(self, paths: list[str], *, exact_ok: bool, link: bool = True) -> None:
        """Link in the assumed paths that overlap ``paths`` (with
        ``exact_ok``, not those equal to one: their assumed state answers);
        without ``link``, only drop the assumption (the path is about to be
        rewritten)."""
        for root in list(self._deferred):
            hit = any(overlaps(root, p) and not (exact_ok and root == p) for p in paths)
            if hit:
                make = self._deferred.pop(root)
                if link:
                    make()
                self.forget([root])

    def prefetch(self, repo_paths: list[str]) -> None:
        """Hash all of ``repo_paths`` not known yet, in one batch."""
        todo = [
            p for p in dict.fromkeys(repo_paths) if p not in self._hashes and p not in self._assumed
        ]
        if todo:
            results = core.hash_paths([self.root / p for p in todo], self.index)
            self._hashes.update(zip(todo, results, strict=True))

    def forget(self, repo_paths: list[str]) -> None:
        """Drop remembered hashes and assumptions (the paths were just written)."""
        for p in repo_paths:
            self._hashes.pop(p, None)
            self._assumed.pop(p, None)
        for p in repo_paths:
            self._params.pop(p, None)

    def hash(self, repo_path: str) -> core.PathHash | None:
        """The path's hash on disk (for an assumed path too: ``file_state``
        is what answers with the assumption)."""
        if repo_path not in self._hashes:
            self._hashes[repo_path] = core.hash_paths([self.root / repo_path], self.index)[0]
        return self._hashes[repo_path]

    def file_state(self, written_path: str, repo_path: str) -> FileState | None:
        """The lock-file form of the path's current (or assumed) state."""
        if repo_path in self._assumed:
            return dataclasses.replace(self._assumed[repo_path], path=written_path)
        h = self.hash(repo_path)
        if h is None:
            return None
        if h.is_dir:
            return FileState(written_path, core.ALGORITHM, h.hash + TREE_SUFFIX, h.size, h.nfiles)
        return FileState(written_path, core.ALGORITHM, h.hash, h.size, isexec=h.executable)

    def suppose_params(self, repo_path: str, values: dict[str, Any]) -> None:
        """Plan as if the params file held ``values`` (a dry run's ``-S``,
        which is never written)."""
        self._params[repo_path] = values

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
