"""Issue #14, item 13: as root with a linking cache, the read-only cache
object does not stop an in-place edit of the workspace file that *is* it.
trails warns when such data is added, ``status`` names the files whose
cached copy changed, and checkout refuses the damaged object."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result, gen

Trails = Callable[..., Result]

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="only root writes a 0444 file")


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    assert trails("init").code == 0
    gen(repo, {"data/a.csv": "one\n", "data/b.csv": "two\n", "f.txt": "f\n"}, age=60)
    return repo


def _link_cache(project: Path, kind: str) -> None:
    with (project / ".dvc/config").open("a") as f:
        f.write(f"[cache]\n    type = {kind}\n")


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_root_editing_linked_data_is_warned_named_and_never_checked_out(
    project: Path, trails: Trails, kind: str
) -> None:
    _link_cache(project, kind)
    r = trails("add", "data", "f.txt")
    assert r.code == 0, r.err
    for what in ("data", "f.txt"):
        assert (f"Warning: running as root with cache.type {kind}: '{what}' is linked to its "
                "only cached copy, and read-only files do not stop root") in r.out  # fmt: skip
    assert "Run 'trails unprotect' before editing, or use cache.type reflink or copy." in r.out
    with open(project / "data/a.csv", "a") as f:  # in place: the object's inode
        f.write("edited\n")
    with open(project / "f.txt", "a") as f:
        f.write("g\n")
    r = trails("status")
    assert ("'data' changed, and its cached copy changed in place (edited through a link as "
            "root): data/a.csv; the recorded version is gone, 'trails add data' records this "
            "one") in r.out  # fmt: skip
    assert "'f.txt' changed, and its cached copy changed in place" in r.out
    r = trails("checkout")
    assert r.code == 1
    assert "is corrupt (its content does not match its hash); nothing was changed" in r.err
    assert (project / "data/a.csv").read_text() == "one\nedited\n"
    assert trails("add", "data").code == 0
    r = trails("status")
    assert "'data'" not in r.out, "recorded again, it is clean"


def test_no_warning_when_the_cache_copies(project: Path, trails: Trails) -> None:
    _link_cache(project, "copy")
    r = trails("add", "data")
    assert r.code == 0 and "Warning" not in r.out
    with open(project / "data/a.csv", "a") as f:
        f.write("edited\n")
    r = trails("status")
    assert "'data' changed (1 modified): a.csv" in r.out and "in place" not in r.out
    assert trails("checkout").code == 0
    assert (project / "data/a.csv").read_text() == "one\n", "the copy in the cache was intact"


def test_status_names_a_stage_output_changed_through_its_link(
    project: Path, trails: Trails
) -> None:
    _link_cache(project, "hardlink")
    cmd = f"{sys.executable} -c \"open('out.txt', 'w').write('made')\""
    gen(project, {"dvc.yaml": f"stages:\n  make:\n    cmd: {cmd}\n    outs: [out.txt]\n"})
    assert trails("repro").code == 0
    assert trails("status").out.strip() == "Data and pipelines are up to date."
    with open(project / "out.txt", "a") as f:
        f.write(" and edited")
    r = trails("status")
    assert ("output 'out.txt': its cached copy changed in place (edited through a link as "
            "root): out.txt; the recorded version is gone") in r.out  # fmt: skip
