"""YAML 1.2 params files: loading, and editing that keeps the file's text.

``update`` edits the text itself, span by span, using the positions the YAML
parser reports for every node: a changed scalar is replaced where it is
written, a new key becomes one inserted line, a deleted key loses its lines.
Comments, blank lines, quoting, indentation, flow/block style, ``---``,
``null`` vs ``~``, anchors and ``<<`` merges elsewhere are untouched because
nothing rewrites them.

Why not dump a ruamel.yaml round-trip document, as the reference tool does?
Measured on ruamel.yaml 0.18/0.19, a load + dump of an *unchanged* file drops
``---``, turns ``null``/``~`` into empty values, ``True`` into ``true``, ``+1``
into ``1``, re-indents mixed sequence styles and collapses ``a:   1``; adding
a key lands it under the next section's comment, and deleting a key deletes
that comment. ruamel.yaml is still used, as a fallback, for the rare edit the
span editor does not do (e.g. removing the only key of a mapping, explicit
``? key`` entries), with the indentation detected from the file and a line
width large enough that nothing is folded.

Every result is read back and compared with ``apply_changes`` (what the edit
means) before it is returned, whichever way it was made.
"""

from __future__ import annotations

import io
import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import yaml

from trails import yamlio
from trails.errors import TrailsError
from trails.params import (
    Change,
    ParamsError,
    apply_changes,
    check_written,
    get,
    list_index,
    parsed,
    same,
    split_key,
)

_MISSING = object()


def load(text: str, path: str) -> Any:
    return yamlio.loads(text, path)


class _Unsupported(Exception):
    """A layout the span editor does not edit; ruamel.yaml does it instead."""


# --- A tree of spans ---------------------------------------------------------------


@dataclass(eq=False)
class _Node:
    """One YAML node and where it is written: ``start`` is its first character
    (anchor and tag included); ``end`` is one past its last character (for a
    block collection, the end of its last item)."""

    kind: str  # "scalar", "alias", "map" or "seq"
    start: int
    end: int
    flow: bool = False
    style: str | None = None  # scalar: None (plain), "'", '"', "|" or ">"
    anchor: str | None = None
    tag: str | None = None
    value: str = ""
    pairs: list[tuple[_Node, _Node]] = field(default_factory=list)
    items: list[_Node] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        """``key:`` with nothing after it."""
        return self.kind == "scalar" and self.start == self.end

    @property
    def is_merge(self) -> bool:
        return self.kind == "scalar" and self.style is None and self.value == "<<"


def _build(loader: Any, anchors: dict[str, _Node]) -> _Node:
    ev = loader.get_event()
    start, end = ev.start_mark.index, ev.end_mark.index
    if isinstance(ev, yaml.AliasEvent):
        return _Node("alias", start, end, anchor=ev.anchor)
    if isinstance(ev, yaml.ScalarEvent):
        node = _Node(
            # libyaml says "" for a plain scalar, the Python parser None.
            "scalar",
            start,
            end,
            style=ev.style or None,
            anchor=ev.anchor,
            tag=ev.tag,
            value=ev.value,
        )
    elif isinstance(ev, yaml.MappingStartEvent):
        node = _Node("map", start, end, flow=bool(ev.flow_style), anchor=ev.anchor, tag=ev.tag)
        while not loader.check_event(yaml.MappingEndEvent):
            key = _build(loader, anchors)
            node.pairs.append((key, _build(loader, anchors)))
        _close(node, loader.get_event(), [v for _, v in node.pairs])
    elif isinstance(ev, yaml.SequenceStartEvent):
        node = _Node("seq", start, end, flow=bool(ev.flow_style), anchor=ev.anchor, tag=ev.tag)
        while not loader.check_event(yaml.SequenceEndEvent):
            node.items.append(_build(loader, anchors))
        _close(node, loader.get_event(), node.items)
    else:  # pragma: no cover - the parser yields nothing else here
        raise _Unsupported(type(ev).__name__)
    if node.anchor:
        anchors[node.anchor] = node
    return node


def _close(node: _Node, end_event: Any, children: list[_Node]) -> None:
    if node.flow:
        node.end = end_event.end_mark.index
    elif children:
        node.end = children[-1].end


def _parse(text: str, path: str) -> tuple[_Node | None, dict[str, _Node]]:
    anchors: dict[str, _Node] = {}
    # Spans are character offsets into ``text``. The pure-Python parser's
    # marks count characters; libyaml's may count bytes (and skip a BOM), so
    # it is used only for ASCII text, where the two are the same: it parses
    # a 200,000-key file in ~1 s rather than ~11 s.
    c_loader = getattr(yaml, "CSafeLoader", None)
    loader: Any = c_loader(text) if c_loader and text.isascii() else yaml.SafeLoader(text)
    try:
        loader.get_event()  # stream start
        if loader.check_event(yaml.StreamEndEvent):
            return None, anchors
        loader.get_event()  # document start
        root = _build(loader, anchors)
        loader.get_event()  # document end
        if not loader.check_event(yaml.StreamEndEvent):
            raise ParamsError(f"{path}: holds several YAML documents; params files hold one")
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else path
        raise ParamsError(f"{where}: malformed YAML: {getattr(exc, 'problem', exc)}") from None
    finally:
        loader.dispose()
    return root, anchors


# --- Writing values ----------------------------------------------------------------

_INDICATORS = set(",[]{}#&*!|>'\"%@`")


def _float_text(value: float) -> str:
    """YAML for a float that YAML 1.1 readers (PyYAML's ``safe_load``) also
    read as a float: ``1e-05`` would be a string to them, ``1.0e-05`` is not."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        text = f"{mantissa}.0e{exponent}"
    return text


def _reads_as_itself(text: str) -> bool:
    """Plain ``text`` is the same string to YAML 1.2 and to YAML 1.1 readers
    (so ``yes``, ``on``, ``1:30``, ``1_000`` get quoted too)."""
    try:
        ours = yamlio.loads(text)
        theirs = yaml.load(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, TrailsError):
        return False
    return bool(ours == text and theirs == text)


def _plain_ok(text: str, flow: bool) -> bool:
    if not text or text != text.strip() or not text.isprintable():
        return False
    if text[0] in _INDICATORS or (text[0] in "-?:" and (len(text) == 1 or text[1] == " ")):
        return False
    if ": " in text or " #" in text or text.endswith(":"):
        return False
    if flow and any(c in text for c in ",[]{}:"):
        return False
    return _reads_as_itself(text)


def _double_quoted(text: str) -> str:
    # JSON string escapes are all valid YAML double-quoted escapes.
    return json.dumps(text, ensure_ascii=not text.isprintable())


def _str_text(text: str, flow: bool, quote: str | None) -> str:
    single_ok = "\n" not in text and text.isprintable()
    if quote == "'" and single_ok:
        return "'" + text.replace("'", "''") + "'"
    if quote == '"':
        return _double_quoted(text)
    if _plain_ok(text, flow):
        return text
    if single_ok:
        return "'" + text.replace("'", "''") + "'"
    return _double_quoted(text)


def _inline(value: Any, flow: bool, quote: str | None = None) -> str:
    """``value`` written on one line: a scalar, or a flow collection."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, str):
        return _str_text(value, flow, quote)
    if isinstance(value, dict):
        inner = ", ".join(
            f"{_str_text(str(k), True, None)}: {_inline(v, True)}" for k, v in value.items()
        )
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_inline(v, True) for v in value) + "]"
    raise ParamsError(f"cannot write a {type(value).__name__} value to YAML: {value!r}")


# --- The span editor ---------------------------------------------------------------


class _Editor:
    """Applies one ``Change`` to YAML text by replacing, inserting or removing
    spans; the text is parsed afresh for every change, so spans never go stale."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.nl = "\r\n" if "\r\n" in text else "\n"
        self.root, self.anchors = _parse(text, path)
        self.map_indent, self.seq_offset = _indentation(text, self.root)

    # Positions.

    def col(self, pos: int) -> int:
        return pos - (self.text.rfind("\n", 0, pos) + 1)

    def line_start(self, pos: int) -> int:
        return self.text.rfind("\n", 0, pos) + 1

    def line_end(self, pos: int) -> int:
        """Where the line holding ``pos`` ends (before ``\\r\\n``/``\\n``)."""
        j = self.text.find("\n", pos)
        if j < 0:
            return len(self.text)
        return j - 1 if j > 0 and self.text[j - 1] == "\r" else j

    def next_line(self, pos: int) -> int:
        j = self.text.find("\n", pos)
        return len(self.text) if j < 0 else j + 1

    def trim(self, pos: int) -> int:
        """``pos`` moved back over trailing blank lines (block scalars own them)."""
        while pos > 0 and self.text[pos - 1] in " \t\r\n":
            pos -= 1
        return pos

    def at_line_start(self, pos: int) -> bool:
        return not self.text[self.line_start(pos) : pos].strip()

    def content_start(self, node: _Node) -> int:
        """Where ``node``'s value begins, after its anchor and tag."""
        pos = node.start
        while pos < len(self.text) and self.text[pos] in "&!" and (node.anchor or node.tag):
            while pos < len(self.text) and self.text[pos] not in " \t\r\n,]}":
                pos += 1
            while pos < len(self.text) and self.text[pos] in " \t":
                pos += 1
        return pos

    def colon_end(self, key: _Node) -> int:
        pos = key.end
        while pos < len(self.text) and self.text[pos] in " \t":
            pos += 1
        if pos >= len(self.text) or self.text[pos] != ":":
            raise _Unsupported("no ':' after the key")
        return pos + 1

    def splice(self, start: int, end: int, new: str) -> str:
        return self.text[:start] + new + self.text[end:]

    def insert_lines(self, pos: int, lines: list[str]) -> str:
        """``lines`` as new lines after the line holding ``pos``."""
        at = self.line_end(pos)
        return self.splice(at, at, "".join(self.nl + line for line in lines))

    # The change.

    def apply(self, change: Change) -> str:
        parts = split_key(change.key)
        root = self.root
        if root is None or (root.empty and root.style is None):
            return self.add_to_empty(parts, change.value)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            prefix = ".".join(parts[: i + 1])
            if node.kind == "map":
                index = _find(node, part)
                if index is None:
                    return self.missing_key(node, parts, i, change)
                if last:
                    return self.change_pair(node, index, change)
                node = self.descend(node.pairs[index][1], prefix, change.key)
            elif node.kind == "seq":
                index = list_index(part, len(node.items), append=not change.delete)
                if index is None:  # pragma: no cover - apply_changes refused it first
                    raise _Unsupported("bad index")
                if index == len(node.items):
                    return self.append_item(node, _nest(parts[i + 1 :], change.value))
                if last:
                    return self.change_item(node, index, change)
                node = self.descend(node.items[index], prefix, change.key)
            else:
                raise _Unsupported("a scalar on the way")
        raise _Unsupported("empty key")  # pragma: no cover

    def descend(self, node: _Node, prefix: str, key: str) -> _Node:
        if node.kind == "alias":
            raise ParamsError(
                f"{self.path}: cannot change '{key}': '{prefix}' is an alias (*{node.anchor}), "
                "shared with the anchored value",
                hint=f"Change the value under &{node.anchor}, or set '{prefix}' as a whole.",
            )
        return node

    def missing_key(self, node: _Node, parts: list[str], i: int, change: Change) -> str:
        key, prefix = change.key, ".".join(parts[: i + 1])
        inherited = parts[i] in _merged_keys(node, self.anchors)
        if change.delete:
            if inherited:
                raise ParamsError(
                    f"{self.path}: cannot delete '{key}': it is inherited through a "
                    "merge key (<<), not written in this mapping",
                    hint="Delete it where the merged mapping defines it.",
                )
            raise _Unsupported("deleting an absent key")  # pragma: no cover
        if inherited and i < len(parts) - 1:
            raise ParamsError(
                f"{self.path}: cannot set '{key}': '{prefix}' is inherited through a "
                "merge key (<<); writing part of it here would hide the rest",
                hint=f"Set it where the merged mapping defines it, or set '{prefix}' as a whole.",
            )
        return self.add_pair(node, parts[i:], change.value)

    # Adding.

    def add_to_empty(self, parts: list[str], value: Any) -> str:
        lines = self.new_lines(parts, value, 0)
        text = self.text
        if text and not text.endswith("\n"):
            text += self.nl
        return text + "".join(line + self.nl for line in lines)

    def new_lines(self, parts: list[str], value: Any, col: int) -> list[str]:
        """``a:`` / ``  b: value`` for a key whose parents are missing."""
        lines = []
        for depth, part in enumerate(parts):
            pad = " " * (col + depth * self.map_indent)
            name = _str_text(part, False, None)
            if depth < len(parts) - 1:
                lines.append(f"{pad}{name}:")
            else:
                lines.append(f"{pad}{name}: {_inline(value, False)}")
        return lines

    def add_pair(self, node: _Node, parts: list[str], value: Any) -> str:
        nested = _nest(parts[1:], value)
        if node.flow:
            entry = f"{_str_text(parts[0], True, None)}: {_inline(nested, True)}"
            if not node.pairs:
                return self.splice(node.end - 1, node.end - 1, entry)
            return self.splice(node.pairs[-1][1].end, node.pairs[-1][1].end, ", " + entry)
        if not node.pairs:  # pragma: no cover - an empty mapping is always flow
            raise _Unsupported("empty block mapping")
        col = self.col(node.pairs[0][0].start)
        return self.insert_lines(
            self.trim(node.pairs[-1][1].end), self.new_lines(parts, value, col)
        )

    def append_item(self, node: _Node, value: Any) -> str:
        if node.flow:
            if not node.items:
                return self.splice(node.end - 1, node.end - 1, _inline(value, True))
            end = node.items[-1].end
            return self.splice(end, end, ", " + _inline(value, True))
        dash = self.dash(node.items[0])
        return self.insert_lines(
            self.trim(node.items[-1].end), [" " * self.col(dash) + "- " + _inline(value, False)]
        )

    def dash(self, item: _Node) -> int:
        pos = item.start - 1
        while pos >= 0 and self.text[pos] in " \t":
            pos -= 1
        if pos < 0 or self.text[pos] != "-" or not self.at_line_start(pos):
            raise _Unsupported("sequence item not after '- ' at a line start")
        return pos

    # Changing and deleting.

    def change_pair(self, node: _Node, index: int, change: Change) -> str:
        key, value = node.pairs[index]
        if change.delete:
            if node.flow:
                return self.remove_flow_entry([k.start for k, _ in node.pairs], node, index)
            return self.remove_block_entry(
                key.start, value, [k.start for k, _ in node.pairs], index
            )
        return self.replace(value, change.value, node.flow, key)

    def change_item(self, node: _Node, index: int, change: Change) -> str:
        item = node.items[index]
        if change.delete:
            if node.flow:
                return self.remove_flow_entry([n.start for n in node.items], node, index)
            dash = self.dash(item)
            return self.remove_block_entry(dash, item, [self.dash(n) for n in node.items], index)
        return self.replace(item, change.value, node.flow, None)

    def remove_flow_entry(self, starts: list[int], node: _Node, index: int) -> str:
        ends = [v.end for _, v in node.pairs] if node.kind == "map" else [n.end for n in node.items]
        if len(starts) == 1:
            return self.splice(starts[0], ends[0], "")
        if index < len(starts) - 1:
            return self.splice(starts[index], starts[index + 1], "")
        return self.splice(ends[index - 1], ends[index], "")

    def remove_block_entry(self, start: int, value: _Node, starts: list[int], index: int) -> str:
        if len(starts) == 1:
            raise _Unsupported("removing the only entry of a block collection")
        end = self.trim(value.end)
        if self.at_line_start(start):
            return self.splice(self.line_start(start), self.next_line(end), "")
        # The first key after "- ": the next key moves up onto this line.
        following = (
            self.text[self.line_end(end) : starts[index + 1]] if index + 1 < len(starts) else "x"
        )
        if following.strip():
            raise _Unsupported("first key of a sequence item with comments after it")
        return self.splice(start, starts[index + 1], "")

    def replace(self, node: _Node, value: Any, flow: bool, key: _Node | None) -> str:
        """``node`` (the value of ``key``, or a list item) replaced by ``value``."""
        if node.kind in ("map", "seq") and not node.flow:
            return self.replace_block(node, value, key)
        if node.empty:
            return self.splice(node.start, node.end, " " + _inline(value, flow))
        quote = node.style if node.kind == "scalar" else None
        if quote in ("|", ">"):
            return self.replace_block_scalar(node, value)
        start = self.content_start(node)
        if node.tag:  # the old tag typed the old value; the new value types itself
            start, prefix = node.start, (f"&{node.anchor} " if node.anchor else "")
        else:
            prefix = ""
        if node.kind == "alias":
            start = node.start
        return self.splice(start, node.end, prefix + _inline(value, flow, quote))

    def replace_block_scalar(self, node: _Node, value: Any) -> str:
        """A ``|``/``>`` scalar: a multi-line string stays a literal block at
        the old indentation; anything else becomes an inline value."""
        if node.tag:
            raise _Unsupported("tagged block scalar")
        start = self.content_start(node)
        end = self.line_end(self.trim(node.end))
        if not _literal_ok(value):
            return self.splice(start, end, _inline(value, False))
        body = value[:-1] if value.endswith("\n") else value
        pos = self.next_line(start)
        while pos < end and not self.text[pos : self.line_end(pos)].strip():
            pos = self.next_line(pos)
        rest = self.text[pos:end]
        indent = len(rest) - len(rest.lstrip(" "))
        header = "|" if value.endswith("\n") else "|-"
        lines = [(" " * indent + line) if line else "" for line in body.split("\n")]
        return self.splice(start, end, header + "".join(self.nl + line for line in lines))

    def replace_block(self, node: _Node, value: Any, key: _Node | None) -> str:
        if node.anchor or node.tag:
            raise _Unsupported("anchored or tagged block collection")
        end = self.line_end(self.trim(node.end))
        is_dict = isinstance(value, dict) and bool(value)
        is_list = isinstance(value, list | tuple) and bool(value)
        if not (is_dict or is_list):
            start = self.colon_end(key) if key is not None else node.start
            return self.splice(start, end, (" " if key is not None else "") + _inline(value, False))
        same_kind = (node.kind == "map") == is_dict
        if same_kind:
            col = self.col(node.start)
        elif key is not None:
            col = self.col(key.start) + (self.map_indent if is_dict else self.seq_offset)
        else:
            raise _Unsupported("a list item changing between mapping and sequence")
        lines = _block_lines(value, col, self.map_indent, self.seq_offset)
        if self.at_line_start(node.start):
            start = self.line_start(node.start)
            return self.splice(start, end, self.nl.join(lines))
        if not same_kind:
            raise _Unsupported("block collection not on its own line")
        return self.splice(node.start, end, self.nl.join([lines[0].lstrip(), *lines[1:]]))


def _find(node: _Node, part: str) -> int | None:
    for i in range(len(node.pairs) - 1, -1, -1):
        key = node.pairs[i][0]
        if key.kind == "scalar" and not key.is_merge and key.value == part:
            return i
    return None


def _merged_keys(node: _Node, anchors: dict[str, _Node], depth: int = 0) -> set[str]:
    """The keys a mapping inherits through ``<<`` merge keys."""
    keys: set[str] = set()
    if depth > 50:
        return keys
    for key, value in node.pairs:
        if not key.is_merge:
            continue
        sources = value.items if value.kind == "seq" else [value]
        for source in sources:
            target = anchors.get(source.anchor or "") if source.kind == "alias" else source
            if target is not None and target.kind == "map":
                keys |= {k.value for k, _ in target.pairs if not k.is_merge}
                keys |= _merged_keys(target, anchors, depth + 1)
    return keys


def _literal_ok(value: Any) -> bool:
    """A string a ``|`` block can hold as it is (clip or strip chomping)."""
    if not isinstance(value, str):
        return False
    body = value[:-1] if value.endswith("\n") else value
    return (
        "\n" in body
        and not value.endswith("\n\n")
        and body[:1] not in (" ", "\t")
        and all(line.isprintable() for line in body.split("\n"))
    )


def _nest(parts: list[str], value: Any) -> Any:
    for part in reversed(parts):
        value = {part: value}
    return value


def _block_lines(value: Any, col: int, map_indent: int, seq_offset: int) -> list[str]:
    """A non-empty mapping or list in block style, its first line at ``col``."""
    pad = " " * col
    out: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            name = _str_text(str(k), False, None)
            if isinstance(v, dict) and v:
                out += [f"{pad}{name}:", *_block_lines(v, col + map_indent, map_indent, seq_offset)]
            elif isinstance(v, list | tuple) and v:
                out += [f"{pad}{name}:", *_block_lines(v, col + seq_offset, map_indent, seq_offset)]
            else:
                out.append(f"{pad}{name}: {_inline(v, False)}")
        return out
    for item in value:
        if isinstance(item, dict) and item:
            sub = _block_lines(item, col + 2, map_indent, seq_offset)
            out += [f"{pad}- {sub[0].lstrip()}", *sub[1:]]
        else:
            out.append(f"{pad}- {_inline(item, False)}")
    return out


def _indentation(text: str, root: _Node | None) -> tuple[int, int]:
    """The file's mapping indent and the offset of ``-`` under a key, by
    majority over its nested block collections (2 and 2 when it has none)."""
    maps: Counter[int] = Counter()
    seqs: Counter[int] = Counter()

    def col(pos: int) -> int:
        return pos - (text.rfind("\n", 0, pos) + 1)

    def walk(node: _Node) -> None:
        for key, value in node.pairs:
            if value.kind == "map" and not value.flow and value.pairs:
                maps[col(value.pairs[0][0].start) - col(key.start)] += 1
            elif value.kind == "seq" and not value.flow and value.items:
                dash = text.rfind("-", 0, value.items[0].start)
                seqs[col(dash) - col(key.start)] += 1
        for child in [v for _, v in node.pairs] + node.items:
            walk(child)

    if root is not None:
        walk(root)
    map_indent = next((n for n, _ in maps.most_common() if n > 0), 2)
    seq_offset = next((n for n, _ in seqs.most_common() if n >= 0), 2)
    return map_indent, seq_offset


# --- ruamel.yaml, for what the span editor does not do -------------------------------


def _ruamel_update(text: str, path: str, changes: list[Change]) -> str:
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    root, _ = _parse(text, path)
    map_indent, seq_offset = _indentation(text, root)
    y = YAML(typ="rt")
    y.preserve_quotes = True
    y.width = 1_000_000
    y.indent(mapping=map_indent, sequence=seq_offset + 2, offset=seq_offset)
    first = next((ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")), "")
    y.explicit_start = first.rstrip() == "---"
    doc = y.load(text) if text.strip() else None
    if doc is None:
        doc = CommentedMap()
    for change in changes:
        _ruamel_apply(doc, change)
    buf = io.StringIO()
    y.dump(doc, buf)
    out = buf.getvalue()
    return out.replace("\n", "\r\n") if "\r\n" in text else out


def _ruamel_apply(doc: Any, change: Change) -> None:
    from ruamel.yaml.comments import CommentedMap

    parts = split_key(change.key)
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict):
            if part not in node:
                node[part] = CommentedMap()
            node = node[part]
        else:
            index = list_index(part, len(node), append=True)
            assert index is not None
            if index == len(node):
                node.append(CommentedMap())
            node = node[index]
    last = parts[-1]
    if isinstance(node, dict):
        if change.delete:
            del node[last]
        else:
            node[last] = _ruamel_value(change.value, node.get(last))
        return
    index = list_index(last, len(node), append=not change.delete)
    assert index is not None
    if change.delete:
        del node[index]
    elif index == len(node):
        node.append(_ruamel_value(change.value, None))
    else:
        node[index] = _ruamel_value(change.value, node[index])


def _ruamel_value(value: Any, old: Any) -> Any:
    """``value`` as ruamel should write it: in ``old``'s quote style if both
    are strings; a collection flow-style unless it replaces a block one."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import (
        DoubleQuotedScalarString,
        LiteralScalarString,
        SingleQuotedScalarString,
    )

    if isinstance(value, str):
        for style in (SingleQuotedScalarString, DoubleQuotedScalarString, LiteralScalarString):
            if isinstance(old, style):
                return style(value)
        return value
    if isinstance(value, dict | list | tuple):
        block = isinstance(old, dict | list) and not (hasattr(old, "fa") and old.fa.flow_style())
        new: Any = (
            CommentedMap(value.items()) if isinstance(value, dict) else CommentedSeq(list(value))
        )
        if not block:
            new.fa.set_flow_style()
        return new
    return value


# --- Entry point ---------------------------------------------------------------------


def update(text: str, path: str, changes: list[Change]) -> str:
    """``text`` with ``changes`` applied, every untouched line kept as written."""
    if not changes:
        return text
    # apply_changes works on a copy: the parse itself may be shared.
    expected = apply_changes(parsed("yamlfile", text, path, shared=True), changes, path)
    first = _Editor(text, path)  # its parse also tells whether values are shared
    shared = bool(first.anchors) or (first.root is not None and "<<" in text)
    new = text
    for i, change in enumerate(changes):
        try:
            new = (first if i == 0 else _Editor(new, path)).apply(change)
        except _Unsupported:
            new = _ruamel_update(new, path, [change])
    actual = parsed("yamlfile", new, path, shared=True)
    if shared:
        _check_changed_keys(expected, actual, changes, path)
    else:
        check_written(expected, actual, path)
    return new


def _check_changed_keys(expected: Any, actual: Any, changes: list[Change], path: str) -> None:
    """With anchors, aliases and merges, a change reaches every place that
    shares the value (as a hand edit would), so only the changed keys are
    compared."""
    for change in changes:
        want = get(expected, change.key, _MISSING)
        got = get(actual, change.key, _MISSING)
        if want is _MISSING and got is not _MISSING:
            raise ParamsError(
                f"{path}: cannot delete '{change.key}': it is also inherited through a "
                "merge key (<<)",
                hint="Delete it where the merged mapping defines it.",
            )
        if (want is _MISSING) != (got is _MISSING) or not same(want, got):
            check_written(want, got, path)
