"""What ``exp show`` and ``exp diff`` display: the params and metrics of the
workspace and of commits (baselines, experiments).

Which files: the params files the stages read (plus ``params.yaml`` if it
exists) and the stages' metrics files, as the workspace's pipeline declares
them. Per commit they are read through one ``git cat-file --batch``; a
metrics file kept in the cache (not in Git) is found through that commit's
``dvc.lock``. Results are cached per commit in ``.dvc/tmp/trails/``:
commits never change, so a repeated ``exp show`` reads no Git object twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from trails import params as params_mod
from trails.errors import TrailsError
from trails.git import Git
from trails.pipeline.graph import Graph
from trails.project import Project
from trails.versioned import Record, RecordError, decode

Values = dict[str, dict[str, Any]]  # file -> flat key -> value

# ``exp show --json``'s document (the reference tool's shape) is typed in
# ``experiments/document.py``; what it needs per commit beyond params and
# metrics (the lock's and ``.dvc`` files' entries) is cached here as
# ``Recorded``.


@dataclass(frozen=True)
class Files:
    params: tuple[str, ...]
    metrics: tuple[str, ...]
    #: params keys the stages depend on, per file (for --param-deps)
    deps: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> str:
        return json.dumps([self.params, self.metrics])


def files_of(project: Project, graph: Graph) -> Files:
    params_files: dict[str, None] = {}
    deps: dict[str, list[str]] = {}
    if (project.root / "params.yaml").exists():
        params_files["params.yaml"] = None
    for s in graph.stages:
        for p in s.params:
            params_files[p.repo_path] = None
            deps.setdefault(p.repo_path, []).extend(p.keys)
    metrics = {o.repo_path: None for s in graph.stages for o in s.outs if o.kind == "metrics"}
    return Files(
        tuple(params_files), tuple(metrics), {k: tuple(dict.fromkeys(v)) for k, v in deps.items()}
    )


def _parse(text: bytes | str | None, path: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        raw = text.decode() if isinstance(text, bytes) else text
        return dict(params_mod.flatten(params_mod.loads(raw, path, shared=True)))
    except (TrailsError, UnicodeDecodeError):
        return None


class Entry(msgspec.Struct, array_like=True):
    """One dep or out as a lock or ``.dvc`` file records it: ``path`` as
    written there (relative to the stage's ``wdir`` or the file's folder)."""

    path: str
    hash: str | None = None
    size: int | None = None
    nfiles: int | None = None


class Recorded(msgspec.Struct):
    """What a commit's ``dvc.lock`` and ``.dvc`` files record, for the deps
    and outs of ``exp show --json``: ``deps``/``outs`` by ``LOCK:STAGE``
    (outs also by ``.dvc`` file); ``files``, which files were read, so a
    new lock or ``.dvc`` file in the workspace makes it read again."""

    files: tuple[str, ...]
    deps: dict[str, list[Entry]]
    outs: dict[str, list[Entry]]


class Snapshot(msgspec.Struct):
    """The params and metrics of the workspace or of one commit; what its
    lock files record once ``exp show --json`` has asked (None before)."""

    params: Values
    metrics: Values
    recorded: Recorded | None = None


def _entries(items: Any) -> list[Entry]:
    out = []
    for d in items if isinstance(items, list) else ():
        if isinstance(d, dict) and isinstance(d.get("path"), str):
            name = d.get("hash") or ("md5" if "md5" in d else "blake3")
            value = d.get(name)
            size, nfiles = d.get("size"), d.get("nfiles")
            out.append(Entry(d["path"], str(value) if value else None,
                             size if isinstance(size, int) else None,
                             nfiles if isinstance(nfiles, int) else None))  # fmt: skip
    return out


def recorded(texts: dict[str, bytes | None]) -> Recorded:
    """``texts`` (lock and ``.dvc`` files by path, None where absent) read
    as ``Recorded``; an unreadable file records nothing (``exp show`` is a
    view: it must not fail on one damaged commit)."""
    from trails import yamlio

    deps: dict[str, list[Entry]] = {}
    outs: dict[str, list[Entry]] = {}
    for path, text in texts.items():
        if not text:
            continue
        try:
            doc = yamlio.loads(text.decode())
        except (TrailsError, UnicodeDecodeError):
            continue
        if not isinstance(doc, dict):
            continue
        if path.endswith(".dvc"):
            outs[path] = _entries(doc.get("outs"))[:1]
            continue
        stages = doc.get("stages")
        for name, entry in stages.items() if isinstance(stages, dict) else ():
            if isinstance(entry, dict):
                deps[f"{path}:{name}"] = _entries(entry.get("deps"))
                outs[f"{path}:{name}"] = _entries(entry.get("outs"))
    return Recorded(tuple(texts), deps, outs)


def record_files(graph: Graph, dvcfiles: list[str]) -> tuple[str, ...]:
    """The lock files of the pipeline and the ``.dvc`` files: what the
    deps and outs of a commit (or the workspace) are read from."""
    return tuple(dict.fromkeys([s.lock_path for s in graph.stages] + sorted(dvcfiles)))


def read_files(root: Path, files: tuple[str, ...]) -> Recorded:
    """``Recorded`` of a folder (the workspace, a running experiment's)."""

    def text(rel: str) -> bytes | None:
        try:
            return (root / rel).read_bytes()
        except OSError:
            return None

    return recorded({f: text(f) for f in files})


class ShowCache(Record):
    """``exp-show-cache.json``: each commit's snapshot, for the params and
    metrics ``files`` (``Files.key``) it was read for."""

    files: str
    commits: dict[str, Snapshot]
    #: ``(committer time, first parent or "")`` of each commit listed:
    #: with them a warm ``exp show`` lists refs without reading commits.
    facts: dict[str, tuple[int, str]] = msgspec.field(default_factory=dict)


def workspace(project: Project, files: Files) -> Snapshot:
    return read_folder(project.root, files)


def read_folder(root: Path, files: Files) -> Snapshot:
    """The params and metrics files of a folder: the workspace, or a
    running experiment's folder (its latest metrics)."""

    def read(path: str) -> dict[str, Any] | None:
        p = root / path
        try:
            return _parse(p.read_text(encoding="utf-8"), path) if p.is_file() else None
        except (OSError, UnicodeDecodeError):
            return None

    return Snapshot(
        params={f: v for f in files.params if (v := read(f)) is not None},
        metrics={f: v for f in files.metrics if (v := read(f)) is not None},
    )


class CommitReader:
    """Params and metrics of commits, cached on disk per commit. A cache it
    cannot read (a newer trails wrote it, it is damaged, or it is for other
    files) is discarded and rebuilt."""

    def __init__(self, project: Project, git: Git, files: Files) -> None:
        self.project, self.git, self.files = project, git, files
        self.path = project.tmp_dir / "trails" / "exp-show-cache.json"
        self.cache: dict[str, Snapshot] = {}
        self.facts: dict[str, tuple[int, str]] = {}
        self.dirty = False
        try:
            doc = decode(ShowCache, self.path.read_bytes(), str(self.path), "")
            if doc.files == files.key:
                self.cache, self.facts = doc.commits, doc.facts
        except (OSError, RecordError):
            pass

    def refs(self, prefix: str) -> tuple[list[tuple[str, str, int]], dict[str, str]]:
        """``Git.refs_and_parents(prefix)``, with the commits' facts from
        the cache: a listing of names and hashes alone (packed refs: one
        file) unless some commit is new, then one full listing."""
        listed = self.git.ref_shas(prefix)
        if any(sha not in self.facts for _, sha in listed):
            rows, parents = self.git.refs_and_parents(prefix)
            for _, sha, ts in rows:
                self.facts[sha] = (ts, parents.get(sha, ""))
            self.dirty = True
            return rows, parents
        facts = self.facts
        rows = [(ref, sha, facts[sha][0]) for ref, sha in listed]
        return rows, {sha: facts[sha][1] for _, sha in listed if facts[sha][1]}

    def commit_times(self, shas: list[str]) -> dict[str, int]:
        """``Git.commit_times``, cached."""
        todo = [s for s in shas if s not in self.facts]
        if todo:
            for sha, ts in self.git.commit_times(todo).items():
                self.facts[sha] = (ts, "")
            self.dirty = True
        return {s: self.facts[s][0] for s in shas if s in self.facts}

    def read(self, shas: list[str]) -> dict[str, Snapshot]:
        todo = [s for s in dict.fromkeys(shas) if s not in self.cache]
        if todo:
            self._load(todo)
        return {s: self.cache[s] for s in shas}

    def read_recorded(self, shas: list[str], files: tuple[str, ...]) -> None:
        """Fill in ``Snapshot.recorded`` of ``shas`` (already read) from
        their ``files`` (lock and ``.dvc`` files): one ``cat-file --batch``
        for the commits not cached with the same files."""
        todo = [s for s in dict.fromkeys(shas)
                if (r := self.cache[s].recorded) is None or r.files != files]  # fmt: skip
        if not todo:
            return
        blobs = self.git.read_blobs([f"{sha}:{p}" for sha in todo for p in files])
        n = len(files)
        for i, sha in enumerate(todo):
            self.cache[sha].recorded = recorded(dict(zip(files, blobs[i * n : (i + 1) * n],
                                                         strict=True)))  # fmt: skip
        self.dirty = True

    def _load(self, shas: list[str]) -> None:
        paths = [*self.files.params, *self.files.metrics]
        blobs = self.git.read_blobs([f"{sha}:{p}" for sha in shas for p in paths])
        n = len(paths)
        lacking: list[str] = []  # commits with a metrics file not in Git
        for i, sha in enumerate(shas):
            got = dict(zip(paths, blobs[i * n : (i + 1) * n], strict=True))
            prm = {f: v for f in self.files.params if (v := _parse(got[f], f)) is not None}
            met = {f: v for f in self.files.metrics if (v := _parse(got[f], f)) is not None}
            self.cache[sha] = Snapshot(params=prm, metrics=met)
            if len(met) < len(self.files.metrics):
                lacking.append(sha)
        # Their lock says where the cache keeps it: read only for them (a
        # third of the blobs otherwise, for the usual metrics kept in Git).
        locks = self.git.read_blobs([f"{sha}:dvc.lock" for sha in lacking])
        for sha, lock in zip(lacking, locks, strict=True):
            met = self.cache[sha].metrics
            for f in self.files.metrics:
                if f not in met and (v := _parse(self._cached_metric(lock, f), f)) is not None:
                    met[f] = v
        self.dirty = True

    def _cached_metric(self, lock_text: bytes | None, path: str) -> bytes | None:
        """A metrics file kept in the cache: its hash from the commit's lock."""
        if not lock_text:
            return None
        from trails import core, yamlio

        try:
            lock = yamlio.loads(lock_text.decode())
            for entry in (lock.get("stages") or {}).values():
                for out in entry.get("outs") or []:
                    if out.get("path") == path and out.get("hash") == core.ALGORITHM:
                        obj = Path(core.object_path(self.project.cache_dir, out[core.ALGORITHM]))
                        return obj.read_bytes() if obj.is_file() else None
        except (TrailsError, AttributeError, TypeError, UnicodeDecodeError):
            return None
        return None

    def save(self) -> None:
        if not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        doc = ShowCache(files=self.files.key, commits=self.cache, facts=self.facts)
        # Values YAML or TOML parsed that JSON has no type for: as text.
        tmp.write_bytes(msgspec.json.encode(doc, enc_hook=str))
        os.replace(tmp, self.path)


def tracked(key: str, deps: tuple[str, ...]) -> bool:
    """Whether a flattened params key is one a stage depends on (itself or
    under a declared key): ``--param-deps`` of ``exp show`` and ``exp diff``."""
    return any(key == d or key.startswith(d + ".") for d in deps)


def diff(
    a: Snapshot, b: Snapshot, files: Files, *, all_: bool, param_deps: bool
) -> list[tuple[str, str, str, Any, Any, Any]]:
    """``(section, file, key, old, new, change)`` for params and metrics
    that differ (all with ``all_``); ``change`` is new - old for numbers."""
    from trails import metrics

    rows = []
    for section in ("params", "metrics"):
        pairs = metrics.diff(getattr(a, section), getattr(b, section), all_=all_, missing="-")
        for f, k, x, y, change in pairs:
            if param_deps and section == "params" and not tracked(k, files.deps.get(f, ())):
                continue
            rows.append((section, f, k, x, y, change))
    return rows
