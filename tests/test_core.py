"""The facade over the Rust core: every function, its errors, and hashes
cross-checked against the blake3 reference implementation (PyPI)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import blake3
import pytest

from tests.conftest import gen
from trails import core
from trails.errors import CoreError, StateWarning

# Published blake3 vectors (the official test_vectors.json inputs are
# bytes i % 251; the empty input's digest is in the spec).
EMPTY = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"


def pattern(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


def reference(data: bytes) -> str:
    return blake3.blake3(data).hexdigest()


def test_empty_input_matches_spec_vector() -> None:
    assert core.hash_bytes(b"") == EMPTY
    assert reference(b"") == EMPTY


@pytest.mark.parametrize(
    "size", [0, 1, 1023, 1024, 1025, 2048, 8193, 102400, 256 * 1024 + 1, 9 * 1024 * 1024]
)
def test_file_hash_matches_reference(tmp_path: Path, size: int) -> None:
    data = pattern(size)
    f = tmp_path / "f"
    f.write_bytes(data)
    got = core.hash_file(f)
    assert (got.hash, got.size, got.executable) == (reference(data), size, False)
    assert core.hash_bytes(data) == got.hash


def test_hash_files_keeps_order_and_raw_bytes(tmp_path: Path) -> None:
    gen(tmp_path, {"unix": b"a\nb\n", "dos": b"a\r\nb\r\n", "bin": bytes(range(256))})
    paths = [tmp_path / n for n in ("unix", "dos", "bin")]
    got = [h.hash for h in core.hash_files(paths)]
    assert got == [reference(p.read_bytes()) for p in paths]
    assert got[0] != got[1], "no newline normalisation"


def test_executable_bit_is_reported(tmp_path: Path) -> None:
    f = tmp_path / "run.sh"
    f.write_text("#!/bin/sh\n")
    f.chmod(0o755)
    assert core.hash_file(f).executable


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        core.hash_file(tmp_path / "nope")
    assert info.value.filename == str(tmp_path / "nope")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError) as info:
        core.hash_file(tmp_path)
    assert info.value.filename == str(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads anything")
def test_permission_denied(tmp_path: Path) -> None:
    f = tmp_path / "secret"
    f.write_text("x")
    f.chmod(0)
    with pytest.raises(PermissionError):
        core.hash_file(f)


def test_permission_denied_as_unprivileged_user(tmp_path: Path) -> None:
    """Run as 'nobody' when we are root, so the check really happens."""
    if os.geteuid() != 0:
        pytest.skip("covered by test_permission_denied")
    f = tmp_path / "secret"
    f.write_text("x")
    f.chmod(0)
    tmp_path.chmod(0o755)
    code = (
        "import sys; from trails import core\n"
        "try:\n    core.hash_file(sys.argv[1])\n"
        "except PermissionError as e:\n    print('denied', e.filename)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-c",
            code,
            str(f),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0 and "setpriv" in out.stderr:
        pytest.skip(f"cannot drop privileges: {out.stderr.strip()}")
    assert out.stdout.strip() == f"denied {f}", out.stderr


def test_dangling_symlink_is_named(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(CoreError, match="dangling symlink") as info:
        core.hash_file(link)
    assert info.value.filename == str(link)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(CoreError, match="not a regular file"):
        core.hash_file(fifo)


def test_file_growing_while_hashed_is_detected(tmp_path: Path) -> None:
    """A writer appends while we hash a large file; the size/mtime re-check
    must notice (the hash would describe no real version of the file)."""
    f = tmp_path / "growing"
    f.write_bytes(b"\0" * (64 << 20))
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time\nf=open(sys.argv[1],'ab')\n"
            "while True:\n f.write(b'x'*4096); f.flush(); time.sleep(0.0005)\n",
            str(f),
        ],
    )
    try:
        errors = 0
        for _ in range(20):
            try:
                core.hash_file(f)
            except CoreError as exc:
                assert "changed while it was being hashed" in str(exc)
                assert exc.filename == str(f)
                errors += 1
        assert errors > 0
    finally:
        writer.kill()
        writer.wait()


def test_scan_tree_manifest_and_ignores(tmp_path: Path) -> None:
    gen(
        tmp_path,
        {
            "a.txt": "a",
            "sub/b.bin": b"\x00\x01",
            "sub/c.log": "log",
            ".git/HEAD": "x",
            ".dvc/config": "",
            ".dvcignore": "*.log\n",
        },
    )
    tree = core.scan_tree(tmp_path)
    assert [e.relpath for e in tree.entries] == [".dvcignore", "a.txt", "sub/b.bin"]
    e = tree.entries[1]
    assert (e.relpath, e.hash, e.size, e.executable) == ("a.txt", reference(b"a"), 1, False)
    assert tree.hash == core.hash_bytes(tree.manifest)
    assert json.loads(tree.manifest)[2] == {
        "relpath": "sub/b.bin",
        "blake3": reference(b"\x00\x01"),
        "size": 2,
        "isexec": False,
    }
    assert (tree.nfiles, tree.size) == (3, len("*.log\n") + 1 + 2)


def test_tree_hash_depends_on_content_not_on_creation_order(tmp_path: Path) -> None:
    files = {f"d{i % 4}/f{i}": f"content {i}" for i in range(30)}
    gen(tmp_path / "one", files)
    gen(tmp_path / "two", dict(reversed(list(files.items()))))
    assert core.scan_tree(tmp_path / "one").hash == core.scan_tree(tmp_path / "two").hash
    (tmp_path / "two" / "d0" / "f0").write_text("other")
    assert core.scan_tree(tmp_path / "one").hash != core.scan_tree(tmp_path / "two").hash


def test_warm_index_reads_no_file(tmp_path: Path) -> None:
    data = tmp_path / "data"
    gen(data, {f"d{i % 3}/f{i}": str(i) for i in range(50)}, age=10)
    index = tmp_path / "index"
    cold = core.scan_tree(data, index)
    assert cold.files_read == 50
    warm = core.scan_tree(data, index)
    assert (warm.files_read, warm.hash) == (0, cold.hash)
    gen(data, {"d0/f0": "changed"}, age=5)
    after = core.scan_tree(data, index)
    assert after.files_read == 1
    assert after.hash != cold.hash


def test_recent_files_are_not_trusted_by_the_index(tmp_path: Path) -> None:
    gen(tmp_path / "data", {"f": "x"})
    index = tmp_path / "index"
    core.scan_tree(tmp_path / "data", index)
    assert core.scan_tree(tmp_path / "data", index).files_read == 1


def test_damaged_index_is_discarded_with_a_warning(tmp_path: Path) -> None:
    gen(tmp_path / "data", {"f": "x"}, age=10)
    index = tmp_path / "index"
    core.scan_tree(tmp_path / "data", index)
    raw = bytearray(index.read_bytes())
    raw[-12] ^= 0xFF
    index.write_bytes(bytes(raw))
    with pytest.warns(StateWarning, match=r"stat index discarded \(checksum mismatch\)"):
        tree = core.scan_tree(tmp_path / "data", index)
    assert tree.files_read == 1
    assert core.scan_tree(tmp_path / "data", index).files_read == 0, "rebuilt"
    index.write_bytes(b"TRAILSIX" + (99).to_bytes(4, "little") + bytes(20))
    with pytest.warns(StateWarning, match="version 99"):
        core.scan_tree(tmp_path / "data", index)


def test_diff_manifests(tmp_path: Path) -> None:
    gen(tmp_path / "a", {"same": "1", "changed": "2", "gone": "3"})
    gen(tmp_path / "b", {"same": "1", "changed": "two", "new": "4"})
    d = core.diff_manifests(
        core.scan_tree(tmp_path / "a").manifest, core.scan_tree(tmp_path / "b").manifest
    )
    assert [e.relpath for e in d.added] == ["new"]
    assert [e.relpath for e in d.modified] == ["changed"]
    assert d.deleted == ["gone"]
    assert not core.diff_manifests(b"[]", b"[]")


def test_diff_refuses_a_malformed_manifest() -> None:
    with pytest.raises(CoreError, match=r"old\.json: damaged tree manifest"):
        core.diff_manifests(b"{", b"[]", old_name="old.json")
    evil = json.dumps([{"relpath": "../x", "blake3": EMPTY, "size": 0}]).encode()
    with pytest.raises(CoreError, match="not a relative path inside the tree"):
        core.parse_manifest(evil)


def test_store_and_checkout_a_tree(tmp_path: Path) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    gen(data, {"a": "1", "x/b": "2", "x/y/c": "3"}, age=10)
    (data / "a").chmod(0o755)
    index = tmp_path / "index"
    stored = core.store_tree(cache, data, index)
    assert (stored.objects_written, stored.files_read) == (3, 3)
    obj = Path(core.object_path(cache, stored.entries[1].hash))
    assert obj.read_text() == "2"
    assert obj.parent.parent.name == "blake3"
    assert stat.S_IMODE(obj.stat().st_mode) & 0o222 == 0, "objects are read-only"
    again = core.store_tree(cache, data, index)
    assert (again.objects_written, again.files_read, again.hash) == (0, 0, stored.hash)

    dest = tmp_path / "dest"
    r = core.checkout_tree(cache, stored.hash, dest, ["copy"])
    assert (r.link, r.added) == ("copy", 3)
    assert core.scan_tree(dest).hash == stored.hash
    assert os.access(dest / "a", os.X_OK)
    assert os.access(dest / "x/b", os.W_OK), "copies are writable"
    assert core.read_tree(cache, stored.hash).entries == stored.entries


def test_checkout_touches_only_what_differs(tmp_path: Path) -> None:
    data, cache, dest = tmp_path / "data", tmp_path / "cache", tmp_path / "dest"
    gen(data, {f"f{i}": str(i) for i in range(10)})
    tree = core.store_tree(cache, data)
    core.checkout_tree(cache, tree.hash, dest, ["copy"])
    keep_inode = (dest / "f1").stat().st_ino
    (dest / "f2").write_text("edited")
    (dest / "stray" / "deep").mkdir(parents=True)
    (dest / "stray" / "deep" / "s").write_text("s")
    r = core.checkout_tree(cache, tree.hash, dest, ["copy"])
    assert (r.added, r.modified, r.deleted, r.unchanged) == (0, 1, 1, 9)
    assert (dest / "f2").read_text() == "2"
    assert not (dest / "stray").exists(), "emptied folders are removed"
    assert (dest / "f1").stat().st_ino == keep_inode, "an unchanged file is not rewritten"


def test_hardlink_and_symlink_checkouts(tmp_path: Path) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    gen(data, {"a": "1", "b/c": "2"})
    tree = core.store_tree(cache, data)
    hard = core.checkout_tree(cache, tree.hash, tmp_path / "hard", ["hardlink"])
    assert hard.link == "hardlink"
    obj = core.object_path(cache, tree.entries[0].hash)
    assert (tmp_path / "hard" / "a").stat().st_ino == os.stat(obj).st_ino
    soft = core.checkout_tree(cache, tree.hash, tmp_path / "soft", ["symlink"])
    assert soft.link == "symlink"
    assert os.readlink(tmp_path / "soft" / "a") == os.path.realpath(obj)


def test_reflink_falls_back_to_copy(tmp_path: Path) -> None:
    gen(tmp_path / "data", {"a": "1"})
    tree = core.store_tree(tmp_path / "cache", tmp_path / "data")
    r = core.checkout_tree(tmp_path / "cache", tree.hash, tmp_path / "dest", ["reflink", "copy"])
    assert r.link in {"reflink", "copy"}
    assert (tmp_path / "dest" / "a").read_text() == "1"


def test_store_and_checkout_a_file(tmp_path: Path) -> None:
    f, cache = tmp_path / "model.pt", tmp_path / "cache"
    f.write_bytes(b"weights")
    s = core.store_file(cache, f)
    assert (s.hash, s.size, s.written) == (reference(b"weights"), 7, True)
    assert not core.store_file(cache, f).written
    dest = tmp_path / "out" / "model.pt"
    assert core.checkout_file(cache, s.hash, dest, ["copy"]) == "copy"
    assert core.checkout_file(cache, s.hash, dest, ["copy"]) is None
    dest.write_bytes(b"other")
    assert core.checkout_file(cache, s.hash, dest, ["copy"]) == "copy"
    assert dest.read_bytes() == b"weights"


def test_checkout_of_missing_objects_changes_nothing(tmp_path: Path) -> None:
    data, cache, dest = tmp_path / "data", tmp_path / "cache", tmp_path / "dest"
    gen(data, {"a": "1", "b": "2"})
    tree = core.store_tree(cache, data)
    gen(dest, {"mine": "keep"})
    obj = Path(core.object_path(cache, tree.entries[1].hash))
    obj.unlink()
    with pytest.raises(CoreError, match=r"cache object [0-9a-f]{64} is missing"):
        core.checkout_tree(cache, tree.hash, dest, ["copy"])
    assert sorted(p.name for p in dest.iterdir()) == ["mine"]
    with pytest.raises(CoreError, match="is missing"):
        core.checkout_file(cache, tree.entries[1].hash, dest / "b", ["copy"])
    with pytest.raises(CoreError, match="not a blake3 hash"):
        core.checkout_file(cache, "zz", dest / "b", ["copy"])


def test_unknown_link_type() -> None:
    with pytest.raises(CoreError, match="unknown link type 'hardlnk'"):
        core.checkout_file("c", EMPTY, "d", ["hardlnk"])


def test_concurrent_stores_of_one_object(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(os.urandom(8 << 20))
    cache = tmp_path / "cache"
    code = (
        "import sys; from trails import core; print(core.store_file(sys.argv[1], sys.argv[2]).hash)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(cache), str(big)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    hashes = {p.communicate()[0].strip() for p in procs}
    assert all(p.returncode == 0 for p in procs)
    assert hashes == {reference(big.read_bytes())}
    assert Path(core.object_path(cache, hashes.pop())).read_bytes() == big.read_bytes()
    assert list((cache / "tmp").iterdir()) == []


def test_thread_count_honours_env() -> None:
    code = "from trails import core; print(core.threads())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TRAILS_THREADS": "3"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "3"


def test_usable_in_a_forked_child_after_use_in_the_parent(tmp_path: Path) -> None:
    """No global thread pool: a child forked after the parent hashed in
    parallel must not deadlock."""
    gen(tmp_path / "data", {f"f{i}": str(i) for i in range(100)})
    parent = core.scan_tree(tmp_path / "data").hash
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        ok = core.scan_tree(tmp_path / "data").hash == parent
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_progress_counters_move_during_work(tmp_path: Path) -> None:
    gen(tmp_path / "data", {f"f{i}": "x" * i for i in range(1, 11)})
    files0, bytes0 = core.progress()
    core.store_tree(tmp_path / "cache", tmp_path / "data")
    files1, bytes1 = core.progress()
    assert (files1 - files0, bytes1 - bytes0) == (10, sum(range(1, 11)))


def test_progress_display_runs_and_stays_silent_off_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trails.cli.progress_line import live_line
    from trails.progress import draw_with, progress

    gen(tmp_path / "data", {"a": "1"})
    draw_with(live_line)
    try:
        with progress("Adding"):
            core.store_tree(tmp_path / "cache", tmp_path / "data")
        assert capsys.readouterr().err == ""
    finally:
        draw_with(None)
    with live_line("Adding"):
        tree = core.store_tree(tmp_path / "cache2", tmp_path / "data")
    assert tree.objects_written == 1, "the work inside the display completed"
