"""Ship commits, not folders: what travels between the driver of a Ray
queue run and a worker on another machine, and the worker's side of it
(Ray-agnostic: ``rayexec`` only carries these records).

To the worker goes a ``Shipment``: the entry (its ref, commit, baseline),
its commit as a Git bundle less the baseline (the node usually has it), and
the cache remote's settings. The worker keeps one scratch repository and
one cache per project on its node (``scratch``), and run folders of its
own, each moved by a diff from the entry it last held (``_take_folder``).
It unbundles there (asking for the baseline's bundle only when the node
lacks it), fetches from the cache remote the objects the entry's
``dvc.lock`` and ``.dvc`` files name that its cache lacks, runs the entry
through the same ``run_entry`` and ``ExperimentRun`` as the local executor
(taking its lane's one slot, ``gate``, before the first command), pushes
the outputs, and answers with ``Event``s: its node, log chunks, when it
holds the slot and when its stages are over, each checkpoint's commit as a
bundle as it is made, and at the end the experiment commit as a bundle.

The worker never reads the driver's work tree or cache: everything it has
came in a bundle or from the remote. The driver alone writes
``refs/exps/...`` (``rayexec``)."""

from __future__ import annotations

import contextlib
import enum
import hashlib
import os
import queue as threads_queue
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trails.experiments.records import CheckpointState, RunStatus
from trails.versioned import Record, decode

if TYPE_CHECKING:
    from trails.git import Git
    from trails.pipeline.stage import Stage
    from trails.project import Project
    from trails.repro.status import Status

#: How often the worker looks at its log and its checkpoint chain.
TICK = 0.2
#: The end of the log a finished experiment's answer carries.
TAIL = 4000


class RemoteSettings(Record):
    """A cache remote as the worker opens it: its name and options, the
    URL absolute (a relative path was relative to the driver's ``.dvc/``)."""

    name: str
    options: dict[str, str]


class CopiedFile(Record):
    """One file of an entry's ``--copy-paths``, as the driver read it:
    its path in the project, its mode bits, its bytes and their SHA-256
    (checked on the node before it is written)."""

    path: str
    mode: int
    data: bytes
    sha256: str


class Copied(Record):
    """An entry's ``--copy-paths``: the paths as queued, which of them are
    folders, and every file under them."""

    paths: list[str]
    folders: list[str]
    files: list[CopiedFile]


class Shipment(Record):
    """One queue entry, for a worker that cannot read the project.
    ``bundle``: the entry's commit (and the checkpoint chain it continues)
    less what the baseline reaches; ``project``: names the worker's scratch
    repository and cache on its node (the same for every entry of a
    project, so later entries find what earlier ones brought); ``copied``:
    its ``--copy-paths`` files, read from the driver's workspace."""

    project: str
    entry_ref: str
    entry_sha: str
    created: int
    baseline: str
    bundle: bytes
    remote: RemoteSettings
    checkpoint: CheckpointState | None = None
    copied: Copied | None = None


class EventKind(enum.Enum):
    STARTED = "started"
    LOG = "log"
    STAGE = "stage"
    CHECKPOINT = "checkpoint"
    #: The lane's slot is this entry's: its first command is about to run.
    RUNNING = "running"
    #: Its stages are over (what is left: recording, pushing, bundling):
    #: the lane's other entry runs, and the driver ships it the next.
    FREE = "free"
    DONE = "done"


class Event(Record):
    """What the worker says as it goes. ``text``: the node (``started``),
    a log chunk, a stage's address; ``bundle`` and ``tip``: a checkpoint's
    or the finished experiment's commit (``name`` its experiment);
    ``received``/``fetched``: bytes this entry cost the node (bundles,
    cache objects)."""

    kind: EventKind
    text: str = ""
    name: str = ""
    tip: str = ""
    bundle: bytes = b""
    status: RunStatus | None = None
    error: str = ""
    received: int = 0
    fetched: int = 0
    fetched_objects: int = 0


#: What an entry's ``--copy-paths`` may weigh by default (``[exp]
#: ray_copy_max``): they travel in the shipment, through Ray's object store.
COPY_MAX = 16 * 2**20


def collect_copies(root: Path, paths: Sequence[str], cap: int) -> Copied:
    """The files of ``paths`` (each confined to the project, as is every
    file under a folder, symlinks resolved), read for shipping; more than
    ``cap`` bytes in all is refused before any is read."""
    from trails.confine import confined
    from trails.errors import TrailsError

    real = Path(os.path.realpath(root))
    found: list[tuple[str, Path]] = []
    folders = []
    for rel in paths:
        rel = confined(root, rel, source="--copy-paths")
        src = root / rel
        if not src.exists():
            raise TrailsError(f"--copy-paths: '{rel}' does not exist")
        if not src.is_dir():
            found.append((rel, src))
            continue
        folders.append(rel)
        for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath, name)
                found.append((path.relative_to(root).as_posix(), path))
    size = 0
    for rel, path in found:
        target = Path(os.path.realpath(path))
        if target != real and real not in target.parents:
            raise TrailsError(f"--copy-paths: '{rel}' leads outside the project ({target})")
        size += target.stat().st_size
    if size > cap:
        raise TrailsError(
            f"--copy-paths: {', '.join(paths)} hold {size} bytes, more than the {cap} a Ray run "
            "ships with an experiment: track big inputs with 'trails add' (they travel through "
            "the cache remote), or raise the limit ('trails config exp.ray_copy_max BYTES')"
        )
    files = []
    for rel, path in found:
        data = path.read_bytes()
        files.append(CopiedFile(path=rel, mode=path.stat().st_mode & 0o777, data=data,
                                sha256=hashlib.sha256(data).hexdigest()))  # fmt: skip
    return Copied(paths=list(paths), folders=folders, files=files)


def place_copies(root: Path, copied: Copied) -> None:
    """The shipped ``--copy-paths`` in the scratch repository's root, where
    ``run_entry`` copies them from into the run folder (as from the
    workspace): what an earlier entry left at those paths removed first,
    each file checked against its hash. The caller holds ``copy_lock``."""
    from trails.confine import confined, remove
    from trails.errors import TrailsError

    for f in copied.files:
        if hashlib.sha256(f.data).hexdigest() != f.sha256:
            raise TrailsError(f"--copy-paths: '{f.path}' arrived damaged (its SHA-256 differs)",
                              hint="Run the experiment again.")  # fmt: skip
    for rel in copied.paths:
        remove(root / confined(root, rel, source="--copy-paths"))
    for rel in copied.folders:
        (root / confined(root, rel, source="--copy-paths")).mkdir(parents=True, exist_ok=True)
    for f in copied.files:
        dst = root / confined(root, f.path, source="--copy-paths")
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(f.data)
        dst.chmod(f.mode)


def encode_shipment(s: Shipment) -> bytes:
    return s.encode()


def decode_shipment(data: bytes) -> Shipment:
    return decode(Shipment, data, "shipped experiment", "Run the same trails on every node.")


def decode_event(data: bytes) -> Event:
    return decode(Event, data, "a Ray worker's answer", "Run the same trails on every node.")


def project_key(remote: RemoteSettings) -> str:
    """Projects sharing a cache remote share a node's scratch cache."""
    text = f"{remote.options.get('url', '')}\n{remote.options.get('endpointurl', '')}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def scratch(project: str, node: str) -> Path:
    """The node-local folder of a project: under ``TRAILS_RAY_SCRATCH`` or
    the temporary folder, per user (never shared between Unix users) and
    per node (several nodes of one machine keep theirs apart)."""
    base = os.environ.get("TRAILS_RAY_SCRATCH") or os.path.join(
        tempfile.gettempdir(), f"trails-ray-{os.getuid()}"
    )
    return Path(base) / node[:16] / project


def _scratch_project(root: Path, remote: RemoteSettings) -> tuple[Project, Git]:
    """The scratch repository (made on first use) with the remote as its
    default: a project whose cache is the node's. Tasks on one node set it
    up one at a time (``flock``)."""
    import fcntl

    from trails import config as config_mod
    from trails.git import Git
    from trails.project import Project

    (root / ".dvc").mkdir(parents=True, exist_ok=True)
    with (root / ".dvc" / "trails-ray.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / ".git").exists():
            subprocess.run(["git", "init", "-q", str(root)], check=True, capture_output=True)
        with config_mod.edit(root / ".dvc", local=False) as conf:
            conf.clear()
            conf["core"] = {"remote": remote.name}
            conf[config_mod.remote_section(remote.name)] = dict(remote.options)
    return Project(root), Git(root)


class LoggedRunner:
    """The stages' commands, their output into the entry's log. Each leads
    a session of its own, killed with the worker (``PR_SET_PDEATHSIG``)."""

    def __init__(self, log: Path) -> None:
        self.log = log

    def run(self, stage: Stage, root: Path, env: Mapping[str, str]) -> None:
        from trails.runner import StageFailed

        for cmd in stage.cmd:
            with self.log.open("ab") as out:
                code = subprocess.run(
                    cmd, shell=True, cwd=root / stage.wdir, env=dict(env),
                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True, preexec_fn=_die_with_parent,
                ).returncode  # fmt: skip
            if code != 0:
                raise StageFailed(stage, cmd, code)


def _die_with_parent() -> None:
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _fetch_inputs(project: Project, git: Git, commit: str) -> tuple[int, int]:
    """The cached objects ``commit`` records that the node's cache lacks,
    from the remote; ``(bytes, objects)`` fetched. A tree's files are named
    by its manifest, fetched first when it is not here."""
    from trails import remote
    from trails.remote import needed

    r = remote.open(project)
    names = needed.of_commits(git, [commit])
    got, count = 0, 0
    for _ in range(2):
        expanded, absent = needed.expand(r.cache, names)
        t = r.fetch(expanded)
        got, count = got + t.bytes, count + t.sent
        if not absent:
            break
    return got, count


def _push_outputs(project: Project, git: Git, commit: str) -> None:
    from trails import remote
    from trails.remote import needed

    r = remote.open(project)
    expanded, _ = needed.expand(r.cache, needed.of_commits(git, [commit]))
    r.push(expanded)


#: Kept run folders no entry of this process uses now, per scratch
#: repository; and the lock that guards the lists (a lane runs two entries
#: at once, each in a thread of its own).
_FREE_FOLDERS: dict[Path, list[Path]] = {}
_FOLDERS_LOCK = threading.Lock()


def _take_folder(root: Path) -> Path:
    """A run folder this worker process keeps for its next entries (as a
    pool's worker does: the next entry moves it by the diff of their
    commits). Taken with a pid lock, so the folders of a process that died
    are taken over; within the process, one entry at a time."""
    from trails.experiments.folders import holds, remove_folder
    from trails.pids import claim

    with _FOLDERS_LOCK:
        free = _FREE_FOLDERS.setdefault(root, [])
        if free:
            return free.pop()
        exps, n = root / ".dvc" / "tmp" / "exps", 0
        while True:
            n += 1
            folder = exps / f"ray-{n}"
            if claim(folder.with_name(folder.name + ".lock")):
                if holds(folder) is None:
                    remove_folder(folder)
                return folder


def _give_folder(root: Path, folder: Path) -> None:
    with _FOLDERS_LOCK:
        _FREE_FOLDERS.setdefault(root, []).append(folder)


@dataclass
class _Worker:
    """One shipped entry on a node: ``run`` on a thread, ``stream`` on the
    task's own, which watches the log and the checkpoint chain."""

    shipment: Shipment
    base: Callable[[], bytes]
    node: str
    #: The lane's one slot for stages: taken before the first command.
    gate: threading.Semaphore
    #: The lane's turn to prepare (receive, fetch, check out): held until
    #: the slot is taken.
    prep: threading.Lock
    #: ``running``, ``free`` and ``done``, as they happen (the rest is polled).
    done: threads_queue.Queue[Event] = field(default_factory=threads_queue.Queue)

    def __post_init__(self) -> None:
        from trails.experiments import queue

        self.root = scratch(self.shipment.project, self.node)
        self.rundir = queue.run_dir(self.root, self.shipment.entry_sha[:7])

    def run(self) -> None:
        slot = _Slot(self.gate, self.done)
        try:
            # One entry of the lane prepares at a time, the first one first:
            # two at once would each take twice as long on the node's CPU.
            self.prep.acquire()
            slot.unlocks.append(self.prep.release)
            self.done.put(self._run(slot))
        except BaseException as exc:  # the driver records the reason; nothing is lost
            from trails.errors import error_message

            msg = error_message(exc) if isinstance(exc, Exception) else repr(exc)
            self.done.put(self._finished(RunStatus.FAILED, error=msg or repr(exc)))
        finally:
            slot.release()

    def _finished(self, status: RunStatus, **kw: object) -> Event:
        try:
            tail = self.rundir.log.read_bytes()[-TAIL:].decode(errors="replace")
        except OSError:
            tail = ""
        return Event(kind=EventKind.DONE, status=status, text=tail, **kw)  # type: ignore[arg-type]

    def _echo(self, line: str) -> None:
        with self.rundir.log.open("a") as f:
            f.write(line + "\n")

    def _receive(self, git: Git) -> int:
        """The entry's commit in the scratch repository; bytes received."""
        from trails.git import GitError

        s = self.shipment
        received = len(s.bundle)
        try:
            git.unbundle(s.bundle)
        except GitError:
            base = self.base()
            received += len(base)
            git.unbundle(base)
            git.unbundle(s.bundle)
        git.update_ref(s.entry_ref, s.entry_sha)
        self._forget_name(git)
        if s.checkpoint is not None and s.checkpoint.name and s.checkpoint.tip:
            from trails.experiments.refs import ref_for

            git.update_ref(ref_for(s.baseline, s.checkpoint.name), s.checkpoint.tip)
            self.rundir.checkpoint.write_bytes(s.checkpoint.encode())
        return received

    def _forget_name(self, git: Git) -> None:
        """An experiment this node recorded before under the entry's name
        (the driver decides whether the name is free, not the node)."""
        from trails.experiments.queue import args_of
        from trails.experiments.refs import ref_for

        s = self.shipment
        name = args_of(git, s.entry_sha).name
        resumed = s.checkpoint.name if s.checkpoint else None
        if name and name != resumed and git.rev_parse(ref_for(s.baseline, name)):
            git.delete_ref(ref_for(s.baseline, name))

    def _run(self, slot: _Slot) -> Event:
        from trails.errors import TrailsError, error_lines, error_message
        from trails.experiments.executor import run_entry
        from trails.experiments.lane import trace
        from trails.experiments.queue import Entry
        from trails.experiments.refs import ref_for

        s = self.shipment
        trace(f"lane {s.entry_sha[:7]} imported")
        project, git = _scratch_project(self.root, s.remote)
        received = self._receive(git)
        trace(f"lane {s.entry_sha[:7]} received")
        start = s.checkpoint.tip if s.checkpoint and s.checkpoint.tip else s.entry_sha
        fetched, objects = _fetch_inputs(project, git, start)
        trace(f"lane {s.entry_sha[:7]} fetched {objects}")
        entry = Entry(s.entry_ref, s.entry_sha, s.created)
        counts = {"received": received, "fetched": fetched, "fetched_objects": objects}
        if s.copied is not None:
            # Held until the entry's folder is ready (its slot taken, or
            # the end): another entry's copies may not replace these meanwhile.
            slot.unlocks.append(_copy_lock(self.root))
            place_copies(self.root, s.copied)
        folder = _take_folder(self.root)
        try:
            rec = run_entry(project, git, entry, LoggedRunner(self.rundir.log), self._echo,
                            slot=slot, folder=folder,
                            status=_stage_status(self._echo, self.rundir.stage))  # fmt: skip
        except TrailsError as exc:
            self._echo("\n".join(error_lines(exc)))
            return self._finished(RunStatus.FAILED, error=error_message(exc), **counts)
        finally:
            _give_folder(self.root, folder)
            slot.let_go()
        _push_outputs(project, git, rec.sha)
        bundle = git.bundle([ref_for(s.baseline, rec.name)], [s.baseline])
        self._echo(f"Ran experiment {entry.id} as '{rec.name}' on node {self.node[:8]} "
                   f"(received {received} bytes of Git bundles, fetched {fetched} bytes "
                   f"in {objects} cache objects)")  # fmt: skip
        return self._finished(RunStatus.SUCCESS, name=rec.name, tip=rec.sha, bundle=bundle,
                              **counts)  # fmt: skip

    def stream(self) -> Iterator[Event]:
        """``started``, then log chunks, stages and checkpoints as they
        happen, then ``done``."""
        self.rundir.path.mkdir(parents=True, exist_ok=True)
        self.rundir.log.write_bytes(b"")
        self.rundir.checkpoint.unlink(missing_ok=True)
        yield Event(kind=EventKind.STARTED, text=self.node)
        threading.Thread(target=self.run, daemon=True).start()
        watch = _Watch(self)
        while True:
            try:
                last: Event | None = self.done.get(timeout=TICK)
            except threads_queue.Empty:
                last = None
            yield from watch.poll()
            if last is not None:
                yield last
                if last.kind is EventKind.DONE:
                    return


@dataclass
class _Slot:
    """The lane's slot, as ``run_entry`` takes it (before the first command:
    what comes before runs while the lane's other entry runs its stages)
    and lets it go (the stages are over): ``running``, then ``free``."""

    gate: threading.Semaphore
    events: threads_queue.Queue[Event]
    held: bool = False
    freed: bool = False
    #: What lets go of the locks the entry holds until its folder is
    #: ready: its lane's preparing turn, the node's ``--copy-paths``.
    unlocks: list[Callable[[], None]] = field(default_factory=list)

    def let_go(self) -> None:
        while self.unlocks:
            self.unlocks.pop()()

    def acquire(self) -> None:
        from trails.experiments.lane import trace

        trace("lane prepared")
        self.let_go()
        self.gate.acquire()
        trace("lane slot")
        self.held = True
        self.events.put(Event(kind=EventKind.RUNNING))

    def release(self) -> None:
        self.let_go()
        if self.held:
            self.held = False
            self.gate.release()
        if not self.freed:
            self.freed = True
            self.events.put(Event(kind=EventKind.FREE))


def _copy_lock(root: Path) -> Callable[[], None]:
    """The scratch root's ``--copy-paths`` taken (``flock``: the lanes of a
    node are processes, its entries threads); what lets it go."""
    import fcntl

    f = (root / ".dvc" / "trails-copies.lock").open("w")
    fcntl.flock(f, fcntl.LOCK_EX)
    return f.close


def _stage_status(echo: Callable[[str], None], stage_file: Path) -> Status:
    """``EchoStatus`` lines, and the running stage in the scratch run
    folder's ``stage`` file, which the task streams to the driver."""
    from trails.repro.status import EchoStatus

    class StageStatus(EchoStatus):
        def stage_started(self, address: str, cmd: Sequence[str]) -> None:
            super().stage_started(address, cmd)
            stage_file.write_text(address)

    return StageStatus(echo)


@dataclass
class _Watch:
    """What changed since the last look: new log bytes, the running stage,
    a new checkpoint (its chain bundled less the baseline)."""

    worker: _Worker
    offset: int = 0
    stage: str = ""
    tip: str = ""

    def poll(self) -> Iterator[Event]:
        rundir = self.worker.rundir
        with contextlib.suppress(OSError), rundir.log.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
            self.offset += len(chunk)
            if chunk:
                yield Event(kind=EventKind.LOG, text=chunk.decode(errors="replace"))
        with contextlib.suppress(OSError):
            stage = rundir.stage.read_text()
            if stage != self.stage:
                self.stage = stage
                yield Event(kind=EventKind.STAGE, text=stage)
        yield from self._checkpoint()

    def _checkpoint(self) -> Iterator[Event]:
        from trails.experiments.refs import ref_for
        from trails.git import Git
        from trails.versioned import RecordError

        rundir = self.worker.rundir
        try:
            state = decode(CheckpointState, rundir.checkpoint.read_bytes(), "checkpoint", "")
        except (OSError, RecordError):
            return
        if not state.tip or state.tip == self.tip or not state.name:
            return
        self.tip = state.tip
        git = Git(self.worker.root)
        bundle = git.bundle([ref_for(state.baseline, state.name)], [state.baseline])
        yield Event(kind=EventKind.CHECKPOINT, name=state.name, tip=state.tip, bundle=bundle)


def work(
    shipment: Shipment, base: Callable[[], bytes], node: str, gate: threading.Semaphore,
    prep: threading.Lock,
) -> Iterator[Event]:  # fmt: skip
    """The worker's side of one entry (a lane of ``rayexec`` iterates it);
    ``gate``: the lane's slot, which its entries take one at a time;
    ``prep``: its turn to prepare, also one at a time."""
    return _Worker(shipment, base, node, gate, prep).stream()
