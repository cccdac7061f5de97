"""The queue's worker server: a multiprocessing forkserver, spawned once
per queue run, that imports trails and then forks one worker per entry (see
``pool``). Kept apart from ``pool`` and importing nothing of trails, so
that the ``trails`` command can start it before its own imports
(``trails.entry``): the server's imports (~70 ms) then overlap the CLI's
instead of delaying the first experiment."""

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
]


def context() -> ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    assert isinstance(ctx, ForkServerContext)
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def start() -> None:
    """Start the server now (it preloads in the background); the pool's
    first worker then finds it running. Calling it again is a no-op while
    the server lives."""
    from multiprocessing import forkserver

    context()
    forkserver.ensure_running()
