"""A lane of a Ray queue run, as its actor process sees it (``rayexec``
opens ``--jobs`` of them). Kept apart and import-light: Ray imports this
module to create the actor, so what a run needs (``shipping``, the
executor) is imported on a thread of its own once the lane is up, while
its first entries are on their way, not before it answers."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

#: ``TRAILS_RAY_TRACE=FILE``: a timestamped line per step of a queue run
#: (the driver's and the lanes'), to see where its start goes.
_TRACE = os.environ.get("TRAILS_RAY_TRACE", "")


def trace(what: str) -> None:
    if _TRACE:
        with open(_TRACE, "a") as f:
            f.write(f"{time.time():.3f} {os.getpid()} {what}\n")


class Lane:
    """One of the ``--jobs`` slots of a queue run: a Ray actor holding the
    experiment's resources on a node for the whole run, its process (trails
    imported, its kept run folders) serving entry after entry. It runs two
    at once: the next one receives its commit, fetches its inputs and
    checks its folder out while the current one runs its stages, and takes
    the slot (``gate``) when they are over, as the local pool's spare
    workers do; they prepare one at a time (``prep``), the first first."""

    def __init__(self) -> None:
        trace("lane up")
        self.gate = threading.Semaphore(1)
        self.prep = threading.Lock()
        self.imported = threading.Thread(target=_import_run, daemon=True)
        self.imported.start()

    def node(self) -> str:
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def run(self, data: bytes, base: list[Any]) -> Iterator[bytes]:
        """One shipped entry, its events as they happen. ``base`` holds the
        baseline's bundle in the object store, fetched to the node only
        when its scratch repository lacks the baseline."""
        import ray

        trace("lane run")
        self.imported.join()
        from trails.experiments import shipping

        shipment = shipping.decode_shipment(data)
        events = shipping.work(shipment, lambda: bytes(ray.get(base[0])), self.node(), self.gate,
                               self.prep)  # fmt: skip
        for ev in events:
            yield ev.encode()


def _import_run() -> None:
    """The modules an entry's run imports (the executor, the pipeline, the
    remote), imported as the lane comes up: its first entries, shipped
    before it was, arrive meanwhile."""
    import trails.experiments.executor
    import trails.experiments.shipping
    import trails.remote.needed  # noqa: F401

    trace("lane imported")
