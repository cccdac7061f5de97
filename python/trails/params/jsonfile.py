"""JSON params files: loading, and editing that changes only the edited value.

``update`` scans the file once for the position of every value, then replaces,
inserts or removes just those characters: the file's indentation (2, 4, tab,
or all on one line), key order, separators and the rest of its text stay as
written. New multi-line values are indented like the file.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trails.params import Change, ParamsError, apply_changes, check_written, list_index, split_key

# The C string scanner ``json`` itself uses (not in the type stubs).
scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_WS = re.compile(r"[ \t\r\n]*")
_ATOM = re.compile(
    r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|true|false|null|NaN|-?Infinity"
)


def load(text: str, path: str) -> Any:
    try:
        return json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ParamsError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg}") from None


@dataclass(eq=False)
class _Node:
    """A JSON value and its span ``[start, end)``; an object also keeps each
    key with the span of its quoted name."""

    kind: str  # "object", "array" or "atom"
    start: int
    end: int
    keys: list[tuple[str, int, int]] = field(default_factory=list)
    children: list[_Node] = field(default_factory=list)


def _skip(text: str, pos: int) -> int:
    m = _WS.match(text, pos)
    return m.end() if m else pos


def _scan(text: str, pos: int) -> _Node:
    """The value at ``pos`` (after whitespace). The text already parsed with
    ``json.loads``, so this only needs to find where things are."""
    pos = _skip(text, pos)
    ch = text[pos : pos + 1]
    if ch == '"':
        _, end = scanstring(text, pos + 1)
        return _Node("atom", pos, end)
    if ch in ("{", "["):
        return _scan_collection(text, pos)
    m = _ATOM.match(text, pos)
    if not m:  # pragma: no cover - json.loads accepted the text
        raise ParamsError(f"unexpected JSON at offset {pos}")
    return _Node("atom", pos, m.end())


def _scan_collection(text: str, pos: int) -> _Node:
    node = _Node("object" if text[pos] == "{" else "array", pos, pos)
    closer = "}" if node.kind == "object" else "]"
    pos = _skip(text, pos + 1)
    while text[pos] != closer:
        if node.kind == "object":
            key, key_end = scanstring(text, pos + 1)
            node.keys.append((key, pos, key_end))
            pos = _skip(text, key_end) + 1  # past ':'
        child = _scan(text, pos)
        node.children.append(child)
        pos = _skip(text, child.end)
        if text[pos] == ",":
            pos = _skip(text, pos + 1)
    node.end = pos + 1
    return node


@dataclass
class _Style:
    """How the file writes things: its indent unit (``None``: all on one
    line), the text from a key's closing quote to its value, the text after a
    ``,`` inside a one-line collection, and its newline."""

    indent: str | None = "  "
    colon: str = ": "
    comma: str = ", "
    nl: str = "\n"


def _style(text: str, root: _Node) -> _Style:
    style = _Style(nl="\r\n" if "\r\n" in text else "\n")
    units: Counter[str] = Counter()
    for line in text[root.start : root.end].splitlines()[1:]:
        lead = line[: len(line) - len(line.lstrip(" \t"))]
        if lead and line.strip():
            units[lead] += 1
    style.indent = min(units, key=len) if units else None
    colon = _first(
        root,
        lambda n: [
            text[k_end : c.start] for (_, _, k_end), c in zip(n.keys, n.children, strict=True)
        ],
    )
    if colon is not None:
        style.colon = colon
    comma = _first(
        root,
        lambda n: [
            text[a.end : b]
            for a, b in zip(n.children, _starts(n)[1:], strict=False)
            if "\n" not in text[a.end : b]
        ],
    )
    if comma is not None:
        style.comma = comma
    return style


def _starts(node: _Node) -> list[int]:
    """Where each entry of a collection starts (an object's: at its key)."""
    return (
        [k for _, k, _ in node.keys] if node.kind == "object" else [c.start for c in node.children]
    )


def _first(node: _Node, pick: Callable[[_Node], list[str]]) -> str | None:
    """The first string ``pick`` finds, depth first."""
    found = pick(node)
    if found:
        return found[0]
    for child in node.children:
        if (sub := _first(child, pick)) is not None:
            return sub
    return None


class _Editor:
    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.root = _scan(text, 0) if text.strip() else None
        self.style = _style(text, self.root) if self.root else _Style()

    def line_indent(self, pos: int) -> str:
        start = self.text.rfind("\n", 0, pos) + 1
        line = self.text[start:pos]
        return line[: len(line) - len(line.lstrip(" \t"))]

    def multiline(self, node: _Node) -> bool:
        return "\n" in self.text[node.start : node.end]

    def dumps(self, value: Any, pad: str | None) -> str:
        """``value`` as JSON: on one line with the file's separators, or, with
        ``pad`` (the indentation of the line it starts on) in a multi-line
        file, a non-empty collection indented like the file."""
        indent = self.style.indent
        if pad is None or indent is None or not isinstance(value, dict | list | tuple) or not value:
            return json.dumps(
                value, ensure_ascii=False, separators=(self.style.comma, self.style.colon)
            )
        text = json.dumps(value, ensure_ascii=False, indent=indent)
        return text.replace("\n", self.style.nl + pad)

    def splice(self, start: int, end: int, new: str) -> str:
        return self.text[:start] + new + self.text[end:]

    def apply(self, change: Change) -> str:
        if self.root is None:
            data = apply_changes({}, [change], self.path)
            return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
        parts = split_key(change.key)
        node = self.root
        for i, part in enumerate(parts):
            if node.kind == "object":
                index = _find(node, part)
                if index is None:
                    return self.add_member(node, part, _nest(parts[i + 1 :], change.value))
            else:
                index = list_index(part, len(node.children), append=not change.delete)
                assert index is not None  # apply_changes refused anything else
                if index == len(node.children):
                    return self.add_member(node, None, _nest(parts[i + 1 :], change.value))
            if i == len(parts) - 1:
                return self.change_member(node, index, change)
            node = node.children[index]
        raise AssertionError("unreachable")  # pragma: no cover

    def change_member(self, node: _Node, index: int, change: Change) -> str:
        if change.delete:
            return self.remove(node, index)
        child = node.children[index]
        pad = self.line_indent(child.start) if self.multiline(child) else None
        return self.splice(child.start, child.end, self.dumps(change.value, pad))

    def entry(self, key: str | None, value: Any, pad: str | None) -> str:
        head = "" if key is None else json.dumps(key, ensure_ascii=False) + self.style.colon
        return head + self.dumps(value, pad)

    def add_member(self, node: _Node, key: str | None, value: Any) -> str:
        if node.children:
            last = node.children[-1]
            if self.multiline(node):
                pad = self.line_indent(_starts(node)[0])
                new = "," + self.style.nl + pad + self.entry(key, value, pad)
            else:
                new = self.style.comma + self.entry(key, value, None)
            return self.splice(last.end, last.end, new)
        close = node.end - 1
        if self.style.indent is None:
            return self.splice(node.start + 1, close, self.entry(key, value, None))
        outer = self.line_indent(node.start)
        inner = outer + self.style.indent
        body = self.style.nl + inner + self.entry(key, value, inner) + self.style.nl + outer
        return self.splice(node.start + 1, close, body)

    def remove(self, node: _Node, index: int) -> str:
        starts = _starts(node)
        ends = [c.end for c in node.children]
        if len(starts) == 1:
            return self.splice(node.start + 1, node.end - 1, "")
        if index < len(starts) - 1:
            return self.splice(starts[index], starts[index + 1], "")
        return self.splice(ends[index - 1], ends[index], "")


def _find(node: _Node, part: str) -> int | None:
    for i in range(len(node.keys) - 1, -1, -1):  # the last duplicate is the one read
        if node.keys[i][0] == part:
            return i
    return None


def _nest(parts: list[str], value: Any) -> Any:
    for part in reversed(parts):
        value = {part: value}
    return value


def update(text: str, path: str, changes: list[Change]) -> str:
    """``text`` with ``changes`` applied, the rest of the file as written."""
    if not changes:
        return text
    expected = apply_changes(load(text, path), changes, path)
    for value in (c.value for c in changes if not c.delete):
        _check_json(value, path)
    new = text
    for change in changes:
        new = _Editor(new, path).apply(change)
    check_written(expected, load(new, path), path)
    return new


def _check_json(value: Any, path: str) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ParamsError(f"{path}: cannot write {value!r} as JSON: {exc}") from None
