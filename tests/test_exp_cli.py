"""Experiments as Git refs, through the real CLI in temporary Git repos."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, baseline, exp_rows, gen, git, run_trails

Trails = Callable[..., Result]
PY = sys.executable

PIPELINE = f"""\
stages:
  train:
    cmd: {PY} train.py
    deps: [train.py]
    params: [lr]
    outs: [model.bin]
    metrics:
      - metrics.json:
          cache: false
"""
TRAIN = (
    "import json, re\n"
    "lr = float(re.search(r'lr: (\\S+)', open('params.yaml').read()).group(1))\n"
    "open('model.bin', 'w').write(str(lr * 2))\n"
    "json.dump({'loss': round(1 - lr, 4), 'acc': lr}, open('metrics.json', 'w'))\n"
)


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    return baseline(
        repo,
        trails,
        {"dvc.yaml": PIPELINE, "train.py": TRAIN, "params.yaml": "lr: 0.1  # rate\nunits: 8\n"},
    )


def set_lr(repo: Path, lr: float) -> None:
    text = (repo / "params.yaml").read_text()
    (repo / "params.yaml").write_text(text.replace(text.split()[1], str(lr), 1))


def test_exp_run_records_a_commit_on_the_baseline(project: Path, trails: Trails) -> None:
    head = git(project, "rev-parse", "HEAD").strip()
    branch = git(project, "symbolic-ref", "HEAD").strip()
    set_lr(project, 0.3)
    gen(project, {"notes.txt": "untracked but not ignored"})
    r = trails("exp", "run", "-n", "fast")
    assert r.code == 0, r.err
    assert "Ran experiment(s): fast" in r.out
    ref = f"refs/exps/{head[:2]}/{head[2:]}/fast"
    sha = git(project, "rev-parse", ref).strip()
    assert git(project, "rev-parse", f"{sha}^").strip() == head
    files = git(project, "ls-tree", "-r", "--name-only", sha).split()
    assert "notes.txt" in files and "metrics.json" in files and "dvc.lock" in files
    assert "model.bin" not in files, "cached outputs are git-ignored, never committed"
    assert git(project, "show", f"{sha}:params.yaml").startswith("lr: 0.3")
    assert git(project, "rev-parse", "HEAD").strip() == head
    assert git(project, "symbolic-ref", "HEAD").strip() == branch
    assert git(project, "diff", "--cached", "--name-only") == "", "the index is untouched"
    assert (project / "model.bin").read_text() == "0.6", "the workspace keeps the results"


def test_names(project: Path, trails: Trails) -> None:
    set_lr(project, 0.2)
    r = trails("exp", "run")
    assert r.code == 0, r.err
    name = r.out.split("Ran experiment(s): ")[1].split()[0]
    assert name.startswith("exp-") and len(name) == 9
    again = trails("exp", "run")
    assert f"Experiment '{name}' already records this workspace" in again.out
    assert len(git(project, "for-each-ref", "refs/exps").splitlines()) == 1
    assert trails("exp", "run", "-n", "a").code == 0
    set_lr(project, 0.4)
    r = trails("exp", "run", "-n", "a")
    assert r.code == 1
    assert "experiment 'a' already exists for baseline" in r.err
    assert "Use -f to overwrite it" in r.err
    assert trails("exp", "run", "-n", "a", "-f").code == 0
    before = (project / "params.yaml").read_text()
    r = trails("exp", "run", "-n", "a", "-S", "lr=0.9")
    assert r.code == 1 and "experiment 'a' already exists" in r.err
    assert "Running stage" not in r.out, "a taken name fails before anything runs"
    assert (project / "params.yaml").read_text() == before, "-S wrote nothing"
    r = trails("exp", "run", "-n", "bad name")
    assert r.code == 1
    assert "'bad name' is not a valid experiment name" in r.err


def _experiments(project: Path, trails: Trails) -> None:
    for lr, name in ((0.2, "slow"), (0.5, "fast")):
        set_lr(project, lr)
        assert trails("exp", "run", "-n", name).code == 0


def test_exp_show_tree_and_formats(project: Path, trails: Trails) -> None:
    _experiments(project, trails)
    r = trails("exp", "show", "--no-pager", "--no-timestamp", "--include-metrics", "loss",
               "--include-params", "lr")  # fmt: skip
    assert r.code == 0, r.err
    head = git(project, "rev-parse", "--short=7", "HEAD").strip()
    lines = [ln for ln in r.out.splitlines() if ln.startswith("│")]
    cells = [[c.strip() for c in ln.strip("│").split("│")] for ln in lines]
    assert cells[0] == ["workspace", "0.5", "0.5"]
    assert cells[1] == [head, "0.9", "0.1"]
    assert cells[2][0].startswith("├── ") and cells[2][0].endswith("[fast]")
    assert cells[3][0].startswith("└── ") and cells[3][0].endswith("[slow]")
    assert cells[3][1:] == ["0.8", "0.2"]
    header = r.out.splitlines()[1]
    assert "Experiment" in header and "Created" not in header and "units" not in header
    rows = exp_rows(trails("exp", "show", "--json").out)
    assert [(x["kind"], x["name"]) for x in rows][2:] == [
        ("experiment", "fast"),
        ("experiment", "slow"),
    ]
    assert rows[3]["params"]["params.yaml"] == {"lr": 0.2, "units": 8}
    csv_lines = trails("exp", "show", "--csv", "--sort-by", "loss").out.splitlines()
    assert csv_lines[0].startswith("Experiment,rev,typ,Created,parent,")
    assert [ln.split(",")[0] for ln in csv_lines[3:]] == ["fast", "slow"]
    md = trails("exp", "show", "--md", "--only-changed", "--no-timestamp").out
    assert "units" not in md, "unchanged in every row"
    assert "| lr |" in md, "changed"
    r = trails("exp", "show", "--sort-by", "nope")
    assert r.code == 1 and "--sort-by 'nope' is not a metric or param column" in r.err


def test_exp_diff(project: Path, trails: Trails) -> None:
    _experiments(project, trails)
    doc = json.loads(trails("exp", "diff", "slow", "--json").out)  # slow vs the workspace
    assert doc["params"]["params.yaml"]["lr"] == {"old": 0.2, "new": 0.5, "diff": 0.3}
    assert doc["metrics"]["metrics.json"]["loss"]["diff"] == pytest.approx(-0.3)
    doc = json.loads(trails("exp", "diff", "slow", "fast", "--json").out)
    assert doc["params"]["params.yaml"]["lr"] == {"old": 0.2, "new": 0.5, "diff": 0.3}
    md = trails("exp", "diff", "--md").out
    assert "| params.yaml | lr | 0.1 | 0.5 | 0.4 |" in md


def test_apply_branch_list_remove(project: Path, trails: Trails) -> None:
    _experiments(project, trails)
    r = trails("exp", "apply", "slow")
    assert r.code == 0, r.err
    assert "Changes for experiment 'slow' have been applied to your workspace." in r.out
    assert (project / "params.yaml").read_text().startswith("lr: 0.2")
    assert (project / "model.bin").read_text() == "0.4", "outputs checked out from the cache"
    r = trails("exp", "branch", "slow")
    assert "Git branch 'slow-branch' has been created" in r.out
    assert git(project, "rev-parse", "slow-branch") == git(
        project, "rev-parse", "refs/exps/" + _ref_tail(project, "slow")
    )
    assert trails("exp", "list", "--name-only").out.split() == ["fast", "slow"]
    r = trails("exp", "remove", "fast")
    assert "Removed experiment 'fast'" in r.out
    assert trails("exp", "list", "--name-only").out.split() == ["slow"]
    assert trails("exp", "remove", "-A").code == 0
    assert git(project, "for-each-ref", "refs/exps") == ""


def test_apply_one_experiment_after_another(project: Path, trails: Trails) -> None:
    """The guide's walkthrough: run two experiments, then apply the first.
    The workspace holds the second one's results, recorded already: apply
    overwrites it without --force (and without --no-force's refusal)."""
    assert trails("exp", "run", "-n", "first", "-S", "units=40").code == 0
    assert trails("exp", "run", "-n", "second", "-S", "units=50").code == 0
    r = trails("exp", "apply", "first")
    assert r.code == 0, r.err
    assert "units: 40" in (project / "params.yaml").read_text()
    assert "Saved your uncommitted changes" not in r.out, "nothing unrecorded to save"
    gen(project, {"notes.txt": "untracked, in no experiment"})
    r = trails("exp", "apply", "--no-force", "second")
    assert r.code == 0, r.err
    assert "units: 50" in (project / "params.yaml").read_text()
    assert git(project, "stash", "list") == ""


def test_apply_keeps_edits_recorded_nowhere(project: Path, trails: Trails) -> None:
    """Hand edits that are no experiment's: --no-force refuses and changes
    nothing; the default applies after saving them in a Git stash entry."""
    _experiments(project, trails)
    set_lr(project, 0.7)
    gen(project, {"notes.txt": "untracked: restoring leaves it alone"})
    before = (project / "params.yaml").read_text()
    r = trails("exp", "apply", "--no-force", "slow")
    assert r.code == 1
    assert "the workspace has uncommitted changes that 'exp apply' would overwrite:\n M " in r.err
    assert "params.yaml" in r.err and "apply without --no-force" in r.err
    assert "Traceback" not in r.err
    assert (project / "params.yaml").read_text() == before, "nothing changed"
    assert git(project, "stash", "list") == ""
    r = trails("exp", "apply", "slow")
    assert r.code == 0, r.err
    assert "Saved your uncommitted changes as stash" in r.out and "git stash apply" in r.out
    assert (project / "params.yaml").read_text().startswith("lr: 0.2")
    assert "trails: the workspace before 'exp apply slow'" in git(project, "stash", "list")
    assert git(project, "show", "stash@{0}:params.yaml") == before, "the edit is kept"
    assert (project / "notes.txt").exists()


def _ref_tail(project: Path, name: str) -> str:
    refs = git(project, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    line = next(ln for ln in refs if ln.endswith("/" + name))
    return line.removeprefix("refs/exps/")


def test_save_without_running(project: Path, trails: Trails) -> None:
    set_lr(project, 0.9)
    r = trails("exp", "save", "-n", "manual")
    assert r.code == 0, r.err
    assert "Experiment has been saved as: manual" in r.out
    sha = git(project, "rev-parse", "refs/exps/" + _ref_tail(project, "manual")).strip()
    assert git(project, "show", f"{sha}:params.yaml").startswith("lr: 0.9")


def test_lookup_errors(project: Path, trails: Trails) -> None:
    _experiments(project, trails)
    r = trails("exp", "apply", "slwo")
    assert r.code == 1
    assert "'slwo' is not an experiment" in r.err and "Did you mean 'slow'?" in r.err
    sha = git(project, "rev-parse", "refs/exps/" + _ref_tail(project, "slow")).strip()
    assert trails("exp", "branch", sha[:8], "by-sha").code == 0


def test_repo_without_commits(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, {"dvc.yaml": PIPELINE, "train.py": TRAIN, "params.yaml": "lr: 0.1\n"})
    r = trails("exp", "run")
    assert r.code == 1
    assert "has no commits yet" in r.err and "Commit your code first" in r.err
    assert not (repo / "model.bin").exists(), "nothing ran"


def test_detached_head_works(project: Path, trails: Trails) -> None:
    git(project, "checkout", "-q", "--detach")
    set_lr(project, 0.7)
    assert trails("exp", "run", "-n", "detached").code == 0
    assert trails("exp", "list", "--name-only").out.split() == ["detached"]


def test_outside_a_project() -> None:
    r = run_trails("exp", "show", cwd=Path("/"))
    assert r.code == 1


def test_same_size_edit_right_after_a_commit_is_recorded(repo: Path, trails: Trails) -> None:
    """Git's racy-entry check: an edit in the same second as the last
    `git add`, keeping the size, must still be seen by the snapshot."""
    assert trails("init").code == 0
    for i in range(3):
        gen(repo, {"params.yaml": f"lr: 0.{i}\n"})
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", f"c{i}")
        gen(repo, {"params.yaml": f"lr: 0.{i + 5}\n"})
        assert trails("exp", "save", "-n", f"e{i}").code == 0
        sha = git(repo, "rev-parse", "refs/exps/" + _ref_tail(repo, f"e{i}")).strip()
        assert git(repo, "show", f"{sha}:params.yaml") == f"lr: 0.{i + 5}\n"


def _diff_lines(repo: Path, path: str) -> list[str]:
    out = git(repo, "diff", "--unified=0", "--", path).splitlines()
    return [ln for ln in out if ln[:1] in "+-" and not ln.startswith(("+++", "---"))]


def test_set_param_changes_exactly_one_line(project: Path, trails: Trails) -> None:
    r = trails("exp", "run", "-S", "lr=0.0002")
    assert r.code == 0, r.err
    assert _diff_lines(project, "params.yaml") == ["-lr: 0.1  # rate", "+lr: 0.0002  # rate"]
    r = trails("exp", "run", "-S", "lr=0.001", "-S", "units=128")
    assert r.code == 0, r.err
    assert _diff_lines(project, "params.yaml") == [
        "-lr: 0.1  # rate", "-units: 8", "+lr: 0.001  # rate", "+units: 128",
    ]  # fmt: skip
    r = trails("exp", "run", "-S", "lr=0.003,units=64")
    assert r.code == 0, r.err
    assert (project / "params.yaml").read_text() == "lr: 0.003  # rate\nunits: 64\n"
    assert (project / "model.bin").read_text() == "0.006", "the run used the new value"


def test_set_param_in_a_toml_file(project: Path, trails: Trails) -> None:
    gen(project, {"myparams.toml": "# tuning\nlearning_rate = 0.001\nname = 'x'\n"})
    r = trails("exp", "run", "-S", "myparams.toml:learning_rate=0.0001")
    assert r.code == 0, r.err
    text = (project / "myparams.toml").read_text()
    assert text == "# tuning\nlearning_rate = 0.0001\nname = 'x'\n"


def test_set_param_typos_and_sweeps(project: Path, trails: Trails) -> None:
    r = trails("exp", "run", "-S", "unitz=16")
    assert r.code == 0, r.err
    assert "'unitz' is not in params.yaml; did you mean 'units'? (added as a new key)" in r.out
    before = (project / "params.yaml").read_text()
    r = trails("exp", "run", "--strict-params", "-S", "unitz2=16")
    assert r.code == 1
    assert "'unitz2' is not in params.yaml" in r.err
    assert (project / "params.yaml").read_text() == before, "nothing written"
    r = trails("exp", "run", "-S", "lr=0.1,0.2")
    assert r.code == 1
    assert "a sweep (several values for one param) needs --queue" in r.err
    r = trails("exp", "run", "--queue", "-n", "grid", "-S", "lr=choice(0.1,0.2)", "-S",
               "units=range(8,17,8)")  # fmt: skip
    assert r.code == 0, r.err
    assert r.out.count("Queued experiment") == 4
    assert trails("exp", "run", "--run-all", "-j", "2").code == 0
    rows = exp_rows(trails("exp", "show", "--json").out)
    grid = sorted(
        (r["name"], r["params"]["params.yaml"]["lr"], r["params"]["params.yaml"]["units"])
        for r in rows
        if (r["name"] or "").startswith("grid-")
    )
    assert [g[1:] for g in grid] == [(0.1, 8), (0.1, 16), (0.2, 8), (0.2, 16)]
    assert [g[0] for g in grid] == ["grid-1", "grid-2", "grid-3", "grid-4"]


def test_params_diff(project: Path, trails: Trails) -> None:
    set_lr(project, 0.6)
    doc = json.loads(trails("params", "diff", "--json").out)
    assert doc == {"params.yaml": {"lr": {"old": 0.1, "new": 0.6}}}
    assert "| params.yaml | lr | 0.1 | 0.6 |" in trails("params", "diff", "--md").out
    assert trails("exp", "run", "-n", "six").code == 0
    doc = json.loads(trails("params", "diff", "HEAD", "six", "--json", "--all").out)
    assert doc["params.yaml"]["units"] == {"old": 8, "new": 8}
    git(project, "checkout", "-q", "--", "params.yaml")
    assert "No param changes between HEAD and workspace." in trails("params", "diff").out


def test_rename_and_gc(project: Path, trails: Trails) -> None:
    _experiments(project, trails)
    r = trails("exp", "rename", "slow", "slower")
    assert r.code == 0, r.err
    assert sorted(trails("exp", "list", "--name-only").out.split()) == ["fast", "slower"]
    r = trails("exp", "rename", "fast", "slower")
    assert r.code == 1 and "experiment 'slower' already exists" in r.err
    assert "Choose another name." in r.err and "-f" not in r.err, "rename has no -f"
    r = trails("exp", "gc")
    assert r.code == 2 and "choose what to keep" in r.err
    assert trails("exp", "gc", "-w", "-f").out.strip() == "No experiments to remove."
    set_lr(project, 0.3)
    git(project, "commit", "-qam", "next")
    r = trails("exp", "gc", "-w", "-f")
    assert r.out.strip() == "Removed 2 experiment(s)."
    assert git(project, "for-each-ref", "refs/exps") == ""


def test_push_pull_and_list_a_remote(project: Path, trails: Trails, tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    git(project, "remote", "add", "origin", str(remote))
    git(project, "push", "-q", "origin", "HEAD")
    _experiments(project, trails)
    git(project, "push", "-q", "origin", "HEAD")
    assert "refs/exps" not in git(project, "ls-remote", "origin"), "plain git push sends none"
    r = trails("exp", "push", "origin")
    assert r.code == 0, r.err
    assert sorted(trails("exp", "list", "origin", "--name-only").out.split()) == ["fast", "slow"]
    assert trails("exp", "remove", "-A").code == 0
    r = trails("exp", "pull", "origin", "slow")
    assert r.code == 0, r.err
    assert trails("exp", "list", "--name-only").out.split() == ["slow"]
    r = trails("exp", "push", "nowhere")
    assert r.code == 1 and "Git remote 'nowhere' does not exist" in r.err
