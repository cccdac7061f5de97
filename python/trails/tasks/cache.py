"""What collection learned, kept per task file in
``.dvc/tmp/trails/tasks.json`` (a ``records.TaskCache``): an entry holds
while its file and every project file it reached have the same stat, or
failing that the same content hash. Only the files whose entry no longer
holds go to the collector (processes); a no-op check imports no task
file, and reads the cache without msgspec (``plain``), as a no-op check of
``dvc.yaml`` stages loads no record machinery."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trails import __version__
from trails.errors import PipelineError, StateWarning
from trails.project import Project
from trails.tasks import discover, fork, plain

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


#: ``python -m trails.tasks.collector``, without ``runpy`` (part of a cold
#: collection's wait).
COLLECTOR = "import sys; from trails.tasks.collector import main; sys.exit(main(sys.argv[1:]))"

#: Collector subprocesses at work, each with its share of the files.
Started = list[tuple[list[str], "subprocess.Popen[bytes] | fork.Collector"]]


def _start(root: Path, files: list[str]) -> Started:
    """Start collecting ``files`` in collector processes, one per CPU
    when there are many (each file is imported on its own anyway: see
    ``collector._forget_project_modules``), so a cold collection uses
    every core: forked from this process where that is safe (``fork``),
    else each a fresh interpreter."""
    if not files:
        return []
    workers = max(1, min(os.cpu_count() or 1, len(files) // PER_WORKER))
    return [
        (share, _collector(root, share)) for share in (files[i::workers] for i in range(workers))
    ]


def _collector(root: Path, share: list[str]) -> subprocess.Popen[bytes] | fork.Collector:
    if fork.possible():
        try:
            return fork.Collector(root, share)
        except OSError:
            pass  # no memory file or no fork here: the command
    pipe = subprocess.PIPE
    command = [sys.executable, "-c", COLLECTOR, str(root), *share]
    return subprocess.Popen(command, cwd=root, stdout=pipe, stderr=pipe)


def _answers(started: Started) -> Batch:
    from trails.tasks.records import Batch
    from trails.versioned import decode

    answers = [(s, *p.communicate(), p.returncode) for s, p in started]
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


def carry(project: Project, work: Project) -> None:
    """Give a run folder (a queued or ``--temp`` experiment's) the
    workspace's memo, so its worker does not import the task files again.
    Its checkout gave every file a new stat, so each entry holds there only
    if the file's bytes hash the same (``_holds``): copied, then revalidated
    by content. A folder kept from an earlier entry keeps its own memo (made
    there: its stats still hold). Written only inside the folder's own
    ``.dvc/tmp`` (a commit could hold a symlink there)."""
    src, dst = _path(project), _path(work)
    if dst.exists() or not src.is_file():
        return
    own = os.path.join(os.path.realpath(work.root), ".dvc", "tmp")
    try:
        if os.path.realpath(work.tmp_dir) != own:
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        if os.path.realpath(dst.parent) != os.path.join(own, os.path.dirname(CACHE)):
            return
        if not os.path.lexists(dst):
            shutil.copyfile(src, dst)
    except OSError:
        pass  # the worker collects the task files itself


def collect(project: Project, files: list[str] | None = None) -> list[plain.Plain]:
    """Every task of the project (of ``files``, the task files, when the
    caller has listed them), in file then definition order, as plain
    ``records.TaskSpec`` values; a file that cannot be collected is its
    ``PipelineError`` (``file:line``)."""
    files = discover.task_files(project.root) if files is None else files
    if not files:
        return []
    try:
        cached = plain.load(_path(project), sys.version, __version__)
    except plain.Unreadable:
        cached = None  # the full path says what is wrong, and collects again
    quick = _unchanged(project, files, cached)
    if quick is not None:
        return quick
    # The files the memo lacks are collected whatever it says of the others:
    # started now, the collector's start overlaps the rest of the check.
    new = [f for f in files if cached is None or f not in cached]
    return _collected(project, files, new, _start(project.root, new))


def _unchanged(
    project: Project, files: list[str], cached: dict[str, Any] | None
) -> list[plain.Plain] | None:
    """The cached tasks when every file and all it reached has the stat it
    was stamped with (the no-op path: no msgspec); None otherwise."""
    try:
        if cached is None or set(cached) != set(files):
            return None
        entries = [plain.check(cached[f], dict) for f in files]
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


def _collected(
    project: Project, files: list[str], new: list[str], started: Started
) -> list[plain.Plain]:
    """The full path: ``new`` files are being collected (``started``); of
    the others, those whose stamps no longer hold (content hashes compared
    where a stat changed) are collected too."""
    import msgspec

    from trails import noop

    noop.refuse()  # what the collected files import is stamped next time
    cache = _load(project)
    touched: list[Stamp] = []
    old = set(files) - set(new)
    stale = [f for f in files if f in old and not _fresh(project.root, cache.files.get(f), touched)]
    started = started + _start(project.root, stale)
    changed = bool(new or stale or touched) or set(cache.files) != set(files)
    if started:
        cache.files.update(_answers(started).files)
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
