"""A store killed mid-write leaves no partial object in the cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from trails import core


def objects(cache: Path) -> list[Path]:
    root = cache / "files"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_killed_store_leaves_no_partial_object(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    block = os.urandom(1 << 20)
    with big.open("wb") as f:
        for _ in range(768):
            f.write(block)
    cache = tmp_path / "cache"
    code = "import sys; from trails import core; core.store_file(sys.argv[1], sys.argv[2])"
    proc = subprocess.Popen([sys.executable, "-c", code, str(cache), str(big)])
    deadline = time.monotonic() + 30
    tmp = cache / "tmp"
    # Wait until the copy into the cache has started, then kill it.
    while time.monotonic() < deadline:
        if tmp.exists() and any(p.stat().st_size > 0 for p in tmp.iterdir()):
            break
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the store finished before it could be killed"
    assert objects(cache) == []
    # The next store completes and the object is whole.
    stored = core.store_file(cache, big)
    assert [p.name for p in objects(cache)] == [stored.hash[2:]]
    assert core.hash_file(objects(cache)[0]).hash == stored.hash
