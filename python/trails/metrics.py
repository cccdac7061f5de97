"""Metrics files (JSON, YAML, TOML) declared by stages: read them from the
workspace or from a Git revision, flatten them to dotted keys, diff them."""

from __future__ import annotations

import subprocess
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


def _text_at(root: Path, rev: str, path: str) -> str | None:
    if rev == WORKSPACE:
        p = root / path
        return textio.read(p, path) if p.is_file() else None
    proc = subprocess.run(
        ["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, check=False
    )
    if proc.returncode != 0:
        stderr = proc.stderr.decode(errors="replace")
        if "invalid object name" in stderr or "unknown revision" in stderr:
            raise TrailsError(
                f"'{rev}' is not a Git revision", hint="Name a commit, branch or tag."
            )
        return None
    return textio.decode(proc.stdout, f"{rev}:{path}")


def read(root: Path, rev: str, paths: list[str]) -> dict[str, dict[str, Any] | str]:
    """``{path: {key: value}}``; a file that cannot be parsed maps to its
    error message (shown, not fatal: one bad file should not hide the rest)."""
    out: dict[str, dict[str, Any] | str] = {}
    for path in paths:
        try:
            text = _text_at(root, rev, path)
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
