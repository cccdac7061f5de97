"""The data files of plots, at each revision: read from the workspace, or
from commits through one ``git cat-file --batch`` for all of them
(``Git.read_blobs``), and parsed into rows (JSON, YAML, CSV, TSV)."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trails import confine, textio
from trails.errors import TrailsError
from trails.git import Git

if TYPE_CHECKING:
    from trails.plots.definitions import Cached
    from trails.project import Project

WORKSPACE = "workspace"
FORMATS = (".json", ".yaml", ".yml", ".csv", ".tsv")
IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp")


def is_image(path: str) -> bool:
    """An image plot: shown as it is, one per revision."""
    return posixpath.splitext(path)[1].lower() in IMAGES


@dataclass(frozen=True)
class Revision:
    """A revision as the user named it (``HEAD``, ``exp-1a2b3``,
    ``workspace``) and the commit it is (None: the workspace)."""

    name: str
    commit: str | None


class SourceError(TrailsError):
    """A data file that cannot be read or parsed (reported, not fatal)."""


Rows = list[dict[str, Any]]


def _number(text: str) -> Any:
    """CSV cells that are numbers become numbers, so that charts and their
    aggregates (max of a step, a loess fit) see numbers."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _column(cells: Sequence[str]) -> list[Any]:
    """``_number`` of each cell, a column at a time: the usual columns (all
    integers, or all fractions) convert in C loops. The same values: a
    cell ``int`` reads has a whole (or, past 1e308, infinite) float, so a
    column of floats without one holds no integer."""
    try:
        return list(map(int, cells))
    except ValueError:
        pass
    try:
        floats = list(map(float, cells))
    except ValueError:
        return [_number(c) for c in cells]
    if any(map(float.is_integer, floats)) or any(map(math.isinf, floats)):
        return [_number(c) for c in cells]
    return floats


def _delimited(text: str, delimiter: str, header: bool) -> Rows:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    rows = [r for r in reader if r]
    if not rows:
        return []
    names = rows[0] if header else [str(i) for i in range(len(rows[0]))]
    body = rows[1:] if header else rows
    width = len(names)
    if body and all(len(r) == width for r in body):  # a table: column by column
        columns = [_column(c) for c in zip(*body, strict=True)]
        return [dict(zip(names, r, strict=True)) for r in zip(*columns, strict=True)]
    return [dict(zip(names, (_number(c) for c in r), strict=False)) for r in body]


def _lists(blob: Any) -> Iterable[list[Any]]:
    if isinstance(blob, list):
        yield blob
    elif isinstance(blob, Mapping):
        for value in blob.values():
            if isinstance(value, Mapping):
                yield from _lists(value)
            elif isinstance(value, list):
                yield value


def _records(blob: Any) -> Rows:
    """Rows of a JSON/YAML document: every list of same-keyed mappings in
    it, merged row by row (``{"train": [...], "test": [...]}`` side by side)."""
    rows: Rows = []
    for lst in _lists(blob):
        if lst and all(isinstance(r, Mapping) for r in lst):
            keys = set(lst[0])
            if all(set(r) == keys for r in lst):
                for i, r in enumerate(lst):
                    if len(rows) <= i:
                        rows.append({})
                    rows[i].update(r)
    return rows


def parse(path: str, data: bytes, props: Mapping[str, Any]) -> Rows:
    ext = posixpath.splitext(path)[1].lower()
    if ext not in FORMATS:
        raise SourceError(f"{path}: not a plot data file (use {', '.join(FORMATS)})")
    text = textio.decode(data, path)
    if ext in (".csv", ".tsv"):
        return _delimited(text, "\t" if ext == ".tsv" else ",", props.get("header", True))
    try:
        if ext == ".json":
            return _records(json.loads(text))
        from trails import yamlio

        return _records(yamlio.loads(text, path))
    except ValueError as exc:
        raise SourceError(f"{path}: cannot parse ({exc})") from None


def _walk(root: Path, source: str) -> list[str]:
    """Files of a workspace folder, sorted, without following links out."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root / source):
        dirnames[:] = sorted(d for d in dirnames if d not in confine.PRIVATE_DIRS)
        rel = Path(dirpath).relative_to(root).as_posix()
        found += [posixpath.join(rel, f) for f in sorted(filenames)]
    return found


def expand(
    root: Path, git: Git, revisions: list[Revision], sources: list[str]
) -> dict[str, dict[str, list[str]]]:
    """``{revision: {source: [files]}}``: a file is itself, a folder its
    files (in the workspace, or in the commit's tree), nothing there an
    empty list. One ``cat-file --batch-check`` answers for every commit;
    only folders are listed (``ls-tree``)."""
    commits = [r for r in revisions if r.commit is not None]
    kinds = _kinds(git, [f"{r.commit}:{s}" for r in commits for s in sources])
    out: dict[str, dict[str, list[str]]] = {}
    for r in revisions:
        if r.commit is None:
            out[r.name] = _workspace(root, sources)
            continue
        folders = [s for s in sources if kinds.get(f"{r.commit}:{s}") == "tree"]
        files: list[str] = []
        if folders:
            listed = git.run("ls-tree", "-r", "-z", "--name-only", r.commit, "--", *folders)
            files = [f for f in listed.split("\0") if f]
        out[r.name] = {
            s: [s] if kinds.get(f"{r.commit}:{s}") == "blob"
            else [f for f in files if f.startswith(s.rstrip("/") + "/")]
            for s in sources
        }  # fmt: skip
    return out


def _workspace(root: Path, sources: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for s in sources:
        p = root / s
        if p.is_dir() and not p.is_symlink():
            out[s] = [f for f in _walk(root, s) if confine.is_confined(root, f)]
        else:
            out[s] = [s] if p.is_file() else []
    return out


def _kinds(git: Git, specs: list[str]) -> dict[str, str]:
    """``blob``, ``tree`` or ``missing`` for each ``rev:path``."""
    found = git.object_types(specs)
    return {s: t[1] if t else "missing" for s, t in zip(specs, found, strict=True)}


def read(
    root: Path, git: Git, wanted: list[tuple[Revision, str]]
) -> dict[tuple[str, str], bytes | None]:
    """The bytes of each ``(revision, file)``: workspace files from disk,
    committed ones in one ``cat-file --batch``; None when absent (or, in
    the workspace, a link that leads out of the project)."""
    out: dict[tuple[str, str], bytes | None] = {}
    committed = [(r, f) for r, f in wanted if r.commit is not None]
    real_root = root.resolve()
    for r, f in wanted:
        if r.commit is None:
            p = (root / f).resolve()
            inside = real_root in p.parents
            out[(r.name, f)] = p.read_bytes() if inside and p.is_file() else None
    blobs = git.read_blobs([f"{r.commit}:{f}" for r, f in committed])
    for (r, f), blob in zip(committed, blobs, strict=True):
        out[(r.name, f)] = blob
    return out


def _object(cache: Path, file_hash: str) -> bytes:
    from trails import core

    return Path(core.object_path(cache, file_hash)).read_bytes()


def from_cache(
    project: Project, git: Git, rev: Revision, cached: Mapping[str, Cached]
) -> dict[str, bytes]:
    """``{file: bytes}`` of cached outputs (``{source: where}``) as commit
    ``rev`` recorded them in its ``dvc.lock`` files: a file's object, or
    each file of a folder's manifest. An object not in the cache is left out."""
    from trails import core, yamlio
    from trails.pipeline import lockfile

    locks = sorted({c.lock for c in cached.values()})
    texts = dict(zip(locks, git.read_blobs([f"{rev.commit}:{lk}" for lk in locks]), strict=True))
    entries = {}
    for lock, blob in texts.items():
        if blob is not None:
            where = f"{rev.name}:{lock}"
            entries[lock] = lockfile.parse(yamlio.loads(textio.decode(blob, where), where), where)
    out: dict[str, bytes] = {}
    cache = project.cache_dir
    for source, c in cached.items():
        entry = entries.get(c.lock, {}).get(c.stage)
        state = entry.out(c.path) if entry else None
        if state is None or state.hash_name != "blake3":
            continue
        try:
            if state.is_dir:
                for e in core.read_tree(cache, state.bare_hash).entries:
                    out[f"{source}/{e.relpath}"] = _object(cache, e.hash)
            else:
                out[source] = _object(cache, state.value)
        except (OSError, TrailsError):
            continue
    return out
