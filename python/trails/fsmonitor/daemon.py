"""Start, stop and ask after a project's file watcher (``trails daemon``,
and the automatic start of ``core.fsmonitor = true``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from trails import fsmonitor
from trails.errors import TrailsError
from trails.fsmonitor import client

#: How long ``start`` waits for the first walk (1M files: a few seconds).
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 5.0


class DaemonError(TrailsError):
    pass


@dataclass(frozen=True)
class Info:
    pid: int
    state: str  # ready | starting | degraded
    watches: int
    overflows: int
    reason: str


def info(root: Path) -> Info | None:
    """The running daemon's status, or None when none answers."""
    got = client.status(fsmonitor.folder(root))
    if got is None:
        return None

    def num(key: str) -> int:
        value = got.get(key, "")
        return int(value) if value.isdigit() else 0

    return Info(num("pid"), got.get("state", "?"), num("watches"), num("overflows"),
                got.get("reason", ""))  # fmt: skip


def enabled(root: Path) -> bool:
    """``core.fsmonitor`` is true in ``.dvc/config`` (or ``config.local``)."""
    from trails import config

    value = config.load(root / ".dvc").get("core", "fsmonitor", "false") or "false"
    return value.strip().lower() in ("true", "1", "yes", "on")


def spawn(root: Path) -> None:
    """Start a daemon in the background, detached from this process (its
    own session, no terminal); it goes away when a second one finds it."""
    folder = Path(fsmonitor.folder(root))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(folder / "log", "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "trails.fsmonitor.serve", os.fspath(root)],
            cwd=root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
            start_new_session=True, close_fds=True,
        )  # fmt: skip


def start(root: Path) -> Info:
    """Make sure a daemon runs and has its watches in place; its status.
    A daemon that cannot watch (the watch limit) is stopped again and
    reported as an error."""
    now = info(root)
    if now is None:
        spawn(root)
    deadline = time.monotonic() + START_TIMEOUT_S
    while now is None or now.state == "starting":
        if time.monotonic() > deadline:
            raise DaemonError(
                f"the file watcher did not get ready within {START_TIMEOUT_S:.0f} s",
                hint=f"See {fsmonitor.DIR}/log; 'trails status' works without it.",
            )
        time.sleep(0.02)
        now = info(root)
    if now.state == "degraded":
        stop(root)
        raise DaemonError(
            f"the file watcher cannot watch this project: {now.reason}",
            hint="'trails status' checks every file without it.",
        )
    return now


def _pid(root: Path) -> int | None:
    try:
        return int(Path(fsmonitor.folder(root), "pid").read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    """``pid`` is a live trails daemon (not a zombie, not a process that
    reused the number of a killed daemon's stale pid file)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"trails.fsmonitor.serve" in cmdline


def stop(root: Path) -> int | None:
    """Stop the project's daemon (asked over the socket, else SIGTERM);
    the pid it had, or None when none was running."""
    folder = fsmonitor.folder(root)
    pid = _pid(root)
    asked = client.stop(folder)
    if pid is None or not _alive(pid):
        return pid if asked else None
    deadline = time.monotonic() + STOP_TIMEOUT_S
    if not asked:
        os.kill(pid, signal.SIGTERM)
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    return pid
