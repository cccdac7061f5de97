"""The opt-in file watcher (``trails daemon``, ``core.fsmonitor = true``):
a per-project process fed by inotify (``rust/core/src/fsmonitor.rs``) that
says which paths changed since a token, so that a no-op ``status`` answers
without walking the tree. ``docs/fsmonitor.md`` has the protocol and why an
answer is never stale.

Modules: ``client`` (the socket protocol; standard library only, it runs
before the CLI loads), ``answers`` (the ``status`` answer kept with its
token, and its replay), ``daemon`` (start, stop, status), ``serve`` (the
daemon process)."""

from __future__ import annotations

import os

#: The daemon's folder, relative to the project root (socket, pid, cookies,
#: log, the kept status answer). Under ``.dvc/tmp``, which the daemon does
#: not watch.
DIR = os.path.join(".dvc", "tmp", "fsmonitor")


def folder(root: str | os.PathLike[str]) -> str:
    return os.path.join(os.fspath(root), DIR)
