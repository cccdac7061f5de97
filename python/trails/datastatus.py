"""``trails data status``: tracked data (``.dvc`` files and cached stage
outputs) compared three ways, in the reference tool's JSON shape
(``dvc data status --granular --unchanged --json``, which the VS Code DVC
extension reads: ``DataStatusOutput`` in its ``contract.ts``):

- ``committed``: what the workspace's lock and ``.dvc`` files record
  against what HEAD's record (changes not committed to Git yet);
- ``uncommitted``: the files on disk against what the workspace's lock and
  ``.dvc`` files record (changes not recorded yet: ``trails commit``/``add``);
  ``unknown``: recorded with a hash kind trails does not compute (md5);
- ``not_in_cache``: recorded objects the cache lacks;
- ``unchanged`` (``--unchanged``): recorded and on disk alike.

Folders are named with a trailing ``/``; ``--granular`` names the files
inside a changed folder instead (through the folder's manifests: the
recorded one from the cache, the one on disk from the core's scan). Empty
sections are left out, as the reference tool does."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable
from typing import TYPE_CHECKING

import msgspec

from trails import core
from trails.errors import TrailsError
from trails.experiments.show import Recorded, read_files, record_files, recorded

if TYPE_CHECKING:
    from trails.git import Git
    from trails.pipeline.graph import Graph
    from trails.project import Project


class Renamed(msgspec.Struct):
    new: str
    old: str


class Changes(msgspec.Struct, omit_defaults=True):
    added: list[str] = []
    deleted: list[str] = []
    modified: list[str] = []
    renamed: list[Renamed] = []
    unknown: list[str] = []

    def __bool__(self) -> bool:
        return bool(self.added or self.deleted or self.modified or self.renamed or self.unknown)


class DataStatus(msgspec.Struct, omit_defaults=True):
    committed: Changes | None = None
    not_in_cache: list[str] = []
    unchanged: list[str] = []
    uncommitted: Changes | None = None


#: repo path -> (hash kind, hash value as recorded: ``.dir`` for a folder)
Record = dict[str, tuple[str, str]]


def _paths(graph: Graph, rec: Recorded, dvcfiles: Iterable[str]) -> Record:
    """What ``rec`` records for the cached outputs of ``graph`` and the
    ``.dvc`` files, by repo path."""
    from trails.pipeline.stage import join

    out: Record = {}
    for s in graph.stages:
        cached = {o.repo_path for o in s.outs if o.cache}
        for e in rec.outs.get(f"{s.lock_path}:{s.name}", []):
            path = join(s.wdir, e.path)
            if path in cached and e.hash:
                out[path] = (_kind(e.hash), e.hash)
    for f in dvcfiles:
        for e in rec.outs.get(f, []):
            if e.hash:
                out[join(posixpath.dirname(f) or ".", e.path)] = (_kind(e.hash), e.hash)
    return out


def _kind(value: str) -> str:
    """The hash kind of a recorded value: blake3's are 64 hex digits, the
    reference tool's md5 32 (``Entry`` keeps the value, not the kind)."""
    return core.ALGORITHM if len(value.removesuffix(".dir")) == 64 else "md5"


def _name(path: str, value: str) -> str:
    return path + "/" if value.endswith(".dir") else path


def _manifest(project: Project, value: str) -> bytes | None:
    try:
        return core.read_tree(project.cache_dir, value.removesuffix(".dir")).manifest
    except (TrailsError, OSError):
        return None


def _inside(project: Project, path: str, old: str, new: str, changes: Changes) -> bool:
    """The files that differ between two recorded folders; False if a
    manifest is not in the cache (the folder is then named whole)."""
    a, b = _manifest(project, old), _manifest(project, new)
    if a is None or b is None:
        return False
    d = core.diff_manifests(a, b)
    changes.added += [f"{path}/{e.relpath}" for e in d.added]
    changes.modified += [f"{path}/{e.relpath}" for e in d.modified]
    changes.deleted += [f"{path}/{r}" for r in d.deleted]
    return True


def _committed(project: Project, head: Record, now: Record, granular: bool) -> Changes:
    c = Changes()
    for path in sorted(head.keys() | now.keys()):
        before, after = head.get(path), now.get(path)
        if before == after:
            continue
        if before is None and after is not None:
            c.added.append(_name(path, after[1]))
        elif after is None and before is not None:
            c.deleted.append(_name(path, before[1]))
        elif before is not None and after is not None:
            dirs = before[1].endswith(".dir") and after[1].endswith(".dir")
            if not (granular and dirs and _inside(project, path, before[1], after[1], c)):
                c.modified.append(_name(path, after[1]))
    return c


def _uncommitted(project: Project, now: Record, granular: bool, unchanged: list[str]) -> Changes:
    c = Changes()
    paths = sorted(now)
    hashes = core.hash_paths([project.root / p for p in paths], project.index_path)
    for path, actual in zip(paths, hashes, strict=True):
        kind, value = now[path]
        if kind != core.ALGORITHM:
            c.unknown.append(_name(path, value))
        elif actual is None:
            c.deleted.append(_name(path, value))
        elif actual.hash == value.removesuffix(".dir") and actual.is_dir == value.endswith(".dir"):
            if granular and actual.manifest is not None:
                unchanged += [f"{path}/{e.relpath}" for e in core.parse_manifest(actual.manifest)]
            else:
                unchanged.append(_name(path, value))
        elif granular and actual.manifest is not None and value.endswith(".dir"):
            before = _manifest(project, value)
            if before is None:
                c.modified.append(path + "/")
                continue
            d = core.diff_manifests(before, actual.manifest)
            c.added += [f"{path}/{e.relpath}" for e in d.added]
            c.modified += [f"{path}/{e.relpath}" for e in d.modified]
            c.deleted += [f"{path}/{r}" for r in d.deleted]
            changed = {e.relpath for e in d.added + d.modified}
            unchanged += [f"{path}/{e.relpath}" for e in core.parse_manifest(actual.manifest)
                          if e.relpath not in changed]  # fmt: skip
        else:
            c.modified.append(_name(path, value))
    return c


def _not_in_cache(project: Project, now: Record, granular: bool) -> list[str]:
    missing = []
    for path, (kind, value) in sorted(now.items()):
        if kind != core.ALGORITHM:
            continue
        bare = value.removesuffix(".dir")
        if not value.endswith(".dir"):
            if not os.path.isfile(core.object_path(project.cache_dir, bare)):
                missing.append(path)
            continue
        manifest = _manifest(project, value)
        if manifest is None:
            missing.append(path + "/")
        elif granular:
            cache = project.cache_dir
            missing += [f"{path}/{e.relpath}" for e in core.parse_manifest(manifest)
                        if not os.path.isfile(core.object_path(cache, e.hash))]  # fmt: skip
    return missing


def status(project: Project, git: Git, *, granular: bool, unchanged: bool) -> DataStatus:
    """The data status of the workspace against HEAD (no HEAD yet: every
    recorded entry is ``committed.added``)."""
    from trails import data
    from trails.pipeline import load_graph

    graph = load_graph(project)
    dvcfiles = data.find(project)
    files = record_files(graph, dvcfiles)
    now = _paths(graph, read_files(project.root, files), dvcfiles)
    head_sha = git.rev_parse("HEAD") if project.has_scm else None
    head: Record = {}
    if head_sha:
        blobs = git.read_blobs([f"{head_sha}:{f}" for f in files])
        head = _paths(graph, recorded(dict(zip(files, blobs, strict=True))), dvcfiles)
    same: list[str] = []
    result = DataStatus(
        committed=_committed(project, head, now, granular) or None,
        not_in_cache=_not_in_cache(project, now, granular),
        uncommitted=_uncommitted(project, now, granular, same) or None,
    )
    if unchanged:
        result.unchanged = same
    return result
