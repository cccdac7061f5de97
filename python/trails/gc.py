"""``trails gc``: remove cache objects nothing refers to.

What is kept: every object that the workspace's ``dvc.lock`` and ``.dvc``
files name, those of the chosen commits (``-w`` HEAD, ``-a`` branch heads,
``-T`` tags, ``-A`` every commit), of every experiment and checkpoint, of
queued entries, and of experiments running now (their temporary folders).
Experiments are never collected here: ``trails exp gc`` / ``exp remove``
drop experiments first, so no run's results disappear by surprise."""

from __future__ import annotations

import os
import stat
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
    #: What was skipped and why (links, folders where objects should be).
    warnings: list[str]


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


def _project_texts(project: Project) -> list[bytes]:
    """Lock and ``.dvc`` files of one project folder, found by the
    project's own listing (``data.find``, ``find_dvcfiles``: Git, or a walk
    that enters neither ``.git`` nor ``.dvc``); regular files only."""
    import posixpath

    from trails import data
    from trails.pipeline.dvcfile import find_dvcfiles

    names = [*data.find(project)]
    names += [posixpath.join(posixpath.dirname(f), "dvc.lock") for f in find_dvcfiles(project.root)]
    return [(project.root / n).read_bytes() for n in names if (project.root / n).is_file()]


def _workspace_texts(root: Path) -> list[bytes]:
    """Lock and .dvc files of the workspace and of the folders of
    experiments running now (``.dvc/tmp/exps/<id>/``, each a project of
    its own; ``run/`` holds only logs)."""
    out = _project_texts(Project(root))
    exps = root / ".dvc" / "tmp" / "exps"
    if exps.is_dir():
        for d in os.scandir(exps):
            if d.name != "run" and d.is_dir(follow_symlinks=False):
                out += _project_texts(Project(Path(d.path)))
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


@dataclass(frozen=True)
class Scope:
    """The commits whose data is kept beside the workspace's (``-w``
    HEAD, ``-a`` branch heads, ``-T`` tags, ``-A`` every commit)."""

    workspace: bool = False
    branches: bool = False
    tags: bool = False
    all_commits: bool = False


def commits_to_keep(git: Git, scope: Scope) -> list[str]:
    from trails.experiments import queue
    from trails.experiments.refs import list_exps

    keep = git.select_commits(head=scope.workspace, branches=scope.branches, tags=scope.tags,
                              all_commits=scope.all_commits)  # fmt: skip
    exps = list_exps(git)
    chains = git.chains([e.sha for e in exps], list({e.baseline for e in exps}))
    keep += [e.sha for e in exps] + [c for cs in chains.values() for c in cs]
    keep += [e.sha for e in queue.entries(git) + queue.entries(git, failed=True)]
    return [c for c in dict.fromkeys(keep) if c]


#: A temporary file in ``cache/tmp`` this old is left by a store that was
#: killed (a running store writes to its file continuously).
STALE_TEMP_SECONDS = 3600

_HEX = frozenset("0123456789abcdef")


def _stale_temps(project: Project) -> list[Path]:
    """Old files (or links) in ``cache/tmp``; never a folder, never entered."""
    tmp = project.cache_dir / "tmp"
    if not _real_dir(tmp):
        return []
    old = time.time() - STALE_TEMP_SECONDS
    out = []
    for e in os.scandir(tmp):
        st = e.stat(follow_symlinks=False)
        if (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)) and st.st_mtime < old:
            out.append(Path(e.path))
    return out


_LINK = "skipped '{}': a symbolic link in the cache, not followed"


def _real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def object_value(prefix: str, name: str) -> str | None:
    """The hash an entry of the object store names (``<2 hex>/<62 hex>``,
    or a tree's ``<62 hex>.dir``), or None: anything else is not an object
    and gc leaves it alone."""
    rest = name.removesuffix(TREE)
    if len(prefix) == 2 and len(rest) == 62 and _HEX.issuperset(prefix + rest):
        return prefix + name
    return None


def plan(project: Project, keep: set[str]) -> Plan:
    """Unreferenced objects, and temporary files that interrupted stores
    left. Nothing is followed: a symlinked folder (or any folder) where an
    object should be, or a link in place of a prefix folder, is skipped
    with a warning and what it points to is never looked at."""
    root = project.cache_dir / "files" / core.ALGORITHM
    doomed = _stale_temps(project)
    size = sum(p.lstat().st_size for p in doomed)
    kept = 0
    warnings = [_LINK.format(d) for d in (root.parent, root, root.parent.parent / "tmp")
                if d.is_symlink()]  # fmt: skip
    if not (_real_dir(root.parent) and _real_dir(root)):
        return Plan(doomed, size, 0, warnings)
    for prefix in os.scandir(root):
        if prefix.is_symlink():
            warnings.append(_LINK.format(prefix.path))
            continue
        if not prefix.is_dir(follow_symlinks=False) or len(prefix.name) != 2:
            continue
        for obj in os.scandir(prefix.path):
            value = object_value(prefix.name, obj.name)
            if value is None:
                continue
            st = obj.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                warnings.append(f"skipped '{obj.path}': not a regular file")
            elif value in keep:
                kept += 1
            else:
                doomed.append(Path(obj.path))
                size += st.st_size
    return Plan(doomed, size, kept, warnings)


def planned(project: Project, git: Git | None, scope: Scope) -> Plan:
    """What ``gc`` would remove now (``git`` None: a project without Git
    keeps only what its workspace names)."""
    commits = commits_to_keep(git, scope) if git is not None else []
    return plan(project, referenced(project, git, commits))


def collect(project: Project, git: Git | None, scope: Scope) -> Plan:
    """Plan again under the cache's gc lock and remove: a run may have
    stored (and named) more since the last plan, and none may store while
    objects go. Refused, with nothing removed, while anything stores."""
    from trails import cachelock

    with cachelock.collecting(project.cache_dir):
        p = planned(project, git, scope)
        remove(p.doomed)
    return p


def remove(doomed: list[Path]) -> None:
    """Unlink each path relative to its folder opened without following a
    link, so a folder swapped for a symlink since ``plan`` makes the unlink
    fail rather than reach elsewhere (``unlink`` never follows the last
    component)."""
    for p in doomed:
        try:
            fd = os.open(p.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            os.unlink(p.name, dir_fd=fd)
        except (FileNotFoundError, IsADirectoryError):
            pass
        finally:
            os.close(fd)
