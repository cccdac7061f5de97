"""Checkpoints: the stage's code signals each one (``trails.repro.signal``:
the signal file and its watcher); each becomes a commit.

A checkpoint experiment is a chain of commits on one ref, each the child of
the previous one, the first a child of the baseline. Each commit holds the
workspace at that checkpoint (outputs stored in the cache, metrics in Git).
The chain being extended is remembered in ``.dvc/tmp/trails/checkpoint.json``
(``records.CheckpointState``) so that the next ``exp run`` resumes it
(``--reset`` starts a new one)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trails.experiments.record import taken
from trails.experiments.records import CheckpointState, decode
from trails.experiments.refs import derive_name, ref_for
from trails.git import ZERO, Git, GitError

if TYPE_CHECKING:
    from trails.pipeline.lockfile import LockEntry


@dataclass
class Chain:
    """The commits of one checkpoint experiment, extended one at a time."""

    git: Git
    baseline: str
    name: str | None
    tip: str | None = None
    #: The commit a new chain grows from (an applied earlier checkpoint);
    #: the baseline when None.
    start: str | None = None
    force: bool = False
    message: str | None = None
    #: ``(name, tip)`` of the chain a ``--reset`` run discards: its first
    #: checkpoint may take that name (the ref expected at that tip), which a
    #: deterministic run's derived name does.
    replaces: tuple[str, str] | None = None

    def commit(self, tree: str, git: Git | None = None) -> str:
        """Add a checkpoint holding ``tree`` (nothing if the tip holds it),
        through ``git`` if given (a shielded one, from the watcher's thread)."""
        git = git or self.git
        last = self.tip or self.start
        if last is not None and git.run("rev-parse", f"{last}^{{tree}}").strip() == tree:
            return last
        if self.name is None:
            self.name = derive_name(self.baseline, tree)
        msg = self.message or f"trails: checkpoint of {self.name}"
        sha = git.commit_tree(tree, [last or self.baseline], msg)
        old = self.tip or (None if self.force else ZERO)
        if self.tip is None and self.replaces is not None and self.replaces[0] == self.name:
            old = self.replaces[1]
        try:
            git.update_ref(ref_for(self.baseline, self.name), sha, old)
        except GitError:
            raise taken(
                self.name,
                self.baseline,
                "Use -f to overwrite it, --reset to start a new one, or another -n name.",
            ) from None
        self.tip = sha
        return sha

    def chain(self) -> list[str]:
        """Checkpoint commits, newest first."""
        if self.tip is None:
            return []
        out = self.git.run("rev-list", "--first-parent", self.tip, f"^{self.baseline}")
        return out.split()


def state_path(root: Path) -> Path:
    return root / ".dvc" / "tmp" / "trails" / "checkpoint.json"


def save_state(root: Path, chain: Chain, path: Path | None = None) -> None:
    """Remember ``chain`` (in ``path``: a queued entry's run folder) so the
    next run continues it."""
    p = path or state_path(root)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(CheckpointState(baseline=chain.baseline, name=chain.name, tip=chain.tip).encode())


def resume(root: Path, git: Git, baseline: str, path: Path | None = None) -> tuple[str, str] | None:
    """``(name, tip)`` of the chain to continue on ``baseline``, if any: the
    last one this workspace (or the entry whose state is ``path``) extended
    or applied, if its ref still holds it. A state it cannot read is a
    ``RecordError``: which chain to continue is not guessed."""
    p = path or state_path(root)
    try:
        data = p.read_bytes()
    except OSError:
        return None
    source = p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)
    hint = f"Delete {source} to start a new checkpoint experiment instead of continuing one."
    doc = decode(CheckpointState, data, source, hint)
    name, tip = doc.name, doc.tip
    if doc.baseline != baseline or not name or not tip:
        return None
    current = git.rev_parse(ref_for(baseline, name))
    if current is None:
        return None
    # The tip must be on the ref's chain (it is the ref, or an applied
    # earlier checkpoint of it).
    if current != tip and tip not in git.run("rev-list", current, f"^{baseline}").split():
        return None
    return name, tip


def continued(
    root: Path, git: Git, baseline: str, path: Path | None = None
) -> tuple[str, str] | None:
    """``(name, tip)`` of the experiment the next run on ``baseline`` would
    extend: ``resume``'s chain when its ref is still at that tip (not an
    applied earlier checkpoint, from which a new experiment grows)."""
    found = resume(root, git, baseline, path)
    if found is None or git.rev_parse(ref_for(baseline, found[0])) != found[1]:
        return None
    return found


def locks_at(git: Git, commit: str, paths: list[str]) -> dict[str, dict[str, LockEntry]]:
    """The lock files ``paths`` as ``commit`` holds them (one absent there:
    no entries), through one ``cat-file``."""
    from trails import yamlio
    from trails.pipeline import lockfile

    blobs = git.read_blobs([f"{commit}:{p}" for p in paths])
    return {
        p: lockfile.parse(yamlio.loads(b.decode(errors="replace"), p), p) if b else {}
        for p, b in zip(paths, blobs, strict=True)
    }
