"""The stage model: what one ``dvc.yaml`` stage declares, after
interpolation and ``foreach``/``matrix`` expansion, with every path resolved
against the stage's ``wdir``.

Paths come in two forms. ``path`` is as written in ``dvc.yaml`` (relative to
the stage's ``wdir``); the lock file records that form, as the reference tool
does. ``repo_path`` is the same path relative to the repository root, POSIX,
normalised: what the graph, the planner and the cache use.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any, Literal

from trails.files import PIPELINE

OutKind = Literal["outs", "metrics", "plots"]

#: The name of a pipeline file (defined with the file listing, which must
#: not load this module), of a lock file and of a params file.
DVCFILE = PIPELINE
LOCKFILE = "dvc.lock"
PARAMS_FILE = "params.yaml"


def join(wdir: str, path: str) -> str:
    """``path`` (relative to ``wdir``, both relative to the repo root) as a
    normalised repo-relative POSIX path. May start with ``..`` when the path
    leaves the repo; the graph refuses such outputs."""
    return posixpath.normpath(posixpath.join(wdir, path))


@dataclass(frozen=True)
class Dep:
    path: str
    repo_path: str


@dataclass(frozen=True)
class ParamDep:
    """Params a stage reads from one file. ``keys`` empty: the whole file."""

    path: str
    repo_path: str
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Out:
    path: str
    repo_path: str
    kind: OutKind = "outs"
    cache: bool = True
    persist: bool = False
    checkpoint: bool = False
    desc: str | None = None
    remote: str | None = None
    push: bool = True
    plot: tuple[tuple[str, Any], ...] = field(default=(), compare=False)
    """A ``plots`` output's display properties (``x``, ``y``, ``template``,
    ...) as written; read by ``trails plots`` only, so not part of equality."""


@dataclass(frozen=True)
class Stage:
    name: str
    """``train``, or ``train@0`` / ``train@us`` / ``train@lr0.1-units64`` for
    ``foreach``/``matrix`` items."""
    dvcfile: str
    """Repo-relative POSIX path of the ``dvc.yaml`` that declares it."""
    cmd: tuple[str, ...]
    """Commands, run in order in ``wdir``; one for a string ``cmd``."""
    wdir: str = "."
    deps: tuple[Dep, ...] = ()
    params: tuple[ParamDep, ...] = ()
    outs: tuple[Out, ...] = ()
    frozen: bool = False
    always_changed: bool = False
    desc: str | None = None
    meta: Any = None
    line: int | None = None
    """Line of the stage's name in ``dvcfile`` (for messages)."""

    @property
    def address(self) -> str:
        """How users name the stage: ``train`` in the root ``dvc.yaml``,
        ``sub/dvc.yaml:train`` elsewhere."""
        return self.name if self.dvcfile == DVCFILE else f"{self.dvcfile}:{self.name}"

    @property
    def lock_path(self) -> str:
        """The ``dvc.lock`` beside the stage's ``dvc.yaml``."""
        return posixpath.join(posixpath.dirname(self.dvcfile), LOCKFILE)

    @property
    def has_checkpoints(self) -> bool:
        """Whether an output is ``checkpoint: true``: the stage then runs
        as a chain of checkpoints (resumed, signalled, wrapped up)."""
        return any(o.checkpoint for o in self.outs)

    @property
    def cached_outs(self) -> tuple[Out, ...]:
        return tuple(o for o in self.outs if o.cache)

    @property
    def is_task(self) -> bool:
        """A Python task (``trails.tasks``), not a ``dvc.yaml`` stage."""
        return False

    @property
    def keywords(self) -> tuple[str, ...]:
        """Marker names, for ``-m`` (tasks have them)."""
        return ()

    @property
    def recorded_cmd(self) -> str | list[str]:
        """The lock file's form of the command."""
        return self.cmd[0] if len(self.cmd) == 1 else list(self.cmd)

    def cmd_reasons(self, recorded: str | list[str]) -> list[str]:
        """Why the command recorded in the lock makes the stage stale."""
        return [] if recorded == self.recorded_cmd else ["cmd changed"]
