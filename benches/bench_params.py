"""``exp run -S`` and ``exp show`` on a params file of 200,000 keys (issue
#14, item 12: ``exp show`` never finished, ``exp run -S`` took 24 s).

Usage: ``python benches/bench_params.py [KEYS] [LABEL]``; prints one
Markdown table row per command (wall time of one run each, a fresh
project). The trails that runs is the one ``python -m trails`` imports, so
``PYTHONPATH=<another checkout>/python`` times another version."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

PIPELINE = "stages:\n  train:\n    cmd: echo hi > out.txt\n    params: [lr]\n    outs: [out.txt]\n"


def _run(cwd: Path, *args: str, timeout: float) -> float | None:
    start = time.perf_counter()
    try:
        subprocess.run(
            [sys.executable, "-m", "trails", *args],
            cwd=cwd,
            check=True,
            capture_output=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return None
    return time.perf_counter() - start


def main() -> None:
    keys = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    label = sys.argv[2] if len(sys.argv) > 2 else "this checkout"
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        text = "lr: 0.1\n" + "".join(f"k{i}: {i}\n" for i in range(keys))
        (root / "params.yaml").write_text(text)
        (root / "dvc.yaml").write_text(PIPELINE)
        subprocess.run([sys.executable, "-m", "trails", "init"], cwd=root, check=True)
        git = ["git", "-c", "user.name=b", "-c", "user.email=b@b"]
        subprocess.run([*git, "add", "-A"], cwd=root, check=True)
        subprocess.run([*git, "commit", "-qm", "b"], cwd=root, check=True)
        for args, limit in ((("exp", "run", "-S", "lr=0.2"), 300), (("exp", "show", "--csv"), 120)):
            secs = _run(root, *args, timeout=limit)
            shown = f"{secs:.1f} s" if secs is not None else f"> {limit} s (stopped)"
            print(f"| {label} | `trails {' '.join(args)}` | {keys:,} | {shown} |", flush=True)


if __name__ == "__main__":
    main()
