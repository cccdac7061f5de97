"""The queue, --run-all and --temp through the real CLI: the guide's
examples, isolation from the workspace, failures, interrupts."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, baseline, exp_rows, gen, git, left_by_runs

Trails = Callable[..., Result]
PY = sys.executable

PIPELINE = f"""\
stages:
  train:
    cmd: {PY} train.py
    deps: [train.py, data.txt]
    params: [units]
    outs: [model.bin]
    metrics:
      - metrics.json:
          cache: false
"""
TRAIN = (
    "import json, os, re, time\n"
    "units = int(re.search(r'units: (\\S+)', open('params.yaml').read()).group(1))\n"
    "time.sleep(float(os.environ.get('TRAIN_SLEEP', '0')))\n"
    "if units == 13: raise SystemExit('unlucky units')\n"
    "open('model.bin', 'w').write(open('data.txt').read() * units)\n"
    "json.dump({'loss': 1 / units, 'exp': os.environ.get('DVC_EXP_NAME', '')},"
    " open('metrics.json', 'w'))\n"
)


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    params = "units: 32  # hidden units\nlr: 0.1\n"
    files = {"dvc.yaml": PIPELINE, "train.py": TRAIN, "data.txt": "d", "params.yaml": params}
    return baseline(repo, trails, files)


def names(trails: Trails) -> dict[str, float]:
    rows = exp_rows(trails("exp", "show", "--json").out)
    return {
        r["name"]: r["params"]["params.yaml"]["units"] for r in rows if r["kind"] == "experiment"
    }


def test_the_guides_queue_then_run_all(project: Path, trails: Trails) -> None:
    ids = []
    for units in (10, 64, 128, 256):
        r = trails("exp", "run", "--queue", "-S", f"units={units}")
        assert r.code == 0, r.err
        assert r.out.startswith("Queued experiment '") and "for future execution." in r.out
        ids.append(r.out.split("'")[1])
    assert (project / "params.yaml").read_text().startswith("units: 32"), "workspace unchanged"
    show = trails("exp", "show", "--no-timestamp").out
    assert all(f"*{i}" in show for i in ids), "queued entries are marked with *"
    r = trails("exp", "run", "--run-all", "--jobs", "2")
    assert r.code == 0, r.err
    assert sorted(names(trails).values()) == [10, 64, 128, 256]
    assert "*" not in trails("exp", "show", "--no-timestamp").out
    status = trails("queue", "status").out.splitlines()[1:]
    assert sorted(ln.split()[0] for ln in status) == sorted(ids)
    assert all(ln.endswith(" success") for ln in status), status
    assert "Ran experiment" in trails("queue", "logs", ids[0]).out, "a success keeps its log"
    r = trails("queue", "remove", ids[0])
    assert r.code == 0 and f"Removed succeeded experiment {ids[0]}" in r.out
    r = trails("queue", "remove", "--success")
    assert r.code == 0 and r.out.count("Removed succeeded experiment") == 3
    assert trails("queue", "status").out.strip() == "No experiments in the queue."
    assert len(names(trails)) == 4, "the experiments stay"
    assert left_by_runs(project) == [], "no temp dirs"
    assert trails("exp", "run", "--run-all").out.strip() == "No experiments in the queue."


def test_queued_runs_see_the_workspace_at_queue_time(project: Path, trails: Trails) -> None:
    gen(project, {"data.txt": "queued-time", "untracked.txt": "x"})
    assert trails("exp", "run", "--queue", "-n", "snap").code == 0
    gen(project, {"data.txt": "changed later"})
    assert trails("exp", "run", "--run-all").code == 0
    ref = git(project, "for-each-ref", "--format=%(objectname)", "refs/exps/*/*/snap").strip()
    assert git(project, "show", f"{ref}:data.txt") == "queued-time"
    files = git(project, "ls-tree", "-r", "--name-only", ref).split()
    assert "untracked.txt" not in files, "untracked files are left out of queued runs"
    assert "model.bin" not in files


def test_a_failing_experiment_does_not_stop_the_others(project: Path, trails: Trails) -> None:
    for units in (8, 13, 16):
        assert trails("exp", "run", "--queue", "-S", f"units={units}").code == 0
    r = trails("exp", "run", "--run-all", "-j", "2")
    assert r.code == 1
    assert "1 experiment(s) failed" in r.err
    assert sorted(names(trails).values()) == [8, 16]
    status = trails("queue", "status").out
    assert "failed" in status
    failed_id = status.splitlines()[1].split()[0]
    assert "unlucky units" in trails("queue", "logs", failed_id).out
    assert "unlucky units" in trails("queue", "logs", "-f", failed_id).out, "-f ends with the run"
    assert f"!{failed_id} [failed]" in trails("exp", "show", "--no-timestamp").out
    assert trails("queue", "remove", "--failed").code == 0
    assert not (project / ".dvc" / "tmp" / "exps" / "run" / failed_id).exists(), "log removed"
    status = trails("queue", "status").out.splitlines()[1:]
    assert [ln.split()[-1] for ln in status] == ["success", "success"], status
    assert trails("queue", "remove", "--all").code == 0
    assert trails("queue", "status").out.strip() == "No experiments in the queue."


def test_names_and_env_in_queued_runs(project: Path, trails: Trails) -> None:
    assert trails("exp", "run", "--queue", "-n", "wide", "-S", "units=512").code == 0
    assert trails("exp", "run", "--run-all").code == 0
    rows = exp_rows(trails("exp", "show", "--json").out)
    wide = next(r for r in rows if r["name"] == "wide")
    assert wide["metrics"]["metrics.json"]["exp"] == "wide", "DVC_EXP_NAME is set"


def test_an_unnamed_entry_is_named_when_queued(project: Path, trails: Trails) -> None:
    """As the reference tool: ``exp show --json`` names a queued entry at
    once (the VS Code extension keys its row by that name), and the run
    records its experiment under the same name; a sweep's names differ."""
    assert trails("exp", "run", "--queue", "-S", "units=64,128").code == 0
    doc = json.loads(trails("exp", "show", "--json").out)
    queued = [r for s in doc[1:] for r in s.get("experiments") or []
              if r["executor"] and r["executor"]["state"] == "queued"]  # fmt: skip
    given = sorted(r["name"] for r in queued)
    assert len(given) == 2 and len(set(given)) == 2
    assert all(re.fullmatch(r"exp-[0-9a-f]{5}", n) for n in given), given
    assert all(r["revs"][0]["name"] == r["name"] for r in queued)
    assert trails("exp", "run", "--run-all").code == 0
    assert sorted(names(trails)) == given


def test_a_taken_name_is_refused_at_queue_time(project: Path, trails: Trails) -> None:
    assert trails("exp", "run", "--queue", "-n", "wide", "-S", "units=512").code == 0
    assert trails("exp", "run", "--run-all").code == 0
    r = trails("exp", "run", "--queue", "-n", "wide", "-S", "units=1024")
    assert r.code == 1 and "experiment 'wide' already exists" in r.err
    assert "Use -f to overwrite it" in r.err
    assert git(project, "for-each-ref", "refs/exps/queue") == "", "nothing queued"
    assert trails("exp", "run", "--queue", "-f", "-n", "wide", "-S", "units=1024").code == 0
    assert trails("exp", "run", "--run-all").code == 0
    assert names(trails)["wide"] == 1024, "-f overwrote it"
    # Taken after queueing: the run fails at recording, the first one stays.
    assert trails("exp", "run", "--queue", "-n", "late", "-S", "units=7").code == 0
    assert trails("exp", "run", "-n", "late", "-S", "units=9").code == 0
    r = trails("exp", "run", "--run-all")
    assert r.code == 1 and "1 experiment(s) failed" in r.err
    failed_id = trails("queue", "status").out.splitlines()[1].split()[0]
    log = trails("queue", "logs", failed_id).out.splitlines()
    at = next(i for i, line in enumerate(log) if "experiment 'late' already exists" in line)
    assert log[at].startswith("Error: "), "the worker renders errors as the CLI does"
    assert "Use -f to overwrite it" in log[at + 1], "with the hint on the next line"
    assert names(trails)["late"] == 9


def test_temp_run(project: Path, trails: Trails) -> None:
    r = trails("exp", "run", "--temp", "-n", "tmp", "-S", "units=4")
    assert r.code == 0, r.err
    assert names(trails) == {"tmp": 4}
    assert (project / "params.yaml").read_text().startswith("units: 32")
    r = trails("exp", "run", "--temp", "--queue")
    assert r.code == 2
    assert "--temp and --queue exclude each other" in r.err


def test_two_temp_runs_at_once(project: Path) -> None:
    env = {**os.environ, "TRAIN_SLEEP": "0.5"}
    procs = [
        subprocess.Popen([PY, "-m", "trails", "exp", "run", "--temp", "-n", f"t{u}", "-S",
                          f"units={u}"], cwd=project, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for u in (3, 5)
    ]  # fmt: skip
    for p in procs:
        _out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    refs = git(project, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    assert sorted(r.rsplit("/", 1)[1] for r in refs) == ["t3", "t5"]


def test_concurrent_queue_calls_lose_nothing(project: Path) -> None:
    procs = [
        subprocess.Popen([PY, "-m", "trails", "exp", "run", "--queue", "-S", f"units={u}"],
                         cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for u in range(100, 110)
    ]  # fmt: skip
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    assert len(git(project, "for-each-ref", "refs/exps/queue").splitlines()) == 10


def test_interrupting_run_all_keeps_the_queue(project: Path) -> None:
    """Two running, one prepared ahead of a slot: all three stay queued."""
    for units in (6, 7, 9):
        subprocess.run([PY, "-m", "trails", "exp", "run", "--queue", "-S", f"units={units}"],
                       cwd=project, check=True, capture_output=True)  # fmt: skip
    env = {**os.environ, "TRAIN_SLEEP": "30"}
    proc = subprocess.Popen(
        [PY, "-m", "trails", "exp", "run", "--run-all", "-j", "2"], cwd=project, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if len(list((project / ".dvc" / "tmp" / "exps").glob("run/*/waiting"))) == 1:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("no worker was seen prepared ahead of a slot")
    os.killpg(proc.pid, signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "unfinished experiments stay in the queue" in err
    assert len(git(project, "for-each-ref", "refs/exps/queue").splitlines()) == 3
    leftovers = [p.name for p in (project / ".dvc" / "tmp" / "exps").iterdir() if p.name != "run"]
    assert leftovers == [], "no temp folders left behind"
    assert not list((project / ".dvc" / "tmp" / "exps" / "run").glob("*/lock"))


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_stage_shared_by_parallel_experiments_runs_once(
    repo: Path, trails: Trails, jobs: str
) -> None:
    """With -j 1 the second experiment is prepared while the first runs: it
    must wait for its slot without holding the shared stage's run lock."""
    assert trails("init").code == 0
    slow = "import time; time.sleep(1); open('prep.txt', 'w').write(open('data.txt').read())\n"
    prepare = (
        f"stages:\n  prepare:\n    cmd: {PY} prepare.py\n    deps: [prepare.py, data.txt]\n"
        "    outs: [prep.txt]\n"
    )
    train = PIPELINE.replace("data.txt", "prep.txt").replace("stages:\n", "")
    gen(repo, {
        "data.txt": "d", "prepare.py": slow, "train.py": TRAIN.replace("data.txt", "prep.txt"),
        "params.yaml": "units: 2\n", "dvc.yaml": prepare + train,
    })  # fmt: skip
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    for units in (3, 4):
        assert trails("exp", "run", "--queue", "-S", f"units={units}").code == 0
    assert trails("exp", "run", "--run-all", "-j", jobs).code == 0
    logs = [p.read_text() for p in (repo / ".dvc/tmp/exps/run").glob("*/output.log")]
    assert sum("Running stage 'prepare'" in log for log in logs) == 1
    assert sum("Restored 'prepare' from run-cache" in log for log in logs) == 1
    assert sorted(names(trails).values()) == [3, 4]


def test_queue_start_drains_in_the_background(project: Path, trails: Trails) -> None:
    for units in (2, 3):
        assert trails("exp", "run", "--queue", "-S", f"units={units}").code == 0
    r = trails("queue", "start", "-j", "2")
    assert r.code == 0, r.err
    assert "Started 2 queue worker(s)" in r.out
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (project / ".dvc/tmp/exps/queue.pid").exists():
        time.sleep(0.1)
    assert sorted(names(trails).values()) == [2, 3]
    assert trails("queue", "stop").out.strip() == "No queue workers are running."


def _status_until(trails: Trails, want: Callable[[list[str]], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [" ".join(ln.split()[5:]) for ln in trails("queue", "status").out.splitlines()[1:]]
        if want(states):
            return
        time.sleep(0.1)
    raise AssertionError(f"queue status never matched; last: {states}")


def test_queue_stop_lets_prepared_workers_go(project: Path, trails: Trails) -> None:
    """A worker prepared ahead of a free slot shows as such, and `queue
    stop` lets it go: its entry stays queued, its folder is removed."""
    ids = [trails("exp", "run", "--queue", "-S", f"units={u}").out.split("'")[1] for u in (2, 3, 4)]
    assert trails("queue", "start", "-j", "1", env={"TRAIN_SLEEP": "3"}).code == 0
    _status_until(trails, lambda s: "running (train)" in s and "queued (prepared)" in s)
    assert trails("queue", "stop").code == 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (project / ".dvc/tmp/exps/queue.pid").exists():
        time.sleep(0.1)
    assert list(names(trails).values()) == [2], "the running one finished, FIFO"
    queued = git(project, "for-each-ref", "--format=%(objectname)", "refs/exps/queue").split()
    assert sorted(q[:7] for q in queued) == sorted(ids[1:])
    exps = project / ".dvc" / "tmp" / "exps"
    assert left_by_runs(project) == [], "the prepared worker's folder is removed"
    assert not list((exps / "run").glob("*/lock")) and not list((exps / "run").glob("*/waiting"))
    log = (exps / "queue.log").read_text()
    assert "Queue workers done: 1 done, 0 failed" in log, log


def test_queue_kill_and_stop_kill_leave_entries_queued(project: Path, trails: Trails) -> None:
    first, second = (
        trails("exp", "run", "--queue", "-S", f"units={u}").out.split("'")[1] for u in (2, 3)
    )
    assert trails("queue", "start", "-j", "1", env={"TRAIN_SLEEP": "30"}).code == 0
    _status_until(trails, lambda s: s == ["running (train)", "queued (prepared)"])
    r = trails("queue", "kill", first)
    assert r.code == 0 and f"Interrupted experiment {first}" in r.out
    _status_until(trails, lambda s: s == ["queued", "running (train)"])
    assert trails("queue", "stop", "--kill").code == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (project / ".dvc/tmp/exps/queue.pid").exists():
        time.sleep(0.1)
    queued = git(project, "for-each-ref", "--format=%(objectname)", "refs/exps/queue").split()
    assert sorted(q[:7] for q in queued) == sorted([first, second]), "both still queued"
    assert names(trails) == {}
    exps = project / ".dvc" / "tmp" / "exps"
    assert left_by_runs(project) == [], "the prepared worker's folder is removed"
    log = (exps / "queue.log").read_text()
    assert "failed" not in log.lower() and "Killed: unfinished experiments stay" in log, log


def test_queue_run_one_entry_and_kill_errors(project: Path, trails: Trails) -> None:
    first = trails("exp", "run", "--queue", "-n", "one").out.split("'")[1]
    assert trails("exp", "run", "--queue", "-n", "two").code == 0
    r = trails("queue", "run", first)
    assert r.code == 0, r.err
    assert names(trails) == {"one": 32}
    assert len(git(project, "for-each-ref", "refs/exps/queue").splitlines()) == 1
    r = trails("queue", "kill", first)
    assert r.code == 1 and "is not a queued experiment" in r.err
    waiting = trails("queue", "status").out.splitlines()[1].split()[0]
    r = trails("queue", "kill", waiting)
    assert r.code == 1 and f"experiment {waiting} is not running" in r.err


def test_queued_runs_link_in_only_what_running_stages_read(repo: Path, trails: Trails) -> None:
    """An experiment that only retrains never links the data set in: the
    unchanged stage that reads it does not run, and the stage that runs
    finds its own inputs (the unchanged stage's output) in place."""
    assert trails("init").code == 0
    look = (
        "import json, os; json.dump({'data': os.path.exists('data'),"
        " 'prep': open('prep.txt').read()}, open('m.json', 'w'))"
    )
    gen(repo, {
        "data/a.csv": "1\n", "data/b.csv": "2\n", "look.py": look + "\n",
        "params.yaml": "lr: 1\n",
        "dvc.yaml": f"stages:\n"
                    f"  prepare:\n    cmd: ls data > prep.txt\n    deps: [data]\n"
                    f"    outs: [prep.txt]\n"
                    f"  train:\n    cmd: {PY} look.py\n    deps: [prep.txt, look.py]\n"
                    f"    params: [lr]\n    metrics:\n      - m.json:\n          cache: false\n",
    }, age=60)  # fmt: skip
    assert trails("add", "data").code == 0
    assert trails("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    assert trails("exp", "run", "--queue", "-n", "retrain", "-S", "lr=2").code == 0
    r = trails("exp", "run", "--run-all")
    assert r.code == 0, r.err
    rows = exp_rows(trails("exp", "show", "--json").out)
    m = next(r for r in rows if r["name"] == "retrain")["metrics"]["m.json"]
    assert m == {"data": False, "prep": "a.csv\nb.csv\n"}
    # A change to the data set does need it: the stage that reads it runs.
    gen(repo, {"data/c.csv": "3\n"}, age=60)
    assert trails("add", "data").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "more data")
    assert trails("exp", "run", "--queue", "-n", "more").code == 0
    assert trails("exp", "run", "--run-all").code == 0
    rows = exp_rows(trails("exp", "show", "--json").out)
    m = next(r for r in rows if r["name"] == "more")["metrics"]["m.json"]
    assert m == {"data": True, "prep": "a.csv\nb.csv\nc.csv\n"}


def _pid_file(where: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if where.exists() and where.read_text().strip():
            return int(where.read_text())
        time.sleep(0.05)
    raise AssertionError(f"{where} never appeared")


@pytest.mark.parametrize("victim", ["stage", "worker"])
def test_a_killed_experiment_fails_alone(project: Path, trails: Trails, victim: str) -> None:
    """SIGKILL of one experiment's stage, or of its whole worker process:
    that entry is marked failed (log kept, no temp folder or lock left),
    the others are recorded."""
    pids = project / "pids"
    pids.mkdir()
    train = TRAIN.replace(
        "time.sleep(",
        "open(os.environ['PIDS'] + f'/{units}', 'w').write(str(os.getpid()))\ntime.sleep(",
    )
    gen(project, {"train.py": train})
    git(project, "commit", "-qam", "pid files")
    for units in (8, 9, 10):
        assert trails("exp", "run", "--queue", "-S", f"units={units}").code == 0
    env = {**os.environ, "PIDS": str(pids), "TRAIN_SLEEP": "1"}
    proc = subprocess.Popen([PY, "-m", "trails", "exp", "run", "--run-all", "-j", "2"],
                            cwd=project, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    stage_pid = _pid_file(pids / "9")
    if victim == "stage":
        os.kill(stage_pid, signal.SIGKILL)
    else:  # the worker: the stage's session leader
        os.killpg(os.getpgid(stage_pid), signal.SIGKILL)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1, err
    assert "1 experiment(s) failed" in err
    assert sorted(names(trails).values()) == [8, 10]
    status = [ln for ln in trails("queue", "status").out.splitlines() if ln.endswith("failed")]
    assert len(status) == 1, status
    failed_id = status[0].split()[0]
    assert trails("queue", "logs", failed_id).code == 0
    exps = project / ".dvc" / "tmp" / "exps"
    assert left_by_runs(project) == [], "no temp folder left"
    assert not list((exps / "run").glob("*/lock"))


def test_copy_paths_bring_untracked_and_ignored_files(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    look = (
        "import json, os; json.dump({'extra': os.path.exists('extra.txt'),"
        " 'secret': os.path.exists('conf/secret.env')}, open('m.json', 'w'))"
    )
    gen(repo, {
        "look.py": look + "\n", "params.yaml": "lr: 1\n", ".gitignore": "conf/\n",
        "dvc.yaml": f"stages:\n  look:\n    cmd: {PY} look.py\n    deps: [look.py]\n"
                    "    params: [lr]\n    metrics:\n      - m.json:\n          cache: false\n",
    })  # fmt: skip
    assert trails("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    gen(repo, {"extra.txt": "untracked", "conf/secret.env": "ignored"})
    r = trails("exp", "run", "--queue", "-n", "plain", "-S", "lr=2")
    assert r.code == 0, r.err
    r = trails("exp", "run", "--queue", "-n", "copied", "-S", "lr=3", "-C", "extra.txt",
               "-C", "conf")  # fmt: skip
    assert r.code == 0, r.err
    r = trails("exp", "run", "--queue", "-C", "nothere.txt")
    assert r.code == 1 and "--copy-paths: 'nothere.txt' does not exist" in r.err
    assert len(git(repo, "for-each-ref", "refs/exps/queue").splitlines()) == 2, "not queued"
    r = trails("exp", "run", "--run-all", "-j", "2")
    assert r.code == 0, r.err
    rows = {r["name"]: r for r in exp_rows(trails("exp", "show", "--json").out)}
    assert rows["plain"]["metrics"]["m.json"] == {"extra": False, "secret": False}
    assert rows["copied"]["metrics"]["m.json"] == {"extra": True, "secret": True}
    files = git(repo, "ls-tree", "-r", "--name-only", rows["copied"]["rev"]).split()
    assert "conf/secret.env" not in files, "an ignored path copied in stays out of the commit"


def test_bad_queue_input(project: Path, trails: Trails) -> None:
    for jobs in ("0", "-2"):
        r = trails("exp", "run", "--run-all", "--jobs", jobs)
        assert r.code == 2 and "--jobs" in r.err, r.err
    entry_id = trails("exp", "run", "--queue", "-n", "kept").out.split("'")[1]
    typo = entry_id[:6] + ("0" if entry_id[6] != "0" else "1")
    for cmd in ("logs", "remove", "run"):
        r = trails("queue", cmd, typo)
        assert r.code == 1 and f"'{typo}' is not a queued experiment" in r.err, (cmd, r.err)
        assert f"Did you mean '{entry_id}'?" in r.err
    assert len(git(project, "for-each-ref", "refs/exps/queue").splitlines()) == 1, "kept"


def test_an_entry_whose_baseline_is_gone_fails_with_the_reason(
    project: Path, trails: Trails
) -> None:
    """An entry made by hand (or left by a rewritten history) whose recorded
    baseline commit does not exist: marked failed, saying why; the queue
    goes on."""
    assert trails("exp", "run", "--queue", "-n", "orphan", "-S", "units=3").code == 0
    assert trails("exp", "run", "--queue", "-n", "fine", "-S", "units=5").code == 0
    ref = git(project, "for-each-ref", "--format=%(refname)", "refs/exps/queue").split()[0]
    msg = git(project, "log", "-1", "--format=%B", ref)
    head, body = msg.split("\n\n", 1)
    doc = json.loads(body)
    doc["baseline"] = "f" * 40
    tree = git(project, "rev-parse", f"{ref}^{{tree}}").strip()
    sha = git(project, "commit-tree", tree, "-m", f"{head}\n\n{json.dumps(doc)}").strip()
    git(project, "update-ref", ref, sha)
    r = trails("exp", "run", "--run-all")
    assert r.code == 1 and "1 experiment(s) failed" in r.err
    assert "its baseline commit fffffff no longer exists" in r.out + r.err
    assert names(trails) == {"fine": 5}
    failed = [ln for ln in trails("queue", "status").out.splitlines() if ln.endswith("failed")]
    assert len(failed) == 1 and failed[0].split()[0] == sha[:7]


def test_queue_status_names_the_running_stage_whatever_its_name(repo: Path, trails: Trails) -> None:
    """The worker learns which stage runs from the builder's events, not
    by reading the printed line back: a stage name with a quote in it (a
    name dvc.yaml allows) shows whole in `queue status`."""
    assert trails("init").code == 0
    flag = repo.parent / "release"
    wait = f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.05)\n"
    gen(repo, {"dvc.yaml": f"stages:\n  \"it's\":\n    cmd: {PY} wait.py\n"
                           "    deps: [wait.py, params.yaml]\n",
               "wait.py": wait, "params.yaml": "units: 1\n"})  # fmt: skip
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    assert trails("exp", "run", "--queue", "-S", "units=2").code == 0
    assert trails("queue", "start", "-j", "1").code == 0
    try:
        _status_until(trails, lambda s: s == ["running (it's)"])
    finally:
        flag.touch()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (repo / ".dvc/tmp/exps/queue.pid").exists():
        time.sleep(0.1)
    assert trails("queue", "status").out.split()[-1] == "success"
