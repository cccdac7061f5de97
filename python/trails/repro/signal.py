"""The checkpoint signal: the stage's code creates
``$DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT`` (``trails.api.make_checkpoint`` does,
and so does any language, as the guide's R and Julia snippets show) and
waits until the file is gone. trails polls for it every 10 ms (the
reference tool: once a second), records the checkpoint, then removes the
file; the training process is blocked only while that commit is made.

Imports nothing of trails: ``trails.api``, which user code imports, reads
the path from here."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

SIGNAL = "DVC_CHECKPOINT"
POLL = 0.01
#: The variable naming the process that records a stage's checkpoints.
WATCHER_PID = "TRAILS_CHECKPOINT_WATCHER_PID"


def signal_path(root: Path) -> Path:
    return root / ".dvc" / "tmp" / SIGNAL


class Watcher:
    """Calls ``on_signal`` each time the signal file appears, then removes
    it, until stopped."""

    def __init__(self, root: Path, on_signal: Callable[[], None]) -> None:
        self.path = signal_path(root)
        self.on_signal = on_signal
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="checkpoint-watcher", daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.path.exists():
                try:
                    self.on_signal()
                except BaseException as exc:  # reported by stop(); the run goes on
                    self.error = self.error or exc
                finally:
                    self.path.unlink(missing_ok=True)
            time.sleep(POLL)

    def stop(self) -> None:
        """Stop watching; a signal left after the command ended is dropped."""
        self._stop.set()
        self._thread.join()
        self.path.unlink(missing_ok=True)
