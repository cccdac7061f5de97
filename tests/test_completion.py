"""Shell completion (issue #19, item 4): ``trails completion`` prints each
shell's script, and the completion protocol those scripts speak (click's:
``_TRAILS_COMPLETE``, ``COMP_WORDS``, ``COMP_CWORD``) answers commands,
flags, stage names, experiment names and params keys."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, baseline


def complete(cwd: Path, words: str, shell: str = "bash") -> list[str]:
    """What the shell would offer after ``words`` (the last word being
    completed; a trailing space: a new word)."""
    parts = words.split(" ")
    env = {"_TRAILS_COMPLETE": f"{shell}_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(parts) - 1) if shell != "fish" else parts[-1]}  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "trails"], cwd=cwd, capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", **env}, timeout=60)  # fmt: skip
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    if shell == "zsh":  # type, value, help: three lines each
        lines = proc.stdout.splitlines()
        return [lines[i + 1] for i in range(0, len(lines), 3)]
    return [ln.split(",", 1)[1].split("\t")[0] for ln in proc.stdout.splitlines() if ln]


@pytest.fixture
def project(repo: Path, trails: Callable[..., Result]) -> Path:
    baseline(repo, trails, {
        "params.yaml": "train:\n  lr: 0.1\n  epochs: 3\nseed: 1\n",
        "dvc.yaml": "stages:\n  prepare:\n    cmd: echo p\n  train:\n    cmd: echo t\n"
                    "    params: [train.lr]\n",
    })  # fmt: skip
    assert trails("exp", "run", "-n", "first-try", "-S", "train.lr=0.2").code == 0
    assert trails("exp", "run", "--queue", "-n", "queued-one").code == 0
    return repo


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_the_script_of_each_shell(trails: Callable[..., Result], shell: str) -> None:
    r = trails("completion", "--shell", shell)
    assert r.code == 0, r.err
    assert "_TRAILS_COMPLETE" in r.out and f"{shell}_complete" in r.out


def test_no_shell_is_a_usage_error(repo: Path) -> None:
    env = {"PATH": "/usr/bin:/bin"}
    cmd = [sys.executable, "-m", "trails", "completion"]
    proc = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, env=env)
    assert proc.returncode == 2 and "--shell" in proc.stderr


def test_commands_flags_and_values(project: Path) -> None:
    assert "status" in complete(project, "trails st") and "stage" in complete(project, "trails st")
    assert complete(project, "trails exp ap") == ["apply"]
    assert "--queue" in complete(project, "trails exp run --qu")
    assert complete(project, "trails repro ") == ["prepare", "train"]
    assert complete(project, "trails status tr") == ["train"]
    assert complete(project, "trails exp apply ") == ["first-try"], "queued entries left out"
    assert complete(project, "trails exp remove fi") == ["first-try"]
    assert complete(project, "trails exp run -S train.") == ["train.lr=", "train.epochs="]
    assert complete(project, "trails exp run -S ") == ["train.lr=", "train.epochs=", "seed="]


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_get_the_same_values(project: Path, shell: str) -> None:
    assert complete(project, "trails exp apply ", shell) == ["first-try"]


def test_outside_a_project_nothing_fails(tmp_path: Path) -> None:
    assert complete(tmp_path, "trails exp apply ") == []
    assert complete(tmp_path, "trails repro ") == []
