"""The one check of which paths trails may write or delete.

Every path that reaches trails from something it reads (a ``dvc.yaml`` out,
dep or ``wdir``, a ``.dvc`` file, ``dvc.lock``, a ``-S FILE:`` prefix,
``add -o``, ``--copy-paths``, a pulled ref's tree) or from the command line
goes through :func:`confined` before anything is written or deleted there.
A path is confined when it names something inside the project root, not the
root itself, not inside a ``.git`` or ``.dvc`` folder (at any depth, in any
letter case: a nested repository's ``.git`` is as dangerous as ours), and
not reached through a symlink that leaves the root. The last component is
never followed: trails replaces or unlinks a link, never writes through it.

Why one function: the probe of issue #14 found the check written well in one
place (stage outputs) and missing in eight others. A path refused here is
refused the same way, with the same words, wherever it came from.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from trails.errors import TrailsError

#: Folder names no path from input may enter: Git's and trails' own state.
PRIVATE_DIRS = frozenset({".git", ".dvc"})
#: File names trails reads as instructions (with any ``*.dvc``): a stage
#: output or tracked data named so would replace the pipeline that made it.
PROTECTED_NAMES = frozenset({"dvc.yaml", "dvc.lock", ".gitignore", ".dvcignore"})


class UnsafePathError(TrailsError):
    """A path from input would take trails outside what it may touch."""


def _refuse(path: str, source: str | None, why: str, hint: str | None) -> UnsafePathError:
    where = f"{source}: " if source else ""
    return UnsafePathError(
        f"{where}'{path}' {why}",
        hint=hint or "Use a path inside the project, outside .git/ and .dvc/.",
    )


def confined(
    root: Path,
    path: str | os.PathLike[str],
    *,
    source: str | None = None,
    absolute_ok: bool = False,
    hint: str | None = None,
    resolved: dict[Path, Path] | None = None,
) -> str:
    """``path`` as a normalised POSIX path relative to ``root`` if trails
    may write or delete it; else :class:`UnsafePathError` naming ``source``
    (``"x.dvc"``, ``"dvc.yaml:12"``, ``"-S"``, ...) and the reason.

    ``path`` is relative to ``root``. Paths read from files must be relative;
    ``absolute_ok`` admits an absolute path that lies inside ``root`` (a path
    typed on the command line). ``resolved``: the folders already resolved
    by a caller checking many paths at one moment (a graph's outputs; a
    fresh dict per check, so a folder replaced later is resolved again).
    """
    text = os.fspath(path)
    if not text or "\0" in text or "\n" in text or "\r" in text:
        raise _refuse(text, source, "is not a usable path (empty, or holds a NUL or newline)", hint)
    posix = text.replace("\\", "/") if os.sep == "\\" else text
    real_root = _real(root, resolved)
    if posixpath.isabs(posix):
        if not absolute_ok:
            raise _refuse(text, source, "is an absolute path", hint)
        rel = os.path.relpath(os.path.normpath(posix), real_root)
        if rel == ".." or rel.startswith("../") or rel.startswith(".." + os.sep):
            # Also accept an absolute path spelled through the root's own symlinks.
            rel = os.path.relpath(os.path.normpath(posix), os.path.abspath(root))
        posix = Path(rel).as_posix()
    norm = posixpath.normpath(posix)
    if norm == "." or norm == "":
        raise _refuse(text, source, "is the project root itself", hint)
    if norm == ".." or norm.startswith("../"):
        raise _refuse(text, source, "is outside the project", hint)
    parts = norm.split("/")
    private = next((p for p in parts if p.lower() in PRIVATE_DIRS), None)
    if private is not None:
        raise _refuse(text, source, f"is inside {private}/, which trails never writes", hint)
    parent = (real_root / norm).parent
    # Resolve the folders above the last component; the last one is never followed.
    real_parent = _real(parent, resolved)
    if real_parent != real_root and real_root not in real_parent.parents:
        raise _refuse(
            text, source, f"leads outside the project through a symlink ({real_parent})", hint
        )
    inside = real_parent.relative_to(real_root).parts
    private = next((p for p in inside if p.lower() in PRIVATE_DIRS), None)
    if private is not None:
        raise _refuse(text, source, f"leads into {private}/ through a symlink", hint)
    return norm


def _real(path: Path, resolved: dict[Path, Path] | None) -> Path:
    if resolved is None:
        return Path(os.path.realpath(path))
    if path not in resolved:
        resolved[path] = Path(os.path.realpath(path))
    return resolved[path]


def protected(path: str) -> bool:
    """Whether ``path`` (as :func:`confined` returns it) is named like a file
    trails reads as instructions; the graph adds the params files stages read."""
    name = posixpath.basename(path)
    return name in PROTECTED_NAMES or name.endswith(".dvc")


def _instruction_file(name: str) -> bool:
    """Files a stage output folder must not hold: clearing the output (before
    the stage runs, or when its recorded version is checked out) deletes them."""
    return name in ("dvc.yaml", "dvc.lock") or name.endswith(".dvc")


def check_output_folder(root: Path, dvcfile: str, stage: str, repo_path: str) -> None:
    """Refuse an output folder that holds a ``.dvc`` file, ``dvc.yaml`` or
    ``dvc.lock`` in the workspace: the graph does not know where ``.dvc``
    files are, and trails deletes the folder before the stage runs."""
    path = root / repo_path
    if not path.is_dir() or path.is_symlink():
        return
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        hit = next((f for f in sorted(filenames) if _instruction_file(f)), None)
        if hit is not None:
            rel = Path(dirpath, hit).relative_to(root).as_posix()
            raise UnsafePathError(
                f"{dvcfile}: stage '{stage}': output '{repo_path}' holds '{rel}', which trails "
                "would delete with the output",
                hint=f"Move '{rel}' out of '{repo_path}', or write the output to another path.",
            )


def remove(path: Path) -> None:
    """Delete what a confined path names, without following it: a symlink
    (to a file or a folder) is unlinked, never what it points to; a real
    folder goes with its contents. Nothing there is no error."""
    if path.is_dir() and not path.is_symlink():
        import shutil  # here: ~2 ms (bz2, lzma) that the checks do not need

        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


def is_confined(root: Path, path: str | os.PathLike[str], *, absolute_ok: bool = False) -> bool:
    """Whether :func:`confined` accepts ``path`` (for filters that skip, not fail)."""
    try:
        confined(root, path, absolute_ok=absolute_ok)
    except UnsafePathError:
        return False
    return True
