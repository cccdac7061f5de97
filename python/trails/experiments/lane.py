"""A lane of a Ray queue run, as its actor process sees it (``rayexec``
opens ``--jobs`` of them). Kept apart and import-light: Ray imports this
module to create the actor, so what a run needs (``shipping``, the
executor) is imported on a thread of its own once the lane is up, while
its first entries are on their way, not before it answers."""

from __future__ import annotations

import contextlib
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
        serialization_without_pydantic()
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


def serialization_without_pydantic() -> None:
    """Ray's serialization context of this process, made now, without its
    pydantic serializers. Ray makes it on a process's first
    (de)serialization (in a lane, the first entry's call; in the driver,
    opening the lanes), and its add-ons import pydantic for it: 0.2-0.8 s
    of the start on a loaded node, the first entry not even read yet
    (``-X importtime`` in the actor). Lanes and driver pass bytes only.
    pydantic stays importable by anything else (a task file)."""
    import sys

    if "pydantic" in sys.modules:
        return
    sys.modules["pydantic"] = None  # type: ignore[assignment]
    try:
        # Another Ray may not have it: it makes its context as it likes, later.
        with contextlib.suppress(Exception):
            from ray._private.worker import global_worker

            global_worker.get_serialization_context()  # type: ignore[no-untyped-call]
    finally:
        if sys.modules.get("pydantic", 0) is None:
            del sys.modules["pydantic"]
    trace("serialization made")


def _import_run() -> None:
    """The modules an entry's run imports (the executor, the pipeline, the
    remote), imported as the lane comes up: its first entries, shipped
    before it was, arrive meanwhile."""
    import trails.experiments.executor
    import trails.experiments.shipping
    import trails.remote.needed  # noqa: F401

    trace("lane imported")
