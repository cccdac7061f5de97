"""What collection learned, kept per task file in
``.dvc/tmp/trails/tasks.json`` (a ``records.TaskCache``): an entry holds
while its file and every project file it reached have the same stat, or
failing that the same content hash. Only the files whose entry no longer
holds go to the collector (subprocesses); a no-op check imports no task
file, and reads the cache without msgspec (``plain``), as a no-op check of
``dvc.yaml`` stages loads no record machinery."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from trails import __version__
from trails.errors import PipelineError, StateWarning
from trails.project import Project
from trails.tasks import discover, plain

if TYPE_CHECKING:
    from trails.tasks.records import Batch, FileEntry, Stamp, TaskCache

CACHE = "trails/tasks.json"


def _path(project: Project) -> Path:
    return project.tmp_dir / CACHE


def _load(project: Project) -> TaskCache:
    from trails.tasks.records import TaskCache
    from trails.versioned import RecordError, decode

    path = _path(project)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return _empty()
    try:
        cache = decode(TaskCache, data, str(path), "It is rebuilt.")
    except RecordError as exc:
        warnings.warn(f"{exc}; collecting the task files again", StateWarning, stacklevel=2)
        return _empty()
    if (cache.python, cache.trails, cache.scheme) != (sys.version, __version__, plain.SCHEME):
        return _empty()
    return cache


def _empty() -> TaskCache:
    from trails.tasks.records import TaskCache

    return TaskCache(python=sys.version, trails=__version__, scheme=plain.SCHEME)


def _holds(root: Path, s: Stamp, touched: list[Stamp]) -> bool:
    """Whether the file is as stamped; a touched file whose bytes are the
    same gets its new stat recorded."""
    try:
        st = os.stat(root / s.path)
    except OSError:
        return False
    if st.st_size == s.size and st.st_mtime_ns == s.mtime_ns:
        return True
    from trails import core

    try:
        digest = core.hash_bytes((root / s.path).read_bytes())
    except OSError:
        return False
    if digest != s.digest:
        return False
    s.size, s.mtime_ns = st.st_size, st.st_mtime_ns
    touched.append(s)
    return True


def _fresh(root: Path, entry: FileEntry | None, touched: list[Stamp]) -> bool:
    return entry is not None and all(
        _holds(root, s, touched) for s in (entry.stamp, *entry.reached)
    )


#: Task files per collector process, at least: below it, one more process
#: costs more (its start, its imports) than it saves.
PER_WORKER = 8


def _collector(root: Path, files: list[str]) -> Batch:
    """Collect ``files`` in collector subprocesses, one per CPU when there
    are many (each file is imported on its own anyway: see
    ``collector._forget_project_modules``), so a cold collection uses
    every core."""
    from trails.tasks.records import Batch
    from trails.versioned import decode

    workers = max(1, min(os.cpu_count() or 1, len(files) // PER_WORKER))
    shares = [files[i::workers] for i in range(workers)]
    command = [sys.executable, "-m", "trails.tasks.collector", str(root)]
    pipe = subprocess.PIPE
    procs = [
        subprocess.Popen([*command, *share], cwd=root, stdout=pipe, stderr=pipe) for share in shares
    ]
    answers = [(s, *p.communicate(), p.returncode) for s, p in zip(shares, procs, strict=True)]
    batch = Batch()
    for share, out, err, code in answers:
        if code != 0:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise PipelineError(
                f"{share[0]}:1: collecting task files failed: {tail[0]}",
                hint="Run the task file with python to see the traceback.",
            )
        got = decode(Batch, out, "the task collector's answer", "Report this as a bug.")
        batch.files.update(got.files)
    return batch


def _save(project: Project, cache: TaskCache) -> None:
    path = _path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(cache.encode())
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only checkout collects again next time
    finally:
        tmp.unlink(missing_ok=True)


def collect(project: Project, files: list[str] | None = None) -> list[plain.Plain]:
    """Every task of the project (of ``files``, the task files, when the
    caller has listed them), in file then definition order, as plain
    ``records.TaskSpec`` values; a file that cannot be collected is its
    ``PipelineError`` (``file:line``)."""
    files = discover.task_files(project.root) if files is None else files
    if not files:
        return []
    quick = _unchanged(project, files)
    return quick if quick is not None else _collected(project, files)


def _unchanged(project: Project, files: list[str]) -> list[plain.Plain] | None:
    """The cached tasks when every file and all it reached has the stat it
    was stamped with (the no-op path: no msgspec); None otherwise."""
    try:
        cached = plain.load(_path(project), sys.version, __version__)
        if cached is None or set(cached) != set(files):
            return None
        entries = [cached[f] for f in files]
        if not all(plain.fresh(project.root, e) for e in entries):
            return None
        tasks: list[plain.Plain] = []
        for e in entries:
            if e.get("error") is not None:
                hint = e.get("hint")
                raise PipelineError(
                    plain.check(e["error"], str), hint=hint if isinstance(hint, str) else None
                )
            tasks += [plain.task(t) for t in plain.check(e.get("tasks", []), list)]
        return tasks
    except (plain.Unreadable, KeyError):
        return None  # the full path says what is wrong, and collects again


def _collected(project: Project, files: list[str]) -> list[plain.Plain]:
    import msgspec

    from trails import noop

    noop.refuse()  # what the collected files import is stamped next time
    cache = _load(project)
    touched: list[Stamp] = []
    stale = [f for f in files if not _fresh(project.root, cache.files.get(f), touched)]
    changed = bool(stale or touched) or set(cache.files) != set(files)
    if stale:
        cache.files.update(_collector(project.root, stale).files)
    cache.files = {f: cache.files[f] for f in files}
    if changed:
        _save(project, cache)
    tasks: list[plain.Plain] = []
    for f in files:
        entry = cache.files[f]
        if entry.error is not None:
            raise PipelineError(entry.error, hint=entry.hint)
        tasks += [msgspec.to_builtins(t) for t in entry.tasks]
    return tasks
