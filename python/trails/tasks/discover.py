"""Which files hold tasks: ``task_*.py`` anywhere in the project, found as
the pipeline files are (Git's listing, ``.dvcignore``), so ignored
folders (a virtual environment, data) are never entered."""

from __future__ import annotations

from pathlib import Path

#: The pattern of a task file's name (pytask's ``task_files`` default).
PATTERN = "task_*.py"


def task_files(root: Path) -> list[str]:
    """Every task file, repo-relative POSIX, sorted. One call to repoint
    when the project's one file listing lands."""
    from trails.pipeline.dvcfile import find_named

    return find_named(root, PATTERN)
