"""Versioned records through the real CLI (issue #15, step 3): each reader of
a JSON document trails wrote, fed one of a future version and one cut short,
gives a clear message or discards and rebuilds its cache, never a traceback;
an entry queued before records had versions still runs."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, baseline, gen, git
from trails.repro.selection import ReproOptions

Trails = Callable[..., Result]
PY = sys.executable

PIPELINE = f"""\
stages:
  train:
    cmd: {PY} train.py
    deps: [train.py]
    params: [lr]
    outs: [model.txt]
    metrics:
      - metrics.json:
          cache: false
"""
TRAIN = (
    "import json, re\n"
    "lr = float(re.search(r'lr: (\\S+)', open('params.yaml').read()).group(1))\n"
    "open('model.txt', 'w').write(str(lr * 2))\n"
    "json.dump({'score': lr * 10}, open('metrics.json', 'w'))\n"
)
FUTURE = '{"version": 99, "everything": "renamed"}'
TRUNCATED = '{"status": "succ'


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    return baseline(
        repo, trails, {"dvc.yaml": PIPELINE, "train.py": TRAIN, "params.yaml": "lr: 0.1\n"}
    )


def _queue_raw(repo: Path, body: str) -> str:
    """An entry whose commit message carries ``body`` as its arguments, as
    another trails (older, newer, or a damaged one) would have queued it."""
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip()
    head = git(repo, "rev-parse", "HEAD").strip()
    msg = f"trails queued experiment\n\n{body}"
    sha = git(repo, "commit-tree", tree, "-p", head, "-m", msg).strip()
    git(repo, "update-ref", f"refs/exps/queue/{time.time_ns():020d}-{sha[:12]}", sha)
    return sha[:7]


def _no_traceback(r: Result) -> None:
    assert "Traceback" not in r.out + r.err


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (FUTURE, "written by a newer trails (record version 99; this one reads up to 1)"),
        ('{"name": "cut', "not a readable record"),
    ],
)
def test_queued_arguments_unreadable_fail_the_entry_with_the_reason(
    project: Path, trails: Trails, body: str, says: str
) -> None:
    entry = _queue_raw(project, body)
    status = trails("queue", "status")
    assert status.code == 0, status.err
    assert f"{entry}   ?" in status.out
    r = trails("exp", "run", "--run-all")
    _no_traceback(r)
    assert r.code == 1
    assert f"queued experiment {entry}: its arguments: {says}" in r.out
    log = (project / ".dvc" / "tmp" / "exps" / "run" / entry / "output.log").read_text()
    assert "Remove the entry ('trails queue remove') and queue it again." in log
    assert git(project, "for-each-ref", "refs/exps/queue").strip() == ""
    assert git(project, "for-each-ref", "refs/exps/failed").strip() != ""
    assert "Traceback" not in log


def test_entry_queued_by_the_previous_version_still_runs(project: Path, trails: Trails) -> None:
    """What main wrote: no version field, only the truthy repro flags."""
    baseline = git(project, "rev-parse", "HEAD").strip()
    old = {
        "baseline": baseline, "copy_paths": [], "force": False, "message": None,
        "name": "old-style", "repro": {"force": True}, "rev": None, "targets": [],
    }  # fmt: skip
    _queue_raw(project, json.dumps(old, sort_keys=True))
    r = trails("exp", "run", "--run-all")
    assert r.code == 0, r.out + r.err
    assert "old-style" in r.out
    assert "old-style" in trails("exp", "show").out


def test_queued_arguments_carry_every_repro_option(project: Path, trails: Trails) -> None:
    """Derived from ReproOptions: no list of flags to forget one in."""
    assert trails("exp", "run", "--queue", "--no-run-cache", "-S", "lr=0.3").code == 0
    ref = git(project, "for-each-ref", "--format=%(refname)", "refs/exps/queue").strip()
    body = json.loads(git(project, "log", "-1", "--format=%B", ref).split("\n", 2)[2])
    assert body["version"] == 1
    assert set(body["repro"]) == {f.name for f in dataclasses.fields(ReproOptions)}
    assert body["repro"]["no_run_cache"] is True
    assert body["repro"]["jobs"] == 1 and body["repro"]["interactive"] is False


@pytest.mark.parametrize("doc", [FUTURE, TRUNCATED])
def test_result_unreadable_is_a_warning_in_queue_status(
    project: Path, trails: Trails, doc: str
) -> None:
    rundir = project / ".dvc" / "tmp" / "exps" / "run" / "abc1234"
    rundir.mkdir(parents=True)
    (rundir / "result.json").write_text(doc)
    r = trails("queue", "status")
    _no_traceback(r)
    assert r.code == 0
    assert "Warning: .dvc/tmp/exps/run/abc1234/result.json: " in r.err
    assert "queue remove" in r.err
    assert "No experiments in the queue." in r.out


def test_result_reader_names_the_version(tmp_path: Path) -> None:
    from trails.experiments.records import RecordError, RunDir, RunResult, RunStatus

    rundir = RunDir(tmp_path, "abc1234")
    rundir.path.mkdir(parents=True)
    rundir.write_result(RunResult(status=RunStatus.SUCCESS, name="x", created=5))
    got = rundir.read_result()
    assert got is not None and got.name == "x" and got.created == 5
    rundir.result.write_text(FUTURE)
    with pytest.raises(RecordError, match=r"result.json: written by a newer trails"):
        rundir.read_result()
    rundir.result.write_text(TRUNCATED)
    with pytest.raises(RecordError, match=r"result.json: not a readable record"):
        rundir.read_result()


CKPT_TRAIN = """\
from pathlib import Path
from trails.api import make_checkpoint
n = int(Path("model.txt").read_text()) if Path("model.txt").exists() else 0
Path("model.txt").write_text(str(n + 1))
make_checkpoint()
"""


@pytest.mark.parametrize(("doc", "says"), [(FUTURE, "written by a newer"), ("{", "not a readable")])
def test_checkpoint_state_unreadable_is_a_clear_error(
    repo: Path, trails: Trails, doc: str, says: str
) -> None:
    assert trails("init").code == 0
    dvc_yaml = (
        f"stages:\n  train:\n    cmd: {PY} train.py\n    deps: [train.py]\n"
        "    outs:\n      - model.txt:\n          checkpoint: true\n"
    )
    gen(repo, {"train.py": CKPT_TRAIN, "dvc.yaml": dvc_yaml})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    assert trails("exp", "run", "-n", "one").code == 0
    model = (repo / "model.txt").read_text()
    state = repo / ".dvc" / "tmp" / "trails" / "checkpoint.json"
    assert json.loads(state.read_text())["version"] == 1
    state.write_text(doc)
    refs = git(repo, "for-each-ref", "refs/exps")
    r = trails("exp", "run")
    _no_traceback(r)
    assert r.code == 1
    assert f"Error: .dvc/tmp/trails/checkpoint.json: {says}" in r.err
    assert "Delete .dvc/tmp/trails/checkpoint.json to start a new checkpoint experiment" in r.err
    assert git(repo, "for-each-ref", "refs/exps") == refs
    assert (repo / "model.txt").read_text() == model


@pytest.mark.parametrize("doc", [FUTURE, '{"outs": [{"path": "model.t'])
def test_run_cache_entry_unreadable_is_rebuilt(project: Path, trails: Trails, doc: str) -> None:
    # Only this pipeline's entries (the baseline's, with its metrics, has one too).
    shutil.rmtree(project / ".dvc" / "cache" / "trails-runs")
    gen(project, {"dvc.yaml": PIPELINE.split("    metrics:")[0], "params.yaml": "lr: 0.2\n"})
    assert trails("repro").code == 0
    gen(project, {"params.yaml": "lr: 0.1\n"})
    assert trails("repro").code == 0
    gen(project, {"params.yaml": "lr: 0.2\n"})
    entries = [p for p in (project / ".dvc" / "cache").rglob("*")
               if p.is_file() and "trails-runs" in p.parts and "locks" not in p.parts]  # fmt: skip
    assert len(entries) == 2
    for p in entries:
        p.write_text(doc)
    r = trails("repro")
    _no_traceback(r)
    assert r.code == 0, r.err
    assert "from run-cache" not in r.out
    assert (project / "model.txt").read_text() == "0.4"
    # The other entry stays as damaged, and rglob's order is the file system's.
    assert [p.read_text() == doc for p in entries].count(False) == 1, "one rewritten"
    (rewritten,) = (p for p in entries if p.read_text() != doc)
    assert json.loads(rewritten.read_text()).get("version") == 1
    gen(project, {"params.yaml": "lr: 0.1\n"})
    assert "from run-cache" not in trails("repro").out  # its entry was damaged too
    gen(project, {"params.yaml": "lr: 0.2\n"})
    assert "Restored 'train' from run-cache" in trails("repro").out  # the rebuilt entry


@pytest.mark.parametrize(
    "doc",
    [
        FUTURE,
        '{"version": 1, "files": "[[',
        '{"version": 1, "files": "KEY", "commits": {"SHA": {"params": 1, "metrics": {}}}}',
    ],
)
def test_exp_show_cache_unreadable_is_rebuilt(project: Path, trails: Trails, doc: str) -> None:
    assert trails("exp", "run", "-S", "lr=0.4", "-n", "four").code == 0
    first = trails("exp", "show", "--json")
    assert first.code == 0, first.err
    cache = project / ".dvc" / "tmp" / "trails" / "exp-show-cache.json"
    written = json.loads(cache.read_text())
    assert written["version"] == 1
    sha = next(iter(written["commits"]))
    cache.write_text(doc.replace("KEY", written["files"].replace('"', '\\"')).replace("SHA", sha))
    again = trails("exp", "show", "--json")
    _no_traceback(again)
    assert again.code == 0, again.err
    assert json.loads(again.out) == json.loads(first.out)
    assert json.loads(cache.read_text())["version"] == 1
