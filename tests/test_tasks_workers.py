"""A task's worker, forked from the task server (``tasks.server``) or, with
``TRAILS_TASK_SERVER=0``, started as its command: either way a process of
its own per task (no state shared between tasks, a crash or an exit code
stays in it), at the project root, with the stage's environment and
trails' standard streams; and a signal to trails alone stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, gen, git
from tests.test_signals import _alive, _wait_for

Trails = Callable[..., Result]

TASKS = """\
import atexit
import os
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import trails

SEEN = []


def _facts():
    SEEN.append(1)
    return f"{os.getpid()}|{len(SEEN)}|{os.getcwd()}|{os.environ['DVC_ROOT']}|{sys.path[1]}"


def task_a(out: Annotated[Path, trails.Out] = Path("a.txt")):
    out.write_text(f"{_facts()}|{os.environ['MARK']}|{sys.stdin.read()}")


def task_b(a: Path = Path("a.txt"), out: Annotated[Path, trails.Out] = Path("sub/b.txt")):
    out.write_text(_facts())
    print("printed by b")

    def later():
        time.sleep(0.3)
        with open(out, "a") as f:
            f.write("|thread")

    threading.Thread(target=later).start()  # the worker waits for it, then runs atexit
    atexit.register(lambda: open(out, "a").write("|atexit"))


def task_exit(b: Path = Path("sub/b.txt")):
    os._exit(3)


def task_crash(b: Path = Path("sub/b.txt")):
    os.abort()
"""


@pytest.mark.parametrize("server", ["1", "0"])
def test_each_task_a_process_of_its_own_with_the_stage_environment(
    repo: Path, trails: Trails, server: str
) -> None:
    assert trails("init").code == 0
    gen(repo, {"src/task_state.py": TASKS})
    env = {**os.environ, "MARK": "marked", "TRAILS_TASK_SERVER": server}
    done = subprocess.run(
        [sys.executable, "-m", "trails", "repro", "--keep-going"], cwd=repo / "src",
        input="from stdin", capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    root = str(repo.resolve())
    a = (repo / "src/a.txt").read_text().split("|")
    b = (repo / "src/sub/b.txt").read_text().split("|")
    # sys.path: the task file's folder first (as pytest puts it), then the root.
    assert a[1:] == ["1", root, root, root, "marked", "from stdin"], "trails' stdin, at the root"
    assert b[1:] == ["1", root, root, root, "thread", "atexit"], "nothing left from task_a's"
    assert a[0] != b[0] and str(os.getpid()) not in (a[0], b[0])
    assert "printed by b" in done.stdout
    lines = [x for x in done.stdout.splitlines() if x.startswith("Error: stage ")]
    assert len(lines) == 2, done.stdout
    assert lines[0].startswith("Error: stage 'src/task_state.py::task_exit' failed: command ")
    assert lines[0].endswith(" exited with code 3")
    assert lines[1].startswith("Error: stage 'src/task_state.py::task_crash' failed: command ")
    # The shell a command runs in reports a signal as 128 + its number.
    killed = " was killed by signal 6" if server == "1" else " exited with code 134"
    assert lines[1].endswith(killed) and "Traceback" not in done.stderr
    assert "4 tasks: 2 ran, 2 failed in " in done.stdout


SLEEPER = """\
import os
import time
from pathlib import Path
from typing import Annotated

import trails


def task_loop(out: Annotated[Path, trails.Out] = Path("grow.txt")):
    Path("task.pid").write_text(str(os.getpid()))
    while True:
        with open(out, "a") as f:
            f.write("x")
        time.sleep(0.02)
"""


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_to_trails_alone_stops_a_task_from_the_server(
    repo: Path, trails: Trails, sig: int, code: int
) -> None:
    assert trails("init").code == 0
    gen(repo, {"task_loop.py": SLEEPER})
    proc = subprocess.Popen(
        [sys.executable, "-m", "trails", "repro"], cwd=repo, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    grow = repo / "grow.txt"
    _wait_for(lambda: grow.exists() and grow.stat().st_size > 5, "the task to write")
    task_pid = int((repo / "task.pid").read_text())
    os.kill(proc.pid, sig)  # trails alone, not its process group
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    _wait_for(lambda: not _alive(task_pid), "the task to stop", secs=10)
    assert not (repo / "dvc.lock").exists()


def test_many_tasks_at_once_each_with_its_own_exit_code(repo: Path, trails: Trails) -> None:
    """``-j``: workers start and end on several threads at once; each
    task's exit code is its own (none read twice, none lost)."""
    head = "import os\nfrom pathlib import Path\nfrom typing import Annotated\n\nimport trails\n"
    body = "".join(
        f"\n\ndef task_{i}(out: Annotated[Path, trails.Out] = Path('o/{i}.txt')):\n"
        f"    out.write_text('{i}')\n" + ("    os._exit(3)\n" if i % 4 == 3 else "")
        for i in range(12)
    )
    assert trails("init").code == 0
    gen(repo, {"task_many.py": head + body})
    r = trails("repro", "-j", "4", "--keep-going")
    assert r.code == 1
    assert "12 tasks: 9 ran, 3 failed in " in r.out, r.out
    failed = sorted(x.split("'")[1] for x in r.out.splitlines() if x.startswith("Error: stage "))
    assert failed == [f"task_many.py::task_{i}" for i in (11, 3, 7)]
    assert r.out.count(" exited with code 3") == 3


NAPPER = """\
import os
import subprocess
import time
from pathlib import Path
from typing import Annotated

import trails


def task_first(out: Annotated[Path, trails.Out] = Path("first.txt")):
    out.write_text("first")


def task_nap(first: Path = Path("first.txt"), out: Annotated[Path, trails.Out] = Path("nap.txt")):
    out.write_text("started")
    nap = float(os.environ.get("NAP", "0"))
    child = subprocess.Popen(["sleep", str(nap + 1)])
    Path("pids.txt").write_text(f"{os.getpid()} {child.pid}")
    time.sleep(nap)
    child.kill()
    out.write_text("done")
"""


def _children(pid: int) -> list[tuple[int, str]]:
    """The processes whose parent is ``pid``, with their command lines."""
    found = []
    for name in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if name.isdigit() and int(stat.rpartition(b")")[2].split()[1]) == pid:
            found.append((int(name), cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="finds the server through /proc")
def test_a_killed_task_server_stops_its_worker_and_the_run(repo: Path, trails: Trails) -> None:
    """The server killed while a task runs: the worker and what it started
    are gone when trails exits, with one message naming the server and the
    task, exit 1, the task not in ``dvc.lock`` (the one before it is); a
    rerun finishes the work."""
    assert trails("init").code == 0
    gen(repo, {"task_nap.py": NAPPER})
    proc = subprocess.Popen(
        [sys.executable, "-m", "trails", "repro"], cwd=repo, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "NAP": "120"},
    )  # fmt: skip
    pids = repo / "pids.txt"
    _wait_for(lambda: pids.exists() and len(pids.read_text().split()) == 2, "the task to start")
    worker, grandchild = map(int, pids.read_text().split())
    servers = [pid for pid, cmd in _children(proc.pid) if "forkserver" in cmd]
    assert len(servers) == 1, _children(proc.pid)
    os.kill(servers[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert not _alive(worker) and not _alive(grandchild), "nothing of the task runs on"
    assert "2 tasks: 1 ran, 1 failed in " in out
    assert err.count("Error: ") == 1 and "Traceback" not in err, err
    assert (
        f"the task server (pid {servers[0]}) died while task 'task_nap.py::task_nap' ran: "
        "the task was stopped and nothing of it was recorded"
    ) in err
    lock = (repo / "dvc.lock").read_text()
    assert "task_nap.py::task_first" in lock and "task_nap.py::task_nap" not in lock
    r = trails("repro")
    assert r.code == 0, r.err
    assert "2 tasks: 1 ran, 1 up to date in " in r.out
    assert (repo / "nap.txt").read_text() == "done"
    assert "task_nap.py::task_nap" in (repo / "dvc.lock").read_text()


ENVIRONMENT = """\
import os
from pathlib import Path
from typing import Annotated

import trails


def task_env(
    shell: Path = Path("shell_env.txt"),
    out: Annotated[Path, trails.Out] = Path("task_env.txt"),
):
    names = sorted(k for k in os.environ if k.startswith("DVC_"))
    out.write_text("".join(f"{k}={os.environ[k]}\\n" for k in names))
"""


@pytest.mark.parametrize("server", ["1", "0"])
def test_a_task_gets_the_dvc_environment_of_a_shell_stage(
    repo: Path, trails: Trails, server: str
) -> None:
    """In an experiment (``DVC_EXP_NAME``, ``DVC_EXP_BASELINE_REV``, beside
    ``DVC_ROOT``), a task's ``DVC_*`` variables are a shell stage's."""
    dvcyaml = (
        "stages:\n  shell:\n    cmd: env | grep '^DVC_' | LC_ALL=C sort > shell_env.txt\n"
        "    outs: [shell_env.txt]\n"
    )
    assert trails("init").code == 0
    gen(repo, {"task_env.py": ENVIRONMENT, "dvc.yaml": dvcyaml})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    r = trails("exp", "run", "-n", "envy", env={"TRAILS_TASK_SERVER": server})
    assert r.code == 0, r.out + r.err
    shell = (repo / "shell_env.txt").read_text()
    assert "DVC_EXP_NAME=envy\n" in shell and f"DVC_ROOT={repo.resolve()}\n" in shell
    assert (repo / "task_env.txt").read_text() == shell
