"""``-k`` and ``-m`` expressions, in pytest's grammar::

    expr     := and_expr ("or" and_expr)*
    and_expr := not_expr ("and" not_expr)*
    not_expr := "not" not_expr | "(" expr ")" | IDENT

``-k``: an identifier matches a stage whose address (a task's node id)
holds it, case-insensitively; ``-m``: one of its marker names equals it.
Parsed into a predicate once; bad syntax is one ``UsageError``-like
``SelectionError`` naming the column."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from trails.errors import TrailsError

Predicate = Callable[[Callable[[str], bool]], bool]

_TOKEN = re.compile(r"\s*(?:(\()|(\))|([\w:+\-.\[\]\\/@]+))")


class SelectionError(TrailsError):
    pass


class _Parser:
    def __init__(self, text: str, option: str) -> None:
        self.text = text
        self.option = option
        self.tokens: list[tuple[str, int]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                rest = text[pos:].lstrip()
                if rest:
                    self._fail(len(text) - len(rest), f"unexpected character '{rest[0]}'")
                break
            self.tokens.append((m.group(0).strip(), m.start(m.lastindex or 0)))
            pos = m.end()
        self.i = 0

    def _fail(self, pos: int, what: str) -> None:
        raise SelectionError(
            f"{self.option} '{self.text}': at column {pos + 1}: {what}",
            hint="Write identifiers joined by and/or/not, with parentheses: "
            "-k 'train and not small'.",
        )

    def _peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def _take(self) -> str:
        tok = self._peek()
        if tok is None:
            self._fail(len(self.text), "expression ends too early")
        self.i += 1
        return tok or ""

    def parse(self) -> Predicate:
        if not self.tokens:
            return lambda match: True
        pred = self._or()
        if self._peek() is not None:
            self._fail(self.tokens[self.i][1], f"unexpected '{self._peek()}'")
        return pred

    def _or(self) -> Predicate:
        return self._joined("or", self._and, any)

    def _and(self) -> Predicate:
        return self._joined("and", self._not, all)

    def _joined(
        self, word: str, operand: Callable[[], Predicate], combine: Callable[[Any], bool]
    ) -> Predicate:
        """``operand (word operand)*``, combined with ``any`` or ``all``."""
        parts = [operand()]
        while self._peek() == word:
            self._take()
            parts.append(operand())
        return parts[0] if len(parts) == 1 else (lambda m: combine(p(m) for p in parts))

    def _not(self) -> Predicate:
        pos = self.tokens[self.i][1] if self.i < len(self.tokens) else len(self.text)
        tok = self._take()
        if tok == "not":
            inner = self._not()
            return lambda m: not inner(m)
        if tok == "(":
            inner = self._or()
            if self._take() != ")":
                self._fail(pos, "'(' is not closed")
            return inner
        if tok in (")", "and", "or"):
            self._fail(pos, f"expected an identifier, got '{tok}'")
        return lambda m: m(tok)


def compile_expr(text: str, option: str) -> Predicate:
    """The predicate of an expression; it calls ``match(identifier)``."""
    return _Parser(text, option).parse()


def keyword_matcher(text: str) -> Callable[[str, tuple[str, ...]], bool]:
    """``-k``: substring of the address or equal to a marker, any case."""
    pred = compile_expr(text, "-k")

    def matches(address: str, marks: tuple[str, ...]) -> bool:
        lowered = address.lower()
        names = {m.lower() for m in marks}
        return pred(lambda ident: ident.lower() in lowered or ident.lower() in names)

    return matches


def marker_matcher(text: str) -> Callable[[tuple[str, ...]], bool]:
    """``-m``: a marker name equals the identifier."""
    pred = compile_expr(text, "-m")
    return lambda marks: pred(lambda ident: ident in marks)
