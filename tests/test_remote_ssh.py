"""Data remotes over SSH: a real OpenSSH server (``tests/sshd.py``) started
by the fixture on 127.0.0.1 with a host key and an authorised user key made
for the test, and stopped after. Two clones share outputs and experiments
through it; a password logs in (a second sshd that takes one); the faults
a user meets (a changed or unknown host key, no server, a key or password
the server refuses, the extra not installed) are one message each and
change nothing."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import remote_scenario
from tests import sshd as sshd_mod
from tests.conftest import Result, gen, git, run_trails
from tests.sshd import Server, free_port, keygen
from tests.test_confine_entry import snapshot
from tests.test_remote_faults import _refused

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """An sshd on a free port; HOME is one whose known_hosts holds its key
    (the trails processes inherit it)."""
    try:
        server = sshd_mod.start(tmp_path_factory.mktemp("sshd"))
    except RuntimeError as exc:
        pytest.fail(str(exc))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(server.home))
        yield server
    server.stop()


def _setup(url: str, key: Path) -> Callable[[Path], None]:
    def setup(repo: Path) -> None:
        for args in (("remote", "add", "-d", "store", url),
                     ("remote", "modify", "--local", "store", "keyfile", str(key))):  # fmt: skip
            r = run_trails(*args, cwd=repo)
            assert r.code == 0, r.err

    return setup


def test_share_outputs_and_experiments_through_ssh(
    repo: Path, trails: Callable[..., Result], sshd: Server, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    other = remote_scenario.share(repo, trails, _setup(sshd.url(store), sshd.key))
    # The folder remote's layout, written whole: content-named packs and
    # index files, nothing left in tmp/.
    v1 = store / "trails-v1"
    packs = list((v1 / "packs").iterdir())
    assert packs and all(len(p.name) == 64 for p in packs)
    assert not list((v1 / "tmp").iterdir())
    # fetch alone fills the cache, and checkout then needs no remote.
    r = run_trails("fetch", cwd=other)
    assert r.code == 0 and "0 files fetched" in r.out, r.out


def test_a_corrupt_pack_is_refused_and_an_unindexed_one_sent_again(
    repo: Path, trails: Callable[..., Result], sshd: Server, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    assert trails("init").code == 0
    gen(repo, {"d/a.txt": "alpha\n", "d/b.txt": "beta\n"}, age=5)
    assert trails("add", "d").code == 0
    _setup(sshd.url(store), sshd.key)(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    assert trails("push").out.startswith("3 files pushed")
    # A push killed between a pack and its index: the objects do not count
    # as there, and the next push sends them again under the same names.
    index = store / "trails-v1" / "index"
    names = sorted(p.name for p in index.iterdir())
    for p in index.iterdir():
        p.unlink()
    r = trails("push")
    assert r.out.startswith("3 files pushed, 0 already there"), r.out
    assert sorted(p.name for p in index.iterdir()) == names
    other = tmp_path / "other"
    subprocess.run(["git", "clone", "-q", str(repo), str(other)], check=True)
    (repo / ".dvc" / "config.local").rename(other / ".dvc" / "config.local")
    for pack in (store / "trails-v1" / "packs").iterdir():
        data = bytearray(pack.read_bytes())
        data[data.index(b"beta")] ^= 1
        pack.write_bytes(bytes(data))
    before = snapshot(other)
    r = run_trails("pull", cwd=other)
    assert r.code == 1 and "did not match their hash" in r.err and "d/b.txt" in r.err, r.err
    assert "Traceback" not in r.err
    cache = other / ".dvc" / "cache"
    stored = [p for p in cache.rglob("*") if p.is_file() and "tmp" not in p.parts]
    assert not any(p.read_bytes() == b"betb\n" for p in stored)
    assert not (other / "d").exists()
    assert {k: v for k, v in snapshot(other).items() if k in before} == before


def test_faults_are_one_message_and_change_nothing(
    repo: Path, trails: Callable[..., Result], sshd: Server, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    assert trails("init").code == 0
    gen(repo, {"d/a.txt": "a\n"}, age=5)
    assert trails("add", "d").code == 0
    _setup(sshd.url(store), sshd.key)(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")

    def refused(*needles: str, verbs: tuple[tuple[str, ...], ...] = (("push",), ("status", "-c")),
                env: dict[str, str] | None = None) -> None:  # fmt: skip
        before = snapshot(repo)
        for verb in verbs:
            _refused(trails(*verb, env=env), "remote 'store' (ssh://", *needles)
        assert snapshot(repo) == before
        assert not store.exists(), "nothing written on the server"

    # The server's key changed (or another machine answers).
    other_key = keygen(tmp_path / "impostor")
    sshd.known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {other_key}\n")
    refused("does not match the one in ~/.ssh/known_hosts", "ssh-keygen -R")
    # A host never connected to.
    sshd.known_hosts.write_text("")
    refused("127.0.0.1 is not in ~/.ssh/known_hosts", f"ssh -p {sshd.port}")
    sshd.known_hosts.write_text(sshd.host_line + "\n")
    # A key the server does not accept (and no other key to try).
    assert trails("remote", "modify", "--local", "store", "keyfile",
                  str(tmp_path / "impostor")).code == 0  # fmt: skip
    refused("the server refused the credentials", "keyfile")
    assert trails("remote", "modify", "--local", "store", "keyfile",
                  str(tmp_path / "nokey")).code == 0  # fmt: skip
    refused(f"the keyfile {tmp_path / 'nokey'} does not exist")
    assert trails("remote", "modify", "--local", "store", "keyfile", str(sshd.key)).code == 0
    # Nothing listening.
    dead = free_port()
    assert trails("remote", "modify", "store", "url", f"ssh://127.0.0.1:{dead}{store}").code == 0
    refused(f"cannot reach 127.0.0.1:{dead}")
    assert trails("remote", "modify", "store", "url", sshd.url(store)).code == 0
    # The extra not installed: one line naming it.
    blocker = tmp_path / "noparamiko"
    blocker.mkdir()
    (blocker / "paramiko.py").write_text("raise ImportError('no paramiko')\n")
    for verb in (("push",), ("status", "-c")):
        r = trails(*verb, env={"PYTHONPATH": str(blocker)})
        _refused(r, "remote 'store': ssh:// remotes need paramiko: pip install 'trails[ssh]'")
        assert len(r.err.strip().splitlines()) == 1, r.err
    # Settings refused before anything is written.
    # A port broken by a hand edit of .dvc/config.
    config = (repo / ".dvc" / "config").read_text()
    section = "['remote \"store\"']\n"
    assert section in config
    (repo / ".dvc" / "config").write_text(config.replace(section, section + "    port = ssh\n"))
    for verb in (("push",), ("status", "-c")):
        _refused(trails(*verb), "remote 'store': port 'ssh' is not a positive number",
                 "trails remote modify store port N")  # fmt: skip
    (repo / ".dvc" / "config").write_text(config)
    _refused(trails("remote", "modify", "store", "ask_password", "true"),
             "trails does not prompt for passwords")  # fmt: skip
    _refused(trails("remote", "modify", "store", "password", "hunter2"),
             "a password belongs in .dvc/config.local", "--local")  # fmt: skip
    _refused(trails("remote", "modify", "store", "port", "ssh"), "not a positive number")
    for url in ("ssh://127.0.0.1", "ssh://127.0.0.1:http/x", "ssh:///x"):
        _refused(trails("remote", "add", "b", url), f"malformed URL '{url}'")
    assert (repo / ".dvc" / "config").read_text() == config
    # And with all put right, the same commands work.
    r = trails("push")
    assert r.code == 0 and r.out.startswith("2 files pushed"), (r.out, r.err)


def test_a_password_logs_in_and_a_wrong_one_is_one_message(
    repo: Path, trails: Callable[..., Result], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Password authentication against a real sshd that takes a password
    for a user of its own (``sshd.start(password=...)``; no key anywhere):
    a wrong password is refused with one message and nothing written, the
    right one (in config.local) pushes, and a fresh clone pulls it back."""
    (tmp_path / "sshd").mkdir()
    try:
        server = sshd_mod.start(tmp_path / "sshd", password="correct horse")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        monkeypatch.setenv("HOME", str(server.home))
        store = tmp_path / "store"
        assert trails("init").code == 0
        gen(repo, {"d/a.txt": "a\n", "d/b.bin": b"\x00\x01" * 5000}, age=5)
        assert trails("add", "d").code == 0
        assert trails("remote", "add", "-d", "store", server.url(store)).code == 0
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "data")
        assert trails("remote", "modify", "--local", "store", "password", "wrong").code == 0
        before = snapshot(repo)
        _refused(trails("push"), f"remote 'store' (ssh://{sshd_mod.PASSWORD_USER}@",
                 "the server refused the credentials")  # fmt: skip
        assert snapshot(repo) == before
        assert not store.exists(), "nothing written on the server"
        r = trails("remote", "modify", "--local", "store", "password", "correct horse")
        assert r.code == 0, r.err
        r = trails("push")
        assert r.code == 0 and r.out.startswith("3 files pushed"), (r.out, r.err)
        other = tmp_path / "other"
        subprocess.run(["git", "clone", "-q", str(repo), str(other)], check=True)
        (other / ".dvc" / "config.local").write_text((repo / ".dvc" / "config.local").read_text())
        r = run_trails("pull", cwd=other)
        assert r.code == 0, r.err
        assert (other / "d" / "b.bin").read_bytes() == b"\x00\x01" * 5000
    finally:
        server.stop()
