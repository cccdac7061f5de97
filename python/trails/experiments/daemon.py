"""``trails queue start``: the pool of ``--run-all`` in the background.
``python -m trails.experiments.daemon ROOT JOBS``, detached, logging to
``.dvc/tmp/exps/queue.log``, its pid in ``.dvc/tmp/exps/queue.pid``.
SIGTERM (``queue stop``): finish the running experiments, start no more.
SIGINT (``queue stop --kill``): interrupt them too (entries stay queued)."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from trails.experiments.pool import PoolResult
    from trails.experiments.rayexec import RaySettings
    from trails.project import Project


def pid_path(root: Path) -> Path:
    return root / ".dvc" / "tmp" / "exps" / "queue.pid"


def running_pid(root: Path) -> int | None:
    try:
        pid = int(pid_path(root).read_text())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def log_path(root: Path) -> Path:
    return root / ".dvc" / "tmp" / "exps" / "queue.log"


def start(root: Path, jobs: int, ray: RaySettings | None = None) -> Path:
    """Start the background pool with ``jobs`` slots, detached from this
    process (its own session, so the terminal's Ctrl+C does not reach it);
    returns its log. Refused while another is running."""
    import subprocess

    from trails.errors import TrailsError

    if running_pid(root):
        raise TrailsError("queue workers are already running", hint="'trails queue stop' first.")
    log = log_path(root)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "trails.experiments.daemon", str(root), str(jobs),
             *([json.dumps([ray.address, ray.resources])] if ray else [])],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=root, start_new_session=True,
        )  # fmt: skip
    # Written here too (the daemon writes it when it starts), so that the
    # workers count as running from the moment this returns.
    pid_path(root).write_text(str(proc.pid))
    return log


def stop(root: Path, kill: bool) -> bool:
    """Ask the background pool to stop: after the running experiments
    (SIGTERM), or now (``kill``: SIGINT to its whole group, the running
    experiments' stages too). False if none is running."""
    pid = running_pid(root)
    if pid is None:
        return False
    if kill:
        os.killpg(pid, signal.SIGINT)
    else:
        os.kill(pid, signal.SIGTERM)
    return True


def main(argv: list[str]) -> int:
    from trails.project import Project

    root, jobs = Path(argv[0]), int(argv[1])
    stopping = {"flag": False}

    def drain(signum: int, frame: object) -> None:
        stopping["flag"] = True
        print("Stopping: no new experiments will start", flush=True)

    signal.signal(signal.SIGTERM, drain)
    pid_path(root).parent.mkdir(parents=True, exist_ok=True)
    pid_path(root).write_text(str(os.getpid()))
    try:
        r = _run(Project(root), jobs, argv[2] if len(argv) > 2 else "", lambda: stopping["flag"])
        print(f"Queue workers done: {len(r.done)} done, {len(r.failed)} failed", flush=True)
        return 1 if r.failed else 0
    except KeyboardInterrupt:
        print("Killed: unfinished experiments stay in the queue", flush=True)
        return 130
    finally:
        pid_path(root).unlink(missing_ok=True)


def _run(project: Project, jobs: int, ray: str, draining: Callable[[], bool]) -> PoolResult:
    """The local pool, or (``ray``: its address and resources as JSON) the
    Ray driver."""
    from trails.experiments import pool

    def echo(m: str) -> None:
        print(m, flush=True)

    if not ray:
        return pool.run_all(project, jobs, echo, draining)
    from trails.experiments import rayexec

    address, resources = json.loads(ray)
    settings = rayexec.RaySettings(address, tuple((str(k), float(v)) for k, v in resources))
    return rayexec.run_all(project, jobs, echo, settings, draining)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
