"""Functional tests: the real ``trails`` CLI in a temporary Git repo."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import blake3

from tests.conftest import Result, gen
from trails import __version__

Trails = Callable[..., Result]


def b3(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def test_version_and_help(trails: Trails) -> None:
    r = trails("--version")
    assert (r.code, r.out.strip()) == (0, f"trails, version {__version__}")
    r = trails("--help")
    assert r.code == 0
    assert "Run machine-learning experiments" in r.out
    assert "debug" not in r.out, "plumbing stays hidden"


def test_unknown_command_suggests(trails: Trails) -> None:
    r = trails("debgu")
    assert r.code == 2
    assert "No such command 'debgu'. Did you mean 'debug'?" in r.err


def test_debug_hash_prints_b3sum_format(trails: Trails, repo: Path) -> None:
    gen(repo, {"data/a.csv": "1,2\n", "data/sub/b.csv": "3,4\n", "model.bin": b"\x00" * 10})
    r = trails("debug", "hash", "model.bin", "data")
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    zeros = b3(bytes(10))
    assert lines[0] == f"{zeros}  model.bin"
    tree_hash, name = lines[1].split("  ")
    assert name == "data/"
    assert len(tree_hash) == 64


def test_debug_tree_json_and_diff(trails: Trails, repo: Path) -> None:
    gen(repo, {"data/a": "1", "data/b": "2", "data/c": "3"})
    r = trails("debug", "tree", "data", "--json")
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert doc["algorithm"] == "blake3"
    assert [e["relpath"] for e in doc["entries"]] == ["a", "b", "c"]
    assert doc["entries"][0]["blake3"] == b3(b"1")
    (repo / "old.json").write_text(r.out)
    gen(repo, {"data/b": "changed", "data/d": "4"})
    (repo / "data" / "c").unlink()
    (repo / "new.json").write_text(trails("debug", "tree", "data", "--json").out)
    r = trails("debug", "diff", "old.json", "new.json")
    assert (r.code, r.out.splitlines()) == (0, ["M b", "D c", "A d"])
    r = trails("debug", "diff", "old.json", "new.json", "--json")
    assert json.loads(r.out) == {"added": ["d"], "modified": ["b"], "deleted": ["c"]}
    r = trails("debug", "diff", "old.json", "old.json")
    assert r.out.strip() == "no changes"


def test_debug_tree_text(trails: Trails, repo: Path) -> None:
    gen(repo, {"d/x": "xx"})
    r = trails("debug", "tree", "d")
    assert r.code == 0
    assert r.out.splitlines()[0].split() == [b3(b"xx"), "2", "-", "x"]
    assert r.out.splitlines()[-1].endswith("1 files, 2 bytes, 1 read")


def test_debug_store_and_checkout_round_trip(trails: Trails, repo: Path) -> None:
    gen(repo, {"data/a": "1", "data/s/b": "2", "w.bin": b"w"})
    r = trails("debug", "store", "data")
    assert r.code == 0, r.err
    tree_ref = r.out.strip()
    assert tree_ref.endswith(".dir")
    assert "2 files, 2 bytes: 2 read, 2 new objects" in r.err
    assert (repo / ".dvc/cache/files/blake3" / tree_ref[:2] / tree_ref[2:]).is_file()
    r = trails("debug", "checkout", tree_ref, "restored", "--link-type", "hardlink,copy")
    assert (r.code, r.out.strip()) == (
        0,
        "2 added, 0 modified, 0 deleted, 0 unchanged (by hardlink)",
    )
    assert (repo / "restored/s/b").read_text() == "2"
    r = trails("debug", "checkout", tree_ref.removesuffix(".dir"), "restored")
    assert r.out.strip() == "0 added, 0 modified, 0 deleted, 2 unchanged"

    file_hash = trails("debug", "store", "w.bin").out.strip()
    assert file_hash == b3(b"w")
    r = trails("debug", "checkout", file_hash, "copy.bin", "--link-type", "copy")
    assert (r.code, r.out.strip()) == (0, "copy.bin: checked out (by copy)")
    assert (repo / "copy.bin").read_bytes() == b"w"


def test_errors_are_one_line_without_traceback(trails: Trails, repo: Path) -> None:
    r = trails("debug", "hash", "missing.csv")
    assert r.code == 1
    assert r.err == "Error: missing.csv: No such file or directory\n"
    (repo / "link").symlink_to(repo / "gone")
    r = trails("debug", "hash", "link")
    assert r.code == 1
    assert r.err.strip() == "Error: link: dangling symlink (its target does not exist)"
    (repo / "bad.json").write_text("{\n  oops\n}")
    (repo / "ok.json").write_text("[]")
    r = trails("debug", "diff", "bad.json", "ok.json")
    assert r.code == 1
    assert r.err.splitlines()[0].startswith("Error: bad.json:2: not JSON")
    assert "Traceback" not in r.err
    r = trails("debug", "checkout", "0" * 64, "x", "--link-type", "hardlnk")
    assert r.code == 2
    assert "'hardlnk': use a comma list of reflink, hardlink, symlink, copy" in r.err


def test_verbose_shows_the_traceback(trails: Trails) -> None:
    r = trails("--verbose", "debug", "hash", "missing.csv")
    assert r.code == 1
    assert "Traceback" in r.err
    assert r.err.rstrip().endswith("Error: missing.csv: No such file or directory")


def test_checkout_of_a_missing_object_changes_nothing(trails: Trails, repo: Path) -> None:
    r = trails("debug", "checkout", "ab" * 32, "out.bin")
    assert r.code == 1
    assert r.err.startswith(f"Error: out.bin: cache object {'ab' * 32} is missing")
    assert not (repo / "out.bin").exists()


def test_threads_env(trails: Trails) -> None:
    assert trails("debug", "threads", env={"TRAILS_THREADS": "5"}).out.strip() == "5"
