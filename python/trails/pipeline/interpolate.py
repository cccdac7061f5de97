"""Templating of ``dvc.yaml``: ``vars`` contexts, ``${...}`` substitution and
the ``foreach``/``matrix`` item lists, as DVC 3 defines them.

Everything here is pure: no file is read (``dvcfile`` loads the vars files and
hands their contents over) and nothing knows about lines. Errors are
``InterpolationError``s carrying ``at``, the path of keys/indices inside the
value being resolved, so the caller can turn it into ``dvc.yaml:LINE:``.

Values keep their origin (``Origin``): the reference tool records a value read
through ``${}`` from a params *file* as a params dependency of the stage, so
changing it re-runs the stage. ``resolve`` reports such reads as ``Use``s.
"""

from __future__ import annotations

import itertools
import re
import shlex
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from trails.errors import PipelineError, closest

#: How a string is resolved: ``value`` keeps the type of an exact ``${x}``;
#: ``cmd`` always makes a string and unpacks mappings into ``--key value``;
#: ``key`` (mapping keys, such as output paths) always makes a string.
Mode = Literal["value", "cmd", "key"]

# ``${expr}`` not preceded by a backslash (``\${`` is a literal ``${``).
_TEMPLATE = re.compile(r"(?<!\\)\$\{([^{}]*)\}")
# ``name``, then ``.name`` / ``.0`` / ``[0]`` any number of times.
_NAME = r"[^.\[\]\s{}$]+"
_EXPR = re.compile(rf"{_NAME}(?:\.{_NAME}|\[[0-9]+\])*")
_PART = re.compile(rf"\[([0-9]+)\]|({_NAME})")


class InterpolationError(PipelineError):
    """A templating problem; ``at`` locates it inside the resolved value.

    A ``PipelineError`` so that, should one escape without a line, it is still
    printed as a message and not as a traceback."""

    def __init__(self, message: str, at: tuple[Any, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.at = at


@dataclass(frozen=True)
class Origin:
    """Where a top-level name came from. ``label`` is for messages
    (``params.yaml``, ``inline vars at dvc.yaml:3``, ``foreach/matrix``);
    ``params_file`` (repo-relative) is set only for params files, whose values
    are tracked as params when used."""

    label: str
    params_file: str | None = None


#: The origin of a name built without one (not tracked).
INLINE = Origin("inline vars")
#: The origin of ``item``/``key`` in ``foreach``/``matrix`` stages.
GENERATED = Origin("foreach/matrix")


@dataclass(frozen=True)
class Use:
    """A value read through ``${}`` from a params file: ``key`` is the dotted
    path used (``train.lr``, ``layers.0.units``)."""

    params_file: str
    key: str


@dataclass(frozen=True)
class Context:
    """The names ``${}`` can see, each with its origin. Immutable: a stage's
    vars and a ``foreach`` item extend a copy, never the file's context."""

    values: Mapping[str, Any] = field(default_factory=dict)
    origins: Mapping[str, Origin] = field(default_factory=dict)

    def merged(self, data: Mapping[Any, Any], origin: Origin) -> Context:
        """This context plus ``data``'s top-level keys. A key already defined
        by another source is an error (the reference tool refuses silent
        overrides); the same source listed twice is a no-op for its keys, as
        when ``params.yaml`` is named in ``vars`` though loaded by default."""
        values = dict(self.values)
        origins = dict(self.origins)
        for raw_key, value in data.items():
            key = str(raw_key)
            if key in origins:
                if origins[key] == origin:
                    continue
                raise InterpolationError(
                    f"'{key}' is already defined by {origins[key].label}", (raw_key,)
                )
            values[key] = value
            origins[key] = origin
        return Context(values, origins)


def suggest(word: object, candidates: Iterable[object]) -> str:
    """``", did you mean 'x'?"`` when a candidate is close to ``word``, else ``""``."""
    close = closest(str(word), [str(c) for c in candidates])
    return f", did you mean '{close}'?" if close else ""


def kind(value: object) -> str:
    """A YAML-minded name for ``value``'s type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "mapping"
    names = {bool: "bool", str: "string", list: "list", int: "int", float: "float"}
    return names.get(type(value), type(value).__name__)


def is_scalar(value: object) -> bool:
    """Anything but a list or a mapping (TOML dates included)."""
    return not isinstance(value, list | Mapping)


def to_str(value: Any) -> str:
    """A scalar as it appears inside a string: YAML spellings for booleans
    and null, ``str()`` for numbers (as the reference tool)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


# --- selecting ``a.b[0]`` ------------------------------------------------------


def parse_expr(expr: str) -> list[str]:
    """``a.list[0].x`` -> ``["a", "list", "0", "x"]``; ``ValueError`` if it
    is not a dotted name with optional indices."""
    text = expr.strip()
    if not _EXPR.fullmatch(text):
        raise ValueError(text)
    return [index or name for index, name in _PART.findall(text)]


def _child(node: Any, part: str) -> tuple[bool, Any]:
    """``node[part]`` for a mapping (string or integer key) or a list."""
    if isinstance(node, Mapping):
        if part in node:
            return True, node[part]
        if part.isdigit() and int(part) in node:
            return True, node[int(part)]
    elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return True, node[int(part)]
    return False, None


def select(ctx: Context, expr: str) -> tuple[Any, Origin, str]:
    """The value of ``expr`` in ``ctx``, the origin of its top-level name and
    its dotted key. Errors say which part is undefined and suggest a near
    name at that level."""
    template = "${" + expr + "}"
    try:
        parts = parse_expr(expr)
    except ValueError:
        raise InterpolationError(
            f"cannot interpolate '{template}': '{expr.strip()}' is not a valid name"
        ) from None
    if parts[0] not in ctx.values:
        raise InterpolationError(
            f"cannot interpolate '{template}': '{parts[0]}' is not defined"
            + suggest(parts[0], ctx.values)
        )
    node = ctx.values[parts[0]]
    for i, part in enumerate(parts[1:], start=1):
        found, child = _child(node, part)
        if not found:
            prefix = ".".join(parts[:i])
            siblings = [f"{prefix}.{k}" for k in node] if isinstance(node, Mapping) else []
            missing = f"{prefix}.{part}"
            raise InterpolationError(
                f"cannot interpolate '{template}': '{missing}' is not defined"
                + suggest(missing, siblings)
            )
        node = child
    return node, ctx.origins.get(parts[0], INLINE), ".".join(parts)


# --- strings --------------------------------------------------------------------


def _unescape(text: str) -> str:
    return text.replace("\\${", "${")


def _flatten(data: Mapping[Any, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for k, v in data.items():
        if isinstance(v, Mapping):
            yield from _flatten(v, f"{prefix}{k}.")
        else:
            yield f"{prefix}{k}", v


def _arg(value: Any, what: str, template: str) -> str:
    """One command-line value; ``what`` names its container for errors."""
    if isinstance(value, str):
        return shlex.quote(value)
    if not is_scalar(value):
        raise InterpolationError(
            f"cannot interpolate '{template}': {what} holds a nested {kind(value)}"
        )
    return to_str(value)


def cmd_args(data: Mapping[Any, Any], template: str = "${...}") -> str:
    """A mapping as command-line arguments, the reference tool's way:
    ``--key value`` per leaf (nested keys dotted: ``--opt.lr 0.1``), a true
    bool as ``--flag``, a false one left out, a list as ``--key 1 2 3``.
    Strings are shell-quoted when they need it, since ``cmd`` runs in a shell."""
    args: list[str] = []
    for key, value in _flatten(data):
        what = repr(key)
        if isinstance(value, bool):
            if value:
                args.append(f"--{key}")
        elif isinstance(value, list):
            if value:
                args.append(f"--{key} " + " ".join(_arg(v, what, template) for v in value))
        else:
            args.append(f"--{key} {_arg(value, what, template)}")
    return " ".join(args)


def _format(value: Any, template: str, mode: Mode) -> str:
    """``value`` as the text that replaces ``template`` inside a string."""
    if is_scalar(value):
        return to_str(value)
    if mode == "cmd" and isinstance(value, Mapping):
        return cmd_args(value, template)
    if mode == "cmd" and isinstance(value, list):
        return " ".join(_arg(v, "the list", template) for v in value)
    where = "unpacks only in 'cmd'" if isinstance(value, Mapping) else "cannot be part of a string"
    raise InterpolationError(
        f"cannot interpolate '{template}' into a string: a {kind(value)} {where}"
    )


def resolve_string(text: str, ctx: Context, used: list[Use], mode: Mode = "value") -> Any:
    """Substitute every ``${...}`` of ``text``. In ``value`` mode a text that
    is exactly one ``${x}`` becomes ``x`` itself (a number stays a number);
    otherwise the result is a string. Reads from params files are appended
    to ``used``."""
    matches = list(_TEMPLATE.finditer(text))
    if not matches:
        return _unescape(text)
    if mode == "value" and len(matches) == 1 and matches[0].group(0) == text:
        return _select_used(matches[0].group(1), ctx, used)
    out: list[str] = []
    pos = 0
    for m in matches:
        out.append(_unescape(text[pos : m.start()]))
        out.append(_format(_select_used(m.group(1), ctx, used), m.group(0), mode))
        pos = m.end()
    out.append(_unescape(text[pos:]))
    return "".join(out)


def _select_used(expr: str, ctx: Context, used: list[Use]) -> Any:
    value, origin, key = select(ctx, expr)
    if origin.params_file is not None:
        used.append(Use(origin.params_file, key))
    return value


def resolve(
    data: Any, ctx: Context, used: list[Use], mode: Mode = "value", at: tuple[Any, ...] = ()
) -> Any:
    """``data`` with every string (mapping keys included) resolved. Errors
    carry ``at`` + the path to the offending string, in the original keys."""
    if isinstance(data, str):
        try:
            return resolve_string(data, ctx, used, mode)
        except InterpolationError as exc:
            raise InterpolationError(exc.message, at + exc.at) from None
    if isinstance(data, list):
        return [resolve(v, ctx, used, mode, (*at, i)) for i, v in enumerate(data)]
    if isinstance(data, Mapping):
        out: dict[Any, Any] = {}
        for k, v in data.items():
            key = resolve(k, ctx, used, "key", (*at, k)) if isinstance(k, str) else k
            out[key] = resolve(v, ctx, used, mode, (*at, k))
        return out
    return data


# --- foreach / matrix -------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """One generated stage: its name suffix (after ``@``) and the names it
    adds to the context (``item``, and ``key`` for a mapping ``foreach``)."""

    suffix: str
    names: Mapping[str, Any]


def foreach_items(spec: Any) -> list[Item]:
    """The items of a resolved ``foreach``. Scalars name their item by value
    (``build@us``), other list elements by index, mapping entries by key."""
    if isinstance(spec, list):
        by_value = all(is_scalar(v) for v in spec)
        return [Item(str(v) if by_value else str(i), {"item": v}) for i, v in enumerate(spec)]
    if isinstance(spec, Mapping):
        return [Item(str(k), {"item": v, "key": k}) for k, v in spec.items()]
    raise InterpolationError(f"foreach must be a list or a mapping, not {kind(spec)}")


def matrix_items(matrix: Mapping[Any, Any]) -> list[Item]:
    """The cartesian product of a resolved ``matrix``, in order; ``item`` maps
    each matrix name to its value. Scalars name themselves in the suffix,
    other values ``<name><index>``."""
    for name, values in matrix.items():
        if not isinstance(values, list):
            raise InterpolationError(
                f"matrix: '{name}' must be a list, not {kind(values)}", (name,)
            )
    names = list(matrix)
    items: list[Item] = []
    for combo in itertools.product(*(list(enumerate(matrix[n])) for n in names)):
        suffix = "-".join(
            str(v) if is_scalar(v) else f"{n}{i}" for n, (i, v) in zip(names, combo, strict=True)
        )
        items.append(Item(suffix, {"item": {n: v for n, (_, v) in zip(names, combo, strict=True)}}))
    return items
