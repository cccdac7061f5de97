"""Issue #14, item 15: a signal sent to trails alone (``kill PID``, a
scheduler's SIGTERM) stops the running stage too; SIGTERM is handled like
Ctrl+C; ``make_checkpoint()`` gives up when trails is gone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, gen, git

Trails = Callable[..., Result]
PY = sys.executable

#: A stage that records its pid, then appends to a file until stopped.
LOOP = """\
import os, time
from pathlib import Path
Path("stage.pid").write_text(str(os.getpid()))
try:
    while True:
        with open("grow.txt", "a") as f:
            f.write("x")
        time.sleep(0.02)
except KeyboardInterrupt:  # Ctrl+C, forwarded: stop quietly
    raise SystemExit(130)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not stat.exists() or stat.read_text().rpartition(")")[2].split()[0] != "Z"


def _wait_for(cond: Callable[[], bool], what: str, secs: float = 30) -> None:
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _project(repo: Path, trails: Trails, script: str, outs: str) -> None:
    assert trails("init").code == 0
    gen(
        repo,
        {
            "loop.py": script,
            "params.yaml": "lr: 1\n",
            "dvc.yaml": f"stages:\n  loop:\n    cmd: {PY} loop.py\n    deps: [loop.py]\n"
            f"    params: [lr]\n{outs}",
        },
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")


@pytest.mark.parametrize(
    ("sig", "code", "message"),
    [
        (signal.SIGTERM, 143, "Interrupted (SIGTERM)."),
        (signal.SIGINT, 130, "Aborted."),
        (signal.SIGHUP, 129, "Interrupted (SIGHUP)."),
    ],
)
@pytest.mark.parametrize("command", [["repro"], ["exp", "run", "-S", "lr=2"]])
def test_signal_to_trails_alone_stops_the_stage(
    repo: Path, trails: Trails, sig: int, code: int, message: str, command: list[str]
) -> None:
    _project(repo, trails, LOOP, "    outs: [grow.txt]\n")
    proc = subprocess.Popen(
        [PY, "-m", "trails", *command],
        cwd=repo,
        stdin=subprocess.DEVNULL,  # not a terminal: stages get their own group
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    grow = repo / "grow.txt"
    _wait_for(lambda: grow.exists() and grow.stat().st_size > 5, "the stage to write")
    stage_pid = int((repo / "stage.pid").read_text())
    os.kill(proc.pid, sig)  # trails alone, not its process group
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert message in err.splitlines()
    assert "Traceback" not in err
    assert not _alive(stage_pid), "the stage outlived trails"
    size = grow.stat().st_size
    time.sleep(0.3)
    assert grow.stat().st_size == size, "the output kept growing after trails exited"


def test_sigterm_to_run_all_alone_leaves_the_entry_queued(repo: Path, trails: Trails) -> None:
    _project(repo, trails, LOOP, "    outs: [grow.txt]\n")
    assert trails("exp", "run", "--queue", "-S", "lr=3").code == 0
    proc = subprocess.Popen(
        [PY, "-m", "trails", "exp", "run", "--run-all"],
        cwd=repo,
        stdin=subprocess.DEVNULL,  # not a terminal: stages get their own group
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pids = repo / ".dvc" / "tmp" / "exps"
    _wait_for(lambda: any(pids.glob("*/stage.pid")), "the queued stage to start")
    stage_pid = int(next(pids.glob("*/stage.pid")).read_text())
    os.kill(proc.pid, signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    _wait_for(lambda: not _alive(stage_pid), "the queued stage to stop", secs=10)
    assert len(git(repo, "for-each-ref", "refs/exps/queue").splitlines()) == 1


CHECKPOINTS = """\
import os, time
from pathlib import Path
from trails.api import make_checkpoint
Path("stage.pid").write_text(str(os.getpid()))
for i in range(100000):
    Path("model.txt").write_text(str(i))
    time.sleep(0.02)
    try:
        make_checkpoint()
    except Exception as exc:
        Path("gave-up.txt").write_text(f"{type(exc).__name__}: {exc}")
        raise SystemExit(3)
"""


def test_make_checkpoint_gives_up_when_trails_is_killed(repo: Path, trails: Trails) -> None:
    _project(
        repo, trails, CHECKPOINTS, "    outs:\n      - model.txt:\n          checkpoint: true\n"
    )
    proc = subprocess.Popen(
        [PY, "-m", "trails", "exp", "run"],
        cwd=repo,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    model = repo / "model.txt"
    _wait_for(lambda: model.exists() and int(model.read_text() or 0) >= 2, "two checkpoints")
    stage_pid = int((repo / "stage.pid").read_text())
    proc.kill()  # SIGKILL: no handler runs, nothing is forwarded
    proc.wait()
    _wait_for(lambda: not _alive(stage_pid), "make_checkpoint to give up", secs=10)
    said = (repo / "gave-up.txt").read_text()
    assert said.startswith(f"CheckpointError: make_checkpoint: trails (pid {proc.pid})")
    assert "has exited; this checkpoint was not recorded" in said
    assert not (repo / ".dvc" / "tmp" / "DVC_CHECKPOINT").exists()


def test_make_checkpoint_with_a_dead_watcher_raises_and_removes_the_signal(
    tmp_path: Path,
) -> None:
    (tmp_path / ".dvc").mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    zombie = subprocess.Popen(["true"])  # exited, not reaped: still "exists"
    _wait_for(lambda: not _alive(zombie.pid), "the zombie")
    for pid in (dead.pid, zombie.pid):
        code = "from trails.api import make_checkpoint; make_checkpoint()"
        env = {
            **os.environ,
            "DVC_ROOT": str(tmp_path),
            "DVC_CHECKPOINT": "1",
            "TRAILS_CHECKPOINT_WATCHER_PID": str(pid),
        }
        r = subprocess.run([PY, "-c", code], env=env, capture_output=True, text=True, timeout=20)
        assert r.returncode == 1
        assert f"trails (pid {pid}), which records checkpoints, has exited" in r.stderr
        assert not (tmp_path / ".dvc" / "tmp" / "DVC_CHECKPOINT").exists()
    zombie.wait()


READ_TTY = """\
import os, signal, time
from pathlib import Path
Path("stage.pid").write_text(str(os.getpid()))
with open("/dev/tty") as tty:
    Path("answer.txt").write_text(tty.readline())
while True:
    time.sleep(0.02)
"""


def test_in_a_terminal_the_stage_reads_it_and_sigterm_still_stops_it(
    repo: Path, trails: Trails
) -> None:
    """In a terminal's foreground the stage shares trails' group: it can
    read the terminal (in a group of its own SIGTTIN would stop it), and
    SIGTERM to trails alone is passed on to it."""
    import fcntl
    import termios

    _project(repo, trails, READ_TTY, "")
    master, slave = os.openpty()

    def controlling_tty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [PY, "-m", "trails", "repro"],
        cwd=repo,
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
        preexec_fn=controlling_tty,
    )
    os.close(slave)
    try:
        _wait_for(lambda: (repo / "stage.pid").exists(), "the stage to start")
        os.write(master, b"hello\n")
        answer = repo / "answer.txt"
        _wait_for(lambda: answer.exists() and answer.read_text() == "hello\n", "the stage's read")
        stage_pid = int((repo / "stage.pid").read_text())
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 143
        _wait_for(lambda: not _alive(stage_pid), "the stage to stop", secs=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
