"""Which files hold tasks: ``task_*.py`` anywhere in the project, found as
the pipeline files are (Git's listing, ``.dvcignore``), so ignored
folders (a virtual environment, data) are never entered."""

from __future__ import annotations

from pathlib import Path


def task_files(root: Path) -> list[str]:
    """Every task file, repo-relative POSIX, sorted: the project's one file
    listing (``trails.files``), which finds ``dvc.yaml`` and ``.dvc`` files
    in the same Git call."""
    from trails import files

    return list(files.of(root).listing().tasks)
