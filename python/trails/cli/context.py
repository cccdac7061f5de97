"""The one ``(project, git)`` pair a command works on: found from the
current folder, made once, handed to the services it calls."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trails.git import Git
    from trails.project import Project


def context() -> tuple[Project, Git]:
    """The project around the current folder and Git at its root. Imports
    stay inside, so that ``trails --help`` loads neither."""
    from trails.git import Git
    from trails.project import Project

    project = Project.find()
    return project, Git(project.root)
