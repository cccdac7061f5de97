"""Parameters files: loading by format (chosen by suffix) and dotted keys.

One module per format (``yamlfile``, ``jsonfile``, ``tomlfile``, ``pyfile``),
each with ``load(text, path)`` and ``update(text, path, changes)``. Keys are
dotted paths into nested maps, with list indices as numbers
(``layers.0.units``).

Writing follows one contract for every format: ``git diff`` after a change
shows only the changed line(s). Each writer edits the file's text and is
checked against ``apply_changes`` (what the change *means*), so a layout the
writer does not understand can cost extra diff lines but never a wrong value.
"""

from __future__ import annotations

import copy
import functools
import importlib
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from trails import textio
from trails.errors import TrailsError

DEFAULT_FILE = "params.yaml"
SUFFIXES: dict[str, str] = {
    ".yaml": "yamlfile",
    ".yml": "yamlfile",
    ".json": "jsonfile",
    ".toml": "tomlfile",
    ".py": "pyfile",
}


class ParamsError(TrailsError):
    """A params file that cannot be read, or a key that is not in it."""


_MISSING = object()


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ParamsError(
            f"{path}: unsupported params file format '{suffix or '(no suffix)'}'",
            hint=f"Use one of: {', '.join(SUFFIXES)}.",
        )
    return SUFFIXES[suffix]


def _module(path: str | Path) -> ModuleType:
    return importlib.import_module(f"trails.params.{format_of(path)}")


def _check_depth(data: Any, path: str) -> None:
    """Refuse values nested deeper than ``yamlio.MAX_DEPTH`` (JSON and TOML
    parsers allow ~1,000 levels; copies and comparisons, recursive, fail
    with RecursionError well before that)."""
    from trails.yamlio import MAX_DEPTH

    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise ParamsError(
                    f"{path}: values nest more than {MAX_DEPTH} levels deep",
                    hint=f"Flatten the structure: trails reads at most {MAX_DEPTH} levels "
                    "of nested mappings and lists.",
                )
            items = value.values() if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items if isinstance(v, dict | list))


@functools.lru_cache(maxsize=8)
def _parsed(fmt: str, text: str, path: str) -> Any:
    from trails.yamlio import MAX_DEPTH

    try:
        data = importlib.import_module(f"trails.params.{fmt}").load(text, path)
    except RecursionError:
        raise ParamsError(
            f"{path}: values nest too deeply to read",
            hint=f"Flatten the structure: trails reads at most {MAX_DEPTH} levels "
            "of nested mappings and lists.",
        ) from None
    _check_depth(data, path)
    return data


def parsed(fmt: str, text: str, path: str, *, shared: bool = False) -> Any:
    """``text`` parsed by the ``fmt`` module's ``load``, remembered for the
    process. One ``exp run -S`` reads a params file up to six times (the
    check of ``-S``, the edit and its read-back, ``vars``, the plan); a
    200,000-key YAML file takes ~1.5 s each. A copy each time (callers may
    change it), unless ``shared``: the caller only reads it."""
    data = _parsed(fmt, text, path)
    return data if shared else copy.deepcopy(data)


def loads(text: str, path: str | Path, *, shared: bool = False) -> dict[str, Any]:
    """Parse params text in the format of ``path``'s suffix (``shared``:
    for a caller that only reads it, as ``parsed``)."""
    data = parsed(format_of(path), text, str(path), shared=shared)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(
            f"{path}: a params file must hold a mapping at the top, not {type(data).__name__}"
        )
    return data


def load_file(path: Path, display: str | None = None) -> dict[str, Any]:
    name = display or str(path)
    format_of(name)
    try:
        text = textio.read(path, name)
    except FileNotFoundError:
        raise ParamsError(f"{name}: params file not found") from None
    return loads(text, name)


def split_key(key: str) -> list[str]:
    """``a.b.0`` -> ``["a", "b", "0"]``; a part in quotes may hold dots:
    ``'a."x.y".b'`` -> ``["a", "x.y", "b"]``."""
    parts: list[str] = []
    buf: list[str] = []
    quote: str | None = None
    for ch in key:
        if quote:
            if ch == quote:
                quote = None
            else:
                buf.append(ch)
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def get(data: Any, key: str, default: Any = _MISSING) -> Any:
    """The value at dotted ``key``; raises ``KeyError`` if absent and no default."""
    node = data
    for part in split_key(key):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif (
            isinstance(node, list)
            and part.lstrip("-").isdigit()
            and -len(node) <= int(part) < len(node)
        ):
            node = node[int(part)]
        else:
            if default is _MISSING:
                raise KeyError(key)
            return default
    return node


def has(data: Any, key: str) -> bool:
    # Not ``_MISSING``: ``get`` reads that default as "no default" and raises.
    absent = object()
    return get(data, key, absent) is not absent


def flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaf values by dotted key (lists are leaves, as the reference tool shows them)."""
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            yield from flatten(v, key + ".")
        else:
            yield key, v


# --- Writing -------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One edit to a params file: set ``key`` (dotted, list indices allowed)
    to ``value``, adding it and any missing parent maps when absent; or, with
    ``delete``, remove it.

    One plain shape shared by the ``-S`` grammar, the validator and the four
    format writers, so they cannot disagree on what an edit is."""

    key: str
    value: Any = None
    delete: bool = False

    def __str__(self) -> str:
        return f"~{self.key}" if self.delete else f"{self.key}={self.value!r}"


def list_index(part: str, length: int, *, append: bool) -> int | None:
    """``part`` as an index into a list of ``length`` items (negative counts
    from the end), or ``None`` if it is not one. ``append`` also accepts
    ``length`` itself: setting one past the end appends."""
    if not re.fullmatch(r"-?[0-9]+", part):
        return None
    index = int(part)
    if index < 0:
        index += length
    if 0 <= index < length or (append and index == length):
        return index
    return None


def _describe(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item(s)"
    return repr(value)


def _step(node: Any, part: str, prefix: str, change: Change, where: str) -> Any:
    """The child of ``node`` at ``part`` for writing ``change``, creating an
    empty map when setting through a missing key."""
    if isinstance(node, dict):
        if part not in node:
            if change.delete:
                raise ParamsError(f"{where}: cannot delete '{change.key}': '{prefix}' is not set")
            node[part] = {}
        return node[part]
    if isinstance(node, list):
        index = list_index(part, len(node), append=not change.delete)
        if index is None:
            raise ParamsError(
                f"{where}: cannot change '{change.key}': '{prefix}' is not an index "
                f"of a list of {len(node)} item(s)"
            )
        if index == len(node):
            node.append({})
        return node[index]
    parent = prefix.rpartition(".")[0]
    raise ParamsError(
        f"{where}: cannot change '{change.key}': '{parent}' is {_describe(node)}, not a mapping"
    )


def _apply_one(data: dict[str, Any], change: Change, where: str) -> None:
    parts = split_key(change.key)
    if not all(parts):
        raise ParamsError(f"{where}: '{change.key}' is not a valid key (empty part)")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        node = _step(node, part, ".".join(parts[: i + 1]), change, where)
    last = parts[-1]
    if isinstance(node, dict):
        if change.delete:
            if last not in node:
                raise ParamsError(f"{where}: cannot delete '{change.key}': it is not set")
            del node[last]
        else:
            node[last] = copy.deepcopy(change.value)
        return
    if isinstance(node, list):
        index = list_index(last, len(node), append=not change.delete)
        if index is None:
            raise ParamsError(
                f"{where}: cannot change '{change.key}': '{last}' is not an index "
                f"of a list of {len(node)} item(s)"
            )
        if change.delete:
            del node[index]
        elif index == len(node):
            node.append(copy.deepcopy(change.value))
        else:
            node[index] = copy.deepcopy(change.value)
        return
    parent = change.key.rpartition(".")[0] if len(parts) > 1 else "(top)"
    raise ParamsError(
        f"{where}: cannot change '{change.key}': '{parent}' is {_describe(node)}, not a mapping"
    )


def apply_changes(data: Any, changes: Iterable[Change], where: str) -> dict[str, Any]:
    """A copy of ``data`` with ``changes`` applied, in order: what an edit
    *means*. Writers compute it first (so every format rejects the same
    impossible edits with the same message) and check their text against it."""
    out: dict[str, Any] = copy.deepcopy(data) if data is not None else {}
    if not isinstance(out, dict):
        raise ParamsError(f"{where}: a params file must hold a mapping at the top")
    for change in changes:
        _apply_one(out, change, where)
    return out


def same(a: Any, b: Any) -> bool:
    """Deep equality that tells ``True`` from ``1`` and ``1`` from ``1.0`` and
    treats NaN as equal to itself: a written file must read back exactly."""
    if isinstance(a, Mapping):
        return isinstance(b, Mapping) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return (
            type(a) is type(b)
            and len(a) == len(b)
            and all(same(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and bool(a == b)


def check_written(expected: Any, actual: Any, where: str) -> None:
    """Refuse to write text that would not read back as ``expected``."""
    if not same(expected, actual):
        raise ParamsError(
            f"{where}: could not apply the change without altering other values; "
            "the file was left as it is",
            hint="Edit the file by hand, or report this as a trails bug with the file.",
        )


def update(text: str, path: str | Path, changes: list[Change]) -> str:
    """``text`` (a params file named ``path``) with ``changes`` applied by its
    format's writer."""
    new: str = _module(path).update(text, str(path), changes)
    return new


def read_text(path: Path) -> str:
    """The file's exact text ("" if missing): no newline translation, so a
    CRLF file edited and written back stays CRLF."""
    try:
        return textio.read(path)
    except FileNotFoundError:
        return ""


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step (a temporary file in the same
    folder, synced, then ``os.replace``), keeping its permission bits: a crash
    or a full disk never leaves a half-written params file. A new file gets
    the usual mode (0666 less the umask), as if the user had created it."""
    try:
        mode: int | None = path.stat().st_mode & 0o7777
    except FileNotFoundError:
        mode = None
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode("utf-8"))
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def update_file(path: Path, changes: list[Change], display: str | None = None) -> bool:
    """Apply ``changes`` to the file at ``path`` (created if missing); returns
    whether its text changed. ``display`` names it in messages."""
    name = display or str(path)
    old = read_text(path)
    new = update(old, name, changes)
    if new == old and path.exists():
        return False
    write_atomic(path, new)
    return True


def updated_texts(root: Path, changes_by_file: dict[str, list[Change]]) -> dict[str, str]:
    """Every file's new text (files named relative to ``root``), all computed
    and checked before anything is returned; nothing is written. For queued
    experiments, which carry the edits in a commit instead of the workspace."""
    return {
        name: update(read_text(root / name), name, changes)
        for name, changes in changes_by_file.items()
    }


def update_files(root: Path, changes_by_file: dict[str, list[Change]]) -> list[str]:
    """Apply the changes to several files, all or nothing: every new text is
    computed (and checked) before the first file is written, so one bad
    change leaves every file as it was. Returns the files whose text changed
    (or that were created)."""
    planned = updated_texts(root, changes_by_file)
    written: list[str] = []
    for name, new in planned.items():
        path = root / name
        if path.exists() and read_text(path) == new:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, new)
        written.append(name)
    return written
