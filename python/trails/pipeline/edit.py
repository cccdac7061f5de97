"""Editing ``dvc.yaml`` by hand's rules: ruamel.yaml round-trip, so the
user's comments, key order and layout survive ``stage add``. The new file is
checked (parsed, graph built) before it replaces the old one; a failed check
leaves the file as it was."""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trails import files, textio
from trails.errors import PipelineError


@dataclass(frozen=True)
class StageSpec:
    """What ``trails stage add`` was asked for (one field per flag)."""

    name: str
    cmd: str
    deps: Sequence[str] = ()
    params: Sequence[str] = ()
    outs: Sequence[str] = ()
    outs_no_cache: Sequence[str] = ()
    outs_persist: Sequence[str] = ()
    outs_persist_no_cache: Sequence[str] = ()
    checkpoints: Sequence[str] = ()
    metrics: Sequence[str] = ()
    metrics_no_cache: Sequence[str] = ()
    plots: Sequence[str] = ()
    plots_no_cache: Sequence[str] = ()
    wdir: str | None = None
    always_changed: bool = False
    desc: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _params(values: Sequence[str]) -> list[Any]:
    """``-p lr,epochs -p other.toml:a,b`` -> ``[lr, epochs, {other.toml: [a, b]}]``."""
    out: list[Any] = []
    for value in values:
        file, sep, keys = value.partition(":")
        if sep:
            names = [k for k in keys.split(",") if k]
            out.append({file: names or None})
        else:
            out += [k for k in value.split(",") if k]
    return out


def _outs(
    plain: Sequence[str], flagged: Sequence[tuple[Sequence[str], dict[str, bool]]]
) -> list[Any]:
    out: list[Any] = list(plain)
    for paths, flags in flagged:
        out += [{p: dict(flags)} for p in paths]
    return out


def stage_body(spec: StageSpec) -> dict[str, Any]:
    body: dict[str, Any] = {"cmd": spec.cmd}
    if spec.wdir:
        body["wdir"] = spec.wdir
    if spec.deps:
        body["deps"] = list(spec.deps)
    if spec.params:
        body["params"] = _params(spec.params)
    outs = _outs(
        spec.outs,
        [
            (spec.outs_no_cache, {"cache": False}),
            (spec.outs_persist, {"persist": True}),
            (spec.outs_persist_no_cache, {"persist": True, "cache": False}),
            (spec.checkpoints, {"checkpoint": True}),
        ],
    )
    if outs:
        body["outs"] = outs
    metrics = _outs(spec.metrics, [(spec.metrics_no_cache, {"cache": False})])
    if metrics:
        body["metrics"] = metrics
    plots = _outs(spec.plots, [(spec.plots_no_cache, {"cache": False})])
    if plots:
        body["plots"] = plots
    if spec.always_changed:
        body["always_changed"] = True
    if spec.desc:
        body["desc"] = spec.desc
    return body


def _yaml() -> Any:
    from ruamel.yaml import YAML

    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096
    return y


def with_stage(text: str, name: str, body: dict[str, Any], *, force: bool, where: str) -> str:
    """``text`` (a dvc.yaml) with stage ``name`` added or, with ``force``,
    replaced; everything else kept as written."""
    from ruamel.yaml.comments import CommentedMap

    y = _yaml()
    doc = y.load(text) if text.strip() else None
    if doc is None:
        doc = CommentedMap()
    if not isinstance(doc, dict):
        raise PipelineError(f"{where}: the top level is not a mapping; cannot add a stage")
    stages = doc.get("stages")
    if stages is None:
        stages = doc["stages"] = CommentedMap()
    if not isinstance(stages, dict):
        raise PipelineError(f"{where}: 'stages' is not a mapping; cannot add a stage")
    if name in stages and not force:
        raise PipelineError(
            f"{where}: stage '{name}' already exists",
            hint="Use -f to overwrite it, or choose another name with -n.",
        )
    stages[name] = body
    buf = io.StringIO()
    y.dump(doc, buf)
    return buf.getvalue()


def replace_file(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        os.replace(tmp, path)
        files.forget()
    finally:
        tmp.unlink(missing_ok=True)


def add_to_project(root: Path, cwd: Path, spec: StageSpec, *, force: bool) -> str:
    """Add the stage to ``dvc.yaml`` in ``cwd``; returns that file's
    repo-relative path. The pipeline is re-read and its graph checked
    before the command succeeds; on any error the file is put back."""
    from trails.pipeline import dvcfile
    from trails.pipeline.graph import Graph

    rel = Path(os.path.relpath(cwd.resolve(), root)).as_posix()
    relpath = "dvc.yaml" if rel == "." else f"{rel}/dvc.yaml"
    for bad in ":/@\\":
        if bad in spec.name:
            raise PipelineError(f"stage name '{spec.name}' may not contain '{bad}'")
    path = root / relpath
    old = textio.read(path, relpath) if path.exists() else None
    new = with_stage(old or "", spec.name, stage_body(spec), force=force, where=relpath)
    replace_file(path, new)
    try:
        Graph(dvcfile.load_all(root), root)
    except BaseException:
        if old is None:
            path.unlink(missing_ok=True)
        else:
            replace_file(path, old)
        raise
    return relpath


def ignore_outputs(root: Path, dvcfile_path: str, name: str) -> list[str]:
    """Write the ``.gitignore`` entries of stage ``name``'s cached outputs
    now, as the reference tool's ``stage add`` does: a ``git add -A`` before
    the first run must not commit a model. Returns the ``.gitignore`` files
    changed."""
    from trails import gitignore
    from trails.confine import confined
    from trails.pipeline import dvcfile
    from trails.pipeline.graph import Graph

    graph = Graph(dvcfile.load_all(root), root)
    changed: list[str] = []
    for stage in graph.stages:
        if stage.dvcfile != dvcfile_path or stage.name != name:
            continue
        for out in stage.cached_outs:
            path = confined(root, out.repo_path, source=f"{dvcfile_path}:{name}")
            g = gitignore.ignore(root, path)
            if g and g not in changed:
                changed.append(g)
    return changed
