"""The daemon process: ``python -m trails.fsmonitor.serve ROOT``, started
detached by ``daemon.spawn``. One per project: it holds an exclusive
``flock`` on ``lock`` in its folder for its whole life (a second one
started meanwhile exits at once), and the kernel drops it with the
process, so a killed daemon never blocks the next."""

from __future__ import annotations

import fcntl
import os
import sys
from pathlib import Path

from trails import fsmonitor

#: Test-only knob: behave as if the kernel refused watches beyond this many
#: folders (the ``max_user_watches`` fallback, without lowering a limit
#: that is global to the machine).
MAX_WATCHES_ENV = "TRAILS_FSMONITOR_MAX_WATCHES"


def main(root: Path) -> int:
    folder = Path(fsmonitor.folder(root))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(folder / "lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # another daemon watches this project
        pid_file = folder / "pid"
        pid_file.write_text(f"{os.getpid()}\n")
        limit = os.environ.get(MAX_WATCHES_ENV)
        from trails import core

        try:
            why = core.fsmonitor_serve(root, folder, int(limit) if limit else None)
        finally:
            try:
                if pid_file.read_text().strip() == str(os.getpid()):
                    pid_file.unlink()
            except OSError:
                pass
        print(f"trails daemon {os.getpid()} stopped: {why}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
