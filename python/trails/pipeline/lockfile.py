"""``dvc.lock``: what each stage last ran with, in the reference tool's
format (schema 2.0)::

    schema: '2.0'
    stages:
      train:
        cmd: python train.py
        deps:
        - path: data
          hash: blake3
          blake3: 4f56...02ea.dir
          size: 1624000
          nfiles: 2000
        params:
          params.yaml:
            train.lr: 0.1
        outs:
        - path: model.pt
          hash: blake3
          blake3: 0b8b...e438
          size: 3

Entries the reference tool wrote (``hash: md5``) are read; they never match
a blake3 state, so such stages count as changed once. Written atomically,
once per command, never once per stage.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trails import yamlio
from trails.errors import PipelineError

SCHEMA = "2.0"
TREE_SUFFIX = ".dir"


@dataclass(frozen=True)
class FileState:
    """A recorded hash of a file or a directory (``value`` ends in ``.dir``)."""

    path: str
    hash_name: str
    value: str
    size: int | None = None
    nfiles: int | None = None
    isexec: bool = False

    @property
    def is_dir(self) -> bool:
        return self.value.endswith(TREE_SUFFIX)

    @property
    def bare_hash(self) -> str:
        return self.value.removesuffix(TREE_SUFFIX)

    def to_yaml(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "hash": self.hash_name, self.hash_name: self.value}
        if self.size is not None:
            d["size"] = self.size
        if self.nfiles is not None:
            d["nfiles"] = self.nfiles
        if self.isexec:
            d["isexec"] = True
        return d

    @classmethod
    def from_yaml(cls, d: Any, where: str) -> FileState:
        if not isinstance(d, dict) or not isinstance(d.get("path"), str):
            raise PipelineError(f"{where}: malformed entry (no 'path')", hint=_HINT)
        name = d.get("hash") or ("md5" if "md5" in d else "blake3")
        value = d.get(name) or d.get("md5") or ""
        if value and not _well_formed(str(name), str(value)):
            hint = (
                f"Restore '{where}' from Git, or run 'trails add' on the data again."
                if where.endswith(".dvc")
                else _HINT
            )
            raise PipelineError(
                f"{where}: '{d['path']}': '{value}' is not a well-formed {name} hash", hint=hint
            )
        return cls(
            path=d["path"],
            hash_name=str(name),
            value=str(value),
            size=d.get("size"),
            nfiles=d.get("nfiles"),
            isexec=bool(d.get("isexec", False)),
        )


#: Hex digits of the hashes whose form is known; other kinds pass as read.
_HEX_LENGTH = {"blake3": 64, "md5": 32}


def _well_formed(name: str, value: str) -> bool:
    """Whether ``value`` has the form of a ``name`` hash (a tree's may end in
    ``.dir``): a malformed one is refused where it is read, with its file,
    not later by the core with an absolute path."""
    n = _HEX_LENGTH.get(name)
    if n is None:
        return True
    digits = value.removesuffix(TREE_SUFFIX)
    return len(digits) == n and all(c in "0123456789abcdef" for c in digits)


@dataclass
class LockEntry:
    cmd: str | list[str]
    deps: list[FileState] = field(default_factory=list)
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    outs: list[FileState] = field(default_factory=list)

    def to_yaml(self) -> dict[str, Any]:
        d: dict[str, Any] = {"cmd": self.cmd}
        if self.deps:
            d["deps"] = [s.to_yaml() for s in self.deps]
        if self.params:
            d["params"] = self.params
        if self.outs:
            d["outs"] = [s.to_yaml() for s in self.outs]
        return d

    def dep(self, path: str) -> FileState | None:
        return next((s for s in self.deps if s.path == path), None)

    def out(self, path: str) -> FileState | None:
        return next((s for s in self.outs if s.path == path), None)


_HINT = "Delete the stage's entry from the lock file (it will be re-run) or restore it from Git."


def read(root: Path, relpath: str) -> dict[str, LockEntry]:
    """Entries by stage name; a missing lock file is empty."""
    path = root / relpath
    if not path.exists():
        return {}
    return parse(yamlio.load(path, relpath), relpath)


def parse(data: Any, relpath: str) -> dict[str, LockEntry]:
    """Entries of a lock file's loaded YAML (``read``'s, or a commit's)."""
    if data is None:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("stages", {}), dict):
        raise PipelineError(f"{relpath}: not a lock file (no 'stages' mapping)", hint=_HINT)
    entries: dict[str, LockEntry] = {}
    for name, raw in (data.get("stages") or {}).items():
        where = f"{relpath}: stage '{name}'"
        if not isinstance(raw, dict):
            raise PipelineError(f"{where}: malformed entry", hint=_HINT)
        params = raw.get("params") or {}
        if not isinstance(params, dict):
            raise PipelineError(f"{where}: 'params' must be a mapping", hint=_HINT)
        entries[str(name)] = LockEntry(
            cmd=raw.get("cmd", ""),
            deps=[FileState.from_yaml(d, where) for d in raw.get("deps") or []],
            params={str(k): dict(v or {}) for k, v in params.items()},
            outs=[FileState.from_yaml(d, where) for d in raw.get("outs") or []],
        )
    return entries


def reference_note(relpath: str) -> str:
    """The one line printed when trails first rewrites a lock file the
    reference tool made (see :func:`made_by_reference_tool`)."""
    return (
        f"note: {relpath} was written by DVC; trails now records blake3 hashes in it, "
        "which DVC 3 cannot read (see README: 'Working next to DVC')"
    )


def made_by_reference_tool(root: Path, relpath: str) -> bool:
    """Whether the lock file on disk holds md5 entries and no blake3 ones:
    the reference tool wrote it and trails has not rewritten it yet (after
    the first rewrite it holds blake3 entries, so this is said once)."""
    try:
        entries = read(root, relpath)
    except PipelineError:
        return False
    names = {s.hash_name for e in entries.values() for s in (*e.deps, *e.outs)}
    return "md5" in names and "blake3" not in names


def write(root: Path, relpath: str, entries: dict[str, LockEntry]) -> None:
    """Replace the lock file atomically (temp file + rename); an empty set of
    entries removes it."""
    path = root / relpath
    if not entries:
        path.unlink(missing_ok=True)
        return
    doc = {"schema": SCHEMA, "stages": {name: e.to_yaml() for name, e in entries.items()}}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(yamlio.dumps(doc), encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
