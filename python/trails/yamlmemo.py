"""YAML files parsed once per text: the data and the source lines of a
parsed ``dvc.yaml`` kept as JSON (``.dvc/tmp/trails/yaml-memo.json``),
answered from there while the text is the same.

Why: importing PyYAML and its C loader costs ~11 ms, a tenth of a
``plots diff --json`` (whose pipeline files rarely change between calls);
``json`` is loaded anyway. Only documents JSON holds exactly are kept
(mappings with string keys, lists, strings, numbers, booleans, null): a
YAML ``1: a`` key or a ``!!binary`` value is parsed every time. The memo
is keyed by the whole text, so it is never stale; one that cannot be read
(damaged, another layout) is ignored and rewritten. What it answers is
checked by the caller as a parse would be (it is only the parser's output).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: How many texts are kept (the newest): a project's pipeline files and
#: the versions of them that recent revisions hold; and the longest kept
#: (a bigger file's parse dwarfs the import, and the memo is read whole).
KEEP = 16
MAX_TEXT = 64 * 1024
VERSION = 1


@dataclass
class Lines:
    """Line numbers (1-based) of the keys and items of a loaded document,
    by their path of keys/indices: ``lines.of("stages", "train", "deps")``."""

    by_path: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def of(self, *path: Any, default: int | None = None) -> int | None:
        """The line of ``path``, or of its nearest ancestor that has one."""
        while path:
            if path in self.by_path:
                return self.by_path[path]
            path = path[:-1]
        return default


def _plain(value: Any) -> bool:
    """Whether JSON gives ``value`` back as it is."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                return False
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif v is not None and not isinstance(v, str | int | float):  # bool is an int
            return False
    return True


class Memo:
    """The memo of one project, read at the first question."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] | None = None

    def _load(self) -> list[dict[str, Any]]:
        if self.entries is None:
            self.entries = []
            try:
                doc = json.loads(self.path.read_bytes())
                if isinstance(doc, dict) and doc.get("version") == VERSION:
                    kept = doc.get("entries")
                    if isinstance(kept, list):
                        self.entries = [e for e in kept if _entry_ok(e)]
            except (OSError, ValueError, RecursionError):
                pass
        return self.entries

    def load_with_lines(self, text: str, display: str) -> tuple[Any, Lines]:
        """``yamlio.loads_with_lines(text, display)``, from the memo when it
        has this text; parsed (and kept) otherwise. Errors are the parser's."""
        for e in self._load():
            if e["text"] == text:
                return e["data"], Lines({tuple(p): n for p, n in e["lines"]})
        from trails import yamlio

        data, lines = yamlio.loads_with_lines(text, display)
        if len(text) <= MAX_TEXT and _plain(data):
            self._keep(text, data, lines)
        return data, lines

    def _keep(self, text: str, data: Any, lines: Lines) -> None:
        entries = self._load()
        entries.append({"text": text, "data": data,
                        "lines": [[list(p), n] for p, n in lines.by_path.items()]})  # fmt: skip
        del entries[:-KEEP]
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"version": VERSION, "entries": entries}), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:  # a memo is only ever a shortcut
            tmp.unlink(missing_ok=True)


def _entry_ok(e: Any) -> bool:
    """An entry of the layout ``_keep`` writes (a damaged or edited memo
    is read as far as it holds)."""
    if not isinstance(e, dict) or not isinstance(e.get("text"), str) or "data" not in e:
        return False
    lines = e.get("lines")
    return isinstance(lines, list) and all(
        isinstance(x, list) and len(x) == 2 and isinstance(x[0], list)
        and all(isinstance(k, str | int) and not isinstance(k, bool) for k in x[0])
        and isinstance(x[1], int) and not isinstance(x[1], bool)
        for x in lines
    )  # fmt: skip


_MEMOS: dict[Path, Memo] = {}


def of(tmp_dir: Path) -> Memo:
    """The memo under a project's ``.dvc/tmp``, one per process."""
    path = tmp_dir / "trails" / "yaml-memo.json"
    if path not in _MEMOS:
        _MEMOS[path] = Memo(path)
    return _MEMOS[path]
