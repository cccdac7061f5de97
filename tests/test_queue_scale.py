"""The queue at scale, through the real CLI: a worker's folder moves from
one experiment's commit to the next by their diff (issue #20 item 3), and
the reference tool's failure modes with many entries (entries run twice,
workers stalling, folders left behind). Sleep-free stages keep it fast."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, baseline, git

Trails = Callable[..., Result]
PY = sys.executable

#: The stage notes, for one tracked data file, the (inode, mtime) it sees:
#: unchanged across experiments when the folder was moved, new when it was
#: checked out afresh. It leaves an undeclared, unignored file of its own,
#: which must be in its experiment's commit and in no later one's.
TRAIN = (
    "import json, os, re\n"
    "units = int(re.search(r'units: (\\S+)', open('params.yaml').read()).group(1))\n"
    "if units == 13: raise SystemExit('unlucky units')\n"
    "st = os.stat('data/f0.txt')\n"
    "n = len(os.listdir('data'))\n"
    "open(f'extra-{units}.txt', 'w').write('x')\n"
    "json.dump({'units': units, 'seen': [st.st_ino, st.st_mtime_ns], 'files': n},"
    " open('metrics.json', 'w'))\n"
    "open('model.bin', 'w').write(str(units))\n"
)
PIPELINE = f"""\
stages:
  train:
    cmd: {PY} train.py
    deps: [train.py, data]
    params: [units]
    outs: [model.bin]
    metrics:
      - metrics.json:
          cache: false
"""


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    files: dict[str, str | bytes] = {f"data/f{i}.txt": f"{i}\n" for i in range(200)}
    files |= {"dvc.yaml": PIPELINE, "train.py": TRAIN, "params.yaml": "units: 1\n"}
    return baseline(repo, trails, files)


def _shas(project: Path) -> list[str]:
    """The experiments' commits (not the queued or failed entries')."""
    rows = git(project, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps/")
    refs = [r.split() for r in rows.splitlines()]
    return [
        sha for ref, sha in refs if not ref.startswith(("refs/exps/queue/", "refs/exps/failed/"))
    ]


def _experiments(project: Path) -> dict[int, tuple[dict[str, object], list[str]]]:
    """Each experiment's metrics and tracked files, by its units."""
    out = {}
    for line in _shas(project):
        metrics = json.loads(git(project, "show", f"{line}:metrics.json"))
        files = git(project, "ls-tree", "-r", "--name-only", line).split()
        out[int(str(metrics["units"]))] = (metrics, files)
    return out


def test_a_worker_moves_its_folder_from_one_experiment_to_the_next(
    project: Path, trails: Trails
) -> None:
    assert trails("exp", "run", "--queue", "-S", "units=range(2,16)").code == 0
    r = trails("exp", "run", "--run-all", "-j", "1")
    assert r.code == 1 and "1 experiment(s) failed" in r.err, "units=13 fails"
    exps = _experiments(project)
    assert sorted(exps) == [u for u in range(2, 16) if u != 13]
    seen = {str(m["seen"]) for m, _ in exps.values()}
    # One slot, as many prepared ahead and one recording: at most three
    # folders, plus one fresh checkout after the failed entry. Without
    # moving, 13 checkouts.
    assert len(seen) <= 6, f"the data files were rewritten for each experiment: {seen}"
    for units, (metrics, files) in exps.items():
        assert metrics["files"] == 200, "every tracked file is there"
        # extra-1.txt: the baseline's own run left it, and committed it.
        extras = [f for f in files if f.startswith("extra-")]
        assert extras == sorted(["extra-1.txt", f"extra-{units}.txt"]), (
            "a file left by the previous experiment in the folder leaks into none after it"
        )
        assert "model.bin" not in files
        shown = git(project, "show", f"{_ref(project, units)}:params.yaml")
        assert shown == f"units: {units}\n"
    exps_dir = project / ".dvc" / "tmp" / "exps"
    assert not list(exps_dir.glob("pool-*.lock")), "the run let its folders go"
    # The next run takes the folders this one kept and moves them too: the
    # data files it sees are those an experiment of the first run saw.
    assert trails("exp", "run", "--queue", "-S", "units=range(20,23)").code == 0
    assert trails("exp", "run", "--run-all", "-j", "1").code == 0
    again = _experiments(project)
    for units in range(20, 23):
        metrics, files = again[units]
        assert str(metrics["seen"]) in seen, "a kept folder was moved, not checked out afresh"
        assert [f for f in files if f.startswith("extra-")] == ["extra-1.txt", f"extra-{units}.txt"]


def _only_kept_folders(repo: Path, most: int) -> None:
    """What queue runs leave beside the logs: kept folders (no lock, no
    entry's own folder), at most ``most``, each holding a recorded
    experiment (its note and its index beside it)."""
    exps = repo / ".dvc" / "tmp" / "exps"
    left = {p.name for p in exps.iterdir() if p.name != "run"}
    folders = {n for n in left if not n.endswith((".git-index", ".holds"))}
    assert folders and len(folders) <= most and all(n.startswith("pool-") for n in folders), left
    assert left == folders | {f"{n}.git-index" for n in folders} | {f"{n}.holds" for n in folders}
    recorded = set(_shas(repo))
    assert {(exps / f"{n}.holds").read_text() for n in folders} <= recorded


def _ref(project: Path, units: int) -> str:
    for sha in _shas(project):
        if json.loads(git(project, "show", f"{sha}:metrics.json"))["units"] == units:
            return sha
    raise AssertionError(units)


SMALL = """\
stages:
  echo:
    cmd: (test -z "$RUN_LOG" || echo ${units} >> "$RUN_LOG") && echo ${units} > out.txt
    params: [units]
    outs: [out.txt]
"""


def test_many_entries_each_run_once_and_none_stalls(
    repo: Path, trails: Trails, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two queue runs at once over the same 64 entries (the reference
    tool's workers took the same entry twice, and stalled on a busy queue):
    each entry runs exactly once, all of them finish, nothing is left."""
    n = 64
    baseline(repo, trails, {"dvc.yaml": SMALL, "params.yaml": "units: 0\n"})
    log = tmp_path_factory.mktemp("runs") / "runs.log"
    assert trails("exp", "run", "--queue", "-S", f"units=range(1,{n + 1})").code == 0
    status = trails("queue", "status").out.splitlines()[1:]
    assert len(status) == n and all(ln.endswith(" queued") for ln in status)
    cmd = [sys.executable, "-m", "trails", "exp", "run", "--run-all", "-j", "4"]
    env = {**os.environ, "RUN_LOG": str(log)}
    pools = [
        subprocess.Popen(cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=240) for p in pools]
    assert [p.returncode for p in pools] == [0, 0], outs
    ran = [int(x) for x in log.read_text().split()]
    assert sorted(ran) == list(range(1, n + 1)), "every entry ran exactly once"
    done = sum(out.decode().count(" done as ") for out, _ in outs)
    assert done == n, "each entry is reported done by one pool"
    status = trails("queue", "status").out.splitlines()[1:]
    assert len(status) == n and all(ln.endswith(" success") for ln in status)
    assert len(git(repo, "for-each-ref", "refs/exps/").splitlines()) == n
    assert not git(repo, "for-each-ref", "refs/exps/queue/", "refs/exps/failed/").strip()
    _only_kept_folders(repo, 2 * 2 * 4)  # two pools, each at most 2 x jobs
    assert trails("exp", "run", "--run-all").out.strip() == "No experiments in the queue."


#: Each stage notes its params and how many stages run at that moment
#: (the folders of those that started and have not ended: all of them are
#: running), so the log says whether more than --jobs ever ran at once.
COUNTED = """\
stages:
  echo:
    cmd: mkdir "$RUNS/${units}" && ls "$RUNS" | wc -l >> "$RUNS.n" && echo ${units} >> "$RUNS.log"
      && rmdir "$RUNS/${units}" && echo ${units} > out.txt
    params: [units]
    outs: [out.txt]
"""


@pytest.mark.slow
def test_256_entries_at_16_jobs_each_recorded_once(
    repo: Path, trails: Trails, tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The reference tool's failure modes at scale (issue #20 item 3), with
    256 entries at --jobs 16 while `queue status` reads the queue: no entry
    runs twice or is lost, no worker stalls (the run ends, within the
    timeout), each experiment is recorded once with its own params, and
    what is left is the logs and the kept folders (2 x jobs at most)."""
    n, jobs = 256, 16
    runs = tmp_path_factory.mktemp("runs") / "running"
    runs.mkdir()
    monkeypatch.setenv("RUNS", str(runs))
    baseline(repo, trails, {"dvc.yaml": COUNTED, "params.yaml": "units: 0\n"})
    runs.with_suffix(".log").unlink()
    assert trails("exp", "run", "--queue", "-S", f"units=range(1,{n + 1})").code == 0
    cmd = [sys.executable, "-m", "trails", "exp", "run", "--run-all", "-j", str(jobs)]
    pool = subprocess.Popen(cmd, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while pool.poll() is None:
        states = trails("queue", "status").out.splitlines()[1:]
        assert len(states) == n, "every entry listed once while the queue runs"
    out, err = pool.communicate(timeout=120)
    assert pool.returncode == 0, err
    at_once = [int(x) for x in runs.with_suffix(".n").read_text().split()]
    assert max(at_once) <= jobs, "never more than --jobs stages at once"
    ran = [int(x) for x in runs.with_suffix(".log").read_text().split()]
    assert sorted(ran) == list(range(1, n + 1)), "every entry ran exactly once"
    assert out.decode().count(" done as ") == n
    shas = _shas(repo)
    assert len(shas) == n, "each entry recorded as one experiment"
    params = git(repo, "show", *[f"{s}:params.yaml" for s in shas]).split()
    assert sorted(int(p) for p in params if p.isdigit()) == list(range(1, n + 1))
    assert not git(repo, "for-each-ref", "refs/exps/queue/", "refs/exps/failed/").strip()
    status = trails("queue", "status").out.splitlines()[1:]
    assert len(status) == n and all(ln.endswith(" success") for ln in status)
    _only_kept_folders(repo, 2 * jobs)
    assert not list((repo / ".dvc" / "tmp" / "exps" / "run").glob("*/lock"))


def test_a_queue_run_packs_many_loose_experiment_refs(project: Path, trails: Trails) -> None:
    """Past ``refs.LOOSE_REFS_PACKED`` loose refs the queue's driver, their
    one writer, packs them when the run ends (a listing then reads one file,
    not thousands); ``exp show``, a reader, never does."""
    from trails.experiments.refs import LOOSE_REFS_PACKED

    head = git(project, "rev-parse", "HEAD").strip()
    made = "".join(
        f"create refs/exps/{head[:2]}/{head[2:]}/old-{i} {head}\n" for i in range(LOOSE_REFS_PACKED)
    )
    subprocess.run(["git", "update-ref", "--stdin"], cwd=project, input=made, text=True, check=True)
    loose = project / ".git" / "refs" / "exps"
    packed = project / ".git" / "packed-refs"

    def loose_count() -> int:
        return sum(1 for p in loose.rglob("*") if p.is_file())

    assert trails("exp", "show", "--no-pager", "--csv").code == 0
    assert loose_count() == LOOSE_REFS_PACKED  # the reader left them alone
    assert trails("exp", "run", "--queue", "-S", "units=2").code == 0
    r = trails("exp", "run", "--run-all")
    assert r.code == 0, r.err
    assert loose_count() == 0
    text = packed.read_text()
    assert text.count(f"refs/exps/{head[:2]}/{head[2:]}/old-") == LOOSE_REFS_PACKED
    rows = trails("exp", "show", "--no-pager", "--csv").out.splitlines()
    assert sum(",2," in row or row.endswith(",2") for row in rows) >= 1


#: The stage says what the folder held before its command wrote anything
#: (``before.json``, committed: it is neither ignored nor an output), then
#: writes a declared output and an ignored scratch file of its own.
PEEK = (
    "import json, os, re\n"
    "units = int(re.search(r'units: (\\S+)', open('params.yaml').read()).group(1))\n"
    "seen = sorted(n for n in os.listdir('.') if n.endswith('.bin') or n == 'scratch')\n"
    "json.dump({'units': units, 'before': seen}, open('before.json', 'w'))\n"
    "open('model.bin', 'w').write(str(units))\n"
    "os.makedirs('scratch', exist_ok=True)\n"
    "open(f'scratch/s{units}.tmp', 'w').write('x')\n"
    "open(f'loose-{units}.bin', 'w').write('x')\n"
)
PEEKING = f"""\
stages:
  train:
    cmd: {PY} peek.py
    deps: [peek.py]
    params: [units]
    outs: [model.bin]
"""


def test_a_kept_folder_leaks_no_output_or_ignored_file_into_the_next_entry(
    repo: Path, trails: Trails
) -> None:
    """One worker runs every entry in one kept folder (--jobs 1): what an
    entry's stage left there, its declared output, an ignored scratch
    folder and an ignored file, is gone before the next entry's stage runs,
    and each experiment records what a fresh folder would have."""
    files = {"dvc.yaml": PEEKING, "peek.py": PEEK, "params.yaml": "units: 1\n",
             ".gitignore": "scratch/\nloose-*.bin\n"}  # fmt: skip
    baseline(repo, trails, files)
    assert trails("exp", "run", "--queue", "-S", "units=range(2,7)").code == 0
    assert trails("exp", "run", "--run-all", "-j", "1").code == 0
    shas = _shas(repo)
    assert len(shas) == 5
    for sha in shas:
        before = json.loads(git(repo, "show", f"{sha}:before.json"))
        assert before["before"] == [], f"units={before['units']} saw {before['before']}"
        listed = git(repo, "ls-tree", "-r", "--name-only", sha).split()
        assert not [f for f in listed if f.endswith((".bin", ".tmp"))], listed
        lock = git(repo, "show", f"{sha}:dvc.lock")
        assert "model.bin" in lock


def test_one_worker_runs_entries_of_different_pipelines(repo: Path, trails: Trails) -> None:
    """A worker is kept for the run and runs entry after entry: what it
    learnt of one entry's folder (its pipeline files) is not kept for the
    next, whose commit adds a stage in a new dvc.yaml (every pipeline runs:
    -P), removed again by the third."""
    baseline(repo, trails, {"dvc.yaml": SMALL, "params.yaml": "units: 0\n"})
    assert trails("exp", "run", "--queue", "-P", "-n", "one", "-S", "units=1").code == 0
    (repo / "sub").mkdir()
    (repo / "sub" / "dvc.yaml").write_text(
        "stages:\n  more:\n    cmd: echo more > more.txt\n    outs: [more.txt]\n"
    )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "a second stage")
    assert trails("exp", "run", "--queue", "-P", "-n", "two", "-S", "units=2").code == 0
    git(repo, "rm", "-rq", "sub")
    git(repo, "commit", "-qm", "no second stage")
    assert trails("exp", "run", "--queue", "-P", "-n", "three", "-S", "units=3").code == 0
    r = trails("exp", "run", "--run-all", "-j", "1")
    assert r.code == 0, r.err
    logs = (repo / ".dvc" / "tmp" / "exps" / "run").glob("*/output.log")
    ran = {log.read_text().count("Running stage 'sub/dvc.yaml:more'") for log in logs}
    assert ran == {0, 1}, "only the second entry has the second stage"
    by_name = {}
    for line in git(repo, "for-each-ref", "--format=%(refname:short) %(objectname)",
                    "refs/exps/").splitlines():  # fmt: skip
        ref, sha = line.split()
        by_name[ref.rsplit("/", 1)[1]] = sha
    assert "more.txt" in git(repo, "show", f"{by_name['two']}:sub/dvc.lock")
    for name in ("one", "three"):
        assert "sub/" not in git(repo, "ls-tree", "-r", "--name-only", by_name[name])


def test_a_worker_records_on_after_git_refused_an_entry(repo: Path, trails: Trails) -> None:
    """A worker writes its ref transactions through one kept `git
    update-ref --stdin`; a transaction Git refuses (the name was taken by
    an entry before it) ends that process: the entry fails alone, moved to
    the failed refs, and the worker's next entries are recorded."""
    baseline(repo, trails, {"dvc.yaml": SMALL, "params.yaml": "units: 0\n"})
    for args in (["-n", "twin", "-S", "units=2"], ["-n", "twin", "-S", "units=3"],
                 ["-S", "units=4"], ["-n", "after", "-S", "units=5"]):  # fmt: skip
        assert trails("exp", "run", "--queue", *args).code == 0
    r = trails("exp", "run", "--run-all", "-j", "1")
    assert r.code == 1 and "1 experiment(s) failed" in r.err
    assert "experiment 'twin' already exists" in r.out
    shas = _shas(repo)
    assert len(shas) == 3
    params = sorted(git(repo, "show", f"{s}:params.yaml").strip() for s in shas)
    assert params == ["units: 2", "units: 4", "units: 5"]
    assert len(git(repo, "for-each-ref", "refs/exps/failed/").splitlines()) == 1
    assert not git(repo, "for-each-ref", "refs/exps/queue/").strip()


def test_on_a_terminal_later_workers_come_from_a_forkserver(repo: Path, trails: Trails) -> None:
    """On a terminal the live table's thread runs once it is drawn, and a
    process with another thread is not forked: the first round's worker is
    forked before the table, the spare after it from a forkserver. Both
    run their entries, each recorded once, and the server's folder goes
    with the run."""
    import pty
    import tempfile

    baseline(repo, trails, {"dvc.yaml": SMALL, "params.yaml": "units: 0\n"})
    assert trails("exp", "run", "--queue", "-S", "units=range(1,7)").code == 0
    tmp = Path(tempfile.mkdtemp(prefix="t", dir="/tmp"))  # a socket path fits
    env = {k: v for k, v in os.environ.items() if k != "TRAILS_NO_PROGRESS"}
    env |= {"TERM": "xterm", "TMPDIR": str(tmp), "COLUMNS": "120"}
    main, tty = pty.openpty()
    cmd = [PY, "-m", "trails", "exp", "run", "--run-all", "-j", "1"]
    proc = subprocess.Popen(cmd, cwd=repo, env=env, stdin=tty, stdout=tty, stderr=tty)
    os.close(tty)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the terminal's other end closed: the run is over
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert proc.wait(timeout=120) == 0, shown.decode(errors="replace")
    assert b"Queue summary: 6 done" in shown, "the live table was drawn"
    shas = _shas(repo)
    assert len(shas) == 6
    params = sorted(git(repo, "show", f"{s}:params.yaml").strip() for s in shas)
    assert params == [f"units: {u}" for u in range(1, 7)]
    assert [p.name for p in tmp.iterdir()] == [], "the forkserver's folder went with the run"
    tmp.rmdir()
