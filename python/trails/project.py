"""The project: its root (the folder holding ``.dvc/``), its Git repository
if any, its config, cache and local state paths; and ``trails init``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from trails.errors import TrailsError

if TYPE_CHECKING:
    from trails import config as config_mod
    from trails import files as files_mod

DVC_DIR = ".dvc"
#: What the reference tool writes to `.dvc/.gitignore`.
DVC_GITIGNORE = "/config.local\n/tmp\n/cache\n"
DVCIGNORE_TEXT = (
    "# Add patterns of files dvc should ignore, which could improve\n"
    "# the performance. Learn more at\n"
    "# https://dvc.org/doc/user-guide/dvcignore\n"
)


class ProjectError(TrailsError):
    pass


def _find_up(start: Path, name: str) -> Path | None:
    for d in (start, *start.parents):
        if (d / name).exists():
            return d
    return None


@dataclass(frozen=True)
class Project:
    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> Project:
        start = (start or Path.cwd()).resolve()
        root = _find_up(start, DVC_DIR)
        if root is None or not (root / DVC_DIR).is_dir():
            raise ProjectError(
                f"{start}: not inside a trails (or DVC) project: no .dvc folder here or above",
                hint="Run 'trails init' at the root of your Git repository first.",
            )
        return cls(root)

    @property
    def dvc_dir(self) -> Path:
        return self.root / DVC_DIR

    @property
    def tmp_dir(self) -> Path:
        return self.dvc_dir / "tmp"

    @cached_property
    def config(self) -> config_mod.Config:
        """Loaded when first asked (``configparser``: ~2 ms that a command
        reading only Git objects, ``plots --json``, does not need)."""
        from trails import config as config_mod

        return config_mod.load(self.dvc_dir)

    @property
    def cache_dir(self) -> Path:
        configured = self.config.get("cache", "dir")
        return (self.dvc_dir / configured).resolve() if configured else self.dvc_dir / "cache"

    @property
    def index_path(self) -> Path:
        """The stat index (hashes of unchanged files). A temporary
        experiment folder shares its project's (``[trails] stat_index``):
        the index is keyed by inode, and files linked from the cache are
        the same inodes there. ``TRAILS_STAT_INDEX`` overrides both, for
        ``trails bench status``, which times whole processes on a copy."""
        override = os.environ.get("TRAILS_STAT_INDEX")
        if override:
            return Path(override)
        shared = self.config.get("trails", "stat_index")
        return Path(shared) if shared else self.tmp_dir / "trails" / "stat-index"

    @property
    def link_types(self) -> tuple[str, ...]:
        from trails import core

        return self.config.link_types(core.DEFAULT_LINK_TYPES)

    @cached_property
    def has_scm(self) -> bool:
        return _find_up(self.root, ".git") is not None

    def files(self) -> files_mod.Files:
        """Which files belong to the project (pipeline and ``.dvc`` files),
        asked of Git once per process: the one answer every command takes."""
        from trails import files as files_mod

        return files_mod.of(self.root)

    def rel(self, path: Path | str) -> str:
        """``path`` relative to the root, POSIX (for messages and lock files)."""
        return Path(os.path.relpath(Path(path).resolve(), self.root)).as_posix()


def init(path: Path, *, no_scm: bool = False, force: bool = False) -> tuple[Project, list[str]]:
    """Create ``.dvc/`` (config, .gitignore) and ``.dvcignore`` in ``path``;
    stage them in Git. Returns the project and the files created."""
    path = path.resolve()
    git_root = _find_up(path, ".git")
    if git_root is None and not no_scm:
        raise ProjectError(
            f"{path} is not inside a Git repository",
            hint="Run 'git init' first, or 'trails init --no-scm' to work without Git.",
        )
    dvc = path / DVC_DIR
    if dvc.exists() and not force:
        raise ProjectError(
            f"'{DVC_DIR}' already exists in {path}: this project is already initialised",
            hint="Use 'trails init -f' to reinitialise it (cache and config are kept).",
        )
    (dvc / "tmp").mkdir(parents=True, exist_ok=True)
    created: list[str] = []
    for rel, text in (
        (f"{DVC_DIR}/config", ""),
        (f"{DVC_DIR}/.gitignore", DVC_GITIGNORE),
        (".dvcignore", DVCIGNORE_TEXT),
    ):
        target = path / rel
        if not target.exists():
            target.write_text(text)
            created.append(rel)
    if no_scm:
        cfg = dvc / "config"
        if "no_scm" not in cfg.read_text():
            cfg.write_text(cfg.read_text() + "[core]\n    no_scm = True\n")
    elif created:
        from trails.git import Git

        Git(path).run("add", "--", *created)
    return Project(path), created
