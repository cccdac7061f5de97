"""``trails remote ...`` and ``trails config``: remotes stored as the
reference tool stores them, refused input changing nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result


def _init(trails: Callable[..., Result]) -> None:
    assert trails("init").code == 0


def test_add_modify_default_list_as_the_reference_tool_writes_them(
    repo: Path, trails: Callable[..., Result]
) -> None:
    _init(trails)
    assert trails("remote", "add", "-d", "store", "/mnt/store").code == 0
    assert trails("remote", "add", "s3r", "s3://bkt/prefix").code == 0
    assert trails("remote", "modify", "s3r", "endpointurl", "http://127.0.0.1:9").code == 0
    assert trails("remote", "modify", "--local", "s3r", "secret_access_key", "SK").code == 0
    text = (repo / ".dvc" / "config").read_text()
    assert text == (
        "['remote \"store\"']\n    url = /mnt/store\n[core]\n    remote = store\n"
        "['remote \"s3r\"']\n    url = s3://bkt/prefix\n    endpointurl = http://127.0.0.1:9\n"
    )
    assert "SK" not in text
    assert "secret_access_key = SK" in (repo / ".dvc" / "config.local").read_text()
    assert trails("remote", "list").out == "store\t/mnt/store\ns3r\ts3://bkt/prefix\n"
    assert trails("remote", "default").out == "store\n"
    assert trails("config", "remote.s3r.secret_access_key").out == "SK\n"
    assert trails("remote", "default", "s3r").code == 0
    assert trails("config", "core.remote").out == "s3r\n"


def test_rename_and_remove_follow_the_default(repo: Path, trails: Callable[..., Result]) -> None:
    _init(trails)
    trails("remote", "add", "-d", "old", "/a")
    trails("remote", "modify", "--local", "old", "region", "eu")
    assert trails("remote", "rename", "old", "new").code == 0
    assert trails("remote", "default").out == "new\n"
    assert "region=eu" in trails("config", "-l", "--local").out.replace("remote.new.", "")
    assert trails("remote", "remove", "new").code == 0
    r = trails("remote", "default")
    assert r.code == 1 and "no default remote" in r.err
    assert "[core]" not in (repo / ".dvc" / "config").read_text()


def test_refused_input_names_the_problem_and_changes_nothing(
    repo: Path, trails: Callable[..., Result]
) -> None:
    _init(trails)
    trails("remote", "add", "store", "/a")
    before = (repo / ".dvc" / "config").read_bytes()
    cases = [
        (("remote", "modify", "store", "regoin", "x"), "Did you mean 'region'?"),
        (("remote", "modify", "stor", "url", "/b"), "Did you mean 'store'?"),
        (("remote", "add", "store", "/b"), "already exists"),
        (("remote", "add", "g", "gs://bucket"), "not supported"),
        (("remote", "add", "s", "s3://"), "no bucket"),
        (("remote", "modify", "store", "jobs", "zero"), "not a positive number"),
        (("remote", "default", "nope"), "does not exist"),
        (("config", "nodots", "x"), "not an option name"),
    ]
    for args, message in cases:
        r = trails(*args)
        assert r.code == 1, args
        assert message in r.err, (args, r.err)
        assert "Traceback" not in r.err
    assert (repo / ".dvc" / "config").read_bytes() == before
