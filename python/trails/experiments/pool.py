"""``exp run --run-all --jobs N``: N worker processes drain the queue in
FIFO order. Each entry gets its own spawned process (``worker``), in its own
process group, logging to ``.dvc/tmp/exps/run/<id>/output.log``; this
process only schedules and shows progress. Ctrl+C interrupts every running
experiment's whole process group, waits for the workers to clean up, and
leaves the unfinished entries in the queue."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trails.experiments import queue
from trails.git import Git
from trails.project import Project

if TYPE_CHECKING:
    from trails.experiments.display import QueueDisplay

POLL = 0.05


@dataclass
class PoolResult:
    done: list[tuple[str, str]] = field(default_factory=list)  # (id, name)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (id, reason)
    left: list[str] = field(default_factory=list)


@dataclass
class _Running:
    entry: queue.Entry
    proc: subprocess.Popen[bytes]
    started: float


def _start(project: Project, entry: queue.Entry) -> _Running:
    rundir = queue.run_dir(project.root, entry.id)
    rundir.mkdir(parents=True, exist_ok=True)
    (rundir / "result.json").unlink(missing_ok=True)
    (rundir / "stage").unlink(missing_ok=True)  # left by a worker that was killed
    log = (rundir / "output.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "trails.experiments.worker", str(project.root), entry.ref],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=project.root,
        start_new_session=True,
    )
    log.close()
    return _Running(entry, proc, time.monotonic())


def _outcome(project: Project, r: _Running) -> dict[str, str]:
    path = queue.run_dir(project.root, r.entry.id) / "result.json"
    try:
        doc = json.loads(path.read_text())
        return {str(k): str(v) for k, v in doc.items()}
    except (OSError, ValueError):
        code = r.proc.returncode
        return {"status": "failed", "error": f"worker exited with {code} and no result"}


def _interrupt(running: list[_Running]) -> None:
    for r in running:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(r.proc.pid, signal.SIGINT)
    deadline = time.monotonic() + 10
    for r in running:
        try:
            r.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(r.proc.pid, signal.SIGKILL)
            r.proc.wait()


def run_all(
    project: Project,
    jobs: int,
    echo: Callable[[str], None],
    draining: Callable[[], bool] = lambda: False,
    live: bool | None = False,
) -> PoolResult:
    """Run the queue with ``jobs`` workers. ``draining`` true: start no new
    entry, let the running ones finish (``queue stop``). ``live`` None: a
    live table when stdout is a terminal (see ``display``); False: the
    plain lines through ``echo``."""
    from trails.experiments.display import QueueDisplay

    git = Git(project.root)
    pending = deque(queue.entries(git))
    result = PoolResult()
    running: list[_Running] = []
    display = QueueDisplay([e.id for e in pending], jobs, echo, live=live)

    def run_dir_of(entry_id: str) -> Path:
        return queue.run_dir(project.root, entry_id)

    with display:
        try:
            while (pending and not draining()) or running:
                while pending and len(running) < jobs and not draining():
                    entry = pending.popleft()
                    running.append(_start(project, entry))
                    display.started(entry.id)
                time.sleep(POLL)
                display.poll_stages(run_dir_of)
                for r in [r for r in running if r.proc.poll() is not None]:
                    running.remove(r)
                    _report(project, r, result, display)
        except KeyboardInterrupt:
            _interrupt(running)
            result.left = [r.entry.id for r in running] + [e.id for e in pending]
            for i in result.left:
                display.left(i)
            raise
        result.left = [e.id for e in pending]
        for i in result.left:
            display.left(i)
    return result


def _report(project: Project, r: _Running, result: PoolResult, display: QueueDisplay) -> None:
    out = _outcome(project, r)
    secs = time.monotonic() - r.started
    if out.get("status") == "success":
        result.done.append((r.entry.id, out.get("name", "")))
        display.done(r.entry.id, out.get("name", ""), secs)
    elif r.proc.returncode == 3:
        display.taken(r.entry.id)
    else:
        reason = out.get("error", "failed")
        result.failed.append((r.entry.id, reason))
        log = queue.run_dir(project.root, r.entry.id) / "output.log"
        display.failed(r.entry.id, reason, project.rel(log))
