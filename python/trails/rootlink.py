"""Root with a linking cache (``cache.type`` hardlink or symlink): the
workspace file *is* the cache object (or points at it), and the object's
read-only mode does not stop root, so an in-place edit rewrites the only
cached copy under its old name. Nothing can bring that version back; what
trails does is say so: a warning when such data is added, and a note in
``status`` naming the files (of ``.dvc`` data and of stage outputs) whose
cached copy changed. (Checkout already
refuses such an object: the core verifies every object it links against
the stat index and re-hashes any whose stat changed.)

The check re-hashes objects through the stat index: an object nobody
touched is known by its ``(inode, mtime, size)`` (recorded when it was
stored), so only an edited one is read again. Only done for root with a
linking cache type, the one case where objects can change."""

from __future__ import annotations

import os
from dataclasses import replace

from trails import core
from trails.errors import TrailsError
from trails.pipeline.lockfile import FileState, LockEntry
from trails.pipeline.stage import Stage
from trails.project import Project

LINKING = ("hardlink", "symlink")


def at_risk(project: Project) -> bool:
    return os.geteuid() == 0 and any(t in LINKING for t in project.link_types)


def warning(project: Project, what: str) -> str | None:
    """The warning for storing ``what`` now, or None when it is safe."""
    if not at_risk(project):
        return None
    kind = next(t for t in project.link_types if t in LINKING)
    return (
        f"running as root with cache.type {kind}: '{what}' is linked to its only cached copy, "
        "and read-only files do not stop root; editing it in place changes that copy. "
        "Run 'trails unprotect' before editing, or use cache.type reflink or copy."
    )


def damaged(project: Project, state: FileState) -> list[str]:
    """Files of ``state`` (its path, or paths inside a folder) whose cached
    object no longer holds what its name says. Empty unless ``at_risk``."""
    if not at_risk(project) or state.hash_name != core.ALGORITHM:
        return []
    cache = project.cache_dir
    if state.is_dir:
        try:
            entries = core.read_tree(cache, state.bare_hash).entries
        except (TrailsError, OSError):
            return []  # a missing manifest: checkout names that itself
        named = [(f"{state.path}/{e.relpath}", e.hash) for e in entries]
    else:
        named = [(state.path, state.value)]
    present = [(p, h, core.object_path(cache, h)) for p, h in named]
    present = [x for x in present if os.path.isfile(x[2])]
    got = core.hash_paths([x[2] for x in present], project.index_path)
    return [p for (p, h, _), now in zip(present, got, strict=True) if now and now.hash != h]


def note(paths: list[str]) -> str:
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return f"cached copy changed in place (edited through a link as root): {shown}"


def stage_notes(project: Project, stage: Stage, entry: LockEntry) -> list[str]:
    """``status`` lines for a stage's cached outputs whose cached copy
    changed in place (asked only of a stage that changed)."""
    notes = []
    for o in stage.outs:
        state = entry.out(o.path) if o.cache else None
        bad = damaged(project, replace(state, path=o.repo_path)) if state else []
        if bad:
            notes.append(f"output '{o.path}': its {note(bad)}; the recorded version is gone")
    return notes
