"""Importing one task file, as pytest imports a test file in its default
("prepend") mode: the first folder above it without ``__init__.py`` goes
first on ``sys.path`` and the module gets the dotted name from there, so
``from helpers import f`` beside a task file works, in collection and in
the task's worker alike."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from trails.errors import PipelineError


def module_name(path: Path) -> tuple[Path, str]:
    """The folder to put on ``sys.path`` and the module's dotted name."""
    base = path.parent
    parts = [path.stem]
    while (base / "__init__.py").is_file():
        parts.append(base.name)
        base = base.parent
    return base, ".".join(reversed(parts))


def load(root: Path, relpath: str) -> ModuleType:
    """Import ``root/relpath``. Exceptions of the user's code propagate
    (the collector turns them into ``file:line`` messages)."""
    path = (root / relpath).resolve()
    base, name = module_name(path)
    for folder in (str(base), str(root)):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    known = sys.modules.get(name)
    if known is not None:
        file = getattr(known, "__file__", None)
        if file is None or Path(file).resolve() != path:
            raise PipelineError(
                f"{relpath}:1: import file mismatch: module '{name}' is already "
                f"imported from {file}",
                hint="Give task files distinct names, or add __init__.py to their folders.",
            )
        return known
    return importlib.import_module(name)
