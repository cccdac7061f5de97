"""Which plots a project declares: ``dvc.yaml``'s top-level ``plots:`` and
the ``plots`` outputs of its stages, each with its data files and its
display properties, as the reference tool reads them.

A top-level entry is a path (``logs/loss.csv``, relative to its
``dvc.yaml``) or a one-entry mapping ``{id: {x, y, template, title,
x_label, y_label, header}}`` whose ``y`` (and ``x``) may name files:
``{y: {a.csv: loss, b.json: [acc, f1]}}``; its id is then only a name. A
stage's plot output is a path with the same properties. A path may be a
folder: each file in it is a plot of its own, with the folder's properties.

Ids are as written; when the same id is declared in several pipeline files
(a stage output counts as declared nowhere), each gets its file as prefix
(``dvc.yaml::loss.csv``), as the reference tool names them. Every path is
confined to the project (``confine.confined``): a plot reads, never writes,
but a crafted path must not make trails read ``~/.ssh`` into a chart.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from trails import confine
from trails.errors import PipelineError, TrailsError

if TYPE_CHECKING:
    from trails.project import Project

PROPS = ("x", "y", "template", "title", "x_label", "y_label", "header")


@dataclass(frozen=True)
class Definition:
    """One declared plot. ``sources`` are repo-relative data paths (files or
    folders); ``props`` has ``x``/``y`` as written but with file keys made
    repo-relative; ``path_id``: the id is itself the data path."""

    id: str
    config: str
    props: dict[str, Any] = field(default_factory=dict, hash=False)
    sources: tuple[str, ...] = ()
    path_id: bool = True
    cached: Cached | None = None
    """Where a commit records a cached stage output (its bytes are in the
    cache, not in the commit's tree)."""


@dataclass(frozen=True)
class Cached:
    lock: str
    stage: str
    path: str


def _where(config: str, lines: Any, *path: Any) -> str:
    line = lines.of(*path, default=None) if lines is not None else None
    return f"{config}:{line}" if line else config


def _path(project: Project, base: str, rel: Any, where: str) -> str:
    if not isinstance(rel, str) or not rel:
        raise PipelineError(f"{where}: a plot's file must be a path, not {rel!r}")
    return confine.confined(project.root, posixpath.join(base, rel), source=where)


def _checked_props(opts: Any, where: str) -> dict[str, Any]:
    if opts is None:
        return {}
    if not isinstance(opts, Mapping):
        raise PipelineError(f"{where}: a plot's properties must be a mapping")
    from trails.errors import did_you_mean

    for key in opts:
        if key not in PROPS:
            raise PipelineError(
                f"{where}: unknown plot property '{key}'",
                hint=did_you_mean(str(key), PROPS, otherwise=f"Use {', '.join(PROPS)}."),
            )
    return dict(opts)


def _axis_files(project: Project, base: str, props: dict[str, Any], where: str) -> list[str]:
    """Make the file keys of ``x``/``y`` repo-relative; return them (y's first)."""
    files: list[str] = []
    for axis in ("y", "x"):
        value = props.get(axis)
        if isinstance(value, Mapping):
            mapped = {_path(project, base, f, where): v for f, v in value.items()}
            for f, v in mapped.items():
                fields = v if isinstance(v, list) else [v]
                if not fields or not all(isinstance(x, str) for x in fields):
                    raise PipelineError(f"{where}: {axis} of '{f}' must be a field or a list")
            props[axis] = mapped
            files += [f for f in mapped if f not in files]
        elif value is not None and not isinstance(value, str):
            raise PipelineError(f"{where}: '{axis}' must be a field name or {{file: field}}")
    return files


def _has_stage_plots(data: Any) -> bool:
    """Whether a pipeline file's stages (or their ``do``) declare plots: if
    none does, the stage graph need not be built at all."""
    stages = data.get("stages") if isinstance(data, Mapping) else None
    if not isinstance(stages, Mapping):
        return False
    bodies = [b.get("do", b) if isinstance(b, Mapping) else None for b in stages.values()]
    return any(isinstance(b, Mapping) and "plots" in b for b in bodies)


def _top_level(
    project: Project, config: str, text: str | None = None
) -> tuple[list[Definition], bool]:
    """The file's top-level plots, and whether its stages declare some;
    ``text``: the file as a revision holds it, instead of the workspace's."""
    data, lines = _parsed(project, config, text)
    entries = data.get("plots") if isinstance(data, Mapping) else None
    if entries is None:
        return [], _has_stage_plots(data)
    if not isinstance(entries, list):
        raise PipelineError(f"{_where(config, lines, 'plots')}: 'plots' must be a list")
    base = posixpath.dirname(config)
    out = []
    for i, item in enumerate(entries):
        where = _where(config, lines, "plots", i)
        if isinstance(item, str):
            plot_id, opts = item, None
        elif isinstance(item, Mapping) and len(item) == 1:
            ((plot_id, opts),) = item.items()
        else:
            raise PipelineError(f"{where}: a plot is a path or a one-entry mapping {{id: props}}")
        props = _checked_props(opts, where)
        files = _axis_files(project, base, props, where)
        if isinstance(props.get("y"), Mapping):
            out.append(Definition(str(plot_id), config, props, tuple(files), path_id=False))
        else:
            own = _path(project, base, plot_id, where)
            out.append(Definition(str(plot_id), config, props, (own, *files)))
    return out, _has_stage_plots(data)


def _parsed(project: Project, config: str, text: str | None) -> tuple[Any, Any]:
    """The file (or ``text``) parsed, through the memo of parsed texts
    (``yamlmemo``: PyYAML is not even loaded while the texts are known)."""
    from trails import textio, yamlmemo

    if text is None:
        text = textio.read(project.root / config, config)
    try:
        return yamlmemo.of(project.tmp_dir).load_with_lines(text, config)
    except TrailsError as exc:
        from trails.yamlio import YamlError

        if not isinstance(exc, YamlError):
            raise
        raise PipelineError(str(exc), hint=exc.hint) from None


#: A stage output's own flags, beside its plot properties.
_OUT_FLAGS = ("cache", "persist", "remote", "push", "desc", "type", "labels", "meta")


def _written_stage_plots(project: Project, config: str, data: Any) -> list[Definition] | None:
    """The stage plots of a pipeline file as a revision holds it, read as
    written; None when that cannot be done without the stage graph (a
    ``foreach``/``matrix`` or a ``${}``): the workspace's are used then."""
    stages = data.get("stages") if isinstance(data, Mapping) else None
    base = posixpath.dirname(config)
    lock = posixpath.join(base, "dvc.lock")
    out = []
    for name, body in stages.items() if isinstance(stages, Mapping) else ():
        if not isinstance(body, Mapping) or "plots" not in body:
            continue
        if "foreach" in body or "matrix" in body or "${" in repr(body):
            return None
        wdir = posixpath.normpath(posixpath.join(base, str(body.get("wdir") or ".")))
        for item in body["plots"] if isinstance(body["plots"], list) else ():
            path, opts = (item, {}) if isinstance(item, str) else next(iter(item.items()))
            where = f"{config}: stage '{name}': plots '{path}'"
            opts = dict(opts or {}) if isinstance(opts, Mapping) else {}
            cache = opts.get("cache", True) is not False
            props = _checked_props({k: v for k, v in opts.items() if k not in _OUT_FLAGS}, where)
            files = _axis_files(project, wdir, props, where)
            repo_path = _path(project, wdir, path, where)
            cached = Cached(lock, str(name), str(path)) if cache else None
            out.append(Definition(repo_path, "", props, (repo_path, *files), cached=cached))
    return out


def _stage_plots(project: Project) -> list[Definition]:
    from trails.pipeline import load_graph

    out = []
    for stage in load_graph(project).stages:
        for o in stage.outs:
            if o.kind == "plots":
                where = f"{stage.dvcfile}: stage '{stage.name}': plots '{o.path}'"
                props = _checked_props(dict(o.plot), where)
                files = _axis_files(project, stage.wdir, props, where)
                path = confine.confined(project.root, o.repo_path, source=where)
                cached = Cached(stage.lock_path, stage.name, o.path) if o.cache else None
                out.append(Definition(path, "", props, (path, *files), cached=cached))
    return out


def _has_tasks(project: Project) -> bool:
    """Whether the project has task files (``trails.Plot`` outputs are
    known only once the graph is built)."""
    from trails.tasks import discover

    return bool(discover.task_files(project.root))


def pipeline_files(project: Project) -> list[str]:
    """The project's ``dvc.yaml`` files (``pipeline.dvcfile.find_dvcfiles``'s
    answer, without loading the pipeline loader: a plot reads no stage)."""
    return list(project.files().listing().pipelines)


def collect(project: Project, texts: Mapping[str, str | None] | None = None) -> list[Definition]:
    """Every declared plot, ids made unique as the reference tool makes them.
    ``texts``: the pipeline files as a revision holds them (path -> text,
    None where it has none), instead of the workspace's."""
    found: list[Definition] = []
    staged = False
    configs_read = pipeline_files(project) if texts is None else sorted(texts)
    written: list[Definition] | None = []
    for config in configs_read:
        text = None if texts is None else texts[config]
        if texts is not None and text is None:
            continue
        defs, has_stage_plots = _top_level(project, config, text)
        found += defs
        staged = staged or has_stage_plots
        if texts is not None and has_stage_plots and written is not None:
            more = _written_stage_plots(project, config, _parsed(project, config, text)[0])
            written = None if more is None else written + more
    if staged or _has_tasks(project):
        # A revision's own stage plots where its dvc.yaml has them; task
        # outputs' plots are known only from the workspace's graph.
        if texts is not None and staged and written is not None:
            found += written
        else:
            found += _stage_plots(project)
    return _unique(found)


def _unique(found: list[Definition]) -> list[Definition]:
    configs: dict[str, set[str]] = {}
    for d in found:
        configs.setdefault(d.id, set()).add(d.config)
    return [
        replace(d, id=f"{d.config}::{d.id}") if len(configs[d.id]) > 1 and d.config else d
        for d in found
    ]


def matches(d: Definition, target: str) -> bool:
    """Whether ``target`` names the plot: its id, a data path, or a folder
    holding one."""
    folder = target.rstrip("/") + "/"
    return target == d.id or any(s == target or s.startswith(folder) for s in d.sources)


def select(defs: list[Definition], targets: tuple[str, ...]) -> list[Definition]:
    """The plots ``targets`` name; all of them without targets."""
    if not targets:
        return defs
    return [d for d in defs if any(matches(d, t) for t in targets)]
