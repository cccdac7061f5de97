"""Issue #14's last gaps, through the real CLI: a queued entry's hostile
``--copy-paths`` caught in the experiment's folder, ``exp apply`` checking
the real workspace and the cache before Git restores anything, output
folders holding ``.dvc`` or pipeline files, and pulled experiments that do
not descend from the baseline their ref names."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, baseline, gen, git
from tests.test_confine_entry import refused, snapshot
from trails import core, yamlio

Trails = Callable[..., Result]

PIPELINE = "stages:\n  a:\n    cmd: cat params.yaml > o.txt\n    params: [lr]\n    outs: [o.txt]\n"


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    """A committed project: tracked data and a one-stage pipeline whose
    output holds the params (so each experiment has its own object)."""
    files = {"data.txt": "payload\n", "params.yaml": "lr: 0.1\n", "dvc.yaml": PIPELINE}
    return baseline(repo, trails, files, add=("data.txt",), age=60)


def _outside(root: Path) -> list[str]:
    """Every file under ``root`` (the test's tmp folder) outside the project."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "repo"]
        found += [os.path.join(dirpath, f) for f in filenames]
    return sorted(found)


# --- 1. a queued entry's --copy-paths, checked again in its folder ------------------


def _craft_entry(project: Path, trails: Trails, copy_paths: list[str]) -> str:
    """Queue an entry, then rewrite its commit message (the run arguments)
    so that it carries ``copy_paths``, as a hand-made or pulled ref would."""
    assert trails("exp", "run", "--queue", "-S", "lr=0.3").code == 0
    (ref,) = git(project, "for-each-ref", "--format=%(refname)", "refs/exps/queue/").split()
    header, _, body = git(project, "log", "-1", "--format=%B", ref).partition("\n\n")
    args = json.loads(body)
    args["copy_paths"] = copy_paths
    tree = git(project, "rev-parse", f"{ref}^{{tree}}").strip()
    parent = git(project, "rev-parse", f"{ref}^").strip()
    msg = f"{header}\n\n{json.dumps(args)}"
    sha = git(project, "commit-tree", tree, "-p", parent, "-m", msg).strip()
    git(project, "update-ref", "-d", ref)
    git(project, "update-ref", f"refs/exps/queue/00000000000000000001-{sha[:12]}", sha)
    return sha[:7]


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../x", "--copy-paths: '../x' is outside the project"),
        (".git/hooks/x", "'.git/hooks/x' is inside .git/"),
        ("<abs>", "is an absolute path"),
        ("lnk/x", "--copy-paths: 'lnk/x' leads outside the project through a symlink"),
    ],
)
def test_run_all_refuses_a_hostile_copy_path_in_a_crafted_entry(
    project: Path, trails: Trails, tmp_path: Path, path: str, reason: str
) -> None:
    (tmp_path / "x").write_text("outside\n")
    (project / ".git/hooks/x").write_text("#!/bin/sh\n")
    spelled = str(tmp_path / "x") if path == "<abs>" else path
    if path == "lnk/x":
        # The entry's commit holds `lnk` as a symlink out of the experiment's
        # folder; the workspace holds a real folder `lnk` with a file `x`,
        # so only the check in the folder can catch it.
        (project / "lnk").symlink_to("..")
        git(project, "add", "lnk")
        entry = _craft_entry(project, trails, [spelled])
        git(project, "rm", "-q", "--cached", "lnk")
        (project / "lnk").unlink()
        gen(project, {"lnk/x": "workspace\n"})
    else:
        entry = _craft_entry(project, trails, [spelled])
    before, outside = snapshot(project), _outside(tmp_path)
    r = trails("exp", "run", "--run-all")
    assert r.code == 1 and "1 experiment(s) failed" in r.err, (r.out, r.err)
    assert "Traceback" not in r.err
    log = trails("queue", "logs", entry).out
    assert reason in log, log
    assert "Traceback" not in log
    after = snapshot(project)
    assert after.pop("<refs>") != before.pop("<refs>"), "the entry moved to failed"
    assert after == before, "nothing written in the workspace, the cache or .git"
    assert _outside(tmp_path) == outside, "nothing written outside the project"
    assert [p.name for p in (project / ".dvc/tmp/exps").iterdir()] == ["run"], "folder removed"


# --- 2. exp apply: a symlinked folder only the workspace holds ----------------------


def _experiment(project: Path, files: dict[str, str]) -> None:
    """An experiment ``evil`` of HEAD whose commit holds ``files``."""
    baseline = git(project, "rev-parse", "HEAD").strip()
    gen(project, {**files, "params.yaml": "lr: 0.9\n"})
    git(project, "add", "-A")
    git(project, "commit", "-qm", "pulled experiment")
    sha = git(project, "rev-parse", "HEAD").strip()
    git(project, "reset", "-q", "--hard", baseline)
    git(project, "update-ref", f"refs/exps/{baseline[:2]}/{baseline[2:]}/evil", sha)


@pytest.mark.parametrize("what", ["output", "dvc"])
def test_apply_refuses_an_output_behind_a_workspace_symlink_before_restoring(
    project: Path, trails: Trails, tmp_path: Path, what: str
) -> None:
    if what == "output":
        files = {"dvc.yaml": PIPELINE.replace("o.txt", "d/o.txt")}
        reason = "dvc.yaml: stage 'a': output: 'd/o.txt' leads outside the project through"
    else:
        dvc = yamlio.load(project / "data.txt.dvc")
        dvc["outs"][0]["path"] = "d/data.txt"
        files = {"evil.dvc": yamlio.dumps(dvc)}
        reason = "evil.dvc: 'd/data.txt' leads outside the project through a symlink"
    _experiment(project, files)
    (tmp_path / "elsewhere").mkdir()
    (project / "d").symlink_to(tmp_path / "elsewhere")  # the user's, never committed
    before = snapshot(project)
    refused(trails("exp", "apply", "evil"), reason)
    assert snapshot(project) == before, "not even the experiment's params were restored"
    assert list((tmp_path / "elsewhere").iterdir()) == []


# --- 3. output folders holding .dvc or pipeline files -------------------------------

FOLDER_PIPELINE = (
    "stages:\n  a:\n    cmd: mkdir -p out && cat params.yaml > out/f\n    params: [lr]\n"
    "    outs: [out]\n"
)


@pytest.fixture
def folder_project(repo: Path, trails: Trails) -> Path:
    """A committed project whose one stage writes the folder ``out``."""
    assert trails("init").code == 0
    gen(repo, {"params.yaml": "lr: 0.1\n", "dvc.yaml": FOLDER_PIPELINE})
    assert trails("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    return repo


@pytest.mark.parametrize("name", ["keep.dvc", "sub/dvc.yaml"])
@pytest.mark.parametrize("how", [("repro",), ("exp", "run")])
def test_an_output_folder_holding_a_dvc_or_pipeline_file_is_refused(
    folder_project: Path, trails: Trails, name: str, how: tuple[str, ...]
) -> None:
    repo = folder_project
    gen(repo, {f"out/{name}": "outs:\n- path: x\n", "params.yaml": "lr: 0.2\n"})
    r = trails(*how)
    refused(r, f"dvc.yaml: stage 'a': output 'out' holds 'out/{name}', which trails would delete",
            f"Move 'out/{name}' out of 'out'")  # fmt: skip
    assert (repo / "out" / name).read_text() == "outs:\n- path: x\n"
    assert (repo / "out/f").read_text() == "lr: 0.1\n", "the stage did not run"


def test_a_queued_run_refuses_a_committed_dvc_file_in_an_output_folder(
    folder_project: Path, trails: Trails
) -> None:
    """The experiment's folder holds what its commit holds: a ``.dvc`` file
    committed inside the output folder is refused there, before the stage runs."""
    repo = folder_project
    gen(repo, {"data.txt": "payload\n"})
    assert trails("add", "data.txt").code == 0
    dvc = yamlio.load(repo / "data.txt.dvc")
    dvc["outs"][0]["path"] = "../data.txt"
    (repo / "data.txt.dvc").rename(repo / "out/keep.dvc")
    (repo / "out/keep.dvc").write_text(yamlio.dumps(dvc))
    git(repo, "add", "-f", "out/keep.dvc", ".gitignore")
    git(repo, "commit", "-qm", "a .dvc file inside the output folder")
    assert trails("exp", "run", "--queue", "-S", "lr=0.2").code == 0
    (entry,) = [line.split()[0] for line in trails("queue", "status").out.splitlines()[1:]]
    r = trails("exp", "run", "--run-all")
    assert r.code == 1 and "1 experiment(s) failed" in r.err, (r.out, r.err)
    log = trails("queue", "logs", entry).out
    assert "output 'out' holds 'out/keep.dvc', which trails would delete" in log, log
    assert "Running stage" not in log
    assert (repo / "out/keep.dvc").is_file()


def test_checkout_refuses_an_output_folder_holding_a_dvc_file(
    folder_project: Path, trails: Trails
) -> None:
    """Checking out a folder output deletes the files its recorded version
    does not hold: the ``.dvc`` file would go too."""
    repo = folder_project
    gen(repo, {"out/keep.dvc": "outs:\n- path: x\n", "out/f": "edited\n"})
    before = snapshot(repo)
    refused(trails("checkout"), "output 'out' holds 'out/keep.dvc', which trails would delete")
    assert snapshot(repo) == before


def test_apply_refuses_when_a_workspace_output_folder_holds_a_dvc_file(
    folder_project: Path, trails: Trails
) -> None:
    repo = folder_project
    assert trails("exp", "run", "-S", "lr=0.2", "-n", "e").code == 0
    git(repo, "checkout", "-q", "--", ".")
    gen(repo, {"out/keep.dvc": "outs:\n- path: x\n"})
    before = snapshot(repo)
    refused(trails("exp", "apply", "e"), "output 'out' holds 'out/keep.dvc'")
    assert snapshot(repo) == before


# --- 4. exp apply: every recorded object in the cache first -------------------------


def test_apply_refuses_an_experiment_whose_object_is_not_cached(
    project: Path, trails: Trails
) -> None:
    assert trails("exp", "run", "-S", "lr=0.2", "-n", "e").code == 0
    lock = yamlio.load(project / "dvc.lock")
    md5 = lock["stages"]["a"]["outs"][0]
    value = next(v for k, v in md5.items() if k not in ("path", "hash", "size", "isexec"))
    git(project, "checkout", "-q", "--", ".")
    assert trails("checkout").code == 0
    obj = Path(core.object_path(project / ".dvc/cache", value))
    obj.chmod(0o644)
    obj.unlink()
    before = snapshot(project)
    r = trails("exp", "apply", "e")
    refused(r, f"output 'o.txt' of stage 'a': object {value} is not in the cache",
            "'trails pull' fetches it once remotes exist", "run the experiment again")  # fmt: skip
    assert snapshot(project) == before
    assert (project / "params.yaml").read_text() == "lr: 0.1\n"


# --- 5. exp pull: only experiments of the baseline their ref names ------------------


def test_pull_drops_an_experiment_that_does_not_descend_from_its_baseline(
    project: Path, trails: Trails, tmp_path: Path
) -> None:
    remote = tmp_path / "crafted.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    head = git(project, "rev-parse", "HEAD").strip()
    assert trails("exp", "run", "-S", "lr=0.2", "-n", "good").code == 0
    git(project, "checkout", "-q", "--", ".")
    tree = git(project, "rev-parse", "HEAD^{tree}").strip()
    orphan = git(project, "commit-tree", tree, "-m", "not an experiment of HEAD").strip()
    exp = f"refs/exps/{head[:2]}/{head[2:]}"
    git(project, "push", "-q", str(remote), f"{exp}/good:{exp}/good", f"{orphan}:{exp}/forged")
    assert trails("exp", "remove", "good").code == 0
    before = git(project, "for-each-ref", "--format=%(refname)").split()
    r = trails("exp", "pull", "-A", str(remote))
    assert r.code == 1, (r.out, r.err)
    assert "Pulled experiment(s) good" in r.out
    assert f"Not pulled: 'forged' on '{remote}' does not descend from its baseline {head[:7]}" in (
        r.err
    )
    assert f"1 experiment(s) on '{remote}' were not pulled" in r.err
    after = git(project, "for-each-ref", "--format=%(refname)").split()
    assert set(after) - set(before) == {f"{exp}/good"}, "no forged ref, no temporary ref"
    assert "forged" not in trails("exp", "list", "--name-only").out


def test_pull_replaces_a_diverged_local_experiment_only_with_force(
    project: Path, trails: Trails, tmp_path: Path
) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    head = git(project, "rev-parse", "HEAD").strip()
    ref = f"refs/exps/{head[:2]}/{head[2:]}/same"
    assert trails("exp", "run", "-S", "lr=0.2", "-n", "same").code == 0
    git(project, "push", "-q", str(remote), f"{ref}:{ref}")
    theirs = git(project, "rev-parse", ref).strip()
    assert trails("exp", "remove", "same").code == 0
    assert trails("exp", "run", "-S", "lr=0.3", "-n", "same").code == 0
    ours = git(project, "rev-parse", ref).strip()
    r = trails("exp", "pull", str(remote), "same")
    refused(r, "not pulling: the local experiment(s) 'same' differ from the remote's",
            "Pull with --force to replace them.")  # fmt: skip
    assert git(project, "rev-parse", ref).strip() == ours
    assert "trails-incoming" not in git(project, "for-each-ref")
    r = trails("exp", "pull", "--force", str(remote), "same")
    assert r.code == 0 and r.out.strip() == "Pulled experiment(s) same", (r.out, r.err)
    assert git(project, "rev-parse", ref).strip() == theirs
