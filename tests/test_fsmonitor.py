"""The file watcher (``trails daemon``): with a real daemon process, every
``status`` answer is the one the full check gives without it, through
edits, renames, deletes, new folders, an inotify queue overflow, a daemon
killed mid-command, a restart, the watch limit and two projects at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import Result, baseline, gen, git, run_trails

PIPELINE = """\
stages:
  train:
    cmd: cat data/*/* > model.txt
    deps: [data]
    outs: [model.txt]
"""
FILES = {"dvc.yaml": PIPELINE, "data/a/1": "one", "data/a/2": "two", "data/b/3": "three"}
UP_TO_DATE = "Data and pipelines are up to date.\n"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(sys.platform != "linux", reason="the file watcher uses inotify"),
]


def _pid(root: Path) -> int | None:
    try:
        return int((root / ".dvc/tmp/fsmonitor/pid").read_text())
    except (OSError, ValueError):
        return None


@pytest.fixture
def projects(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """``make(name)``: a committed project with a data folder and a stage,
    its file watcher running. Every daemon is stopped afterwards."""
    made: list[Path] = []

    def make(name: str) -> Path:
        root = tmp_path / name
        root.mkdir()
        subprocess.run(["git", "init", "-q", str(root)], check=True)
        made.append(root)
        baseline(root, lambda *a, **k: run_trails(*a, cwd=root, **k), FILES)
        r = run_trails("daemon", "start", cwd=root)
        assert r.code == 0 and "File watcher running" in r.out, r.err
        return root

    yield make
    for root in made:
        run_trails("daemon", "stop", cwd=root)
        pid = _pid(root)
        if pid is not None and _is_daemon(pid):
            os.kill(pid, signal.SIGKILL)


def _is_daemon(pid: int) -> bool:
    try:
        return b"trails.fsmonitor.serve" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop_process(pid: int) -> None:
    """SIGSTOP, and wait until every thread has stopped: a reader woken by
    the signal may still drain queued events before it stops."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 30
    while True:
        states = [(t / "stat").read_text().rsplit(")", 1)[1].split()[0]
                  for t in Path(f"/proc/{pid}/task").iterdir()]  # fmt: skip
        if all(st == "T" for st in states):
            return
        assert time.monotonic() < deadline, states
        time.sleep(0.01)


def without_daemon(root: Path) -> Result:
    """The full check, as with no daemon: the CLI entered past the fast path."""
    code = "import sys\nfrom trails.cli import main\nsys.argv = ['trails', 'status']\nmain()"
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def check(root: Path) -> Result:
    """``status`` with the daemon, asserted equal to the full check's."""
    got = run_trails("status", cwd=root)
    want = without_daemon(root)
    assert (got.code, got.out) == (want.code, want.out), (got, want)
    return got


#: What the fast path must not load: it would cost more than the answer.
HEAVY = ("click", "trails.cli", "trails._core", "yaml", "ruamel", "msgspec", "json", "socket")


def replayed(root: Path) -> bool:
    """Whether ``status`` answered from the fast path (click never loaded);
    if so, none of ``HEAVY`` was imported either."""
    code = ("import sys\nsys.argv = ['trails', 'status']\nfrom trails.entry import main\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"print([m for m in {HEAVY!r} if m in sys.modules])")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    loaded = proc.stdout.splitlines()[-1]
    if "click" in loaded:
        return False
    assert loaded == "[]", loaded
    return True


def test_edits_renames_deletes_and_new_folders(projects: Callable[[str], Path]) -> None:
    root = projects("p")
    assert check(root).out == UP_TO_DATE
    assert replayed(root), "the second no-op status is answered by the fast path"
    steps: list[tuple[str, Callable[[], None], bool]] = [
        ("edit", lambda: (root / "data/a/1").write_text("ONE"), True),
        ("revert", lambda: (root / "data/a/1").write_text("one"), False),
        ("rename", lambda: (root / "data/a/2").rename(root / "data/a/2b"), True),
        ("rename back", lambda: (root / "data/a/2b").rename(root / "data/a/2"), False),
        ("folder rename", lambda: (root / "data/b").rename(root / "data/c"), True),
        ("folder back", lambda: (root / "data/c").rename(root / "data/b"), False),
        ("delete", lambda: (root / "data/b/3").unlink(), True),
        ("restore", lambda: (root / "data/b/3").write_text("three"), False),
        ("new deep folder", lambda: gen(root, {"data/n/e/w/f": "new"}), True),
        ("its removal", lambda: (root / "data/n/e/w/f").unlink(), False),
        ("output edited", lambda: (root / "model.txt").write_text("x"), True),
    ]
    for what, change, dirty in steps:
        change()
        got = check(root)
        assert (got.out != UP_TO_DATE) == dirty, (what, got.out)
    # The empty new folders left behind do not change the answer.
    assert "model.txt" in check(root).out


def test_unrelated_changes_keep_the_fast_path_and_new_pipelines_do_not(
    projects: Callable[[str], Path],
) -> None:
    root = projects("p")
    check(root)
    gen(root, {"notes/deep/er/todo.txt": "later", "README": "hi"})
    assert check(root).out == UP_TO_DATE
    assert replayed(root), "a change no stage reads keeps the kept answer"
    # A pipeline in a new folder: an answer that read nothing of it is stale.
    gen(root, {"sub/dir/dvc.yaml": "stages:\n  s:\n    cmd: echo\n    deps: [x]\n",
               "sub/dir/x": "x"})  # fmt: skip
    assert "never run" in check(root).out
    assert not replayed(root)


def test_queue_overflow_means_a_full_check(projects: Callable[[str], Path]) -> None:
    """Events beyond the kernel's queue are dropped: the daemon sees
    IN_Q_OVERFLOW, rebuilds its watches and answers "check everything"."""
    root = projects("p")
    check(root)
    pid = _pid(root)
    assert pid is not None
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    gen(root, {"notes/a": "a", "notes/b": "b"})
    check(root)  # the daemon has seen notes/ and watches it
    stop_process(pid)
    try:
        # Alternating files: the kernel merges only identical consecutive events.
        pair = (os.fspath(root / "notes/a"), os.fspath(root / "notes/b"))
        for i in range(limit + 100):
            os.utime(pair[i % 2], (i, i))
        (root / "data/a/1").write_text("lost in the overflow")
    finally:
        os.kill(pid, signal.SIGCONT)
    assert "dep 'data' changed" in check(root).out
    r = run_trails("daemon", "status", cwd=root)
    assert "1 event overflows" in r.out and "ready" in r.out, r.out
    (root / "data/a/1").write_text("one")
    assert check(root).out == UP_TO_DATE


def test_daemon_killed_mid_command_and_restarted(projects: Callable[[str], Path]) -> None:
    root = projects("p")
    check(root)
    pid = _pid(root)
    assert pid is not None
    (root / "data/a/1").write_text("changed")
    stop_process(pid)  # it accepts the question but cannot answer
    proc = subprocess.Popen([sys.executable, "-m", "trails", "status"], cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out == without_daemon(root).out and "dep 'data' changed" in out
    assert "No file watcher is running" in run_trails("daemon", "status", cwd=root).out
    (root / "data/a/1").write_text("one")
    assert check(root).out == UP_TO_DATE  # a stale socket: the full check
    # Changes made while no daemon runs are seen after a restart.
    (root / "data/b/3").write_text("edited while stopped")
    assert run_trails("daemon", "start", cwd=root).code == 0
    assert "dep 'data' changed" in check(root).out


def test_config_starts_the_daemon_and_stop_is_followed(projects: Callable[[str], Path]) -> None:
    root = projects("p")
    assert "stopped" in run_trails("daemon", "stop", cwd=root).out
    assert "No file watcher is running" in run_trails("daemon", "status", cwd=root).out
    with (root / ".dvc/config").open("a") as f:
        f.write("[core]\n    fsmonitor = true\n")
    assert check(root).out == UP_TO_DATE  # checked in full, daemon started
    deadline = time.monotonic() + 30
    while "ready" not in run_trails("daemon", "status", cwd=root).out:
        assert time.monotonic() < deadline, "core.fsmonitor did not start the daemon"
        time.sleep(0.1)
    check(root)
    assert replayed(root)
    (root / "data/a/2").unlink()
    assert "dep 'data' changed" in check(root).out


def test_two_projects_at_once(projects: Callable[[str], Path]) -> None:
    a, b = projects("a"), projects("b")
    check(a), check(b)
    (a / "data/a/1").write_text("only in a")
    assert "dep 'data' changed" in check(a).out
    assert check(b).out == UP_TO_DATE
    assert replayed(b)
    git(b, "status")  # Git may rewrite its index: still the same answer
    assert check(b).out == UP_TO_DATE


def test_watch_limit_falls_back_with_one_warning(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    baseline(root, lambda *a, **k: run_trails(*a, cwd=root, **k), FILES)
    env = {"TRAILS_FSMONITOR_MAX_WATCHES": "2"}
    r = run_trails("daemon", "start", cwd=root, env=env)
    assert r.code == 1 and "watch limit" in r.err and "max_user_watches" in r.err, r
    assert "Traceback" not in r.err
    with (root / ".dvc/config").open("a") as f:
        f.write("[core]\n    fsmonitor = true\n")
    try:
        run_trails("status", cwd=root, env=env)  # starts a daemon that cannot watch
        deadline = time.monotonic() + 30
        while "degraded" not in run_trails("daemon", "status", cwd=root).out:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        (root / "data/a/1").write_text("seen anyway")
        r = run_trails("status", cwd=root)
        assert r.err.count("Warning: the file watcher is off") == 1, r.err
        assert r.out == without_daemon(root).out and "dep 'data' changed" in r.out
    finally:
        run_trails("daemon", "stop", cwd=root)
