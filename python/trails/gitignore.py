"""Keeping cached outputs out of Git: each gets a ``/name`` line in the
``.gitignore`` of its folder, as the reference tool does."""

from __future__ import annotations

import posixpath
from pathlib import Path


def ignore(root: Path, repo_path: str) -> str | None:
    """Add ``repo_path`` to its folder's ``.gitignore``; returns the
    ``.gitignore`` changed (repo-relative), or None if it was already there."""
    folder, name = posixpath.split(repo_path)
    gitignore = root / folder / ".gitignore"
    entry = f"/{name}"
    text = gitignore.read_text() if gitignore.exists() else ""
    if entry in text.splitlines():
        return None
    if text and not text.endswith("\n"):
        text += "\n"
    gitignore.parent.mkdir(parents=True, exist_ok=True)
    gitignore.write_text(text + entry + "\n")
    return posixpath.join(folder, ".gitignore")
