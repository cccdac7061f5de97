"""Issue #14, the low-severity list: refused commands leave local state alone,
Git's errors and warnings read as trails' own, checkout keeps private files
private, a killed ``--run-all`` leaves no multiprocessing folders."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, gen, git

Trails = Callable[..., Result]
PY = sys.executable

PIPELINE = """\
stages:
  prep:
    cmd: cat data/f1 > prep.txt
    deps: [data]
    outs: [prep.txt]
  train:
    cmd: cat prep.txt > model.txt
    deps: [prep.txt]
    params: [lr]
    outs: [model.txt]
"""


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    assert trails("init").code == 0
    gen(repo, {"data/f1": "1\n", "data/f2": "2\n", "params.yaml": "lr: 1\n", "dvc.yaml": PIPELINE})
    assert trails("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    return repo


def _local_state(repo: Path) -> dict[str, tuple[int, int, bytes]]:
    """Every file under .dvc/tmp and the run-cache locks: size, mtime, bytes."""
    out = {}
    for top in (repo / ".dvc" / "tmp", repo / ".dvc" / "cache" / "trails-runs" / "locks"):
        for p in sorted(top.rglob("*")) if top.exists() else []:
            if p.is_file():
                st = p.stat()
                out[str(p.relative_to(repo))] = (st.st_size, st.st_mtime_ns, p.read_bytes())
    return out


MISSING_DEP = PIPELINE.replace("deps: [prep.txt]", "deps: [prep.txt, missing.txt]")
NO_WDIR = PIPELINE.replace(
    "    outs: [model.txt]\n", "    outs: [model.txt]\n    wdir: nosuchdir\n"
)


@pytest.mark.parametrize(
    ("pipeline", "command", "message"),
    [
        (MISSING_DEP, ["repro"], "stage 'train': dependency 'missing.txt' does not exist"),
        (MISSING_DEP, ["exp", "run"], "stage 'train': dependency 'missing.txt' does not exist"),
        (MISSING_DEP, ["commit", "-f"], "stage 'train': dependency 'missing.txt' does not exist"),
        (NO_WDIR, ["repro"], "dvc.yaml:6: stage 'train': wdir 'nosuchdir' is not a folder"),
        (NO_WDIR, ["exp", "run"], "dvc.yaml:6: stage 'train': wdir 'nosuchdir' is not a folder"),
    ],
)
def test_refused_commands_leave_the_stat_index_and_run_locks_alone(
    project: Path, trails: Trails, pipeline: str, command: list[str], message: str
) -> None:
    (project / "dvc.yaml").write_text(pipeline)
    # Files the stat index no longer vouches for (new mtimes, same bytes):
    # hashing them before refusing would append to the index's journal.
    old = time.time() - 600
    for name in ("data/f1", "data/f2", "prep.txt", "model.txt"):
        os.utime(project / name, (old, old))
    before = _local_state(project)
    prep = (project / "prep.txt").stat().st_mtime_ns
    r = trails(*command)
    assert r.code == 1, r.err
    assert message in r.err
    assert "Running stage" not in r.out
    assert _local_state(project) == before
    assert (project / "prep.txt").stat().st_mtime_ns == prep


def test_git_errors_read_as_one_line_without_fatal(project: Path, trails: Trails) -> None:
    assert trails("exp", "run", "-S", "lr=2", "-n", "two").code == 0
    git(project, "branch", "foo/bar")
    r = trails("exp", "branch", "two", "foo")
    assert r.code == 1
    assert r.err.splitlines() == [
        "Error: Git refused a step of this command ('git branch'): cannot lock ref "
        "'refs/heads/foo': 'refs/heads/foo/bar' exists; cannot create 'refs/heads/foo'",
        "Fix what Git names (or check the repository with 'git status'), then run again.",
    ]


def test_a_damaged_stat_index_is_one_warning_line(project: Path, trails: Trails) -> None:
    index = project / ".dvc" / "tmp" / "trails" / "stat-index"
    assert index.exists()
    index.write_bytes(b"garbage")
    os.utime(project / "data" / "f1")  # something to hash, so the index is read
    r = trails("status")
    assert r.code == 0, r.err
    warning = [line for line in r.err.splitlines() if line]
    assert warning == [
        f"Warning: {index}: stat index discarded (not a trails stat index); it will be rebuilt"
    ]


def _mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_checkout_keeps_private_files_private(project: Path, trails: Trails) -> None:
    secret = project / "secret.txt"
    secret.write_text("key\n")
    os.chmod(secret, 0o600)
    assert trails("add", "secret.txt").code == 0
    # Replaced after an edit (umask 022): stays 0600, as it was.
    secret.unlink(missing_ok=True)
    secret.write_text("changed\n")
    os.chmod(secret, 0o600)
    r = trails("checkout", "secret.txt.dvc")
    assert r.code == 0, r.err
    assert secret.read_text() == "key\n"
    assert _mode(secret) == 0o600
    # Restored from nothing: created as a new file would be, under the umask.
    secret.unlink()
    umask = "import os, sys; os.umask(0o077); from trails.cli import main; main(sys.argv[1:])"
    r = subprocess.run(
        [PY, "-c", umask, "checkout", "secret.txt.dvc"], cwd=project, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert secret.read_text() == "key\n"
    assert _mode(secret) == 0o600
    # A plain file under umask 022 is 0644, as before.
    assert _mode(project / "model.txt") in (0o644, 0o444)


def test_a_killed_run_all_leaves_no_multiprocessing_folders(project: Path, trails: Trails) -> None:
    """The pool forks its workers itself (off a terminal: no live table's
    thread), so no forkserver makes a socket folder in TMPDIR, even for a
    run killed outright; a run on a terminal falls back to one, whose
    folder the next run removes (``forkserver._name_temp_dir``)."""
    # A short TMPDIR of its own: a server's socket path must fit 107 bytes.
    tmp = Path(tempfile.mkdtemp(prefix="t", dir="/tmp"))
    request_cleanup = tmp
    gen(project, {"slow.py": "import time\ntime.sleep(60)\n"})
    (project / "dvc.yaml").write_text(
        PIPELINE + f"  slow:\n    cmd: {PY} slow.py\n    deps: [slow.py]\n    params: [lr]\n"
    )
    git(project, "add", "-A")
    git(project, "commit", "-qm", "slow")
    env = {**os.environ, "TMPDIR": str(tmp)}
    assert trails("exp", "run", "--queue", "-S", "lr=5", env=env).code == 0
    proc = subprocess.Popen(
        [PY, "-m", "trails", "exp", "run", "--run-all"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    runs = project / ".dvc" / "tmp" / "exps" / "run"
    deadline = time.monotonic() + 60
    while not any(runs.glob("*/stage")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(runs.glob("*/stage")), "the queued experiment never started"
    lock = next(runs.glob("*/lock"))
    worker = int(lock.read_text())
    proc.kill()
    proc.wait()
    os.killpg(worker, signal.SIGKILL)  # the orphaned worker and its stage
    assert [p.name for p in tmp.iterdir()] == [], "no server, no folder of its own"
    assert trails("queue", "remove", "--all").code == 0  # the next run only starts
    assert trails("exp", "run", "--run-all", env=env).code == 0
    assert [p.name for p in tmp.iterdir()] == []
    request_cleanup.rmdir()


def test_unprotect_under_a_private_umask_keeps_the_copy_private(
    project: Path, trails: Trails
) -> None:
    (project / ".dvc" / "config").write_text("[cache]\n    type = hardlink\n")
    secret = project / "secret.txt"
    secret.write_text("key\n")
    assert trails("add", "secret.txt").code == 0
    assert _mode(secret) == 0o444  # the cache object itself, linked
    umask = "import os, sys; os.umask(0o077); from trails.cli import main; main(sys.argv[1:])"
    r = subprocess.run(
        [PY, "-c", umask, "unprotect", "secret.txt"], cwd=project, capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert _mode(secret) == 0o600
    assert trails("unprotect", "model.txt").code == 0
    assert _mode(project / "model.txt") == 0o644  # umask 022: as before


def test_metrics_with_invalid_utf8_are_named(project: Path, trails: Trails) -> None:
    (project / "dvc.yaml").write_text(
        PIPELINE + "    metrics:\n      - m.json:\n          cache: false\n"
    )
    (project / "m.json").write_bytes(b'{"acc": "\xff"}')
    r = trails("metrics", "show")
    assert "m.json:1: not valid UTF-8 (byte offset 9)" in r.out + r.err
    assert "internal error" not in r.err and "Traceback" not in r.err
