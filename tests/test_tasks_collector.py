"""The collector (``tasks.collector``), forked from trails' process
(``tasks.fork``) or, with ``TRAILS_COLLECT_FORK=0``, started as ``python -c
COLLECTOR``: either way the task file is imported in a process of its own
that looks the same to it (``sys.argv``, ``sys.path``, the default
signal handlers, not trails'), whose prints are not trails' output and
whose crash is one message."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, gen

Trails = Callable[..., Result]

SEEING = """\
import json
import os
import signal
import sys
from pathlib import Path
from typing import Annotated

import trails

Path(os.environ["SEEN"]).write_text(json.dumps({
    "argv": sys.argv[:1],
    "path": [p if p != os.getcwd() else "root" for p in sys.path[:2]],
    "sigint": signal.getsignal(signal.SIGINT) is signal.default_int_handler,
    "sigterm": signal.getsignal(signal.SIGTERM) == signal.SIG_DFL,
    "parent": os.getppid(),
    "me": os.getpid(),
}))
print("printed at import")
print("on stderr at import", file=sys.stderr)


def task_a(out: Annotated[Path, trails.Out] = Path("a.txt")):
    out.write_text("a")
"""


@pytest.mark.parametrize("fork", ["1", "0"])
def test_the_collector_sees_what_the_command_sees(
    repo: Path, trails: Trails, tmp_path: Path, fork: str
) -> None:
    seen = tmp_path / "seen.json"
    env = {"SEEN": str(seen), "TRAILS_COLLECT_FORK": fork}
    assert trails("init").code == 0
    gen(repo, {"task_see.py": SEEING})
    r = trails("collect", "--json", env=env)
    assert r.code == 0, r.err
    assert [t["id"] for t in json.loads(r.out)["tasks"]] == ["task_see.py::task_a"]
    assert "printed at import" not in r.out + r.err
    got = json.loads(seen.read_text())
    assert got.pop("me") != got.pop("parent")
    assert got == {"argv": ["-c"], "path": ["root", ""], "sigint": True, "sigterm": True}
    seen.unlink()
    assert trails("status", env=env).code == 0
    assert not seen.exists(), "an unchanged task file is not imported again"


@pytest.mark.parametrize("fork", ["1", "0"])
def test_a_collector_that_dies_is_one_message_nothing_run(
    repo: Path, trails: Trails, fork: str
) -> None:
    assert trails("init").code == 0
    gen(repo, {"task_die.py": "import os\nprint('last words', flush=True)\nos._exit(4)\n"})
    r = trails("repro", env={"TRAILS_COLLECT_FORK": fork})
    assert r.code == 1
    assert "task_die.py:1: collecting task files failed: last words" in r.err, r.err
    assert "Traceback" not in r.err
    assert not (repo / "dvc.lock").exists()
