"""What task files write: ``@trails.task``, ``@trails.mark.NAME``,
``Annotated[Path, trails.Out]`` (``Metric``, ``Plot``) and
``Annotated[float, trails.Param("train.lr")]``. Only declarations and a
registry live here (standard library only), so a task file's import costs
what its own imports cost."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: Attribute holding a function's marker names.
MARKS = "__trails_marks__"


@dataclass(frozen=True)
class Out:
    """An output of the task (``dvc.yaml``'s ``outs``), with its options.
    ``Annotated[Path, trails.Out]`` or ``trails.Out(persist=True)``."""

    cache: bool = True
    persist: bool = False
    checkpoint: bool = False
    kind: str = field(default="outs", init=False)


@dataclass(frozen=True)
class Metric(Out):
    """A metrics file (``dvc.yaml``'s ``metrics``)."""

    kind: str = field(default="metrics", init=False)


@dataclass(frozen=True, kw_only=True)
class Plot(Out):
    """A plots file (``dvc.yaml``'s ``plots``), with the display properties
    a ``dvc.yaml`` plots entry takes: ``trails.Plot(x="step", y="loss",
    template="linear", title=..., x_label=..., y_label=...)``; ``y`` may list
    several fields. Read by ``trails plots`` only (changing them reruns
    nothing)."""

    kind: str = field(default="plots", init=False)
    x: str | None = None
    y: str | list[str] | None = None
    template: str | None = None
    title: str | None = None
    x_label: str | None = None
    y_label: str | None = None

    #: The properties, in ``dvc.yaml``'s order.
    PROPS = ("x", "y", "template", "title", "x_label", "y_label")

    def props(self) -> dict[str, str | list[str]]:
        """The properties given (``None`` is not given)."""
        given = ((k, getattr(self, k)) for k in self.PROPS)
        return {k: v for k, v in given if v is not None}


@dataclass(frozen=True)
class Param:
    """A param the task reads, injected at run time: ``"train.lr"`` (in
    ``params.yaml``) or ``"other.toml:key"``."""

    key: str

    @property
    def file(self) -> str:
        file, sep, _ = self.key.rpartition(":")
        return file if sep else "params.yaml"

    @property
    def name(self) -> str:
        return self.key.rpartition(":")[2]


@dataclass(frozen=True)
class TaskDef:
    """One ``@trails.task`` application (a loop makes several of one
    function)."""

    fn: Callable[..., Any]
    name: str | None
    id: str | None
    kwargs: Mapping[str, Any]


#: Every ``@trails.task`` applied in this process, in order.
REGISTERED: list[TaskDef] = []


def task(
    fn: F | None = None,
    *,
    name: str | None = None,
    id: str | None = None,  # pytask's name for it
    kwargs: Mapping[str, Any] | None = None,
) -> Any:
    """Declare a task (any function name): ``@trails.task`` or
    ``@trails.task(name=..., id=..., kwargs=...)``; in a loop with a
    different ``id`` and ``kwargs`` each time, it repeats the task over
    inputs (node ids ``file::name[id]``). Returns the function unchanged."""

    def register(f: F) -> F:
        REGISTERED.append(TaskDef(f, name, id, dict(kwargs or {})))
        return f

    return register(fn) if fn is not None else register


class _Mark:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not kwargs:
            fn = args[0]
            marks = getattr(fn, MARKS, ())
            setattr(fn, MARKS, (*marks, self.name))
            return fn
        return self  # @trails.mark.slow(...): arguments are not used


class _MarkGenerator:
    """``trails.mark.NAME``: any name is a marker, selected with ``-m``."""

    def __getattr__(self, name: str) -> _Mark:
        if name.startswith("_"):
            raise AttributeError(name)
        return _Mark(name)


mark = _MarkGenerator()
