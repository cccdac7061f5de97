"""Python tasks through the real CLI, the rest of the issue's surface:
list/dict/folder dependencies, a param of another file (TOML) through
``-S`` and ``exp show``, ``Plot``/``Metric`` outputs seen by ``plots`` and
``metrics``, ``persist``, a crashing task next to parallel ones (``-j``),
a task's printed output and environment, and a no-op check that imports no
task file."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result, baseline, exp_rows, gen

Trails = Callable[..., Result]

ALL = """\
import os
from pathlib import Path
from typing import Annotated

import trails


def task_lists(
    depth: Annotated[int, trails.Param("other.toml:opt.depth")],
    files: list = [Path("data/a.txt"), Path("data/b.txt")],
    named: dict = {"c": Path("data/folder")},
    out: Annotated[Path, trails.Out(persist=True)] = Path("out/lists.txt"),
    plot: Annotated[Path, trails.Plot] = Path("out/plot.csv"),
    metric: Annotated[Path, trails.Metric(cache=False)] = Path("metrics.json"),
):
    print("hello from the task", os.environ["DVC_ROOT"])
    before = out.read_text() if out.exists() else ""
    seen = sorted(p.name for p in named["c"].iterdir())
    out.write_text(before + "".join(f.read_text() for f in files) + f"{seen} {depth}\\n")
    plot.write_text(f"step,loss\\n1,{depth}\\n")
    metric.write_text('{"acc": %d}' % depth)
"""

ALL_FILES = {
    "task_all.py": ALL,
    "other.toml": "[opt]\ndepth = 3\n",
    "data/a.txt": "a ",
    "data/b.txt": "b ",
    "data/folder/c.txt": "c",
}


def test_collection_deps_params_and_outputs_of_every_kind(repo: Path, trails: Trails) -> None:
    assert trails("init").code == 0
    gen(repo, ALL_FILES)
    doc = json.loads(trails("collect", "--json").out)
    (task,) = doc["tasks"]
    assert task["deps"] == ["data/a.txt", "data/b.txt", "data/folder"]
    assert task["params"] == [{"file": "other.toml", "key": "opt.depth"}]
    kinds = {o["path"]: (o["kind"], o["cache"], o["persist"]) for o in task["outs"]}
    assert kinds == {"out/lists.txt": ("outs", True, True), "out/plot.csv": ("plots", True, False),
                     "metrics.json": ("metrics", False, False)}  # fmt: skip
    r = trails("repro")
    assert r.code == 0, r.err
    assert f"hello from the task {repo.resolve()}" in r.out, "printed output, DVC_ROOT set"
    assert (repo / "out/lists.txt").read_text() == "a b ['c.txt'] 3\n"
    # A file inside the folder dependency: a rerun; the persisted output is kept.
    gen(repo, {"data/folder/d.txt": "d"})
    r = trails("status", "--json")
    assert json.loads(r.out) == {"task_all.py::task_lists": ["dep 'data/folder' changed"]}
    assert trails("repro").code == 0
    lines = (repo / "out/lists.txt").read_text().splitlines()
    assert lines == ["a b ['c.txt'] 3", "a b ['c.txt', 'd.txt'] 3"]
    r = trails("metrics", "show", "--json")
    assert json.loads(r.out) == {"metrics.json": {"acc": 3}}
    r = trails("plots", "show", "--json")
    assert r.code == 0, r.err
    assert list(json.loads(r.out)["data"]) == ["out/plot.csv"]


def test_set_param_of_another_file_and_exp_show(repo: Path, trails: Trails) -> None:
    baseline(repo, trails, ALL_FILES)
    r = trails("exp", "run", "task_all.py::task_lists", "-S", "other.toml:opt.depth=5")
    assert r.code == 0, r.err
    assert "1 task: 1 ran in " in r.out
    assert json.loads((repo / "metrics.json").read_text()) == {"acc": 5}
    doc = trails("exp", "show", "--json").out
    rows = exp_rows(doc)
    assert sorted({row["params"]["other.toml"]["opt.depth"] for row in rows}) == [3, 5]
    workspace = json.loads(doc)[0]["data"]
    assert sorted(workspace["deps"]) == ["data/a.txt", "data/b.txt", "data/folder"]
    assert list(workspace["outs"]) == ["out/lists.txt"]  # as for dvc.yaml: no metrics, plots


PARALLEL = """\
import os
import time
from pathlib import Path
from typing import Annotated

import trails

with open(os.environ["IMPORT_LOG"], "a") as f:
    f.write("imported\\n")


def task_crash():
    os.abort()


def task_a(out: Annotated[Path, trails.Out] = Path("a.txt")):
    start = time.time()
    time.sleep(0.6)
    out.write_text(f"{start} {time.time()}")


def task_b(out: Annotated[Path, trails.Out] = Path("b.txt")):
    start = time.time()
    time.sleep(0.6)
    out.write_text(f"{start} {time.time()}")
"""


def test_a_crash_stays_in_its_worker_parallel_tasks_and_no_import_when_unchanged(
    repo: Path, trails: Trails, tmp_path: Path
) -> None:
    imports = tmp_path / "imports.log"
    env = {"IMPORT_LOG": str(imports)}
    assert trails("init").code == 0
    gen(repo, {"task_par.py": PARALLEL})
    r = trails("repro", "-j", "3", "--keep-going", env=env)
    assert r.code == 1
    assert "stage 'task_par.py::task_crash' failed" in r.err and "Traceback" not in r.err
    assert "3 tasks: 2 ran, 1 failed in " in r.out
    (a0, a1), (b0, b1) = (map(float, (repo / n).read_text().split()) for n in ("a.txt", "b.txt"))
    assert a0 < b1 and b0 < a1, "the two tasks ran at the same time"
    imports.unlink()
    r = trails("status", env=env)
    assert r.out.strip() == "task_par.py::task_crash:\n\tnever run"
    r = trails("repro", "task_par.py::task_a", env=env)
    assert r.code == 0 and "1 task: 1 up to date in " in r.out
    assert not imports.exists(), "deciding imported no task file"
    gen(repo, {"task_par.py": PARALLEL.replace("0.6", "0.5")})
    r = trails("status", "--json", env=env)
    assert sorted(json.loads(r.out)) == ["task_par.py::task_a", "task_par.py::task_b",
                                         "task_par.py::task_crash"]  # fmt: skip
    assert imports.read_text() == "imported\n", "a changed file is imported once, to collect it"


def test_a_touched_task_file_is_not_imported_its_edited_helper_is_collected_again(
    repo: Path, trails: Trails, tmp_path: Path
) -> None:
    """The memo is keyed by stat, then content hash: a file touched but
    unchanged is not imported (its new stat is recorded); a change to a
    module it imports gets it collected again."""
    imports = tmp_path / "imports.log"
    env = {"IMPORT_LOG": str(imports)}
    assert trails("init").code == 0
    text = PARALLEL.replace("os.abort()", "pass").replace(
        "import trails\n", "import trails\nimport helper\n"
    )
    gen(repo, {"task_par.py": text, "helper.py": "X = 1\n"})
    assert trails("repro", env=env).code == 0
    for name in ("task_par.py", "helper.py"):
        st = (repo / name).stat()
        os.utime(repo / name, ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000_000))
    imports.unlink()
    r = trails("status", env=env)
    assert r.out.strip() == "Data and pipelines are up to date.", r.out + r.err
    assert not imports.exists(), "touched, same bytes: not imported"
    cache = json.loads((repo / ".dvc/tmp/trails/tasks.json").read_text())
    assert (
        cache["files"]["task_par.py"]["stamp"]["mtime_ns"]
        == (repo / "task_par.py").stat().st_mtime_ns
    )
    gen(repo, {"helper.py": "X = 2\n"})
    r = trails("status", env=env)
    assert r.out.strip() == "Data and pipelines are up to date.", r.out + r.err
    assert imports.read_text() == "imported\n", "what it imports changed: collected again"


def test_no_op_reads_the_task_cache_without_msgspec_and_survives_a_damaged_one(
    repo: Path, trails: Trails, tmp_path: Path
) -> None:
    """A no-op check of tasks costs what one of ``dvc.yaml`` stages does: no
    record machinery; a damaged or foreign cache is collected again."""
    import subprocess
    import sys

    env = {"IMPORT_LOG": str(tmp_path / "imports.log")}
    assert trails("init").code == 0
    gen(repo, {"task_par.py": PARALLEL.replace("os.abort()", "pass")})
    assert trails("repro", env=env).code == 0
    code = (
        "import sys\nfrom trails.cli import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('msgspec' in sys.modules)"
    )
    for command in ("status", "repro"):
        argv = [sys.executable, "-c", code, command]
        out = subprocess.run(argv, capture_output=True, text=True, cwd=repo, check=True,
                             env={**os.environ, **env})  # fmt: skip
        assert out.stdout.splitlines()[-1] == "False", (command, out.stdout, out.stderr)
    cache = repo / ".dvc/tmp/trails/tasks.json"
    doc = json.loads(cache.read_text())
    doc["files"]["task_par.py"]["tasks"][0]["line"] = "not a line"
    cache.write_text(json.dumps(doc))
    (tmp_path / "imports.log").unlink()
    r = trails("status", env=env)
    assert r.out.strip() == "Data and pipelines are up to date.", r.out + r.err
    assert (tmp_path / "imports.log").read_text() == "imported\n", "collected again"
    line = PARALLEL.splitlines().index("def task_crash():") + 1
    assert json.loads(cache.read_text())["files"]["task_par.py"]["tasks"][0]["line"] == line


def test_code_hashes_stay_those_of_ast_dump() -> None:
    """Locks recorded before the one-pass scan keep their code hashes: the
    scan's text is ``ast.dump``'s, docstrings and a task's decorators left
    out, on the top-level definitions of trails' own sources."""
    import ast

    from trails.tasks.identity import code_hash, scan

    def is_doc(st: ast.stmt) -> bool:
        return isinstance(st, ast.Expr) and isinstance(getattr(st.value, "value", None), str)

    compared = 0
    for path in sorted(Path(__file__).parents[1].glob("python/trails/[prt]*/*.py")):
        for node in ast.parse(path.read_bytes()).body:
            if not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.Assign):
                continue
            scanned = scan(node, drop_decorators=True).hash
            for n in ast.walk(node):  # the dump of main's normalised copy
                body = getattr(n, "body", None)
                if isinstance(n, ast.FunctionDef | ast.ClassDef) and body and is_doc(body[0]):
                    n.body = body[1:] or [ast.Pass()]
            if isinstance(node, ast.FunctionDef | ast.ClassDef):
                node.decorator_list = []
            assert scanned == code_hash(ast.dump(node)), (path, node.lineno)
            compared += 1
    assert compared > 200
