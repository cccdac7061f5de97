"""Loading ``dvc.yaml`` files into ``Stage``s: find them, parse them, check
them, resolve ``vars``/``${}`` and expand ``foreach``/``matrix``.

Every bad input becomes a ``PipelineError`` starting with ``dvc.yaml:LINE:``
and naming the stage and key, because a pipeline file is written by hand and
the person fixing it needs to know where to look. The templating itself lives
in ``interpolate`` (pure); this module reads the files it needs (the
pipeline file, vars files) and maps problems to lines.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from trails import params, yamlio
from trails.errors import PipelineError, TrailsError
from trails.pipeline.interpolate import (
    GENERATED,
    Context,
    InterpolationError,
    Item,
    Mode,
    Origin,
    Use,
    foreach_items,
    kind,
    matrix_items,
    resolve,
    suggest,
)
from trails.pipeline.stage import PARAMS_FILE, Dep, Out, OutKind, ParamDep, Stage, join

#: Top-level sections; all but ``stages`` and ``vars`` concern other commands
#: (metrics, plots, artifacts...) and are accepted without being read here.
TOP_KEYS = ("stages", "vars", "params", "metrics", "plots", "artifacts", "datasets")
STAGE_KEYS = (
    "cmd",
    "wdir",
    "deps",
    "params",
    "outs",
    "metrics",
    "plots",
    "frozen",
    "always_changed",
    "desc",
    "meta",
    "vars",
)
GENERATOR_KEYS = ("foreach", "do", "matrix")
OUT_KINDS: tuple[OutKind, ...] = ("outs", "metrics", "plots")
OUT_FLAGS = ("cache", "persist", "checkpoint", "push")
OUT_TEXTS = ("desc", "remote")
#: Plot properties: accepted on ``plots`` entries, used by ``plots`` commands only.
PLOT_PROPS = ("x", "y", "template", "title", "x_label", "y_label", "header")
#: Characters a stage name may not hold: they separate addresses
#: (``sub/dvc.yaml:train``) and generated items (``train@0``).
NAME_FORBIDDEN = ":/\\@"


# --- where, for messages ------------------------------------------------------------


@dataclass(frozen=True)
class _Where:
    """A place in one pipeline file: the path of keys into the document
    (for the line) and the words that name it (``stage 'train': ``)."""

    dvcfile: str
    lines: yamlio.Lines
    prefix: tuple[Any, ...] = ()
    label: str = ""

    def error(self, message: str, *path: Any, hint: str | None = None) -> PipelineError:
        line = self.lines.of(*self.prefix, *path, default=1)
        return PipelineError(f"{self.dvcfile}:{line}: {self.label}{message}", hint=hint)

    def at(self, *path: Any) -> _Where:
        return replace(self, prefix=(*self.prefix, *path))

    def named(self, name: str) -> _Where:
        return replace(self, label=f"stage '{name}': ")


def _check_keys(
    data: Mapping[Any, Any], allowed: tuple[str, ...], where: _Where, what: str
) -> None:
    """Refuse keys not in ``allowed``, suggesting the nearest: a typo such
    as ``dep`` would otherwise silently drop a dependency."""
    for key in data:
        if key not in allowed:
            raise where.error(f"{what} '{key}'{suggest(key, allowed)}", key)


# --- public API ----------------------------------------------------------------------


def load_dvcfile(
    root: Path, relpath: str, supposed: Mapping[str, str] | None = None
) -> list[Stage]:
    """The stages of ``root/relpath`` (repo-relative POSIX), in declaration
    order with ``foreach``/``matrix`` items in order."""
    try:
        data, lines = yamlio.load_with_lines(root / relpath, relpath)
    except FileNotFoundError:
        raise PipelineError(
            f"{relpath}: no such pipeline file", hint="Check the path, or create it."
        ) from None
    except yamlio.YamlError as exc:
        raise PipelineError(str(exc), hint=exc.hint) from None
    return _FileLoader(root, relpath, _Where(relpath, lines), supposed).stages(data)


def find_dvcfiles(root: Path) -> list[str]:
    """Every ``dvc.yaml`` of the project under ``root``, repo-relative POSIX
    and sorted (``trails.files``: tracked or new, not ignored by Git or
    ``.dvcignore``; ``.git`` and ``.dvc`` never entered)."""
    from trails import files

    return list(files.of(root).listing().pipelines)


def load_all(root: Path, supposed: Mapping[str, str] | None = None) -> list[Stage]:
    """All stages of all pipeline files under ``root``; ``supposed`` maps
    params files (repo-relative) to texts read instead of the files (a dry
    run's ``-S``, never written), so ``${}`` shows what a real run would.

    The tracked pipelines are loaded first: their stages' folders are the
    bulk folders the lookup of new files goes around (``files.Files.new``),
    so that Git does not walk a data folder the stat pass walks anyway."""
    from trails import files

    listed = files.of(root)
    loaded = {rel: load_dvcfile(root, rel, supposed) for rel in listed.tracked().pipelines}
    bulk = _folders(root, [s for stages in loaded.values() for s in stages])
    for rel in listed.new(bulk).pipelines:
        if rel not in loaded:
            loaded[rel] = load_dvcfile(root, rel, supposed)
    return [stage for rel in sorted(loaded) for stage in loaded[rel]]


def _folders(root: Path, stages: list[Stage]) -> tuple[str, ...]:
    """The stages' dependency and output paths that are folders (not the
    root itself: a lookup around it would find nothing new)."""
    paths = {d.repo_path for s in stages for d in s.deps}
    paths |= {o.repo_path for s in stages for o in s.outs}
    return tuple(sorted(p for p in paths if p not in ("", ".") and (root / p).is_dir()))


# --- params dependencies --------------------------------------------------------


@dataclass
class _ParamsGroup:
    path: str
    keys: list[str] = field(default_factory=list)
    whole: bool = False


@dataclass
class _ParamsBuilder:
    """Params grouped by file (by repo path), in first-seen order of files
    and keys; a whole-file entry absorbs the keys of that file."""

    groups: dict[str, _ParamsGroup] = field(default_factory=dict)

    def add(self, path: str, repo_path: str, keys: list[str] | None) -> None:
        """``keys`` None: the whole file."""
        group = self.groups.setdefault(repo_path, _ParamsGroup(path))
        if keys is None:
            group.whole = True
        group.keys.extend(k for k in keys or () if k not in group.keys)

    def build(self) -> tuple[ParamDep, ...]:
        return tuple(
            ParamDep(g.path, repo_path, () if g.whole else tuple(g.keys))
            for repo_path, g in self.groups.items()
        )


def _param_item(item: Any, i: int, where: _Where) -> tuple[str, list[str] | None]:
    """One ``params`` entry as (file as written, keys or None for all)."""
    if isinstance(item, str) and item:
        file, sep, key = item.partition(":")
        if not sep:
            return PARAMS_FILE, [item]
        return file, [key] if key else None
    if isinstance(item, Mapping) and len(item) == 1:
        ((file, keys),) = item.items()
        if not isinstance(file, str):
            raise where.error(f"params[{i}]: file name must be a string, not {kind(file)}", i)
        if keys is None or keys == []:
            return file, None
        if not isinstance(keys, list):
            raise where.error(
                f"params[{i}]: the keys of '{file}' must be a list of strings, not {kind(keys)}",
                i,
                file,
            )
        for j, key in enumerate(keys):
            if not isinstance(key, str):
                raise where.error(
                    f"params[{i}]: the keys of '{file}' must be strings, not {kind(key)}",
                    i,
                    file,
                    j,
                )
        return file, list(keys)
    raise where.error(
        f"params[{i}] must be a key, 'file:key' or a one-entry mapping {{file: [keys]}}, "
        f"not {kind(item) if item != '' else 'an empty string'}",
        i,
    )


def _params(value: Any, wdir: str, used: list[Use], where: _Where) -> tuple[ParamDep, ...]:
    """The declared params, then those read through ``${}`` from params files
    (paths relative to ``wdir``, the stage's repo-relative working folder)."""
    builder = _ParamsBuilder()
    for i, item in enumerate(_list(value, "params", where)):
        file, keys = _param_item(item, i, where.at("params"))
        builder.add(file, join(wdir, file), keys)
    for use in used:
        builder.add(posixpath.relpath(use.params_file, wdir), use.params_file, [use.key])
    return builder.build()


# --- outputs ------------------------------------------------------------------------


def _out_options(opts: Any, out_kind: OutKind, label: str, where: _Where) -> dict[str, Any]:
    """The checked options of one output entry (plot properties kept apart, in ``plot``)."""
    if opts is None:
        return {}
    if not isinstance(opts, Mapping):
        raise where.error(f"{label}: options must be a mapping, not {kind(opts)}")
    allowed = OUT_FLAGS + OUT_TEXTS + (PLOT_PROPS if out_kind == "plots" else ())
    _check_keys(opts, allowed, where, f"{label}: unknown option")
    checked: dict[str, Any] = {}
    for key, value in opts.items():
        if key in OUT_FLAGS and not isinstance(value, bool):
            raise where.error(f"{label}: '{key}' must be true or false, not {kind(value)}", key)
        if key in OUT_TEXTS and not isinstance(value, str | None):
            raise where.error(f"{label}: '{key}' must be a string, not {kind(value)}", key)
        if key in OUT_FLAGS + OUT_TEXTS:
            checked[key] = value
    plot = tuple((k, v) for k, v in opts.items() if k in PLOT_PROPS)
    if plot:
        checked["plot"] = plot
    return checked


def _out(item: Any, i: int, out_kind: OutKind, wdir: str, where: _Where) -> Out:
    if isinstance(item, str):
        return Out(item, join(wdir, item), out_kind)
    if isinstance(item, Mapping) and len(item) == 1:
        ((path, opts),) = item.items()
        if isinstance(path, str):
            label = f"{out_kind}[{i}] '{path}'"
            options = _out_options(opts, out_kind, label, where.at(i, path))
            return Out(path, join(wdir, path), out_kind, **options)
    raise where.error(
        f"{out_kind}[{i}] must be a path or a one-entry mapping {{path: {{options}}}}, "
        f"not {kind(item)}",
        i,
    )


def _outs(body: Mapping[str, Any], wdir: str, where: _Where) -> tuple[Out, ...]:
    return tuple(
        _out(item, i, out_kind, wdir, where.at(out_kind))
        for out_kind in OUT_KINDS
        for i, item in enumerate(_list(body.get(out_kind), out_kind, where))
    )


# --- scalar fields ---------------------------------------------------------------


def _list(value: Any, key: str, where: _Where) -> list[Any]:
    """A list-valued key; absent or empty (``deps:``) is an empty list."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise where.error(f"'{key}' must be a list, not {kind(value)}", key)
    return value


def _strings(value: Any, key: str, where: _Where) -> list[str]:
    items = _list(value, key, where)
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise where.error(f"{key}[{i}] must be a string, not {kind(item)}", key, i)
    return items


def _cmd(value: Any, where: _Where) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not value:
        what = "an empty list" if value == [] else kind(value)
        raise where.error(
            f"'cmd' must be a string or a non-empty list of strings, not {what}", "cmd"
        )
    return tuple(_strings(value, "cmd", where))


def _flag(body: Mapping[str, Any], key: str, where: _Where) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise where.error(f"'{key}' must be true or false, not {kind(value)}", key)
    return value


def _text(value: Any, key: str, where: _Where) -> str:
    if not isinstance(value, str):
        raise where.error(f"'{key}' must be a string, not {kind(value)}", key)
    return value


def _check_name(name: Any, where: _Where) -> str:
    if not isinstance(name, str):
        raise where.error(f"stage name {name!r} must be a string; quote it in the YAML")
    bad = [c for c in NAME_FORBIDDEN if c in name]
    if bad or not name:
        raise where.named(name).error(
            "invalid stage name: it may not be empty nor contain "
            + ", ".join(f"'{c}'" for c in NAME_FORBIDDEN)
        )
    return name


# --- one file ------------------------------------------------------------------------


class _FileLoader:
    """Loads the stages of one pipeline file. Holds what every stage needs:
    the repo root (to read vars files), the file's folder and its lines."""

    def __init__(
        self, root: Path, relpath: str, where: _Where, supposed: Mapping[str, str] | None = None
    ) -> None:
        self.root = root
        self.supposed = supposed or {}
        self.relpath = relpath
        self.folder = posixpath.dirname(relpath) or "."
        self.where = where

    def stages(self, data: Any) -> list[Stage]:
        if data is None:
            return []
        if not isinstance(data, Mapping):
            raise self.where.error(
                f"a pipeline file must hold a mapping at the top, not {kind(data)}"
            )
        _check_keys(data, TOP_KEYS, self.where, "unknown top-level key")
        stages = data.get("stages")
        if stages is None:
            return []
        if not isinstance(stages, Mapping):
            raise self.where.error(
                f"'stages' must be a mapping of stage names to stages, not {kind(stages)}",
                "stages",
            )
        ctx = self._default_vars()
        ctx = self._vars(ctx, data.get("vars"), self.folder, self.where)
        result: list[Stage] = []
        seen: set[str] = set()
        for name, body in stages.items():
            for stage in self._definition(name, body, ctx):
                if stage.name in seen:
                    raise self.where.error(
                        f"stage '{stage.name}' is defined more than once", "stages", name
                    )
                seen.add(stage.name)
                result.append(stage)
        return result

    # vars

    def _default_vars(self) -> Context:
        """``params.yaml`` beside the pipeline file, loaded first as the
        reference tool does; its values are tracked when used."""
        path = join(self.folder, PARAMS_FILE)
        if path not in self.supposed and not (self.root / path).is_file():
            return Context()
        return self._vars_file(Context(), PARAMS_FILE, self.folder, self.where, "default vars")

    def _vars(self, ctx: Context, value: Any, base: str, where: _Where) -> Context:
        """``ctx`` extended by a ``vars`` list; files are relative to ``base``."""
        for i, item in enumerate(_list(value, "vars", where)):
            at = where.at("vars", i)
            if isinstance(item, str):
                ctx = self._vars_file(ctx, item, base, at, "vars")
            elif isinstance(item, Mapping):
                line = at.lines.of(*at.prefix)
                origin = Origin(f"inline vars at {self.relpath}:{line}")
                ctx = _merge(ctx, item, origin, at, "vars")
            else:
                raise at.error(
                    f"vars[{i}] must be a params file name or a mapping, not {kind(item)}"
                )
        return ctx

    def _vars_file(self, ctx: Context, spec: str, base: str, where: _Where, what: str) -> Context:
        """Load ``file`` or ``file:key1,key2`` (only those top-level keys)."""
        file, _, key_list = spec.partition(":")
        path = join(base, file)
        try:
            if path in self.supposed:
                data = params.loads(self.supposed[path], path)
            else:
                data = params.load_file(self.root / path, display=path)
        except TrailsError as exc:
            raise where.error(f"{what}: {exc}", hint=exc.hint) from None
        keys = [k.strip() for k in key_list.split(",") if k.strip()]
        for key in keys:
            if key not in data:
                raise where.error(f"{what}: '{key}' is not in {path}{suggest(key, data)}")
        if keys:
            data = {k: data[k] for k in keys}
        return _merge(ctx, data, Origin(path, params_file=path), where, what)

    # definitions

    def _definition(self, name: Any, body: Any, ctx: Context) -> list[Stage]:
        """The stages one entry of ``stages`` declares: one, or one per
        ``foreach``/``matrix`` item."""
        where = self.where.at("stages", name)
        name = _check_name(name, where)
        where = where.named(name)
        if not isinstance(body, Mapping):
            raise where.error(f"a stage must be a mapping of stage keys, not {kind(body)}")
        _check_keys(body, STAGE_KEYS + GENERATOR_KEYS, where, "unknown key")
        if "foreach" in body:
            return self._foreach(name, body, ctx, where)
        if "do" in body:
            raise where.error("'do' is only valid with 'foreach'", "do")
        if "matrix" in body:
            return self._matrix(name, body, ctx, where)
        return [self._stage(name, body, ctx, where)]

    def _foreach(
        self, name: str, body: Mapping[str, Any], ctx: Context, where: _Where
    ) -> list[Stage]:
        """One stage per item of ``foreach``, from the ``do`` template. Only
        what the stage body reads is tracked as params; ``foreach: ${...}``
        itself is not, and ``item``/``key`` never are."""
        others = [k for k in body if k not in ("foreach", "do")]
        if others:
            raise where.error(
                f"'foreach' cannot be combined with '{others[0]}': put stage keys under 'do'",
                others[0],
            )
        if "do" not in body:
            raise where.error("'foreach' needs 'do', the stage to repeat", "foreach")
        do = body["do"]
        if not isinstance(do, Mapping):
            raise where.error(f"'do' must be a mapping of stage keys, not {kind(do)}", "do")
        _check_keys(do, STAGE_KEYS, where.at("do"), "unknown key")
        spec = _resolve(body["foreach"], ctx, [], where, ("foreach",))
        items = _generated(foreach_items, spec, where.at("foreach"))
        return self._items(name, items, do, ctx, where.at("do"), "foreach")

    def _matrix(
        self, name: str, body: Mapping[str, Any], ctx: Context, where: _Where
    ) -> list[Stage]:
        """One stage per combination of the ``matrix`` lists; the rest of the
        body is the template."""
        matrix = body["matrix"]
        if not isinstance(matrix, Mapping) or not matrix:
            raise where.error(
                f"'matrix' must be a non-empty mapping of names to lists, not {kind(matrix)}",
                "matrix",
            )
        spec = _resolve(matrix, ctx, [], where, ("matrix",))
        items = _generated(matrix_items, spec, where.at("matrix"))
        template = {k: v for k, v in body.items() if k != "matrix"}
        return self._items(name, items, template, ctx, where, "matrix")

    def _items(
        self,
        name: str,
        items: list[Item],
        template: Mapping[str, Any],
        ctx: Context,
        where: _Where,
        what: str,
    ) -> list[Stage]:
        stages: list[Stage] = []
        for item in items:
            full = f"{name}@{item.suffix}"
            item_ctx = _merge(ctx, item.names, GENERATED, where.named(full), what)
            stages.append(self._stage(full, template, item_ctx, where.named(full)))
        return stages

    # one stage

    def _stage(self, name: str, body: Mapping[str, Any], ctx: Context, where: _Where) -> Stage:
        """Resolve and check one stage body. ``wdir`` is resolved first, with
        the file's vars, because the stage's own vars files are relative to it."""
        if "cmd" not in body:
            raise where.error("missing required key 'cmd'")
        used: list[Use] = []
        wdir = _text(_resolve(body.get("wdir", "."), ctx, used, where, ("wdir",)), "wdir", where)
        wdir_repo = join(self.folder, wdir)
        ctx = self._vars(ctx, body.get("vars"), wdir_repo, where)
        resolved = {
            key: _resolve(value, ctx, used, where, (key,), "cmd" if key == "cmd" else "value")
            for key, value in body.items()
            if key not in ("wdir", "vars")
        }
        desc = resolved.get("desc")
        return Stage(
            name=name,
            dvcfile=self.relpath,
            cmd=_cmd(resolved["cmd"], where),
            wdir=wdir_repo,
            deps=tuple(
                Dep(p, join(wdir_repo, p)) for p in _strings(resolved.get("deps"), "deps", where)
            ),
            params=_params(resolved.get("params"), wdir_repo, used, where),
            outs=_outs(resolved, wdir_repo, where),
            frozen=_flag(resolved, "frozen", where),
            always_changed=_flag(resolved, "always_changed", where),
            desc=None if desc is None else _text(desc, "desc", where),
            meta=resolved.get("meta"),
            line=where.lines.of(*where.prefix[:2]),
        )


def _resolve(
    value: Any,
    ctx: Context,
    used: list[Use],
    where: _Where,
    at: tuple[Any, ...],
    mode: Mode = "value",
) -> Any:
    try:
        return resolve(value, ctx, used, mode, at)
    except InterpolationError as exc:
        raise where.error(exc.message, *exc.at) from None


def _merge(
    ctx: Context, data: Mapping[Any, Any], origin: Origin, where: _Where, what: str
) -> Context:
    try:
        return ctx.merged(data, origin)
    except InterpolationError as exc:
        raise where.error(f"{what}: {exc.message}") from None


def _generated(expand: Callable[[Any], list[Item]], spec: Any, where: _Where) -> list[Item]:
    try:
        return expand(spec)
    except InterpolationError as exc:
        raise where.error(exc.message, *exc.at) from None
