"""One experiment run (``experiments.experiment``) in the workspace and in
a run folder: the stages get ``DVC_EXP_*`` through their own environment,
and the process's current folder and environment stay as they were."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import Result, baseline, git
from trails.experiments import queue
from trails.experiments.executor import run_entry
from trails.experiments.run import ExpRunOptions, exp_run
from trails.git import Git
from trails.pipeline.stage import Stage
from trails.project import Project
from trails.repro.selection import ReproOptions

PIPELINE = "stages:\n  s:\n    cmd: echo 1 > o.txt\n    params: [x]\n    outs: [o.txt]\n"


@dataclass
class Recording:
    """Plays the stage (writes its output) and notes what it saw."""

    seen: list[dict[str, str | None]] = field(default_factory=list)

    def run(self, stage: Stage, root: Path, env: Mapping[str, str]) -> None:
        (root / "o.txt").write_text(str(len(self.seen)))
        self.seen.append(
            {
                "name": env.get("DVC_EXP_NAME"),
                "baseline": env.get("DVC_EXP_BASELINE_REV"),
                "root": env.get("DVC_ROOT"),
                "cwd": os.getcwd(),
                "process": os.environ.get("DVC_EXP_NAME"),
            }
        )


@pytest.fixture
def project(repo: Path, trails: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> Path:
    baseline(repo, trails, {"dvc.yaml": PIPELINE, "params.yaml": "x: 1\n"})
    git(repo, "config", "user.name", "t")
    git(repo, "config", "user.email", "t@t")
    monkeypatch.delenv("DVC_EXP_NAME", raising=False)
    monkeypatch.chdir(repo)
    return repo


def test_a_queued_run_passes_dvc_exp_to_its_stages_only(
    project: Path, trails: Callable[..., Result]
) -> None:
    assert trails("exp", "run", "--queue", "-n", "named", "-S", "x=2").code == 0
    g = Git(project)
    [entry] = queue.entries(g)
    before = dict(os.environ)
    runner = Recording()
    rec = run_entry(Project(project), g, entry, runner, lambda _line: None)
    assert rec.name == "named"
    [seen] = runner.seen
    assert seen["name"] == "named" and seen["baseline"] == g.head()
    assert seen["root"] != str(project) and Path(str(seen["root"])).parent.name == "exps"
    assert seen["cwd"] == str(project), "the process stays in its folder while the stage runs"
    assert seen["process"] is None, "the process's own environment is not changed"
    assert dict(os.environ) == before
    assert git(project, "show", f"{rec.sha}:params.yaml") == "x: 2\n"


def test_a_workspace_run_passes_the_same_variables(project: Path) -> None:
    runner = Recording()
    opts = ExpRunOptions(ReproOptions(force=True), name="here", force=True)
    _, rec = exp_run(Project(project), opts, runner, lambda _line: None)
    assert rec is not None and rec.name == "here"
    [seen] = runner.seen
    assert seen["name"] == "here" and seen["baseline"] == Git(project).head()
    assert seen["root"] == str(project) and seen["process"] is None
