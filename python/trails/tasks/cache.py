"""What collection learned, kept per task file in
``.dvc/tmp/trails/tasks.json`` (a ``records.TaskCache``): an entry holds
while its file and every project file it reached have the same stat, or
failing that the same content hash. Only the files whose entry no longer
holds go to the collector, in one subprocess; a no-op check imports no
task file."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

from trails import __version__
from trails.errors import PipelineError, StateWarning
from trails.project import Project
from trails.tasks import discover
from trails.tasks.records import Batch, FileEntry, Stamp, TaskCache, TaskSpec

CACHE = "trails/tasks.json"


def _path(project: Project) -> Path:
    return project.tmp_dir / CACHE


def _load(project: Project) -> TaskCache:
    from trails.versioned import RecordError, decode

    path = _path(project)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return TaskCache(python=sys.version, trails=__version__)
    try:
        cache = decode(TaskCache, data, str(path), "It is rebuilt.")
    except RecordError as exc:
        warnings.warn(f"{exc}; collecting the task files again", StateWarning, stacklevel=2)
        return TaskCache(python=sys.version, trails=__version__)
    if cache.python != sys.version or cache.trails != __version__:
        return TaskCache(python=sys.version, trails=__version__)
    return cache


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


def collect(project: Project, files: list[str] | None = None) -> list[TaskSpec]:
    """Every task of the project (of ``files``, the task files, when the
    caller has listed them), in file then definition order; a file that
    cannot be collected is its ``PipelineError`` (``file:line``)."""
    files = discover.task_files(project.root) if files is None else files
    if not files:
        return []
    cache = _load(project)
    touched: list[Stamp] = []
    stale = [f for f in files if not _fresh(project.root, cache.files.get(f), touched)]
    changed = bool(stale or touched) or set(cache.files) != set(files)
    if stale:
        cache.files.update(_collector(project.root, stale).files)
    cache.files = {f: cache.files[f] for f in files}
    if changed:
        _save(project, cache)
    tasks: list[TaskSpec] = []
    for f in files:
        entry = cache.files[f]
        if entry.error is not None:
            raise PipelineError(entry.error, hint=entry.hint)
        tasks += entry.tasks
    return tasks
