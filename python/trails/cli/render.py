"""Plain-text tables in the look of the guide's ``exp show`` (a heavy header
box, light body). Written here rather than with rich: rich's ``Table``
took ~270 ms to lay out 1,000 experiment rows, more than everything else in
a warm ``exp show``; this takes a few milliseconds. Cells are plain text,
so names like ``[exp-1a2b3]`` are never read as markup."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

#: The tree's box-drawing characters, one column wide each: a label made
#: of them and ASCII needs no per-character look-up either (10,000 labels
#: took 0.4 s that way).
_NARROW = str.maketrans("", "", "├└│─")


def _width(s: str) -> int:
    if s.isascii() or s.translate(_NARROW).isascii():  # most cells
        return len(s)
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def markdown(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The ``--md`` form of a table (``exp show``, ``metrics``), one line a row."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _narrow(cells: Sequence[str]) -> bool:
    """Whether every character of the row is one column wide (then a
    cell's width is its length: one check per row, not per cell; 10,000
    rows of 15 cells spent 0.15 s in ``_width``)."""
    joined = "".join(cells)
    return joined.isascii() or joined.translate(_NARROW).isascii()


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [_width(h) for h in headers]
    narrow = [_narrow(r) for r in rows]
    for r, plain in zip(rows, narrow, strict=True):
        for i, c in enumerate(r):
            w = len(c) if plain else _width(c)
            if w > widths[i]:
                widths[i] = w

    def line(cells: Sequence[str], edge: str, sep: str, end: str, plain: bool = False) -> str:
        if plain:
            padded = (" " + c.ljust(w) + " " for c, w in zip(cells, widths, strict=True))
        else:
            padded = (f" {c}{' ' * (w - _width(c))} " for c, w in zip(cells, widths, strict=True))
        return edge + sep.join(padded) + end

    def rule(left: str, fill: str, mid: str, right: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    out = [rule("┏", "━", "┳", "┓"), line(headers, "┃", "┃", "┃"), rule("┡", "━", "╇", "┩")]
    out += [line(r, "│", "│", "│", plain) for r, plain in zip(rows, narrow, strict=True)]
    out.append(rule("└", "─", "┴", "┘"))
    return "\n".join(out)
