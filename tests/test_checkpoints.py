"""Checkpoints through the real CLI: make_checkpoint() and the raw
signal-file protocol, resume, --reset, interrupts and crashes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.conftest import Result, exp_rows, gen, git

Trails = Callable[..., Result]
PY = sys.executable

TRAIN = """\
import json, os, sys, time
from pathlib import Path
from trails.api import make_checkpoint
start = int(Path("model.txt").read_text()) if Path("model.txt").exists() else 0
epochs = int(os.environ.get("EPOCHS", "3"))
for epoch in range(start + 1, start + epochs + 1):
    Path("model.txt").write_text(str(epoch))
    json.dump({"epoch": epoch}, open("metrics.json", "w"))
    if os.environ.get("HANG_AT") == str(epoch):  # written, never checkpointed
        Path("hung").touch()
        time.sleep(600)
    make_checkpoint()
    if os.environ.get("CRASH_AT") == str(epoch):
        sys.exit("crashed")
    time.sleep(float(os.environ.get("EPOCH_SLEEP", "0")))
"""


def pipeline(cmd: str) -> str:
    return (
        f"stages:\n  train:\n    cmd: {cmd}\n    deps: [train.py]\n    outs:\n"
        "      - model.txt:\n          checkpoint: true\n"
        "    metrics:\n      - metrics.json:\n          cache: false\n"
    )


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    assert trails("init").code == 0
    gen(repo, {"train.py": TRAIN, "dvc.yaml": pipeline(f"{PY} train.py"), "params.yaml": "a: 1\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    return repo


def chain(trails: Trails) -> dict[str, list[int]]:
    """Epochs of each experiment's checkpoints, newest first (from exp show)."""
    rows = exp_rows(trails("exp", "show", "--json").out)
    out: dict[str, list[int]] = {}
    for r in rows:
        if r["kind"] in ("experiment", "checkpoint"):
            out.setdefault(r["name"], []).append(r["metrics"]["metrics.json"]["epoch"])
    return out


def test_three_epochs_three_commits_then_resume_then_reset(project: Path, trails: Trails) -> None:
    r = trails("exp", "run", "-n", "cnn")
    assert r.code == 0, r.err
    assert r.out.count("Checkpoint ") == 3
    assert chain(trails) == {"cnn": [3, 2, 1]}
    ref = git(project, "for-each-ref", "--format=%(refname)", "refs/exps").strip()
    assert len(git(project, "rev-list", ref, "^HEAD").split()) == 3, "one commit per checkpoint"
    r = trails("exp", "run")
    assert "Resuming from checkpoint" in r.out
    assert chain(trails) == {"cnn": [6, 5, 4, 3, 2, 1]}
    r = trails("exp", "run", "--reset", "-n", "again")
    assert r.code == 0, r.err
    assert chain(trails)["again"] == [3, 2, 1]
    show = trails("exp", "show", "--no-timestamp", "--include-metrics", "epoch").out
    assert "[again]" in show and "│   ├── " in show
    r = trails("exp", "run", "--reset", "-n", "cnn")
    assert r.code == 1 and "experiment 'cnn' already exists" in r.err
    assert "Use -f to overwrite it" in r.err and "Running stage" not in r.out, "refused first"
    assert chain(trails)["cnn"] == [6, 5, 4, 3, 2, 1], "the old chain is kept"


def test_the_signal_file_protocol_from_a_shell_script(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    script = (
        'for i in 1 2; do echo $i > model.txt; echo "{\\"epoch\\": $i}" > metrics.json;'
        ' touch "$DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT";'
        ' while [ -e "$DVC_ROOT/.dvc/tmp/DVC_CHECKPOINT" ]; do sleep 0.01; done; done\n'
    )
    gen(repo, {"train.py": "", "train.sh": script, "dvc.yaml": pipeline("bash train.sh")})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    r = trails("exp", "run", "-n", "sh")
    assert r.code == 0, r.err
    assert chain(trails) == {"sh": [2, 1]}


def test_a_crash_keeps_the_checkpoints_made(project: Path, trails: Trails) -> None:
    r = trails("exp", "run", "-n", "crash", env={"CRASH_AT": "2", "EPOCHS": "5"})
    assert r.code == 1
    assert "stage 'train' failed" in r.err
    assert chain(trails) == {"crash": [2, 1]}


def interrupted(
    project: Path, args: list[str], env: dict[str, str], ready: Callable[[], bool],
    settle: float = 0.0,
) -> str:  # fmt: skip
    """Run ``trails ARGS`` in a session of its own until ``ready()`` (then
    ``settle`` seconds more), then press Ctrl+C: SIGINT to its process
    group, as a terminal does. Its stdout; it must exit with 130."""
    proc = subprocess.Popen(
        [PY, "-m", "trails", *args], cwd=project, env={**os.environ, **env},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not ready():
        time.sleep(0.05)
    time.sleep(settle)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    return out


def test_sigint_keeps_every_checkpoint(project: Path) -> None:
    def started() -> bool:
        return bool(git(project, "for-each-ref", "refs/exps"))

    env = {"EPOCHS": "50", "EPOCH_SLEEP": "0.2"}
    out = interrupted(project, ["exp", "run", "-n", "long"], env, started, settle=0.5)
    made = out.count("Checkpoint ")
    assert made >= 1
    ref = git(project, "for-each-ref", "--format=%(refname)", "refs/exps").strip()
    assert len(git(project, "rev-list", ref, "^HEAD").split()) == made
    assert not (project / ".dvc" / "tmp" / "DVC_CHECKPOINT").exists()


#: A ``git`` that, once, presses Ctrl+C on trails' process group just
#: after a checkpoint's ref has moved, then takes a moment to exit: a
#: terminal's Ctrl+C landing in the middle of the checkpoint's commit.
CTRL_C_GIT = """#!/bin/bash
{git} "$@"
code=$?
if [ "$1" = update-ref ] && [[ "$2" == refs/exps/* ]] && [ ! -e "$MARK" ]; then
    touch "$MARK"
    kill -INT -- -"$(ps -o pgid= -p "$PPID" | tr -d ' ')"
    sleep 0.5
fi
exit $code
"""


def test_ctrl_c_in_a_checkpoints_commit_keeps_it_announced(project: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(CTRL_C_GIT.format(git=shutil.which("git")))
    wrapper.chmod(0o755)
    mark = tmp_path / "pressed"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "MARK": str(mark),
           "EPOCHS": "50", "EPOCH_SLEEP": "0.2"}  # fmt: skip
    proc = subprocess.run(
        [PY, "-m", "trails", "exp", "run", "-n", "cut"], cwd=project, env=env,
        capture_output=True, text=True, start_new_session=True, timeout=60,
    )  # fmt: skip
    assert mark.exists(), proc.stderr
    assert proc.returncode == 130, proc.stderr
    ref = git(project, "for-each-ref", "--format=%(refname)", "refs/exps").strip()
    kept = git(project, "rev-list", ref, "^HEAD").split()
    assert len(kept) == proc.stdout.count("Checkpoint ") == 1, (proc.stdout, proc.stderr)


def test_a_command_that_never_signals_gets_a_wrap_up_checkpoint(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    quiet = (
        "import json; open('model.txt', 'w').write('7')\n"
        "json.dump({'epoch': 7}, open('metrics.json', 'w'))\n"
    )
    gen(repo, {"train.py": quiet, "dvc.yaml": pipeline(f"{PY} train.py")})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    assert trails("exp", "run", "-n", "quiet").code == 0
    assert chain(trails) == {"quiet": [7]}


def test_stale_signal_and_bad_declarations(project: Path, trails: Trails) -> None:
    gen(project, {".dvc/tmp/DVC_CHECKPOINT": ""})
    r = trails("exp", "run", "-n", "s", env={"EPOCHS": "1"})
    assert r.code == 0, r.err
    assert "Warning: removed a checkpoint signal file left by an earlier run" in r.out
    gen(
        project,
        {
            "dvc.yaml": pipeline("exit 0").replace(
                "checkpoint: true", "checkpoint: true\n          cache: false"
            )
        },
    )
    r = trails("exp", "run")
    assert r.code == 1
    assert "checkpoint output 'model.txt' has 'cache: false'" in r.err


def test_apply_a_checkpoint_then_continue_from_it(project: Path, trails: Trails) -> None:
    assert trails("exp", "run", "-n", "base", env={"EPOCHS": "4"}).code == 0
    rows = exp_rows(trails("exp", "show", "--json").out)
    second = next(r["rev"] for r in rows if r["kind"] == "checkpoint"
                  and r["metrics"]["metrics.json"]["epoch"] == 2)  # fmt: skip
    r = trails("exp", "apply", "--force", second[:8])
    assert r.code == 0, r.err
    assert (project / "model.txt").read_text() == "2"
    r = trails("exp", "run", env={"EPOCHS": "1"})
    assert r.code == 0, r.err
    assert f"Resuming from checkpoint {second[:7]}" in r.out
    epochs = chain(trails)
    assert epochs["base"] == [4, 3, 2, 1], "the original chain is kept"
    assert [3, 2, 1] in epochs.values(), "a new experiment grew from epoch 2"


def test_queued_and_temp_checkpoint_runs(project: Path, trails: Trails) -> None:
    r = trails("exp", "run", "--temp", "-n", "t1")
    assert r.code == 0, r.err
    assert chain(trails) == {"t1": [3, 2, 1]}
    assert not (project / ".dvc" / "tmp" / "exps" / "run").exists(), "a --temp run leaves none"
    rows = exp_rows(trails("exp", "show", "--json").out)
    second = next(r["rev"] for r in rows if r["kind"] == "checkpoint"
                  and r["metrics"]["metrics.json"]["epoch"] == 2)  # fmt: skip
    r = trails("exp", "run", "--queue", "-n", "from2", "--rev", second[:8])
    assert r.code == 0, r.err
    assert trails("exp", "run", "--queue", "-n", "fresh").code == 0
    assert trails("exp", "run", "--run-all").code == 0
    got = chain(trails)
    assert got["from2"] == [5, 4, 3, 2, 1], "continued from epoch 2 (its history shared)"
    assert got["fresh"] == [3, 2, 1], "a queued checkpoint run starts over"
    r = trails("exp", "run", "--queue", "--rev", second[:8], "--reset")
    assert r.code == 2 and "pick one" in r.err
    r = trails("exp", "run", "--queue", "--rev", "nothere")
    assert r.code == 1 and "'nothere' is not a checkpoint of an experiment" in r.err


def test_sorting_keeps_each_chain_under_its_experiment(project: Path, trails: Trails) -> None:
    assert trails("exp", "run", "-n", "short", env={"EPOCHS": "2"}).code == 0
    assert trails("exp", "run", "-n", "long", "--reset", env={"EPOCHS": "3"}).code == 0
    out = trails("exp", "show", "--no-timestamp", "--sort-by", "epoch").out
    rows = [ln[2:].split(" │")[0].rstrip() for ln in out.splitlines() if ln.startswith("│")]
    names = [r for r in rows if "[" in r]
    assert [n.split("[")[1].rstrip("]") for n in names] == ["short", "long"], out
    short, long_ = rows.index(names[0]), rows.index(names[1])
    assert long_ - short == 2, "short's one earlier checkpoint sits under it"
    assert len(rows) - long_ == 3, "long's two earlier checkpoints sit under it"
    assert rows[short + 1].startswith("│   └──") and rows[-1].startswith("    └──"), out


def checkpoint_rev(trails: Trails, epoch: int) -> str:
    """The first commit (exp show's order) whose metrics say ``epoch``."""
    rows = exp_rows(trails("exp", "show", "--json").out)
    return next(r["rev"] for r in rows if r["kind"] in ("experiment", "checkpoint")
                and r["metrics"]["metrics.json"]["epoch"] == epoch)  # fmt: skip


def test_a_checkpoint_in_two_chains_is_one_commit(project: Path, trails: Trails) -> None:
    """Apply a checkpoint and run: the new experiment shares the checkpoints
    up to it with the old one. Those commits still apply and branch, by
    full sha or any prefix: ambiguity is about commits, not chains."""
    assert trails("exp", "run", "-n", "base", env={"EPOCHS": "3"}).code == 0
    second = checkpoint_rev(trails, 2)
    assert trails("exp", "apply", second[:8]).code == 0
    assert trails("exp", "run", env={"EPOCHS": "1"}).code == 0
    assert sorted(chain(trails).values()) == [[3, 2, 1], [3, 2, 1]], "two chains share 2 and 1"
    first = git(project, "rev-parse", f"{second}^").strip()
    for spec in (second, first[:6]):
        r = trails("exp", "apply", spec)
        assert r.code == 0, r.err
        assert "ambiguous" not in r.err
    assert (project / "model.txt").read_text() == "1"
    r = trails("exp", "branch", second, "from-two")
    assert r.code == 0, r.err
    assert git(project, "rev-parse", "from-two").strip() == second
    assert trails("exp", "branch", first[:7], "from-one").code == 0
    assert git(project, "rev-parse", "from-one").strip() == first


def test_resume_after_ctrl_c_continues_from_the_last_checkpoint(
    project: Path, trails: Trails
) -> None:
    """Ctrl+C after epoch 4 wrote its model but before it was checkpointed:
    the next run resumes from checkpoint 3's cached model, so the chain
    reads 1 2 3 4 5 (not 1 2 3 5 6 from the workspace's epoch 4)."""
    env = {"EPOCHS": "10", "HANG_AT": "4"}
    interrupted(project, ["exp", "run", "-n", "long"], env, (project / "hung").exists)
    assert (project / "model.txt").read_text() == "4", "epoch 4 written, not checkpointed"
    (project / "hung").unlink()
    assert chain(trails) == {"long": [3, 2, 1]}
    r = trails("exp", "run", env={"EPOCHS": "2"})
    assert r.code == 0, r.err
    assert chain(trails) == {"long": [5, 4, 3, 2, 1]}
    third = checkpoint_rev(trails, 3)[:7]
    assert f"Restored metrics.json, model.txt from checkpoint {third}" in r.out


def test_resume_uses_the_cached_output_not_an_edited_one(project: Path, trails: Trails) -> None:
    assert trails("exp", "run", "-n", "cnn").code == 0
    (project / "model.txt").write_text("100")
    r = trails("exp", "run", env={"EPOCHS": "1"})
    assert r.code == 0, r.err
    assert chain(trails)["cnn"] == [4, 3, 2, 1], "continued from the cached epoch 3, not 100"
    assert f"Restored model.txt from checkpoint {checkpoint_rev(trails, 3)[:7]}" in r.out


def test_resume_without_the_cached_output_changes_nothing(project: Path, trails: Trails) -> None:
    assert trails("exp", "run", "-n", "cnn").code == 0
    lock = (project / "dvc.lock").read_text()
    outs = yaml.safe_load(lock)["stages"]["train"]["outs"]
    digest = next(o["blake3"] for o in outs if o["path"] == "model.txt")
    obj = project / ".dvc" / "cache" / "files" / "blake3" / digest[:2] / digest[2:]
    obj.unlink()
    gen(project, {"model.txt": "100", "metrics.json": '{"epoch": 100}'})
    refs = git(project, "for-each-ref", "refs/exps")
    r = trails("exp", "run")
    assert r.code == 1
    third = checkpoint_rev(trails, 3)[:7]
    assert f"Error: cannot resume from checkpoint {third}: stage 'train': output 'model.txt' " \
        "is not in the cache" in r.err  # fmt: skip
    assert "Start over with 'trails exp run --reset'" in r.err and "Traceback" not in r.err
    assert "Running stage" not in r.out
    assert (project / "model.txt").read_text() == "100", "nothing restored"
    assert (project / "metrics.json").read_text() == '{"epoch": 100}'
    assert (project / "dvc.lock").read_text() == lock
    assert git(project, "for-each-ref", "refs/exps") == refs


def test_reset_twice_replaces_the_experiment_it_discards(project: Path, trails: Trails) -> None:
    """The guide's --reset "discards previous checkpoints": a deterministic
    run reset reproduces the first run's content, hence its name; it
    replaces that experiment instead of failing with "already exists"."""
    assert trails("exp", "run").code == 0
    assert trails("exp", "run").code == 0
    (name,) = chain(trails)
    assert chain(trails) == {name: [6, 5, 4, 3, 2, 1]}
    for _ in range(2):
        r = trails("exp", "run", "--reset")
        assert r.code == 0, r.err
        assert chain(trails) == {name: [3, 2, 1]}, "the old chain is replaced"
    r = trails("exp", "run", "--reset", "-n", name)
    assert r.code == 0, r.err
    assert chain(trails) == {name: [3, 2, 1]}
    refs = git(project, "for-each-ref", "refs/exps").splitlines()
    assert len(refs) == 1


def test_ctrl_c_during_run_all_keeps_the_checkpoints_and_resumes(
    project: Path, trails: Trails
) -> None:
    """Ctrl+C while a queued checkpoint run trains: its checkpoints are an
    experiment already, the entry stays queued, and the next --run-all
    continues that experiment from its last checkpoint."""
    assert trails("exp", "run", "--queue", "-n", "q").code == 0

    def two_made() -> bool:
        refs = git(project, "for-each-ref", "--format=%(refname)", "refs/exps").split()
        tips = [r for r in refs if r.endswith("/q")]
        return bool(tips) and len(git(project, "rev-list", tips[0], "^HEAD").split()) >= 2

    env = {"EPOCHS": "50", "EPOCH_SLEEP": "0.2"}
    interrupted(project, ["exp", "run", "--run-all"], env, two_made)
    kept = chain(trails)["q"]
    assert len(kept) >= 2 and kept == list(range(len(kept), 0, -1)), kept
    (entry,) = git(project, "for-each-ref", "--format=%(objectname)", "refs/exps/queue").split()
    r = trails("exp", "run", "--run-all", env={"EPOCHS": "2"})
    assert r.code == 0, r.err
    n = len(kept)
    assert chain(trails) == {"q": list(range(n + 2, 0, -1))}, "continued, not started over"
    assert git(project, "for-each-ref", "refs/exps/queue") == ""
    log = trails("queue", "logs", entry[:7]).out
    assert f"Resuming from checkpoint {checkpoint_rev(trails, n)[:7]} of 'q'" in log
    assert not (project / ".dvc" / "tmp" / "exps" / "run" / entry[:7] / "checkpoint.json").exists()


def test_applying_an_experiment_that_never_trained_is_no_checkpoint(
    project: Path, trails: Trails
) -> None:
    """Only a commit that holds trained checkpoint outputs is continued
    after 'exp apply'; applying another experiment keeps resuming the
    latest checkpoint (not a chain grown from that experiment)."""
    gen(project, {"params.yaml": "a: 2\n"})
    assert trails("exp", "save", "-n", "manual").code == 0
    assert trails("exp", "run", "-n", "cnn").code == 0
    assert trails("exp", "apply", "manual").code == 0
    r = trails("exp", "run", env={"EPOCHS": "1"})
    assert r.code == 0, r.err
    assert "Resuming from checkpoint" in r.out and "of 'cnn'" in r.out
    rows = exp_rows(trails("exp", "show", "--json").out)
    cnn = [r["metrics"]["metrics.json"]["epoch"] for r in rows if r["name"] == "cnn"]
    assert cnn == [4, 3, 2, 1], "the latest checkpoint continued"
    assert [r["kind"] for r in rows if r["name"] == "manual"] == ["experiment"], "no chain"
