"""Python params files: module-level assignments of literals, and class
attributes (``Class.attr``), read with ``ast`` (the file is never run).

``update`` edits the source text where ``ast`` says each literal is written:
a changed value replaces just the literal (``LR = 0.1  # comment`` keeps its
comment), keys inside dict and list literals can be changed too, a new name
is appended to the module (or to its class, indented like the class body),
and a deleted name loses its line(s). String values are written like any
other (the reference tool silently skips them).
"""

from __future__ import annotations

import ast
import keyword
import math
from typing import Any

from trails.params import (
    Change,
    ParamsError,
    apply_changes,
    check_written,
    list_index,
    same,
    split_key,
)


def _literal(node: ast.expr) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _assignments(body: list[ast.stmt]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for stmt in body:
        targets: list[ast.expr] = []
        value: ast.expr | None = None
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        elif isinstance(stmt, ast.ClassDef):
            out[stmt.name] = _assignments(stmt.body)
            continue
        if value is None:
            continue
        ok, literal = _literal(value)
        if not ok:
            continue
        for t in targets:
            if isinstance(t, ast.Name):
                out[t.id] = literal
    return out


def _parse(text: str, path: str) -> ast.Module:
    try:
        return ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise ParamsError(f"{path}:{exc.lineno}: invalid Python: {exc.msg}") from None


def load(text: str, path: str) -> Any:
    return _assignments(_parse(text, path).body)


# --- Writing values ----------------------------------------------------------------


def _repr(value: Any, quote: str) -> str:
    """``repr(value)``, but strings (also inside collections) in ``quote``."""
    if isinstance(value, str):
        text = repr(value)
        if quote == '"' and text.startswith("'"):
            text = '"' + text[1:-1].replace("\\'", "'").replace('"', '\\"') + '"'
        return text
    if isinstance(value, dict):
        inner = ", ".join(f"{_repr(k, quote)}: {_repr(v, quote)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_repr(v, quote) for v in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(_repr(v, quote) for v in value)
        return "(" + inner + ("," if len(value) == 1 else "") + ")"
    return repr(value)


def _source(value: Any, quote: str, where: str) -> str:
    """``value`` as a Python literal, checked to read back as ``value``."""
    if _has_nonfinite(value):
        raise ParamsError(
            f"{where}: cannot write {value!r} to a Python params file: it has no literal "
            "for inf or nan"
        )
    text = _repr(value, quote)
    try:
        ok = same(ast.literal_eval(text), value)
    except (ValueError, SyntaxError):
        ok = False
    if not ok:
        raise ParamsError(f"{where}: cannot write {value!r} as a Python literal")
    return text


def _has_nonfinite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_nonfinite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nonfinite(v) for v in value)
    return False


def _name_ok(name: str, key: str, where: str) -> str:
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ParamsError(
            f"{where}: cannot add '{key}': '{name}' is not a valid Python name",
            hint="Python params are module-level names or class attributes.",
        )
    return name


# --- The editor ----------------------------------------------------------------------


def _targets(stmt: ast.stmt) -> list[str] | None:
    """The names a literal assignment defines, as ``load`` reads it."""
    if isinstance(stmt, ast.Assign) and _literal(stmt.value)[0]:
        return [t.id for t in stmt.targets if isinstance(t, ast.Name)]
    if isinstance(stmt, ast.AnnAssign) and stmt.value is not None and _literal(stmt.value)[0]:
        return [stmt.target.id] if isinstance(stmt.target, ast.Name) else []
    if isinstance(stmt, ast.ClassDef):
        return [stmt.name]
    return None


class _Editor:
    """Applies one ``Change`` to Python source by replacing, inserting or
    removing the source text of statements and literals."""

    def __init__(self, text: str, path: str) -> None:
        self.text = text
        self.path = path
        self.nl = "\r\n" if "\r\n" in text else "\n"
        self.tree = _parse(text, path)
        self.quote = _quote_style(self.tree, text)
        self.lines = text.split("\n")
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def offset(self, lineno: int, col: int) -> int:
        """The text offset of ``ast``'s (1-based line, UTF-8 byte column)."""
        line = self.lines[lineno - 1]
        return self.starts[lineno - 1] + len(line.encode()[:col].decode(errors="ignore"))

    def span(self, node: ast.AST) -> tuple[int, int]:
        end_line = getattr(node, "end_lineno", None) or node.lineno  # type: ignore[attr-defined]
        end_col = getattr(node, "end_col_offset", None) or 0
        return (
            self.offset(node.lineno, node.col_offset),  # type: ignore[attr-defined]
            self.offset(end_line, end_col),
        )

    def splice(self, start: int, end: int, new: str) -> str:
        return self.text[:start] + new + self.text[end:]

    def quote_of(self, node: ast.expr) -> str:
        """The quote of the string literal ``node``, else the file's."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            first = self.text[self.span(node)[0]]
            if first in "'\"":
                return first
        return self.quote

    def apply(self, change: Change) -> str:
        parts = split_key(change.key)
        body: list[ast.stmt] = self.tree.body
        owner: ast.ClassDef | None = None
        for i, part in enumerate(parts):
            stmts = [s for s in body if part in (_targets(s) or [])]
            if not stmts:
                return self.add_statement(owner, parts, i, change)
            last = i == len(parts) - 1
            stmt = stmts[-1]
            if isinstance(stmt, ast.ClassDef):
                if last:
                    return self.change_class(stmt, body, change)
                body, owner = stmt.body, stmt
                continue
            if last:
                return self.change_statement(stmts, body, owner, change)
            value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
            assert value is not None
            self.single_target(stmt, change.key)
            return self.change_literal(value, parts[i + 1 :], change)
        raise AssertionError("unreachable")  # pragma: no cover

    def single_target(self, stmt: ast.stmt, key: str) -> None:
        names = _targets(stmt) or []
        if len(names) > 1 or (isinstance(stmt, ast.Assign) and len(stmt.targets) > 1):
            raise ParamsError(
                f"{self.path}: cannot change '{key}': it is assigned together with "
                f"{', '.join(repr(n) for n in names if n != split_key(key)[0]) or 'other targets'}",
                hint="Give it an assignment of its own.",
            )

    # Statements.

    def add_statement(
        self, owner: ast.ClassDef | None, parts: list[str], i: int, change: Change
    ) -> str:
        name = _name_ok(parts[i], change.key, self.path)
        line = f"{name} = {self.lit(_nest(parts[i + 1 :], change.value))}"
        if owner is None:
            text = self.text
            if text and not text.endswith("\n"):
                text += self.nl
            return text + line + self.nl
        # After the class's last attribute (before its methods), indented like it.
        attrs = [s for s in owner.body if isinstance(s, ast.Assign | ast.AnnAssign)]
        after = (attrs or owner.body)[-1]
        pad = self.lines[after.lineno - 1][
            : self.offset(after.lineno, after.col_offset) - self.starts[after.lineno - 1]
        ]
        end = self.line_end(after)
        return self.splice(end, end, self.nl + pad + line)

    def line_end(self, stmt: ast.stmt) -> int:
        lineno = stmt.end_lineno or stmt.lineno
        return self.starts[lineno - 1] + len(self.lines[lineno - 1].rstrip("\r"))

    def change_statement(
        self,
        stmts: list[ast.stmt],
        body: list[ast.stmt],
        owner: ast.ClassDef | None,
        change: Change,
    ) -> str:
        stmt = stmts[-1]
        self.single_target(stmt, change.key)
        if change.delete:
            return self.remove_statements(stmts, body, owner)
        value = stmt.value if isinstance(stmt, ast.Assign | ast.AnnAssign) else None
        assert value is not None
        start, end = self.span(value)
        return self.splice(start, end, _source(change.value, self.quote_of(value), self.path))

    def change_class(self, stmt: ast.ClassDef, body: list[ast.stmt], change: Change) -> str:
        if not change.delete:
            raise ParamsError(
                f"{self.path}: cannot set '{change.key}': it is a class; set its attributes "
                f"('{change.key}.name=...') instead"
            )
        return self.remove_statements([stmt], body, None)

    def remove_statements(
        self, stmts: list[ast.stmt], body: list[ast.stmt], owner: ast.ClassDef | None
    ) -> str:
        """Delete whole lines, last first so earlier offsets stay valid; a
        class left empty gets ``pass``."""
        text = self.text
        for stmt in reversed(stmts):
            first = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            start = self.starts[first - 1]
            end_line = stmt.end_lineno or stmt.lineno
            stop = self.starts[end_line] if end_line < len(self.starts) else len(text)
            before = text[start : self.offset(stmt.lineno, stmt.col_offset)]
            after = text[self.span(stmt)[1] : stop]
            if before.strip() or (after.strip() and not after.strip().startswith("#")):
                raise ParamsError(
                    f"{self.path}: cannot delete line {stmt.lineno}: it holds other statements",
                    hint="Put the assignment on a line of its own.",
                )
            text = text[:start] + text[stop:]
        if owner is not None and len(stmts) == len(owner.body):
            first = owner.body[0]
            pad = self.lines[first.lineno - 1][: first.col_offset]
            at = self.starts[first.lineno - 1]
            text = text[:at] + pad + "pass" + self.nl + text[at:]
        return text

    # Literals.

    def lit(self, value: Any) -> str:
        return _source(value, self.quote, self.path)

    def change_literal(self, node: ast.expr, parts: list[str], change: Change) -> str:
        """``change`` inside a dict/list literal: ``parts`` lead from ``node``."""
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nested = _nest(parts[i + 1 :], change.value)
            if isinstance(node, ast.Dict):
                index = _dict_index(node, part)
                if index is None:
                    entry = f"{self.lit(part)}: {self.lit(nested)}"
                    return self.add_entry(node, node.values, entry)
                if last:
                    return self.change_entry(node, node.values, index, change, node.keys)
                node = node.values[index]
            elif isinstance(node, ast.List):
                index = list_index(part, len(node.elts), append=not change.delete)
                assert index is not None  # apply_changes refused anything else
                if index == len(node.elts):
                    return self.add_entry(node, node.elts, self.lit(nested))
                if last:
                    return self.change_entry(node, node.elts, index, change, None)
                node = node.elts[index]
            else:
                raise ParamsError(
                    f"{self.path}: cannot change '{change.key}': '{part}' is inside a "
                    f"{type(node).__name__.lower()} literal that cannot be edited in place"
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def add_entry(self, node: ast.expr, values: list[ast.expr], entry: str) -> str:
        if values:
            end = self.span(values[-1])[1]
            return self.splice(end, end, ", " + entry)
        end = self.span(node)[1] - 1  # before the closing bracket
        return self.splice(end, end, entry)

    def change_entry(
        self,
        node: ast.expr,
        values: list[ast.expr],
        index: int,
        change: Change,
        keys: list[ast.expr | None] | None,
    ) -> str:
        value = values[index]
        if not change.delete:
            start, end = self.span(value)
            return self.splice(start, end, _source(change.value, self.quote_of(value), self.path))
        heads = [
            self.span(k if k is not None else v)[0]
            for k, v in zip(keys or values, values, strict=True)
        ]
        ends = [self.span(v)[1] for v in values]
        if len(values) == 1:
            inner_start, inner_end = self.span(node)
            return self.splice(inner_start + 1, inner_end - 1, "")
        if index < len(values) - 1:
            return self.splice(heads[index], heads[index + 1], "")
        return self.splice(ends[index - 1], ends[index], "")


def _quote_style(tree: ast.Module, text: str) -> str:
    """The quote most string literals in the file use (``'`` if none)."""
    lines = text.split("\n")
    votes = {"'": 0, '"': 0}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            line = lines[node.lineno - 1].encode()[node.col_offset :]
            first = line[:1].decode(errors="ignore")
            if first in votes:
                votes[first] += 1
    return '"' if votes['"'] > votes["'"] else "'"


def _nest(parts: list[str], value: Any) -> Any:
    for part in reversed(parts):
        value = {part: value}
    return value


def _dict_index(node: ast.Dict, part: str) -> int | None:
    for i in range(len(node.keys) - 1, -1, -1):
        key = node.keys[i]
        if isinstance(key, ast.Constant) and key.value == part:
            return i
    return None


def update(text: str, path: str, changes: list[Change]) -> str:
    """``text`` with ``changes`` applied to its literals, the rest as written."""
    if not changes:
        return text
    expected = apply_changes(load(text, path), changes, path)
    new = text
    for change in changes:
        new = _Editor(new, path).apply(change)
    check_written(expected, load(new, path), path)
    return new
