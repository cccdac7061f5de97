"""A task's signature read as pytask reads one: an argument whose value
(default, or ``@trails.task(kwargs=...)``) is a ``Path`` (or a list, tuple
or dict of them) is a dependency; ``Annotated[Path, trails.Out]``
(``Metric``, ``Plot``) an output, as an argument named ``produces`` is
(pytask's); ``Annotated[T, trails.Param("key")]`` a
param, injected at run time. Relative paths are relative to the task
file's folder (pytask's rule); the task receives absolute paths. Used by
the collector and by the task's worker alike, so both read the same
arguments."""

from __future__ import annotations

import inspect
import os
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from trails.errors import PipelineError
from trails.tasks.api import MARKS, REGISTERED, Out, Param, Plot, TaskDef

#: A function named so is a task without a decorator.
PREFIX = "task_"
#: pytask's product argument: ``produces: Path = Path("out.txt")`` is an
#: output (``trails.Out``) without an annotation.
PRODUCES = "produces"


@dataclass(frozen=True)
class Arg:
    """One argument: ``kind`` dep / out / param / value, and its value (the
    absolute Path structure for dep and out, the ``Param`` for param)."""

    kind: str
    value: Any
    out: Out | None = None
    repo_paths: tuple[str, ...] = ()


def task_defs(module: ModuleType, relpath: str) -> list[tuple[str, TaskDef]]:
    """``(node id, definition)`` of each task the module defines, in
    definition order: ``@trails.task`` applications (each one, in a loop),
    then undecorated functions named ``task_*``."""
    file = module.__file__
    registered = [d for d in REGISTERED if _file_of(d.fn) == file]
    found = [(d.name or d.fn.__name__, d) for d in registered]
    seen = {id(d.fn) for d in registered}
    for name, value in vars(module).items():
        if (
            name.startswith(PREFIX)
            and inspect.isfunction(value)
            and id(value) not in seen
            and _file_of(value) == file
        ):
            found.append((name, TaskDef(value, None, None, {})))
    found.sort(key=lambda item: item[1].fn.__code__.co_firstlineno)
    return _node_ids(found, relpath)


def _file_of(fn: Callable[..., Any]) -> str | None:
    code = getattr(fn, "__code__", None)
    return code.co_filename if code is not None else None


def _node_ids(found: list[tuple[str, TaskDef]], relpath: str) -> list[tuple[str, TaskDef]]:
    """``file::name``, ``file::name[id]``; a name repeated without ids gets
    ``[0]``, ``[1]``... (pytask numbers them too)."""
    counts: dict[str, int] = {}
    for name, d in found:
        if d.id is None:
            counts[name] = counts.get(name, 0) + 1
    index: dict[str, int] = {}
    out: list[tuple[str, TaskDef]] = []
    taken: dict[str, TaskDef] = {}
    for name, d in found:
        if d.id is not None:
            node = f"{relpath}::{name}[{d.id}]"
        elif counts[name] > 1:
            node = f"{relpath}::{name}[{index.setdefault(name, 0)}]"
            index[name] += 1
        else:
            node = f"{relpath}::{name}"
        if node in taken:
            raise PipelineError(
                f"{relpath}:{d.fn.__code__.co_firstlineno}: task '{node}' is defined twice",
                hint="Give each repetition its own id= in @trails.task(id=..., kwargs=...).",
            )
        taken[node] = d
        out.append((node, d))
    return out


def marks(d: TaskDef) -> list[str]:
    return list(dict.fromkeys(getattr(d.fn, MARKS, ())))


def _hints(d: TaskDef, where: str) -> dict[str, Any]:
    given = getattr(d.fn, "__annotations__", None) or {}
    if not any(isinstance(v, str) for v in given.values()):
        return dict(given)  # evaluated already: what get_type_hints would return, faster
    try:
        return typing.get_type_hints(d.fn, include_extras=True)
    except Exception as exc:  # a string annotation naming nothing
        raise PipelineError(
            f"{where}: cannot read the annotations of '{d.fn.__name__}': {exc}",
            hint="Import what the annotations name (at the top of the file).",
        ) from None


def _declared(hint: Any) -> Out | Param | None:
    """The ``trails.Out``/``Metric``/``Plot``/``Param`` in an ``Annotated``."""
    for meta in getattr(hint, "__metadata__", ()):
        if isinstance(meta, Param | Out):
            return meta
        if isinstance(meta, type) and issubclass(meta, Out):
            return meta()
    return None


def _paths(value: Any) -> Iterator[Any]:
    if isinstance(value, Mapping):
        yield from value.values()
    elif isinstance(value, list | tuple):
        yield from value
    else:
        yield value


def _is_paths(value: Any) -> bool | None:
    """True: a Path or a non-empty collection of Paths; False: no Path in
    it; None: Paths mixed with other values."""
    items = list(_paths(value))
    has = [isinstance(v, Path) for v in items]
    if items and all(has):
        return True
    return None if any(has) else False


class Resolver:
    """Paths of one task file: relative to its folder, made absolute and
    checked to lie in the project."""

    def __init__(self, root: Path, relpath: str) -> None:
        self.root = root.resolve()
        self.folder = os.fspath((self.root / relpath).parent)
        self._prefix = str(self.root) + os.sep

    def absolute(self, value: Any) -> Any:
        if isinstance(value, Path):
            return Path(_normal(os.path.join(self.folder, value)))
        if isinstance(value, Mapping):
            return {k: self.absolute(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.absolute(v) for v in value)
        return value

    def repo_paths(self, value: Any, where: str) -> tuple[str, ...]:
        out = []
        for p in _paths(value):
            full = _normal(os.path.join(self.folder, p))
            inside = full.startswith(self._prefix)
            rel = full[len(self._prefix) :].replace(os.sep, "/") if inside else ".."
            if not inside:
                raise PipelineError(
                    f"{where}: path '{p}' is outside the project",
                    hint="Dependencies and outputs must be paths in the project.",
                )
            out.append(rel)
        return tuple(out)


def _normal(path: str) -> str:
    return os.path.normpath(path)


def _check_plot(plot: Plot, where: str) -> None:
    """A ``trails.Plot``'s properties name fields of its own file (``y``
    one or several), as a stage's ``plots`` entry in ``dvc.yaml`` does."""
    for key, value in plot.props().items():
        many = key == "y" and isinstance(value, list) and value
        if not (isinstance(value, str) or (many and all(isinstance(v, str) for v in value))):
            raise PipelineError(
                f"{where}: trails.Plot({key}=...) must be a string"
                + (" or a list of strings" if key == "y" else "")
                + f", not {value!r}",
                hint="Name the fields of the plot's own file: trails.Plot(x='step', y='loss').",
            )


def arguments(
    d: TaskDef, root: Path, relpath: str, resolver: Resolver | None = None
) -> dict[str, Arg]:
    """Each argument of the task's function, read as deps, outs, params or
    plain values; bad declarations are ``PipelineError``s naming
    ``file:line`` and the argument. ``resolver``: the file's, when the
    caller reads many tasks of it."""
    line = d.fn.__code__.co_firstlineno
    hints = _hints(d, f"{relpath}:{line}")
    resolver = resolver or Resolver(root, relpath)
    parameters = inspect.signature(d.fn).parameters
    unknown = set(d.kwargs) - set(parameters)
    if unknown:
        raise PipelineError(
            f"{relpath}:{line}: task '{d.fn.__name__}': kwargs {sorted(unknown)} are not "
            "arguments of the function",
            hint="Fix the names in @trails.task(kwargs=...).",
        )
    out: dict[str, Arg] = {}
    for name, p in parameters.items():
        where = f"{relpath}:{line}: task '{d.fn.__name__}': argument '{name}'"
        declared = _declared(hints.get(name))
        value = d.kwargs.get(name, p.default)
        if declared is None and name == PRODUCES:
            declared = Out()
        if isinstance(declared, Param):
            out[name] = Arg("param", declared)
        elif isinstance(declared, Out):
            if not isinstance(value, Path):
                given = "no value" if value is p.empty else f"the value {value!r}, not a Path"
                raise PipelineError(
                    f"{where} is an output ({type(declared).__name__}) but has {given}",
                    hint="Give it a pathlib.Path default: out: Annotated[Path, trails.Out] "
                    "= Path('model.pkl').",
                )
            if isinstance(declared, Plot):
                _check_plot(declared, where)
            paths = resolver.repo_paths(value, where)
            out[name] = Arg("out", resolver.absolute(value), declared, paths)
        elif value is p.empty:
            raise PipelineError(
                f"{where} has no value",
                hint="Give it a Path default (a dependency), annotate it with "
                "trails.Param('key'), or pass it in @trails.task(kwargs=...).",
            )
        else:
            kind = _is_paths(value)
            if kind is None:
                raise PipelineError(
                    f"{where} mixes Paths and other values: {value!r}",
                    hint="A dependency is a Path, or a list/tuple/dict of Paths only.",
                )
            if kind:
                paths = resolver.repo_paths(value, where)
                out[name] = Arg("dep", resolver.absolute(value), None, paths)
            else:
                out[name] = Arg("value", value)
    return out
