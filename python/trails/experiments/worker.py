"""One worker process runs one queue entry: ``child`` in a process forked
by ``pool``'s forkserver, or ``python -m trails.experiments.worker ROOT
REF``. Either way in its own session, with its output going to the entry's
log, so that a crash or a kill touches nothing but this entry.

Exit codes: 0 done, 1 failed (entry moved to the failed refs), 3 already
taken by another worker, 4 let go by the pool before it started, 130
interrupted (entry left in the queue; 4 too)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path


def _claim(lock: Path) -> bool:
    """Take the entry: an O_EXCL lock file holding our pid; a lock whose
    process is gone is stale and taken over."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                pid = int(lock.read_text() or "0")
                os.kill(pid, 0)
                return False
            except (ValueError, ProcessLookupError):
                lock.unlink(missing_ok=True)
                continue
            except PermissionError:
                return False
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True
    return False


def _term(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


class Released(Exception):
    """The pool let a waiting worker go (``queue stop``): its entry stays
    queued."""


@dataclass
class PoolSlot:
    """The pool's say on when this experiment's stages may run: a prepared
    worker waits for ``go`` on its pipe (a ``waiting`` file in its run
    folder says so to ``queue status``), and says ``free`` when its stages
    are over, so the next experiment starts while this one records."""

    conn: Connection
    rundir: Path
    held: bool = False

    def acquire(self) -> None:
        marker = self.rundir / "waiting"
        marker.touch()
        try:
            self.conn.recv_bytes()
        except EOFError:
            raise Released from None
        finally:
            marker.unlink(missing_ok=True)
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            with contextlib.suppress(OSError):
                self.conn.send_bytes(b"free")


def child(root: str, ref: str, log: str, facts: str = "", conn: Connection | None = None) -> None:
    """The worker in a forkserver child: a session of its own (Ctrl+C and
    ``queue kill`` reach its stages as one process group) and the entry's
    log as stdout and stderr, which the stages' commands inherit.
    ``facts``: the repository's Git facts as the pool knows them (JSON,
    ``Git.facts``); ``conn``: the pool's pipe (``PoolSlot``)."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.exit(main([root, ref, facts] if facts else [root, ref], conn))


def main(argv: list[str], conn: Connection | None = None) -> int:
    root, ref = Path(argv[0]), argv[1]
    from trails.errors import TrailsError, error_message
    from trails.experiments import queue
    from trails.experiments.executor import run_entry
    from trails.git import Git
    from trails.project import Project
    from trails.runner import SubprocessRunner

    signal.signal(signal.SIGTERM, _term)
    project, git = Project(root), Git(root)
    if len(argv) > 2:
        git.adopt(json.loads(argv[2]))
    queued = queue.read_entry(git, ref)
    if queued is None:
        return 3
    entry = queued.entry
    rundir = queue.run_dir(root, entry.id)
    if not _claim(rundir / "lock"):
        return 3

    def result(**doc: object) -> None:
        (rundir / "result.json").write_text(json.dumps(doc))

    def echo(line: str) -> None:
        print(line, flush=True)
        if line.startswith("Running stage '"):
            (rundir / "stage").write_text(line.split("'")[1])

    try:
        slot = PoolSlot(conn, rundir) if conn is not None else None
        rec = run_entry(
            project, git, entry, SubprocessRunner(own_group=False), echo, queued=queued, slot=slot
        )
        result(status="success", name=rec.name, sha=rec.sha, created=entry.created)
        print(f"Ran experiment {entry.id} as '{rec.name}'", flush=True)
        return 0
    except Released:
        result(status="released")
        return 4
    except KeyboardInterrupt:
        result(status="interrupted")
        return 130
    except (TrailsError, OSError) as exc:
        print(f"Error: {error_message(exc)}", flush=True)
        hint = getattr(exc, "hint", None)
        if hint:
            print(hint, flush=True)
        queue.mark_failed(git, entry)
        result(status="failed", error=error_message(exc))
        return 1
    except Exception as exc:  # a bug: keep the traceback in the log
        traceback.print_exc()
        queue.mark_failed(git, entry)
        result(status="failed", error=repr(exc))
        return 1
    finally:
        (rundir / "lock").unlink(missing_ok=True)
        (rundir / "stage").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
