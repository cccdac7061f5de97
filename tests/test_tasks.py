"""Python tasks (``task_*.py``) through the real CLI: discovery, ``collect``,
``-k``/``-m``, params injection and ``-S``, graphs mixed with ``dvc.yaml``,
the code-identity rules (with a real ``ruff format``), bad task files, the
queue, checkpoints and ``--pdb`` through a pseudo-terminal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, exp_rows, gen, git

Trails = Callable[..., Result]

HELPERS = """\
SCALE = 2


def scale(x):
    return x * SCALE


def unrelated():
    return 0
"""

MODEL = '''\
import os
from pathlib import Path
from typing import Annotated

import trails
from helpers import scale

OFFSET = 1


def _log(name):
    with open(os.environ["TASK_LOG"], "a") as f:
        f.write(name + "\\n")


def task_prepare(
    raw: Path = Path("../data/raw.txt"),
    out: Annotated[Path, trails.Out] = Path("../build/prepared.txt"),
):
    _log("prepare")
    out.write_text(raw.read_text().upper())


@trails.mark.slow
def task_train(
    lr: Annotated[float, trails.Param("train.lr")],
    prepared: Path = Path("../build/prepared.txt"),
    model: Annotated[Path, trails.Out] = Path("../build/model.txt"),
):
    """Train the model."""
    _log("train")
    model.write_text(f"{scale(lr) + OFFSET} {prepared.read_text()} {os.getcwd()}")


for size in ("small", "large"):

    @trails.task(id=size, kwargs={"n": len(size) * 10, "out": Path(f"../build/fit-{size}.json")})
    def task_fit(
        n: int,
        out: Annotated[Path, trails.Metric(cache=False)],
        model: Path = Path("../build/model.txt"),
    ):
        _log("fit")
        out.write_text('{"n": %d}' % n)
'''

FILES = {
    "params.yaml": "train:\n  lr: 0.1\n",
    "data/raw.txt": "abc",
    "src/helpers.py": HELPERS,
    "src/task_model.py": MODEL,
    ".gitignore": "/build\n",
}

TRAIN = "src/task_model.py::task_train"
PREPARE = "src/task_model.py::task_prepare"
FITS = ["src/task_model.py::task_fit[small]", "src/task_model.py::task_fit[large]"]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return tmp_path / "bodies.log"


@pytest.fixture
def run(trails: Trails, log: Path) -> Trails:
    """``trails`` with ``TASK_LOG``: each task body appends its name there."""

    def call(*args: str) -> Result:
        return trails(*args, env={"TASK_LOG": str(log)})

    return call


def bodies(log: Path) -> list[str]:
    """Task bodies executed since the last call (and forget them)."""
    names = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(names)


@pytest.fixture
def project(repo: Path, run: Trails, log: Path) -> Path:
    assert run("init").code == 0
    gen(repo, FILES)
    r = run("repro")
    assert r.code == 0, r.err
    assert bodies(log) == ["fit", "fit", "prepare", "train"]
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    return repo


def ran(r: Result) -> list[str]:
    return sorted(
        line.split("'")[1] for line in r.out.splitlines() if line.startswith("Running stage '")
    )


def test_collect_lists_tasks_and_ignores_ignored_folders(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, {**FILES, "venv/task_vendored.py": "def task_no(): pass\n",
               ".gitignore": "/build\n/venv\n", "src/notatask.py": "def task_x(): pass\n",
               ".dvcignore": "/scratch\n", "scratch/task_skipped.py": "def task_y(): pass\n",
               "src/task_bare.py": "from pathlib import Path\nimport trails\n\n@trails.task\n"
                                   "def build(produces: Path = Path('../build/b.txt')): pass\n",
               "src/task_named.py": "import trails\n\n@trails.task(name='renamed')\n"
                                    "def build(): pass\n\ndef helper(): pass\n"})  # fmt: skip
    r = trails("collect", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["version"] == 1
    tasks = {t["id"]: t for t in doc["tasks"]}
    assert list(tasks) == [
        "src/task_bare.py::build",
        PREPARE,
        TRAIN,
        *FITS,
        "src/task_named.py::renamed",
    ]
    assert [o["path"] for o in tasks["src/task_bare.py::build"]["outs"]] == ["build/b.txt"]
    assert tasks[TRAIN]["deps"] == ["build/prepared.txt"]
    assert tasks[TRAIN]["outs"][0]["path"] == "build/model.txt"
    assert tasks[TRAIN]["params"] == [{"file": "params.yaml", "key": "train.lr"}]
    assert tasks[TRAIN]["marks"] == ["slow"]
    assert tasks[TRAIN]["line"] == MODEL.splitlines().index("@trails.mark.slow") + 1
    fit_out = {"path": "build/fit-small.json", "kind": "metrics", "cache": False}
    assert tasks[FITS[0]]["outs"][0] == {**fit_out, "persist": False, "checkpoint": False,
                                         "plot": {}}  # fmt: skip
    r = trails("collect", "-k", "train")
    assert r.out.splitlines()[:5] == [
        TRAIN, "    deps: build/prepared.txt", "    outs: build/model.txt",
        "    params: params.yaml:train.lr", "    marks: slow",
    ]  # fmt: skip
    r = trails("collect", "-k", "fit or prepare", "-m", "not slow")
    assert r.code == 0, r.err
    assert [x for x in r.out.splitlines() if x.startswith("src/")] == [PREPARE, *FITS]
    assert "3 tasks collected." in r.out


def test_repro_runs_tasks_in_order_at_the_root_then_nothing(
    project: Path, run: Trails, log: Path
) -> None:
    model = (project / "build/model.txt").read_text()
    assert model == f"1.2 ABC {project.resolve()}", "params injected, cwd at the project root"
    lock = (project / "dvc.lock").read_text()
    assert f"  {TRAIN}:\n    cmd:\n    - trails task {TRAIN}\n" in lock
    assert "    - code src/helpers.py::scale " in lock
    r = run("repro")
    assert r.code == 0, r.err
    assert ran(r) == []
    assert "4 tasks: 4 up to date in " in r.out
    assert bodies(log) == []
    r = run("status")
    assert r.out.strip() == "Data and pipelines are up to date."
    r = run("dag")
    assert f"{FITS[0]}  <- {TRAIN}" in r.out
    # A node id is a target; the bare name of a repeated task names its repetitions.
    r = run("repro", "-f", "-s", "src/task_model.py::task_fit")
    assert r.code == 0, r.err
    assert ran(r) == sorted(FITS)
    assert "2 tasks: 2 ran in " in r.out


def test_code_identity_reformat_helper_constant_and_neighbour(
    project: Path, run: Trails, log: Path
) -> None:
    ruff = Path(sys.executable).parent / "ruff"
    src = project / "src"
    # Reformatting, comments, docstrings: nothing reruns.
    text = (src / "task_model.py").read_text()
    text = text.replace('"""Train the model."""', '"""Train the model, better."""  # note')
    (src / "task_model.py").write_text(text.replace("    _log(", "    # a comment\n    _log(", 1))
    subprocess.run([str(ruff), "format", "--line-length", "60", str(src)], check=True,
                   capture_output=True)  # fmt: skip
    assert (src / "task_model.py").read_text() != MODEL
    r = run("status")
    assert r.out.strip() == "Data and pipelines are up to date.", r.out + r.err
    # A helper: exactly the tasks that reach it, with the reason.
    (src / "helpers.py").write_text(HELPERS.replace("SCALE = 2", "SCALE = 3"))
    r = run("status", "--json")
    assert json.loads(r.out) == {TRAIN: ["code of 'src/helpers.py::SCALE' changed"]}
    (src / "helpers.py").write_text(HELPERS.replace("return 0", "return 1"))
    assert run("status").out.strip() == "Data and pipelines are up to date."
    # A module constant a task reads.
    (src / "task_model.py").write_text(MODEL.replace("OFFSET = 1", "OFFSET = 2"))
    r = run("status")
    assert f"{TRAIN}:\n\tcode of 'src/task_model.py::OFFSET' changed" in r.out
    r = run("repro")
    assert r.code == 0, r.err
    assert ran(r) == [*sorted(FITS), TRAIN]
    assert bodies(log) == ["fit", "fit", "train"]
    # An unrelated task of the same file: only it.
    edited = MODEL.replace("OFFSET = 1", "OFFSET = 2").replace(".upper()", ".upper() * 1")
    (src / "task_model.py").write_text(edited)
    r = run("status", "--json")
    assert json.loads(r.out) == {PREPARE: [f"code of '{PREPARE}' changed"]}


OPS = "from maths.base import unit\n\n\ndef mul(x, k):\n    return x * k * unit()\n"
BASE = "def unit():\n    return 1\n\n\ndef spare():\n    return 0\n"


def test_code_identity_follows_calls_across_modules(project: Path, run: Trails, log: Path) -> None:
    """What a task reaches, transitively: its helper calls a function of a
    package module, which calls one of another; a change at the end of the
    chain reruns the task and is named, one beside it reruns nothing."""
    src = project / "src"
    helpers = HELPERS.replace("SCALE = 2", "from maths.ops import mul\n\nSCALE = 2")
    (src / "helpers.py").write_text(helpers.replace("return x * SCALE", "return mul(x, SCALE)"))
    gen(project, {"src/maths/__init__.py": "", "src/maths/ops.py": OPS, "src/maths/base.py": BASE})
    r = run("status", "--json")
    assert json.loads(r.out) == {TRAIN: [
        "code of 'src/helpers.py::scale' changed",
        "code of 'src/maths/base.py::unit' is newly reached",
        "code of 'src/maths/ops.py::mul' is newly reached",
    ]}, r.err  # fmt: skip
    assert run("repro").code == 0
    assert bodies(log) == ["train"], "the same model: the fits are up to date"
    (src / "maths/base.py").write_text(BASE.replace("return 0", "return 2"))
    assert run("status").out.strip() == "Data and pipelines are up to date."
    (src / "maths/base.py").write_text(BASE.replace("return 1", "return 1.0"))
    r = run("status", "--json")
    assert json.loads(r.out) == {TRAIN: ["code of 'src/maths/base.py::unit' changed"]}
    assert run("status", PREPARE).out.strip() == "Data and pipelines are up to date."
    assert run("status", TRAIN).out.startswith(f"{TRAIN}:\n\tcode of 'src/maths/base.py::unit'")
    r = run("repro")
    assert r.code == 0, r.err
    assert ran(r) == [TRAIN]


def test_params_injected_set_param_reruns_readers_and_flip_back_restores(
    project: Path, run: Trails, log: Path
) -> None:
    r = run("exp", "run", "-S", "train.lr=0.2")
    assert r.code == 0, r.err
    assert ran(r) == [*sorted(FITS), TRAIN], "exactly the task reading train.lr, then downstream"
    assert (project / "build/model.txt").read_text().startswith("1.4 ")
    assert bodies(log) == ["fit", "fit", "train"]
    assert "4 tasks: 3 ran, 1 up to date in " in r.out
    r = run("exp", "run", "-S", "train.lr=0.1")
    assert r.code == 0, r.err
    assert f"Restored '{TRAIN}' from run-cache" in r.out
    assert bodies(log) == [], "the outputs come back from the cache: no task body runs"
    assert "4 tasks: 1 up to date, 3 restored from cache in " in r.out
    fit = project / "build/fit-small.json"  # cache=False: back as a plain, writable copy
    assert not fit.is_symlink() and fit.stat().st_nlink == 1 and os.access(fit, os.W_OK)
    assert (project / "build/model.txt").read_text().startswith("1.2 ")
    r = run("exp", "run", "--temp", "-S", "train.lr=0.3")
    assert r.code == 0, r.err
    assert (project / "build/model.txt").read_text().startswith("1.2 "), "the workspace stays"
    rows = exp_rows(run("exp", "show", "--json").out)
    assert sorted({r["params"]["params.yaml"]["train.lr"] for r in rows}) == [0.1, 0.2, 0.3]


def test_mixed_graph_both_ways(repo: Path, run: Trails, log: Path) -> None:
    assert run("init").code == 0
    task = (
        "from pathlib import Path\nfrom typing import Annotated\nimport trails\n\n"
        "def task_middle(tag: Annotated[str, trails.Param('conf/other.json:tag')],\n"
        "                src: Path = Path('first.txt'),\n"
        "                out: Annotated[Path, trails.Out] = Path('middle.txt')):\n"
        "    out.write_text(src.read_text() + tag)\n"
    )
    dvcyaml = (
        "stages:\n  first:\n    cmd: echo yaml > first.txt\n    outs: [first.txt]\n"
        "  last:\n    cmd: cat middle.txt > last.txt\n    deps: [middle.txt]\n"
        "    outs: [last.txt]\n"
    )
    gen(repo, {"task_mid.py": task, "dvc.yaml": dvcyaml, "conf/other.json": '{"tag": "+task"}'})
    r = run("dag")
    assert "task_mid.py::task_middle  <- first" in r.out
    assert "last  <- task_mid.py::task_middle" in r.out
    r = run("repro", "last")
    assert r.code == 0, r.err
    assert ran(r) == ["first", "last", "task_mid.py::task_middle"]
    assert (repo / "last.txt").read_text() == "yaml\n+task"
    assert "3 stages: 3 ran in " in r.out


BAD = {
    "syntax": ("def task_a(:\n    pass\n", "task_bad.py:1: syntax error"),
    "import": ("import os\nimport no_such_module_here\n",
               "task_bad.py:2: error while importing 'task_bad.py': ModuleNotFoundError"),
    "twice": ("from pathlib import Path\nfrom typing import Annotated\nimport trails\n\n"
              "def task_b(o: Annotated[Path, trails.Out] = Path('src/../build/model.txt')):\n"
              "    pass\n", "task_bad.py:5: output 'build/model.txt' is declared by both"),
    "cycle": ("from pathlib import Path\nfrom typing import Annotated\nimport trails\n\n"
              "def task_c(i: Path = Path('c2'), o: Annotated[Path, trails.Out] = Path('c1')):\n"
              "    pass\n\n"
              "def task_d(i: Path = Path('c1'), o: Annotated[Path, trails.Out] = Path('c2')):\n"
              "    pass\n", "task_bad.py:8: circular dependency: task_bad.py::task_"),
    "param": ("from pathlib import Path\nfrom typing import Annotated\nimport trails\n\n"
              "def task_e(x: Annotated[int, trails.Param('train.nope')],\n"
              "           o: Annotated[Path, trails.Out] = Path('e')):\n    pass\n",
              "task_bad.py:5: stage 'task_bad.py::task_e': params missing: params.yaml:train.nope"),
    "not-a-path": ("from pathlib import Path\nfrom typing import Annotated\nimport trails\n\n"
                   "def task_f(o: Annotated[Path, trails.Out] = 'model.pkl'):\n    pass\n",
                   "task_bad.py:5: task 'task_f': argument 'o' is an output (Out) but has "
                   "the value 'model.pkl', not a Path"),
    "mixed-list": ("from pathlib import Path\n\ndef task_h(files: list = [Path('a'), 'b']):\n"
                   "    pass\n", "task_bad.py:3: task 'task_h': argument 'files' mixes Paths "
                   "and other values"),
    "produces": ("def task_p(produces='model.pkl'):\n    pass\n",
                 "task_bad.py:1: task 'task_p': argument 'produces' is an output (Out) but has "
                 "the value 'model.pkl', not a Path"),
    "no-value": ("def task_g(x):\n    pass\n", "task_bad.py:1: task 'task_g': argument 'x' has "
                 "no value"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_task_file_one_message_nothing_run(
    case: str, project: Path, run: Trails, log: Path
) -> None:
    text, message = BAD[case]
    (project / "src/task_model.py").write_text(MODEL.replace("OFFSET = 1", "OFFSET = 5"))
    gen(project, {"task_bad.py": text})
    lock = (project / "dvc.lock").read_text()
    r = run("repro")
    assert r.code == 1
    assert message in r.err, r.err
    assert "Traceback" not in r.err
    assert bodies(log) == [] and ran(r) == []
    assert (project / "dvc.lock").read_text() == lock
    assert (project / "build/model.txt").read_text().startswith("1.2 ")


def test_keyword_and_marker_selection(project: Path, run: Trails, log: Path) -> None:
    r = run("repro", "-f", "-k", "fit and small")
    assert r.code == 0, r.err
    assert ran(r) == [FITS[0], PREPARE, TRAIN], "the match and what it needs"
    r = run("repro", "-f", "-m", "slow")
    assert r.code == 0, r.err
    assert ran(r) == [PREPARE, TRAIN]
    r = run("status", "-m", "not slow")
    assert r.code == 0 and "slow" not in r.out
    (project / "params.yaml").write_text("train:\n  lr: 0.3\n")
    r = run("status", "-m", "slow", "--json")
    assert list(json.loads(r.out)) == [TRAIN]
    r = run("status", "-k", "(train")
    assert r.code == 1
    assert "-k '(train': at column" in r.err
    r = run("repro", "-k", "nothing_like_it")
    assert r.code == 1 and "no stage or task matches -k 'nothing_like_it'" in r.err
    # exp run: -k as on repro; -m is --message there (as in DVC), markers are --marks.
    git(project, "add", "-A")
    git(project, "commit", "-qm", "lr 0.3")
    r = run("exp", "run", "-f", "--marks", "not slow", "-k", "prepare", "-m", "only prepare")
    assert r.code == 0, r.err
    assert ran(r) == [PREPARE]


def test_expression_grammar() -> None:
    from trails.tasks.expr import SelectionError, keyword_matcher, marker_matcher

    k = keyword_matcher("(Train or fit) and not small")
    assert k("src/t.py::task_train", ())
    assert k("src/t.py::task_fit[large]", ())
    assert not k("src/t.py::task_fit[small]", ())
    assert not k("src/t.py::task_prepare", ())
    assert keyword_matcher("gpu")("src/t.py::task_a", ("gpu",)), "-k sees markers too"
    with pytest.raises(SelectionError, match=re.escape("-k 'a $': at column 3")):
        keyword_matcher("a $")
    m = marker_matcher("slow and not gpu")
    assert m(("slow",)) and not m(("slow", "gpu")) and not m(())
    for bad, what in (("a and", "ends too early"), ("a b", "unexpected 'b'"),
                      ("(a", "ends too early"), ("a $", "unexpected character '$'"),
                      ("and a", "expected an identifier")):  # fmt: skip
        with pytest.raises(SelectionError, match=re.escape(what)):
            keyword_matcher(bad)


def test_task_file_imports_stay_light() -> None:
    """``import trails`` in a task file loads only the declarations."""
    code = (
        "import sys, trails\n@trails.task(id='a')\n@trails.mark.slow\ndef f(): pass\n"
        "print(trails.Out().kind, trails.Metric().kind, trails.Param('x.toml:k').file,\n"
        "      [m for m in ('msgspec', 'yaml', 'trails.core', 'trails.tasks.describe')"
        " if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["outs", "metrics", "x.toml", "[]"]


def test_exitfirst_overrides_keep_going(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, {"task_fail.py": "def task_a():\n    raise ValueError('boom')\n\n"
                               "def task_b():\n    raise ValueError('bang')\n"})  # fmt: skip
    r = trails("repro", "--keep-going")
    assert r.code == 1 and "2 stages failed" in r.err
    assert "ValueError: boom" in r.err and "ValueError: bang" in r.err
    r = trails("repro", "--keep-going", "-x")
    assert r.code == 1
    assert "ValueError: boom" in r.err and "bang" not in r.err
    assert "1 task: 1 failed in " in r.out


CHECKPOINTED = """\
from pathlib import Path
from typing import Annotated

import trails


def task_train(
    epochs: Annotated[int, trails.Param("epochs")],
    model: Annotated[Path, trails.Out(checkpoint=True)] = Path("model.txt"),
):
    start = int(model.read_text()) if model.exists() else 0
    for epoch in range(start + 1, start + epochs + 1):
        model.write_text(str(epoch))
        trails.make_checkpoint()
"""


def test_checkpoints_inside_a_task_and_the_queue(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, {"task_ckpt.py": CHECKPOINTED, "params.yaml": "epochs: 2\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    r = trails("exp", "run", "-n", "ckpt")
    assert r.code == 0, r.err
    assert r.out.count("Checkpoint ") == 2
    ref = git(repo, "for-each-ref", "--format=%(refname)", "refs/exps").strip()
    assert len(git(repo, "rev-list", ref, "^HEAD").split()) == 2
    for n in (1, 3):
        assert trails("exp", "run", "--queue", "-S", f"epochs={n}").code == 0
    r = trails("exp", "run", "--run-all", "-j", "2")
    assert r.code == 0, r.out + r.err
    rows = exp_rows(trails("exp", "show", "--json").out)
    assert {r["params"]["params.yaml"]["epochs"] for r in rows} >= {1, 2, 3}


def test_pdb_opens_at_the_failing_task_through_a_terminal(repo: Path, trails: Trails) -> None:
    import pty
    import select

    assert trails("init").code == 0
    gen(repo, {"task_dbg.py": "def task_broken():\n    secret = 41 + 1\n"
                              "    raise RuntimeError('broken')\n"})  # fmt: skip
    pid, fd = pty.fork()
    if pid == 0:  # the child: trails in the pseudo-terminal's foreground
        os.chdir(repo)
        os.execv(sys.executable, [sys.executable, "-m", "trails", "repro", "--pdb"])
    seen = b""
    sent = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
        if b"(Pdb)" in seen and not sent:
            os.write(fd, b"p secret\nq\n")
            sent = True
    _, status = os.waitpid(pid, 0)
    text = seen.decode(errors="replace")
    assert "RuntimeError: broken" in text
    assert "(Pdb)" in text and "42" in text.split("p secret", 1)[-1]
    assert os.waitstatus_to_exitcode(status) == 1
