"""Metrics files (JSON, YAML, TOML) declared by stages: read them from the
workspace or from a Git revision, flatten them to dotted keys, diff them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from trails import params, textio
from trails.errors import TrailsError
from trails.pipeline.graph import Graph

WORKSPACE = "workspace"


def metric_paths(graph: Graph) -> list[str]:
    """Repo-relative paths of every stage's ``metrics`` outputs."""
    return list(
        dict.fromkeys(o.repo_path for s in graph.stages for o in s.outs if o.kind == "metrics")
    )


def read(root: Path, rev: str, paths: list[str]) -> dict[str, dict[str, Any] | str]:
    """``{path: {key: value}}``; a file that cannot be parsed maps to its
    error message (shown, not fatal: one bad file should not hide the rest)."""
    return read_revs(root, [rev], paths)[0]


def read_revs(
    root: Path, revs: list[str], paths: list[str]
) -> list[dict[str, dict[str, Any] | str]]:
    """``read`` of each revision; the files of every Git revision (and
    whether each revision exists) come through one ``cat-file --batch``."""
    from trails.git import Git

    committed = [r for r in dict.fromkeys(revs) if r != WORKSPACE]
    specs = [f"{r}^{{commit}}" for r in committed]
    specs += [f"{r}:{p}" for r in committed for p in paths]
    objects = Git(root).read_objects(specs)
    for rev, (kind, _) in zip(committed, objects, strict=False):
        if kind != "commit":
            raise TrailsError(
                f"'{rev}' is not a Git revision", hint="Name a commit, branch or tag."
            )
    blobs = [data if kind == "blob" else None for kind, data in objects[len(committed) :]]
    n = len(paths)
    texts = {r: blobs[i * n : (i + 1) * n] for i, r in enumerate(committed)}
    return [_parsed(root, rev, paths, texts.get(rev)) for rev in revs]


def _parsed(
    root: Path, rev: str, paths: list[str], blobs: list[bytes | None] | None
) -> dict[str, dict[str, Any] | str]:
    """The metrics of one revision: from ``blobs`` (its files' contents, in
    the order of ``paths``), or from the workspace when None."""
    out: dict[str, dict[str, Any] | str] = {}
    for i, path in enumerate(paths):
        try:
            if blobs is None:
                p = root / path
                text = textio.read(p, path) if p.is_file() else None
            else:
                data = blobs[i]
                text = None if data is None else textio.decode(data, f"{rev}:{path}")
        except textio.TextFileError as exc:
            out[path] = str(exc)
            continue
        if text is None:
            continue
        try:
            out[path] = dict(params.flatten(params.loads(text, path)))
        except TrailsError as exc:
            out[path] = str(exc)
    return out


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def diff(
    old: Mapping[str, Mapping[str, Any] | str],
    new: Mapping[str, Mapping[str, Any] | str],
    *,
    all_: bool,
    missing: Any = None,
) -> list[tuple[str, str, Any, Any, Any]]:
    """Rows ``(path, key, old, new, change)``; unchanged rows only with
    ``all_``; ``missing`` stands for a key absent on one side; ``change`` is
    new - old for numbers. (``exp diff`` and ``params diff`` use it too.)"""
    rows = []
    for path in dict.fromkeys([*old, *new]):
        a, b = old.get(path, {}), new.get(path, {})
        a = a if isinstance(a, Mapping) else {}
        b = b if isinstance(b, Mapping) else {}
        for key in dict.fromkeys([*a, *b]):
            va: Any = a.get(key, missing)
            vb: Any = b.get(key, missing)
            if va == vb and not all_:
                continue
            change = None
            if _is_number(va) and _is_number(vb):
                change = vb - va
            rows.append((path, key, va, vb, change))
    return rows
