"""TOML params files: loaded with the standard library's ``tomllib``, edited
with ``tomlkit``, which keeps comments, layout and the style of every value
it is not asked to change."""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from typing import Any

from trails.params import Change, ParamsError, apply_changes, check_written, list_index, split_key


def load(text: str, path: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{m.group(1)}" if m else path
        raise ParamsError(f"{where}: malformed TOML: {exc}") from None


def _check_value(value: Any, key: str, path: str) -> None:
    """TOML has no null, and its tables cannot hold one; say so in words
    instead of tomlkit's conversion error."""
    if value is None:
        raise ParamsError(
            f"{path}: cannot set '{key}' to null: TOML has no null value",
            hint=f"Use ~{key} to delete the key instead.",
        )
    if isinstance(value, dict):
        for k, v in value.items():
            _check_value(v, f"{key}.{k}", path)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            _check_value(v, f"{key}.{i}", path)
    elif not isinstance(value, str | int | float | dt.date | dt.time):
        raise ParamsError(f"{path}: cannot write {value!r} to TOML ('{key}')")


def _item(value: Any, old: Any) -> Any:
    """``value`` as a tomlkit item: a string keeps ``old``'s literal ('...')
    quoting when it can; a float keeps TOML's spelling of inf/nan."""
    import tomlkit
    from tomlkit.items import String, StringType

    if isinstance(value, str) and isinstance(old, String):
        literal = old.type in (StringType.SLL, StringType.MLL)
        if literal and "'" not in value and "\n" not in value and value.isprintable():
            return tomlkit.string(value, literal=True)
        return tomlkit.string(value)
    if isinstance(value, float) and not math.isfinite(value):
        return tomlkit.item(value)
    return value


def _apply(doc: Any, change: Change) -> None:
    import tomlkit

    parts = split_key(change.key)
    node = doc
    for part in parts[:-1]:
        if isinstance(node, list):
            index = list_index(part, len(node), append=True)
            assert index is not None  # apply_changes refused anything else
            if index == len(node):
                node.append(tomlkit.table())
            node = node[index]
        else:
            if part not in node:
                node[part] = tomlkit.table()
            node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        index = list_index(last, len(node), append=not change.delete)
        assert index is not None
        if change.delete:
            del node[index]
        elif index == len(node):
            node.append(_item(change.value, None))
        else:
            node[index] = _item(change.value, node[index])
    elif change.delete:
        del node[last]
    else:
        node[last] = _item(change.value, node.get(last))


def update(text: str, path: str, changes: list[Change]) -> str:
    """``text`` with ``changes`` applied by tomlkit."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    if not changes:
        return text
    expected = apply_changes(load(text, path), changes, path)
    for change in changes:
        if not change.delete:
            _check_value(change.value, change.key, path)
    doc = tomlkit.parse(text)
    try:
        for change in changes:
            _apply(doc, change)
    except (TOMLKitError, ValueError, TypeError) as exc:
        raise ParamsError(f"{path}: cannot apply the change: {exc}") from None
    new = tomlkit.dumps(doc)
    check_written(expected, load(new, path), path)
    return new
