"""Rendered charts kept by content: ``.dvc/tmp/trails/plots-svg/<key>.svg``.

Drawing is what a plots page costs: vl-convert starts its JavaScript
engine on the first chart of a process (seconds on this machine; each
later chart a few hundred milliseconds), while reading every revision's
data takes milliseconds. A chart's SVG depends only on its Vega-Lite spec
(data included) and on the renderer's version, so the SVG is stored under
the hash of both: a chart whose revisions did not change is not drawn
again, and a page whose charts are all known never starts the engine.

A cached file is only ever our own output read back into a page whose
Content-Security-Policy forbids scripts and fetches; one that cannot be
read is drawn again. Written by temp file + rename, so a reader never
meets half an SVG; the oldest are pruned beyond ``KEEP``."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: SVGs kept; beyond this the least recently written go.
KEEP = 512


def _renderer_version() -> str:
    """What tells one vl-convert build from another: its native library's
    size and mtime (an upgrade replaces it). ``importlib.metadata`` took
    0.12 s to say the version, more than a page of cached charts."""
    from importlib.util import find_spec

    spec = find_spec("vl_convert")
    try:
        st = os.stat(spec.origin) if spec is not None and spec.origin else None
    except OSError:
        st = None
    return f"{st.st_size}:{st.st_mtime_ns}" if st is not None else "?"


class SvgCache:
    """``get(spec, draw)``: the cached SVG of ``spec``, else ``draw(spec)``
    stored; ``own``: the same for a chart trails draws itself. ``folder``
    None: nothing kept (no project to keep it in)."""

    def __init__(self, folder: Path | None) -> None:
        self.folder = folder
        self.version = _renderer_version() if folder is not None else ""
        self.drawn = 0

    def key(self, text: str, version: str | None = None) -> str:
        """``version``: of the renderer, when it is not vl-convert."""
        return hashlib.sha256(f"{version or self.version}\n{text}".encode()).hexdigest()

    def get(
        self, spec: dict[str, Any], draw: Callable[[dict[str, Any]], str], text: str | None = None
    ) -> str:
        """``text``: the spec as JSON already made (the page embeds it);
        the same spec is always built in the same order, so its JSON
        names it."""
        if self.folder is None:
            self.drawn += 1
            return draw(spec)
        if text is None:
            text = json.dumps(spec, default=str)
        got = self._through(self.folder / f"{self.key(text)}.svg", lambda: draw(spec))
        assert got is not None
        return got

    def own(self, draw: Callable[[], str | None], text: str, version: str) -> str | None:
        """``get`` for a chart trails draws itself (``version``: its
        drawer's); ``None`` when ``draw`` declines it (nothing stored)."""
        if self.folder is None:
            return draw()
        return self._through(self.folder / f"{self.key(text, version)}.svg", draw)

    def _through(self, path: Path, draw: Callable[[], str | None]) -> str | None:
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            pass
        text = draw()
        if text is not None:
            self.drawn += 1
            self._store(path, text)
        return text

    def _store(self, path: Path, text: str) -> None:
        """Best effort: a full disk or a read-only ``.dvc/tmp`` costs a
        redraw next time, never the page."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
            self._prune(path.parent)
        except OSError:
            return

    @staticmethod
    def _prune(folder: Path) -> None:
        entries = list(os.scandir(folder))
        if len(entries) <= KEEP:
            return
        entries.sort(key=lambda e: e.stat().st_mtime_ns)
        for e in entries[: len(entries) - KEEP]:
            Path(e.path).unlink(missing_ok=True)
