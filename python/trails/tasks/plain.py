"""The task cache read without msgspec: a no-op check of a project with
task files must cost what it costs for ``dvc.yaml`` stages, which import
no record machinery (``tests/test_imports.py``; msgspec is ~20 ms, a
sixth of a no-op ``repro``). ``.dvc/tmp/trails/tasks.json`` is written as
a ``records.TaskCache`` (msgspec); this reads the same JSON with the
standard library and checks every field it uses against the record's
types. Anything unexpected (a damaged or newer file) is ``Unreadable``: the
caller then takes the full path, where ``versioned.decode`` says what is
wrong and collection starts again."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from trails import noop

#: A task as ``records.TaskSpec`` encodes it (plain JSON values).
Plain = dict[str, Any]

#: ``records.TaskCache.VERSION``: the newest layout read here.
VERSION = 1
#: How code hashes are computed (``identity.scan``); a cache made another
#: way is collected again. 1: ``ast.dump``'s text, without docstrings.
SCHEME = 1


class Unreadable(ValueError):
    """Not a cache this trails wrote."""


def check(value: Any, kind: type | tuple[type, ...]) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Unreadable(repr(value)[:80])
    return value


def strings(value: Any) -> list[str]:
    return [check(v, str) for v in check(value, list)]


def task(d: Any) -> Plain:
    """A cached task, every field checked (``records.TaskSpec``'s types)."""
    spec: Plain = check(d, dict)
    for o in check(d.get("outs", []), list):
        check(o, dict)
        check(o["path"], str)
        check(o.get("kind", "outs"), str)
        for flag in ("cache", "persist", "checkpoint"):
            check(o.get(flag, False), bool)
        for value in check(o.get("plot", {}), dict).values():
            if isinstance(value, list):
                strings(value)
            else:
                check(value, str)
    for p in check(d.get("params", []), list):
        check(p, dict)
        check(p["file"], str)
        check(p["key"], str)
    for pair in check(d.get("code", []), list):
        if len(check(pair, list)) != 2:
            raise Unreadable("code")
        strings(pair)
    check(d["id"], str)
    check(d["file"], str)
    check(d["line"], int)
    strings(d.get("deps", []))
    strings(d.get("marks", []))
    return spec


def load(path: Path, python: str, trails: str) -> dict[str, Any] | None:
    """The cache's ``files`` (file -> entry, unchecked), or None when there
    is none or it belongs to another Python or trails."""
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise Unreadable(str(exc)) from None
    check(doc, dict)
    if check(doc.get("version", 1), int) > VERSION:
        raise Unreadable("newer")
    if (doc.get("python"), doc.get("trails"), doc.get("scheme", 1)) != (python, trails, SCHEME):
        return None
    files: dict[str, Any] = check(doc.get("files", {}), dict)
    return files


def fresh(root: Path, entry: Any) -> bool:
    """Whether the cached file and all it reached are as stamped, by stat;
    a stat that changed is left to the full path (it re-stamps the file
    when its bytes are the same)."""
    check(entry, dict)
    for s in [check(entry["stamp"], dict), *check(entry.get("reached", []), list)]:
        check(s, dict)
        noop.note(root / check(s["path"], str))
        try:
            st = os.stat(root / check(s["path"], str))
        except OSError:
            return False
        if st.st_size != s["size"] or st.st_mtime_ns != s["mtime_ns"]:
            return False
    return True
