"""What the queue's workers are forked from. Usually the ``--run-all``
process itself: ``preload`` imports what a worker runs, once, before the
pool forks its first worker (``pool._Pool._context``). Where this process
cannot fork safely (another thread runs, as the live table's does once it
is drawn), a multiprocessing *forkserver* instead: a server process that
imports the same (``PRELOAD``) and forks the workers asked of it; it never
calls into the Rust core, so its forks inherit no thread pool. Kept apart
from ``pool`` and importing nothing of trails until asked."""

from __future__ import annotations

import multiprocessing
from multiprocessing.context import ForkServerContext

#: What the server imports once, before forking any worker.
PRELOAD = [
    "trails.experiments.worker",
    "trails.experiments.executor",
    "trails.runner",
    "trails.data",
    "trails.params.yamlfile",
    "trails.pipeline.dvcfile",
    "trails.progress",
    "trails.tasks.discover",
    "trails.tasks.graph",
    "trails.experiments.warmup",
]


#: Set once this process has named its multiprocessing folder.
_NAMED: list[str] = []


def _name_temp_dir() -> None:
    """Name multiprocessing's temporary folder (``pymp-*``, where the
    server's socket lives) by a symlink ``trails-mp-<pid>`` beside it.
    multiprocessing removes the folder at exit, but a ``--run-all`` killed
    outright (SIGKILL) cannot: the next one removes the folders whose
    process is gone. A symlink rather than a folder of ours around it: the
    socket's path must stay under 108 bytes."""
    import os
    import shutil
    import tempfile
    from multiprocessing import util

    if _NAMED:
        return
    base = tempfile.gettempdir()
    for name in os.listdir(base):
        pid = name.removeprefix("trails-mp-")
        if name == pid or not pid.isdigit():
            continue
        link = os.path.join(base, name)
        try:
            os.kill(int(pid), 0)
            continue
        except PermissionError:
            continue  # another user's live process
        except ProcessLookupError:
            pass
        if os.lstat(link).st_uid == os.getuid():
            target = os.path.join(base, os.readlink(link))
            if os.path.basename(target).startswith("pymp-"):
                shutil.rmtree(target, ignore_errors=True)
            os.unlink(link)
    folder = util.get_temp_dir()
    link = os.path.join(base, f"trails-mp-{os.getpid()}")
    if os.path.dirname(folder) == base and not os.path.lexists(link):
        os.symlink(os.path.basename(folder), link)
        # After multiprocessing's own removal of the folder (priority -100).
        util.Finalize(None, os.unlink, args=(link,), exitpriority=-200)
    _NAMED.append(folder)


def preload() -> None:
    """Import ``PRELOAD`` here, for the workers this process forks."""
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)


def context() -> ForkServerContext:
    _name_temp_dir()
    ctx = multiprocessing.get_context("forkserver")
    assert isinstance(ctx, ForkServerContext)
    ctx.set_forkserver_preload(PRELOAD)
    return ctx
