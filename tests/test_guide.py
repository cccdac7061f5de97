"""The guide's walkthrough (../shared/seed/running-experiments.md, issue
#13) through the real CLI: each test follows the guide's own commands and
spellings, so that what the guide claims stays true."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, gen, git, run_trails
from trails import yamlio

Trails = Callable[..., Result]
PY = sys.executable

PARAMS = "model:\n  learning_rate: 0.0001\nunits: 32\n"
SCRIPTS = {
    "extract.py": "open('raw.txt', 'w').write('1 2 3\\n')\n",
    "transform.py": "open('clean.txt', 'w').write(open('raw.txt').read().upper())\n",
    "train.py": (
        "import json, re\n"
        "text = open('params.yaml').read()\n"
        "lr = float(re.search(r'learning_rate: (\\S+)', text).group(1))\n"
        "open('model.bin', 'w').write(str(lr))\n"
        "json.dump({'loss': 1 - lr * 100}, open('metrics.json', 'w'))\n"
    ),
}


def _stage_add(trails: Trails, *args: str) -> Result:
    r = trails("stage", "add", *args)
    assert r.code == 0, r.err
    return r


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    """extract -> transform -> train, added with the guide's `stage add`
    spelling, run once and committed."""
    assert trails("init").code == 0
    gen(repo, {"params.yaml": PARAMS, **SCRIPTS})
    _stage_add(trails, "-n", "extract", "-d", "extract.py", "-o", "raw.txt", PY, "extract.py")
    _stage_add(trails, "-n", "transform", "-d", "raw.txt", "-d", "transform.py",
               "-o", "clean.txt", PY, "transform.py")  # fmt: skip
    _stage_add(trails, "-n", "train", "-d", "clean.txt", "-d", "train.py",
               "--parameter", "model.learning_rate", "-o", "model.bin",
               "-M", "metrics.json", PY, "train.py")  # fmt: skip
    r = trails("repro")
    assert r.code == 0, r.err
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    return repo


def _exp_refs(repo: Path) -> list[str]:
    out = git(repo, "for-each-ref", "--format=%(refname)", "refs/exps/")
    return [r for r in out.split() if "/queue/" not in r and "/failed/" not in r]


def _typed(repo: Path, answers: str, *args: str) -> Result:
    """The CLI with ``answers`` typed at its prompts."""
    proc = subprocess.run(
        [PY, "-m", "trails", *args],
        cwd=repo,
        input=answers,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


# -- item 5: `stage add ... --parameter model.learning_rate` ------------------


def test_stage_add_takes_the_guides_parameter_spelling(project: Path, trails: Trails) -> None:
    train = yamlio.load(project / "dvc.yaml")["stages"]["train"]
    assert train["params"] == ["model.learning_rate"]
    assert train["cmd"] == f"{PY} train.py", "no option glued into the command"
    r = trails("stage", "add", "-n", "eval", "-d", "model.bin", "-O", "report.txt",
               "python", "eval.py", "--parameter", "x", "-o", "y")  # fmt: skip
    assert r.code == 0, r.err
    ev = yamlio.load(project / "dvc.yaml")["stages"]["eval"]
    assert ev["cmd"] == "python eval.py --parameter x -o y", "after the command: its own words"
    assert "params" not in ev
    r = trails("stage", "add", "-n", "dashdash", "--", "echo", "--bogus-flag")
    assert r.code == 0, r.err
    assert yamlio.load(project / "dvc.yaml")["stages"]["dashdash"]["cmd"] == "echo --bogus-flag"


def test_stage_add_refuses_an_unknown_option(project: Path, trails: Trails) -> None:
    before = (project / "dvc.yaml").read_text()
    r = trails("stage", "add", "-n", "x", "--bogus-flag", "python", "x.py")
    assert r.code == 2
    assert "No such option '--bogus-flag'. The command starts at its first word" in r.err
    assert "Traceback" not in r.err
    assert (project / "dvc.yaml").read_text() == before


def test_stage_add_writes_gitignore_before_the_first_run(project: Path, trails: Trails) -> None:
    r = trails("stage", "add", "-n", "big", "-o", "sub/big.bin", "-O", "small.txt", "touch x")
    assert r.code == 0, r.err
    assert (project / "sub" / ".gitignore").read_text() == "/big.bin\n"
    assert "/small.txt" not in (project / ".gitignore").read_text(), "not cached: not ignored"
    assert "git add dvc.yaml sub/.gitignore" in r.out
    assert not (project / "sub" / "big.bin").exists(), "nothing ran"


# -- item 6: `exp run --single-stage transform` -------------------------------


def test_exp_run_single_stage(project: Path, trails: Trails) -> None:
    gen(project, {"extract.py": SCRIPTS["extract.py"].replace("1 2 3", "4 5 6"),
                  "transform.py": SCRIPTS["transform.py"] + "# changed\n"})  # fmt: skip
    r = trails("exp", "run", "--single-stage", "transform")
    assert r.code == 0, r.err
    assert "Running stage 'transform'" in r.out
    assert "Running stage 'extract'" not in r.out and "Running stage 'train'" not in r.out
    assert (project / "raw.txt").read_text() == "1 2 3\n", "extract did not run"


# -- item 7: `exp gc --queued` ------------------------------------------------


def test_exp_gc_queued_only_empties_the_queue(project: Path, trails: Trails) -> None:
    assert trails("exp", "run", "-n", "old", "-S", "model.learning_rate=0.001").code == 0
    git(project, "commit", "-qam", "next")  # `old` is now an experiment of an older commit
    for units in ("10", "64"):
        assert trails("exp", "run", "--queue", "-S", f"units={units}").code == 0
    r = trails("exp", "gc", "--queued", "-f")
    assert r.code == 0, r.err
    assert r.out.strip() == "Removed 2 queued experiment(s)."
    assert git(project, "for-each-ref", "refs/exps/queue/") == ""
    assert len(_exp_refs(project)) == 1, "the experiment of the older commit is kept"
    assert "old" in trails("exp", "list", "-A").out
    assert trails("exp", "gc", "--queued", "-f").out.strip() == "No experiments in the queue."
    r = trails("exp", "gc")
    assert r.code == 2 and "--queued to empty the queue" in r.err


# -- item 9: `exp run --interactive`, answering "n" ---------------------------


def test_declining_every_stage_records_nothing(project: Path, trails: Trails) -> None:
    lock = (project / "dvc.lock").read_text()
    metrics = (project / "metrics.json").read_text()
    r = _typed(project, "n\n", "exp", "run", "--interactive", "-S", "model.learning_rate=0.0002")
    assert r.code == 1
    assert "Going to reproduce stage: 'train'. Are you sure you want to continue?" in r.err
    assert "Skipped stage 'train': declined" in r.out
    assert "Error: declined stage(s) 'train': no experiment recorded" in r.err
    assert "params.yaml keeps the -S values" in r.err
    assert "Traceback" not in r.err
    assert _exp_refs(project) == [], "old metrics with the new param are not an experiment"
    assert (project / "dvc.lock").read_text() == lock
    assert (project / "metrics.json").read_text() == metrics


def test_declining_an_upstream_stage_skips_what_needs_it(project: Path, trails: Trails) -> None:
    gen(project, {"transform.py": SCRIPTS["transform.py"] + "# changed\n"})
    r = _typed(project, "n\n", "repro", "--interactive")
    assert r.code == 1
    assert "Skipped stage 'transform': declined" in r.out
    assert "Running stage" not in r.out
    assert "declined stage(s) 'transform' (so not run either: 'train')" in r.err
    r = _typed(project, "y\ny\n", "exp", "run", "--interactive")
    assert r.code == 0, r.err
    assert len(_exp_refs(project)) == 1


# -- item 10: `exp run --dry` -------------------------------------------------


def test_dry_run_changes_nothing_and_says_why(project: Path, trails: Trails) -> None:
    before = {p: (project / p).read_bytes() for p in ("params.yaml", "dvc.lock", "metrics.json")}
    r = trails("exp", "run", "--dry", "-S", "model.learning_rate=0.0002")
    assert r.code == 0, r.err
    assert "Would set in 'params.yaml' (not written): model.learning_rate=0.0002" in r.out
    assert "'train' would run because: params.yaml:model.learning_rate 0.0001 -> 0.0002" in r.out
    assert "Running stage 'train'" in r.out and "Running stage 'extract'" not in r.out
    assert "Dry run: nothing was run, written or recorded." in r.out
    assert {p: (project / p).read_bytes() for p in before} == before
    assert _exp_refs(project) == []
    assert git(project, "status", "--porcelain") == ""
    r = trails("exp", "run", "--dry", "--queue", "-S", "units=1")
    assert r.code == 2 and "--dry changes nothing, so it cannot queue" in r.err
    assert git(project, "for-each-ref", "refs/exps/") == ""


def test_dry_run_names_the_stages_after_a_changed_one(project: Path, trails: Trails) -> None:
    gen(project, {"transform.py": SCRIPTS["transform.py"] + "# changed\n"})
    r = trails("exp", "run", "--dry")
    assert r.code == 0, r.err
    assert "'transform' would run because: dep 'transform.py' changed" in r.out
    assert "'train' would run because: an upstream stage would run first" in r.out
    assert _exp_refs(project) == []


# -- item 11: stage names from a sub-folder -----------------------------------

REPORT = f"""\
stages:
  summarize:
    cmd: {PY} -c "open('summary.txt', 'w').write(open('../metrics.json').read())"
    deps: [../metrics.json]
    outs: [summary.txt]
"""


def test_stage_names_from_a_sub_folder(project: Path, trails: Trails) -> None:
    gen(project, {"report/dvc.yaml": REPORT})
    report = project / "report"
    r = run_trails("status", "summarize", cwd=report)
    assert r.code == 0, r.err
    assert "report/dvc.yaml:summarize" in r.out
    r = run_trails("repro", "summarize", cwd=report)
    assert r.code == 0, r.err
    assert (report / "summary.txt").exists()
    (project / "report" / "summary.txt").unlink()
    r = run_trails("exp", "run", "summarize", cwd=report)
    assert r.code == 0, r.err
    assert "'report/dvc.yaml:summarize'" in r.out  # run, or restored from the run-cache
    assert (report / "summary.txt").exists()
    r = run_trails("status", "train", cwd=report)
    assert r.code == 0, "a root stage is still found from the sub-folder"
    r = run_trails("repro", "nope", cwd=report)
    assert r.code == 1
    assert "is not a stage of 'report/dvc.yaml'" in r.err


def test_queued_target_from_a_sub_folder(project: Path, trails: Trails) -> None:
    gen(project, {"report/dvc.yaml": REPORT})
    git(project, "add", "-A")
    git(project, "commit", "-qm", "report")
    r = run_trails("exp", "run", "--queue", "-n", "rep", "summarize", cwd=project / "report")
    assert r.code == 0, r.err
    r = trails("exp", "run", "--run-all")
    assert r.code == 0, r.out + r.err
    assert "rep" in trails("exp", "list").out


# -- item 12: `exp diff EXP` --------------------------------------------------


def test_exp_diff_compares_with_the_workspace(project: Path, trails: Trails) -> None:
    assert trails("exp", "run", "-n", "slow", "-S", "model.learning_rate=0.002").code == 0
    assert trails("exp", "run", "-n", "fast", "-S", "model.learning_rate=0.005").code == 0
    gen(project, {"params.yaml": PARAMS.replace("0.0001", "0.009")})  # not run
    doc = json.loads(trails("exp", "diff", "slow", "--json").out)
    lr = doc["params"]["params.yaml"]["model.learning_rate"]
    assert (lr["old"], lr["new"]) == (0.002, 0.009), "slow vs the workspace"
    doc = json.loads(trails("exp", "diff", "slow", "fast", "--json").out)
    lr = doc["params"]["params.yaml"]["model.learning_rate"]
    assert (lr["old"], lr["new"]) == (0.002, 0.005)
    doc = json.loads(trails("exp", "diff", "--json").out)
    lr = doc["params"]["params.yaml"]["model.learning_rate"]
    assert (lr["old"], lr["new"]) == (0.0001, 0.009), "HEAD vs the workspace"
    md = trails("exp", "diff", "slow", "--md").out
    assert md.startswith("| Path | Key | slow | workspace | Change |")


# -- the smaller ones ---------------------------------------------------------


def test_temp_run_is_not_announced_as_queued(project: Path, trails: Trails) -> None:
    r = trails("exp", "run", "--temp", "-n", "tmp", "-S", "units=64")
    assert r.code == 0, r.err
    assert "Queued experiment" not in r.out
    assert "Ran experiment(s): tmp" in r.out


def test_set_param_with_spaces_around_equals(project: Path, trails: Trails) -> None:
    before = (project / "params.yaml").read_text()
    r = trails("exp", "run", "-S", "myparams.toml:learning_rate", "=", "0.0001")
    assert r.code == 2
    assert "-S takes key=value as one word (no spaces around '=')" in r.err
    assert "write -S myparams.toml:learning_rate=0.0001" in r.err
    assert "is not a stage" not in r.err
    assert (project / "params.yaml").read_text() == before
    assert _exp_refs(project) == []


def test_quiet_and_verbose_after_any_subcommand(project: Path, trails: Trails) -> None:
    r = trails("repro", "-q")
    assert r.code == 0 and r.out == "", r.out
    r = trails("exp", "run", "-q", "-S", "units=8")
    assert r.code == 0 and r.out == "", r.out
    assert trails("exp", "list", "-q").out == ""
    r = trails("status", "nope", "-v")
    assert r.code == 1
    assert "Traceback" in r.err and "Error: 'nope' is not a stage" in r.err
    r = trails("status", "nope", "-q")
    assert r.code == 1 and "Error: 'nope' is not a stage" in r.err


def test_exp_ls_and_rm_and_remove_queue(project: Path, trails: Trails) -> None:
    assert trails("exp", "run", "-n", "one", "-S", "units=1").code == 0
    assert trails("exp", "ls").out == trails("exp", "list").out
    assert "one" in trails("exp", "ls").out
    r = trails("exp", "remove", "--queue")
    assert r.code == 0
    assert r.out.strip() == "No experiments in the queue: nothing to remove from it."
    r = trails("exp", "rm", "one")
    assert r.code == 0 and "Removed experiment 'one'" in r.out
    assert _exp_refs(project) == []


def test_exp_show_csv_has_the_reference_tools_columns(project: Path, trails: Trails) -> None:
    assert trails("exp", "run", "-n", "third", "-S", "model.learning_rate=0.00033333").code == 0
    assert trails("exp", "run", "--queue", "-S", "units=64").code == 0
    lines = trails("exp", "show", "--csv").out.splitlines()
    head = git(project, "rev-parse", "--short=7", "HEAD").strip()
    assert lines[0] == (
        "Experiment,rev,typ,Created,parent,State,Executor,loss,model.learning_rate,units"
    )
    cells = [ln.split(",") for ln in lines[1:]]
    assert cells[0][:7] == ["", "workspace", "baseline", "", "", "", ""]
    assert cells[1][:3] == ["", head, "baseline"] and cells[1][3][:4].isdigit()
    assert "T" in cells[1][3], "ISO timestamp"
    assert cells[2][0] == "third" and cells[2][2] == "branch_commit"
    assert cells[2][7] == str(1 - 0.00033333 * 100), "as stored, not rounded"
    assert cells[3][2] == "branch_base" and cells[3][5:7] == ["Queued", "Dvc-task"]
    assert cells[3][7] == "", "no metrics yet"
    rounded = trails("exp", "show", "--csv", "--precision", "3").out.splitlines()
    assert rounded[3].split(",")[7] == "0.967"
    lines = trails("exp", "show", "--csv", "--hide-queued").out.splitlines()
    assert lines[0].startswith("Experiment,rev,typ,Created,parent,loss"), "no State column"


def test_exp_show_precision(project: Path, trails: Trails) -> None:
    assert trails("exp", "run", "-n", "third", "-S", "model.learning_rate=0.00033333").code == 0
    r = trails("exp", "show", "--no-pager", "--include-metrics", "loss",
               "--include-params", "units")  # fmt: skip
    assert "0.96667" in r.out, "5 significant digits by default"
    r = trails("exp", "show", "--no-pager", "--precision", "2", "--include-metrics", "loss")
    assert "0.97" in r.out and "0.96667" not in r.out


# -- working next to the reference tool ---------------------------------------

DVC_LOCK = """\
schema: '2.0'
stages:
  extract:
    cmd: {py} extract.py
    deps:
    - path: extract.py
      hash: md5
      md5: 0123456789abcdef0123456789abcdef
      size: 40
    outs:
    - path: raw.txt
      hash: md5
      md5: fedcba9876543210fedcba9876543210
      size: 6
"""


def test_a_lock_made_by_the_reference_tool_gets_one_note(project: Path, trails: Trails) -> None:
    (project / "dvc.lock").write_text(DVC_LOCK.format(py=PY))
    r = trails("repro", "extract")
    assert r.code == 0, r.err
    note = (
        "note: dvc.lock was written by DVC; trails now records blake3 hashes in it, "
        "which DVC 3 cannot read (see README: 'Working next to DVC')"
    )
    assert note in r.out
    assert "hash: blake3" in (project / "dvc.lock").read_text()
    gen(project, {"extract.py": SCRIPTS["extract.py"] + "# again\n"})
    r = trails("repro", "extract")
    assert r.code == 0, r.err
    assert "Running stage 'extract'" in r.out
    assert "note:" not in r.out, "said once per lock"


# -- #13 gaps: prompts with -q, --dry with ${}, --interactive with checkpoints -


def test_prompts_show_and_answer_with_quiet(project: Path, trails: Trails) -> None:
    lr = "model.learning_rate=0.0003"
    r = _typed(project, "n\n", "-q", "exp", "run", "--interactive", "-S", lr)
    assert r.code == 1
    assert "Going to reproduce stage: 'train'. Are you sure you want to continue?" not in r.out
    assert r.out == "", "-q: trails prints nothing on stdout"
    assert "Going to reproduce stage: 'train'. Are you sure you want to continue? [y/n] " in r.err
    assert _exp_refs(project) == []
    gen(project, {"transform.py": SCRIPTS["transform.py"] + "# changed\n"})
    r = _typed(project, "y\ny\n", "repro", "--interactive", "-q")
    assert r.code == 0, r.err
    assert "Going to reproduce stage: 'transform'." in r.err
    assert "Going to reproduce stage: 'train'." in r.err
    assert "up to date" in trails("status").out
    gen(project, {"clean.txt": "edited by hand\n"})
    r = _typed(project, "n\n", "commit", "transform", "-q")
    assert r.code == 0 and "Stage 'transform' changed" in r.err and "Commit it anyway?" in r.err
    assert trails("exp", "run", "--queue", "-S", "units=10").code == 0
    r = _typed(project, "\nn\n", "exp", "gc", "--queued", "-q")
    assert r.code == 0 and r.err.count("Remove 1 queued experiment(s)? [y/n]") == 2, "asked again"
    assert git(project, "for-each-ref", "refs/exps/queue/") != "", "declined: kept"
    r = _typed(project, "y\n", "-q", "exp", "gc", "--queued")
    assert r.code == 0 and "Remove 1 queued experiment(s)?" in r.err and r.out == ""
    assert git(project, "for-each-ref", "refs/exps/queue/") == ""
    gen(project, {"data.txt": "some data\n"})
    assert trails("add", "data.txt").code == 0
    (project / "data.txt.dvc").unlink()
    objects = sorted(p for p in (project / ".dvc" / "cache").rglob("*") if p.is_file())
    r = _typed(project, "n\n", "gc", "-w", "-q")
    assert r.code == 0 and "Remove 1 cache objects" in r.err
    assert sorted(p for p in (project / ".dvc" / "cache").rglob("*") if p.is_file()) == objects
    r = _typed(project, "y\n", "gc", "-w", "-q")
    assert r.code == 0 and "Remove 1 cache objects" in r.err and r.out == ""
    assert len([p for p in (project / ".dvc" / "cache").rglob("*") if p.is_file()]) == (
        len(objects) - 1
    )


INTERPOLATED = f"""\
stages:
  train:
    cmd: {PY} -c "open('model-${{epochs}}.txt', 'w').write('x')"
    outs:
      - model-${{epochs}}.txt
"""


def test_dry_run_interpolates_the_set_values(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, {"params.yaml": "epochs: 3\n", "dvc.yaml": INTERPOLATED})
    assert trails("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    r = trails("exp", "run", "--dry", "-S", "epochs=5")
    assert r.code == 0, r.err
    assert "Would set in 'params.yaml' (not written): epochs=5" in r.out
    assert "'train' would run because: cmd changed; params.yaml:epochs 3 -> 5" in r.out
    assert "open('model-5.txt', 'w')" in r.out and "model-3.txt" not in r.out
    assert (repo / "params.yaml").read_text() == "epochs: 3\n"
    assert not (repo / "model-5.txt").exists()
    assert git(repo, "status", "--porcelain") == ""
    r = trails("exp", "run", "-S", "epochs=5")
    assert r.code == 0, r.err
    assert (repo / "model-5.txt").exists(), "the dry run showed what the real run ran"


#: The guide's R snippet, in Python: make the signal file, wait until it is gone.
SIGNALLING = """\
import os, time
from pathlib import Path
start = int(Path("model.txt").read_text()) if Path("model.txt").exists() else 0
for epoch in (start + 1, start + 2):
    Path("model.txt").write_text(str(epoch))
    signal = Path(os.environ["DVC_ROOT"], ".dvc", "tmp", "DVC_CHECKPOINT")
    signal.touch()
    while signal.exists():
        time.sleep(0.01)
"""

CHECKPOINTED = f"""\
stages:
  train:
    cmd: {PY} train.py
    deps: [train.py]
    params: [a]
    outs:
      - model.txt:
          checkpoint: true
"""


def _refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/exps/")


def test_declining_a_checkpoint_stage_records_nothing(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, {"train.py": SIGNALLING, "dvc.yaml": CHECKPOINTED, "params.yaml": "a: 1\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    r = trails("exp", "run", "-n", "cnn")
    assert r.code == 0, r.err
    assert r.out.count("Checkpoint ") == 2
    refs, state = _refs(repo), (repo / ".dvc" / "tmp" / "trails" / "checkpoint.json").read_text()
    assert (repo / "model.txt").read_text() == "2"
    r = _typed(repo, "n\n", "exp", "run", "--interactive", "-S", "a=2")
    assert r.code == 1
    assert "Going to reproduce stage: 'train'. Are you sure you want to continue?" in r.err
    assert "Skipped stage 'train': declined" in r.out
    assert "Checkpoint " not in r.out
    assert (
        "Error: declined stage(s) 'train': no experiment recorded (params.yaml keeps the -S values)"
        in r.err
    )
    assert "Traceback" not in r.err
    assert _refs(repo) == refs, "no checkpoint, no wrap-up"
    assert (repo / "model.txt").read_text() == "2"
    r = _typed(repo, "n\n", "exp", "run", "--interactive", "--reset")
    assert r.code == 1 and "Error: declined stage(s) 'train'" in r.err
    assert (repo / "model.txt").read_text() == "2", "--reset discards nothing when declined"
    assert (repo / ".dvc" / "tmp" / "trails" / "checkpoint.json").read_text() == state
    assert _refs(repo) == refs
    r = _typed(repo, "y\n", "exp", "run", "--interactive")
    assert r.code == 0, r.err
    assert "Resuming from checkpoint" in r.out and r.out.count("Checkpoint ") == 2
    assert (repo / "model.txt").read_text() == "4"


def test_exp_show_names_the_file_of_a_metric_and_param_of_one_name(
    repo: Path, trails: Trails
) -> None:
    """As the reference tool: a header shared by a metric and a param (or
    by a fixed column) is shown as ``file:name``, never twice bare."""
    assert trails("init").code == 0
    metric = "import json; json.dump({'lr': 1, 'Created': 2, 'acc': 3}, open('m.json', 'w'))\n"
    gen(repo, {"params.yaml": "lr: 0.1\n", "metric.py": metric, "dvc.yaml": (
        f"stages:\n  train:\n    cmd: {PY} metric.py\n    params: [lr]\n"
        "    metrics:\n      - m.json:\n          cache: false\n"
    )})  # fmt: skip
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    assert trails("exp", "run", "-S", "lr=0.2").code == 0
    r = trails("exp", "show", "--no-pager")
    assert r.code == 0, r.err
    header = r.out.splitlines()[1]
    cells = [c.strip() for c in header.strip("┃").split("┃")]
    shared = ["m.json:lr", "m.json:Created", "acc", "params.yaml:lr"]
    assert cells == ["Experiment", "Created", *shared]
