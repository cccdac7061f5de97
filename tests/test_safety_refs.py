"""Issue #14, refs and names: a hostile remote's foreign refs and queue
entries never arrive, a remote name is never a Git option, and an
experiment name Git would refuse is refused before anything runs."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, baseline, git
from tests.test_exp_cli import PIPELINE, TRAIN, set_lr

Trails = Callable[..., Result]


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    """The experiments' pipeline (``test_exp_cli``), run and committed."""
    return baseline(
        repo, trails, {"dvc.yaml": PIPELINE, "train.py": TRAIN, "params.yaml": "lr: 0.1\n"}
    )


def _refs(repo: Path) -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)").split()


def _hostile_remote(project: Path, trails: Trails, tmp_path: Path) -> tuple[Path, str]:
    """A bare remote holding one real experiment ('good') and foreign refs
    whose names end in ``refs/exps/...``, a tag, a queued entry that would
    write ``pwned.txt`` and a malformed ``refs/exps/`` ref."""
    remote = tmp_path / "hostile.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    head = git(project, "rev-parse", "HEAD").strip()
    set_lr(project, 0.2)
    assert trails("exp", "run", "-n", "good").code == 0
    git(project, "checkout", "-q", "--", ".")
    (project / "train.py").write_text("open('pwned.txt', 'w').write('ran')\n")
    r = trails("exp", "run", "--queue", "-n", "evil")
    assert r.code == 0, r.err
    (queued,) = [r for r in _refs(project) if r.startswith("refs/exps/queue/")]
    git(project, "checkout", "-q", "--", ".")
    exp = f"refs/exps/{head[:2]}/{head[2:]}"
    git(project, "push", "-q", str(remote),
        f"{exp}/good:{exp}/good",
        f"{queued}:{queued}",
        f"HEAD:refs/heads/refs/exps/{head[:2]}/{head[2:]}/evil",
        f"HEAD:refs/remotes/x/refs/exps/{head[:2]}/{head[2:]}/evil",
        f"HEAD:refs/exps/zz/{head[2:]}/evil",
        f"HEAD:refs/exps/{head[:2]}/{head[2:]}/deep/evil",
        "HEAD:refs/tags/evil-tag")  # fmt: skip
    assert trails("exp", "remove", "-A", "--queue").code == 0
    assert [r for r in _refs(project) if r.startswith("refs/exps/")] == []
    return remote, exp


def test_pull_takes_only_experiments_from_a_hostile_remote(
    project: Path, trails: Trails, tmp_path: Path
) -> None:
    remote, exp = _hostile_remote(project, trails, tmp_path)
    before = set(_refs(project))
    listed = trails("exp", "list", str(remote), "-A", "--name-only")
    assert listed.out.split() == ["good"], listed.out
    r = trails("exp", "pull", "-A", str(remote))
    assert r.code == 0, r.err
    assert r.out.strip() == "Pulled experiment(s) good"
    assert set(_refs(project)) - before == {f"{exp}/good"}, "nothing else arrived"
    assert git(project, "tag") == "", "no tags came along"
    r = trails("exp", "run", "--run-all")
    assert r.code == 0, r.err
    assert r.out.strip() == "No experiments in the queue."
    assert not (project / "pwned.txt").exists()
    r = trails("exp", "pull", str(remote), "evil")
    assert r.code == 1 and f"not on '{remote}': evil" in r.err


def test_a_remote_name_is_never_a_git_option(project: Path, trails: Trails) -> None:
    hostile = "--upload-pack=touch pwned"
    (project / hostile).mkdir()
    for args in (("pull", "--", hostile), ("push", "--", hostile), ("list", "--", hostile)):
        r = trails("exp", *args)
        assert r.code == 1, (args, r.out, r.err)
        assert f"'{hostile}' is not a Git remote: remote names do not start with '-'" in r.err
        assert "Traceback" not in r.err
    assert not (project / "pwned").exists()


def test_a_configured_remote_is_taken_by_name_first(
    project: Path, trails: Trails, tmp_path: Path
) -> None:
    """A folder named like a configured remote does not shadow it."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(project, "remote", "add", "origin", str(remote))
    (project / "origin").mkdir()
    set_lr(project, 0.2)
    assert trails("exp", "run", "-n", "mine").code == 0
    r = trails("exp", "push", "origin")
    assert r.code == 0, r.err
    assert "refs/exps/" in git(project, "ls-remote", str(remote))


def test_a_name_too_long_for_a_ref_is_refused_before_anything_runs(
    project: Path, trails: Trails
) -> None:
    params = (project / "params.yaml").read_text()
    cache = sorted(p.name for p in (project / ".dvc/cache").rglob("*"))
    name = "x" * 300
    for args in (("run", "-S", "lr=0.7", "-n", name), ("run", "--queue", "-n", name),
                 ("save", "-n", name)):  # fmt: skip
        r = trails("exp", *args)
        assert r.code == 1, (args, r.err)
        assert "is not a valid experiment name: it is 300 bytes long; at most 250" in r.err
        assert "(300 characters)" in r.err, "the name is shortened in the message"
        assert "Running stage" not in r.out
    assert (project / "params.yaml").read_text() == params, "-S wrote nothing"
    assert sorted(p.name for p in (project / ".dvc/cache").rglob("*")) == cache
    assert [r for r in _refs(project) if r.startswith("refs/exps/")] == []
    assert trails("exp", "run", "-n", "y" * 250).code == 0, "the longest name that fits works"
    set_lr(project, 0.3)
    r = trails("exp", "rename", "y" * 250, "z" * 251)
    assert r.code == 1 and "251 bytes long" in r.err
