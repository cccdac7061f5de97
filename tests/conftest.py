"""Shared fixtures: a temporary Git repo, a file-tree generator (``gen``) and
a runner for the real ``trails`` CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_trails(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> Result:
    """Run ``python -m trails ARGS`` as a user would, in ``cwd``."""
    proc = subprocess.run(
        [sys.executable, "-m", "trails", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` with an identity (CI machines have none); its stdout."""
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def gen(root: Path, files: Mapping[str, str | bytes], *, age: float = 0.0) -> None:
    """Create ``files`` (relative path -> content) under ``root``. ``age``
    seconds back-dates their mtime, so the stat index trusts them."""
    for rel, content in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            p.write_bytes(content)
        else:
            p.write_text(content)
        if age:
            t = time.time() - age
            os.utime(p, (t, t))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty Git repository."""
    root = tmp_path / "repo"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


@pytest.fixture
def trails(repo: Path) -> Callable[..., Result]:
    """``trails(*args)`` runs the CLI in the temporary repo."""

    def run(*args: str, env: Mapping[str, str] | None = None) -> Result:
        return run_trails(*args, cwd=repo, env=env)

    return run


def baseline(
    repo: Path,
    trails: Callable[..., Result],
    files: Mapping[str, str | bytes],
    *,
    add: tuple[str, ...] = (),
    age: float = 0.0,
) -> Path:
    """The usual starting point of a functional test: ``trails init``, the
    ``files``, ``trails add`` of each of ``add``, a ``repro``, and all of it
    committed as the baseline."""
    assert trails("init").code == 0
    gen(repo, files, age=age)
    for path in add:
        assert trails("add", path).code == 0
    r = trails("repro")
    assert r.code == 0, r.err
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    return repo


def _flat(tree: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for k, v in tree.items():
        if isinstance(v, Mapping) and v:
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def exp_rows(document: str) -> list[dict[str, object]]:
    """``exp show --json``'s document (the reference tool's nested shape)
    as flat rows, one per revision in table order: ``rev``, ``name`` (the
    experiment's, on its checkpoints too; None for the workspace,
    baselines and queued or failed entries), ``kind`` (a running entry counts as ``queued``),
    ``baseline``, ``created`` and ``params``/``metrics`` by file with dotted
    keys: the shape ``trails.api.exp_show`` returns."""
    import json

    rows: list[dict[str, object]] = []

    def row(state: Mapping[str, Any], name: object) -> None:
        facts, data = state["trails"], state.get("data") or {}
        kind = "queued" if facts["kind"] == "running" else facts["kind"]
        rows.append({
            "rev": state["rev"], "name": name, "kind": kind, "baseline": facts["baseline"],
            "created": None if kind == "checkpoint" else facts["created"],
            "params": {f: _flat(v["data"]) for f, v in (data.get("params") or {}).items()},
            "metrics": {f: _flat(v["data"]) for f, v in (data.get("metrics") or {}).items()},
        })  # fmt: skip

    for top in json.loads(document):
        row(top, None)
        for rng in top.get("experiments") or []:
            for state in rng["revs"]:
                done = state["trails"]["kind"] in ("experiment", "checkpoint")
                row(state, rng["name"] if done else None)
    return rows


def left_by_runs(root: Path) -> list[str]:
    """What queue runs left in ``.dvc/tmp/exps/`` besides the logs (``run/``)
    and the kept folders a pool lets go for the next run (``pool-<n>/``, each
    with its note of a recorded experiment and its index, no lock): an
    entry's own folder, a lock, a folder without its note."""
    exps = root / ".dvc" / "tmp" / "exps"
    names = {p.name for p in exps.iterdir()} if exps.is_dir() else set()
    kept = {
        n for n in names if n.startswith("pool-") and f"{n}.holds" in names and (exps / n).is_dir()
    }
    notes = {f"{n}{suffix}" for n in kept for suffix in (".holds", ".git-index")}
    return sorted(names - kept - notes - {"run", "queue.log", "queue.pid"})
