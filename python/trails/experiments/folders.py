"""A run folder's companions beside it under ``.dvc/tmp/exps/``: its Git
index and, for a kept folder, the note of the commit it holds. Apart from
``executor`` so that the pool, which only keeps and removes folders, does
not import what runs an experiment (~45 ms of the ``--run-all`` process)."""

from __future__ import annotations

import shutil
from pathlib import Path


def git_index(work: Path) -> Path:
    """The Git index of an experiment's folder: kept from checkout to the
    snapshot, beside the folder (so that cleaning the folder keeps it)."""
    return work.with_name(work.name + ".git-index")


def note(work: Path) -> Path:
    """A kept folder's note of the commit it holds exactly (the last
    experiment recorded there): written after the snapshot, removed before
    anything changes the folder, so a folder without it is checked out
    afresh."""
    return work.with_name(work.name + ".holds")


def holds(work: Path) -> str | None:
    """The commit a kept folder holds exactly, if its note says one (a
    full commit id: the note is read as untrusted, like the folder)."""
    try:
        sha = note(work).read_text().strip()
    except OSError:
        return None
    if len(sha) == 40 and all(c in "0123456789abcdef" for c in sha):
        return sha
    return None


def remove_folder(work: Path) -> None:
    """An experiment's folder, its index and its note."""
    shutil.rmtree(work, ignore_errors=True)
    git_index(work).unlink(missing_ok=True)
    note(work).unlink(missing_ok=True)
