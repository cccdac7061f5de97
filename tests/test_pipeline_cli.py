"""Functional tests of init, repro, status and dag through the real CLI in
temporary Git repos."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, gen, git, run_trails

Trails = Callable[..., Result]

PY = sys.executable

PIPELINE = f"""\
stages:
  prepare:
    cmd: {PY} prepare.py
    deps:
      - raw.txt
    outs:
      - prepared.txt
  train:
    cmd: {PY} train.py
    deps:
      - prepared.txt
      - train.py
    params:
      - train.lr
    outs:
      - model.txt
  evaluate:
    cmd: {PY} evaluate.py
    deps:
      - model.txt
    metrics:
      - metrics.json:
          cache: false
"""


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    assert trails("init").code == 0
    gen(
        repo,
        {
            "dvc.yaml": PIPELINE,
            "raw.txt": "hello\n",
            "params.yaml": "train:\n  lr: 0.1\n  epochs: 2\n",
            "prepare.py": "open('prepared.txt', 'w').write(open('raw.txt').read().upper())\n",
            "evaluate.py": (
                "import json\n"
                "json.dump({'score': len(open('model.txt').read())}, open('metrics.json', 'w'))\n"
            ),
            "train.py": (
                "import re\n"
                "lr = re.search(r'lr: (\\S+)', open('params.yaml').read()).group(1)\n"
                "open('model.txt', 'w').write(open('prepared.txt').read() + 'lr=' + lr)\n"
            ),
        },
    )
    return repo


def test_init(tmp_path: Path, repo: Path, trails: Trails) -> None:
    r = trails("init")
    assert r.code == 0, r.err
    assert (repo / ".dvc" / "config").exists()
    assert (repo / ".dvc" / ".gitignore").read_text() == "/config.local\n/tmp\n/cache\n"
    staged = subprocess.run(
        ["git", "diff", "--cached", "--name-only"], cwd=repo, capture_output=True, text=True
    ).stdout.split()
    assert staged == [".dvc/.gitignore", ".dvc/config", ".dvcignore"]
    again = trails("init")
    assert again.code == 1
    assert "already initialised" in again.err
    assert "trails init -f" in again.err
    assert trails("init", "-f").code == 0
    bare = tmp_path / "nogit"
    bare.mkdir()
    r = run_trails("init", cwd=bare)
    assert r.code == 1
    assert "is not inside a Git repository" in r.err
    assert "Run 'git init' first" in r.err
    assert not (bare / ".dvc").exists()
    assert run_trails("init", "--no-scm", cwd=bare).code == 0


def test_commands_outside_a_project(repo: Path, trails: Trails) -> None:
    r = trails("status")
    assert r.code == 1
    assert "not inside a trails (or DVC) project" in r.err
    assert "trails init" in r.err


def test_repro_runs_then_is_a_noop(project: Path, trails: Trails) -> None:
    r = trails("repro")
    assert r.code == 0, r.err
    assert r.out.index("Running stage 'prepare'") < r.out.index("Running stage 'train'")
    assert r.out.index("Running stage 'train'") < r.out.index("Running stage 'evaluate'")
    assert "Updating lock file 'dvc.lock'" in r.out
    assert (project / "model.txt").read_text() == "HELLO\nlr=0.1"
    lock = (project / "dvc.lock").read_text()
    assert "hash: blake3" in lock
    assert "train.lr: 0.1" in lock
    assert "/model.txt" in (project / ".gitignore").read_text().splitlines()
    assert "/metrics.json" not in (project / ".gitignore").read_text(), "cache: false"

    again = trails("repro")
    assert again.code == 0, again.err
    assert "Running stage" not in again.out
    assert "Stage 'train' didn't change, skipping" in again.out
    assert "Data and pipelines are up to date." in again.out
    assert trails("status").out.strip() == "Data and pipelines are up to date."


def test_status_explains_each_change(project: Path, trails: Trails) -> None:
    assert trails("repro").code == 0
    gen(project, {"params.yaml": "train:\n  lr: 0.2\n  epochs: 5\n", "raw.txt": "bye\n"})
    (project / "metrics.json").unlink()
    r = trails("status")
    assert r.code == 0, r.err
    assert "prepare:\n\tdep 'raw.txt' changed" in r.out
    assert "train:\n\tparams.yaml:train.lr 0.1 -> 0.2" in r.out
    assert "evaluate:\n\toutput 'metrics.json' missing" in r.out
    assert "epochs" not in r.out, "only tracked params count"
    doc = json.loads(trails("status", "--json").out)
    assert doc["train"] == ["params.yaml:train.lr 0.1 -> 0.2"]
    r = trails("repro", "--explain")
    assert (
        "'train' runs because: dep 'prepared.txt' changed; params.yaml:train.lr 0.1 -> 0.2" in r.out
    )


def test_only_stages_with_changed_params_rerun(project: Path, trails: Trails) -> None:
    assert trails("repro").code == 0
    gen(project, {"params.yaml": "train:\n  lr: 0.1\n  epochs: 7\n"})
    r = trails("repro")
    assert "Running stage" not in r.out, "epochs is not tracked by any stage"
    gen(project, {"params.yaml": "train:\n  lr: 0.3\n  epochs: 7\n"})
    r = trails("repro")
    assert "Stage 'prepare' didn't change, skipping" in r.out
    assert "Running stage 'train'" in r.out
    assert "Running stage 'evaluate'" in r.out


def test_dry_single_item_and_downstream(project: Path, trails: Trails) -> None:
    r = trails("repro", "--dry")
    assert "Running stage 'prepare'" in r.out
    assert not (project / "prepared.txt").exists()
    assert not (project / "dvc.lock").exists()
    r = trails("repro", "-s", "prepare")
    assert r.code == 0, r.err
    assert "Running stage 'train'" not in r.out
    assert (project / "prepared.txt").exists()
    r = trails("repro", "--downstream", "train")
    assert "prepare" not in r.out
    assert "Running stage 'train'" in r.out and "Running stage 'evaluate'" in r.out


def test_unknown_target_and_missing_dep(project: Path, trails: Trails) -> None:
    r = trails("repro", "trian")
    assert r.code == 1
    assert "Error: 'trian' is not a stage" in r.err
    assert "Did you mean 'train'?" in r.err
    (project / "raw.txt").unlink()
    r = trails("repro")
    assert r.code == 1
    assert "stage 'prepare': dependency 'raw.txt' does not exist" in r.err
    assert not (project / "dvc.lock").exists()


def test_failing_stage_stops_downstream_and_keeps_upstream(project: Path, trails: Trails) -> None:
    gen(project, {"train.py": "raise SystemExit(3)\n"})
    r = trails("repro")
    assert r.code == 1
    assert "stage 'train' failed: command '" in r.err
    assert "exited with code 3" in r.err
    assert "Running stage 'evaluate'" not in r.out
    lock = (project / "dvc.lock").read_text()
    assert "prepare:" in lock and "train:" not in lock
    assert "Traceback" not in r.err


def test_interactive_asks_before_each_stage(project: Path, trails: Trails) -> None:
    proc = subprocess.run(
        [PY, "-m", "trails", "repro", "-i", "prepare"],
        cwd=project,
        input="n\n",
        capture_output=True,
        text=True,
    )
    assert (
        "Going to reproduce stage: 'prepare'. Are you sure you want to continue? [y/n]"
        in proc.stderr
    )
    assert not (project / "prepared.txt").exists()


def test_parallel_jobs(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    stages = "\n".join(
        f"  s{i}:\n    cmd: {PY} -c \"open('o{i}', 'w').write('{i}')\"\n    outs: [o{i}]"
        for i in range(4)
    )
    gen(repo, {"dvc.yaml": f"stages:\n{stages}\n"})
    r = trails("repro", "-j", "2")
    assert r.code == 0, r.err
    assert all((repo / f"o{i}").read_text() == str(i) for i in range(4))
    assert r.out.count("Running stage") == 4


def test_dag_formats(project: Path, trails: Trails) -> None:
    r = trails("dag", "--dot")
    assert r.code == 0, r.err
    assert '"prepare" -> "train";' in r.out
    assert '"train" -> "evaluate";' in r.out
    r = trails("dag", "--mermaid")
    assert r.out.startswith("flowchart TD")
    assert "node0-->node1" in r.out


def test_checkout_restores_outputs_from_the_cache(project: Path, trails: Trails) -> None:
    assert trails("repro").code == 0
    (project / "model.txt").unlink()
    (project / "prepared.txt").chmod(0o644)
    (project / "prepared.txt").write_text("tampered")
    r = trails("checkout")
    assert r.code == 0, r.err
    assert sorted(r.out.splitlines()) == ["A\tmodel.txt", "M\tprepared.txt"]
    assert (project / "model.txt").read_text() == "HELLO\nlr=0.1"
    assert (project / "prepared.txt").read_text() == "HELLO\n"
    assert trails("checkout").out.strip() == "Everything is up to date."
    assert trails("status").out.strip() == "Data and pipelines are up to date."


def test_commit_records_without_running(project: Path, trails: Trails) -> None:
    gen(project, {"prepared.txt": "made by hand\n"})
    r = trails("commit", "prepare")
    assert r.code == 0, r.err
    assert "Committed stage 'prepare'" in r.out
    assert "prepare" not in trails("status", "prepare").out.replace("prepare.py", "")
    gen(project, {"prepared.txt": "edited\n"})
    proc = subprocess.run(
        [PY, "-m", "trails", "commit", "prepare"], cwd=project, input="n\n", capture_output=True,
        text=True,
    )  # fmt: skip
    assert (
        "Stage 'prepare' changed (output 'prepared.txt' modified). Commit it anyway?" in proc.stderr
    )
    assert "Nothing to commit." in proc.stdout
    assert trails("commit", "-f", "prepare").code == 0
    assert trails("status", "prepare").out.strip() == "Data and pipelines are up to date."


def test_metrics_show_and_diff(project: Path, trails: Trails) -> None:
    assert trails("repro").code == 0
    r = trails("metrics", "show", "--json")
    assert json.loads(r.out) == {"metrics.json": {"score": 12}}
    r = trails("metrics", "show", "--md")
    assert "| metrics.json | score | 12 |" in r.out
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base"],
        cwd=project, check=True,
    )  # fmt: skip
    gen(project, {"params.yaml": "train:\n  lr: 0.25\n  epochs: 2\n"})
    assert trails("repro").code == 0
    doc = json.loads(trails("metrics", "diff", "--json").out)
    assert doc == {"metrics.json": {"score": {"old": 12, "new": 13, "diff": 1}}}
    r = trails("metrics", "diff", "--md")
    assert "| metrics.json | score | 12 | 13 | 1 |" in r.out
    r = trails("metrics", "diff", "nosuchrev")
    assert r.code == 1
    assert "'nosuchrev' is not a Git revision" in r.err


def test_pipeline_files_are_found_through_git_honouring_dvcignore(
    repo: Path, trails: Trails
) -> None:
    assert trails("init").code == 0
    stage = "stages:\n  s:\n    cmd: echo\n"
    gen(repo, {"a/dvc.yaml": stage, "skip/dvc.yaml": stage, "b/c/dvc.yaml": stage,
               ".dvcignore": "skip\n", "data/x.csv": "1"})  # fmt: skip
    git(repo, "add", "a")
    out = trails("dag").out
    assert "a/dvc.yaml:s" in out and "b/c/dvc.yaml:s" in out, "tracked and new files"
    assert "skip/dvc.yaml" not in out, ".dvcignore is honoured"
