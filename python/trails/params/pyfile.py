"""Python params files: module-level assignments of literals, and class
attributes (``Class.attr``), read with ``ast`` (the file is never run)."""

from __future__ import annotations

import ast
from typing import Any

from trails.params import ParamsError


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


def load(text: str, path: str) -> Any:
    try:
        tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        raise ParamsError(f"{path}:{exc.lineno}: invalid Python: {exc.msg}") from None
    return _assignments(tree.body)
