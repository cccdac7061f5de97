"""``trails gc``: remove cache objects nothing refers to.

What is kept: every object that the workspace's ``dvc.lock`` and ``.dvc``
files name, those of the chosen commits (``-w`` HEAD, ``-a`` branch heads,
``-T`` tags, ``-A`` every commit), of every experiment and checkpoint, of
queued entries, and of experiments running now (their temporary folders).
Experiments are never collected here: ``trails exp gc`` / ``exp remove``
drop experiments first, so no run's results disappear by surprise."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trails import core, yamlio
from trails.errors import TrailsError
from trails.git import Git
from trails.project import Project

TREE = ".dir"


@dataclass
class Plan:
    doomed: list[Path]
    size: int
    kept: int


def _hashes_in(doc: Any) -> Iterable[str]:
    """blake3 values of lock or .dvc documents (deps and outs)."""
    if not isinstance(doc, dict):
        return
    entries: list[Any] = list(doc.get("outs") or [])
    for stage in (doc.get("stages") or {}).values():
        if isinstance(stage, dict):
            entries += list(stage.get("outs") or []) + list(stage.get("deps") or [])
    for e in entries:
        if isinstance(e, dict) and e.get("hash", core.ALGORITHM) == core.ALGORITHM:
            value = e.get(core.ALGORITHM)
            if isinstance(value, str):
                yield value


def _texts_of_commits(git: Git, commits: list[str]) -> list[bytes]:
    specs: list[str] = []
    for c in commits:
        names = git.run("ls-tree", "-r", "--name-only", c).splitlines()
        specs += [f"{c}:{n}" for n in names if n.endswith(("dvc.lock", ".dvc"))]
    return [b for b in git.read_blobs(specs) if b is not None]


def _workspace_texts(root: Path) -> list[bytes]:
    """Lock and .dvc files of the workspace (beside each dvc.yaml, and
    through Git) and of the folders of experiments running now."""
    import posixpath

    from trails import data
    from trails.pipeline.dvcfile import find_dvcfiles

    project = Project(root)
    names = [*data.find(project)]
    names += [posixpath.join(posixpath.dirname(f), "dvc.lock") for f in find_dvcfiles(root)]
    out = [(root / n).read_bytes() for n in names if (root / n).is_file()]
    exps = root / ".dvc" / "tmp" / "exps"
    if exps.is_dir():
        for d in exps.iterdir():
            if d.name != "run" and d.is_dir():
                out += [p.read_bytes() for p in d.glob("**/dvc.lock")]
                out += [p.read_bytes() for p in d.glob("**/*.dvc")]
    return out


def referenced(project: Project, git: Git | None, commits: list[str]) -> set[str]:
    texts = _workspace_texts(project.root)
    if git is not None and commits:
        texts += _texts_of_commits(git, commits)
    keep: set[str] = set()
    for text in texts:
        try:
            doc = yamlio.loads(text.decode())
        except (TrailsError, UnicodeDecodeError):
            continue
        keep.update(_hashes_in(doc))
    files: set[str] = set()
    for value in keep:
        if value.endswith(TREE):
            tree = value.removesuffix(TREE)
            files.add(value)
            try:
                files.update(e.hash for e in core.read_tree(project.cache_dir, tree).entries)
            except (TrailsError, OSError):
                continue
        else:
            files.add(value)
    return files


def commits_to_keep(
    git: Git, *, workspace: bool, branches: bool, tags: bool, all_commits: bool
) -> list[str]:
    from trails.experiments import queue
    from trails.experiments.refs import list_exps

    keep = git.select_commits(head=workspace, branches=branches, tags=tags, all_commits=all_commits)
    exps = list_exps(git)
    chains = git.chains([e.sha for e in exps], list({e.baseline for e in exps}))
    keep += [e.sha for e in exps] + [c for cs in chains.values() for c in cs]
    keep += [e.sha for e in queue.entries(git) + queue.entries(git, failed=True)]
    return [c for c in dict.fromkeys(keep) if c]


#: A temporary file in ``cache/tmp`` this old is left by a store that was
#: killed (a running store writes to its file continuously).
STALE_TEMP_SECONDS = 3600


def _stale_temps(project: Project) -> list[Path]:
    tmp = project.cache_dir / "tmp"
    if not tmp.is_dir():
        return []
    old = time.time() - STALE_TEMP_SECONDS
    return [Path(e.path) for e in os.scandir(tmp) if e.stat(follow_symlinks=False).st_mtime < old]


def plan(project: Project, keep: set[str]) -> Plan:
    """Unreferenced objects, and temporary files that interrupted stores left."""
    root = project.cache_dir / "files" / core.ALGORITHM
    doomed = _stale_temps(project)
    size = sum(p.lstat().st_size for p in doomed)
    kept = 0
    if not root.is_dir():
        return Plan(doomed, size, 0)
    for prefix in os.scandir(root):
        if not prefix.is_dir() or len(prefix.name) != 2:
            continue
        for obj in os.scandir(prefix.path):
            if obj.name.startswith("."):
                continue
            value = prefix.name + obj.name
            if value in keep:
                kept += 1
            else:
                doomed.append(Path(obj.path))
                size += obj.stat(follow_symlinks=False).st_size
    return Plan(doomed, size, kept)


def remove(doomed: list[Path]) -> None:
    for p in doomed:
        p.unlink(missing_ok=True)
