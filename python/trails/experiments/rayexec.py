"""``--executor ray``: the queue run on a Ray cluster. The queue stays
trails' own (refs, run folders); Ray only runs the work.

This process is the driver: it opens ``--jobs`` lanes (``Lane``, a Ray
actor each, holding the experiment's resources on a node for the run),
claims each entry as the local pool does (the run folder's lock, holding
this pid, so a driver killed outright leaves a stale lock the next run
takes over), pushes the objects the queued commits need to the cache
remote, ships each entry (``shipping.Shipment``) to a lane, and turns what
the lane streams back into the entry's log, its stage and node (``queue
status``), checkpoint refs as they are made, and at the end the
experiment, recorded by the same ``record`` step as the local executor. It
alone writes ``refs/exps/...``.

A lane holds two entries: while one runs its stages, the next receives its
commit, fetches its inputs and checks its folder out, and takes the slot as
the stages end (the local pool's spare workers do the same); the first one
records and pushes its outputs meanwhile. So what an experiment costs
beyond its stages is mostly hidden behind the one before.

A node that dies (or a lane's process that crashes) costs its attempts
only: Ray restarts the lane (on another node if need be) and the entries
are shipped again, ``RETRIES`` times at most, then failed with the reason.
Ray's own retries of a call are off (``max_task_retries=0``), so that an
experiment is recorded exactly once, here."""

from __future__ import annotations

import contextlib
import os
import queue as threads_queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trails.errors import TrailsError, error_message
from trails.experiments import queue, refs
from trails.experiments.lane import Lane, serialization_without_pydantic, trace
from trails.experiments.records import CheckpointState, RunDir, RunResult, RunStatus
from trails.experiments.shipping import (
    COPY_MAX,
    Copied,
    Event,
    EventKind,
    RemoteSettings,
    Shipment,
    collect_copies,
    decode_event,
    project_key,
)
from trails.git import ZERO, Git, GitError

if TYPE_CHECKING:
    from trails.experiments.display import DisplayFactory, QueueStatus
    from trails.experiments.pool import PoolResult
    from trails.project import Project

#: Attempts after the first for an entry whose node or worker died.
RETRIES = 2
#: Longest wait between looks at ``draining`` and ``queue kill`` requests.
POLL = 0.25
#: How long a lane that holds entries may stay unplaced once the others
#: have run out of entries (``drop_unplaced``).
UNPLACED = 10.0
INSTALL = "pip install 'trails[ray]'"
SPARED_BY_KILL = "its lane was stopped for another entry's 'queue kill'"


class ExecutorError(TrailsError):
    pass


@dataclass(frozen=True)
class RaySettings:
    """Where and how experiments run on Ray: the cluster's address (None:
    a Ray instance of this machine's, started for the run) and each
    experiment's resources (``num_cpus``, ``num_gpus``, ``memory``; other
    names are custom resources)."""

    address: str | None = None
    resources: tuple[tuple[str, float], ...] = ()

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {}
        custom = {}
        for k, v in self.resources:
            if k in ("num_cpus", "num_gpus", "memory"):
                opts[k] = v
            else:
                custom[k] = v
        if custom:
            opts["resources"] = custom
        opts.setdefault("num_cpus", 1)
        return opts


def parse_resources(text: str, source: str = "--resources") -> tuple[tuple[str, float], ...]:
    """``num_cpus=4,num_gpus=1``: each experiment's share of a node."""
    out = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, value = part.partition("=")
        try:
            amount = float(value)
        except ValueError:
            amount = -1.0
        if not eq or not key.strip() or amount < 0:
            raise ExecutorError(
                f"{source}: '{part}' is not NAME=AMOUNT",
                hint="Write e.g. --resources num_cpus=4,num_gpus=1 (amounts >= 0).",
            )
        out.append((key.strip(), amount))
    return tuple(out)


def choose(
    project: Project, executor: str | None, address: str | None, resources: str | None
) -> RaySettings | None:
    """The executor of a queue run: the flags, else ``[exp] executor``,
    ``ray_address``, ``resources`` in ``.dvc/config``; None: the local one.
    Ray missing is one message naming the extra to install."""
    conf = project.config
    chosen = executor or conf.get("exp", "executor") or "local"
    if chosen not in ("local", "ray"):
        raise ExecutorError(
            f".dvc/config: [exp] executor = {chosen}: not an executor",
            hint="Use 'local' or 'ray'.",
        )
    if chosen == "local":
        if address or resources:
            raise ExecutorError("--address and --resources need --executor ray")
        return None
    require_ray()
    addr = address or conf.get("exp", "ray_address") or None
    text = resources if resources is not None else conf.get("exp", "resources") or ""
    source = "--resources" if resources is not None else ".dvc/config: [exp] resources"
    return RaySettings(addr, parse_resources(text, source))


def require_ray() -> None:
    trace("driver importing ray")
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ExecutorError(f"--executor ray needs Ray, not installed: {INSTALL}") from None


def remote_settings(project: Project) -> RemoteSettings:
    """The default cache remote, where workers meet; a local path made
    absolute (the worker's folder is not the driver's)."""
    from trails.remote import settings as remote_settings_mod

    try:
        conf = remote_settings_mod.get(project, None)
    except remote_settings_mod.RemoteError as exc:
        raise ExecutorError(
            f"--executor ray needs a default cache remote, where the workers get inputs and "
            f"leave outputs ({exc})",
            hint="Add one with 'trails remote add -d NAME URL' (a shared folder or s3://...).",
        ) from None
    opts = dict(conf.options)
    url = opts.get("url", "")
    if "://" not in url:
        path = Path(os.path.expanduser(url))
        opts["url"] = str(path if path.is_absolute() else (project.dvc_dir / path).resolve())
    return RemoteSettings(name=conf.name, options=opts)


def copy_max(project: Project) -> int:
    """``[exp] ray_copy_max``: bytes (``K``, ``M``, ``G``: binary multiples)."""
    text = (project.config.get("exp", "ray_copy_max") or "").strip()
    if not text:
        return COPY_MAX
    scale = {"k": 2**10, "m": 2**20, "g": 2**30}.get(text[-1].lower(), 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit():
        raise ExecutorError(
            f".dvc/config: [exp] ray_copy_max = {text}: not a size",
            hint="Write bytes, or a number with K, M or G (e.g. 64M).",
        )
    return int(digits) * scale


def _push_needed(project: Project, git: Git, commits: list[str]) -> None:
    """The objects the queued commits name, from this cache to the remote
    (what a worker will fetch); those the remote has cost one listing."""
    from trails import remote
    from trails.remote import needed

    r = remote.open(project)
    names, _ = needed.expand(project.cache_dir, needed.of_commits(git, commits))
    r.push(names)


#: Entries a lane holds at once: one running its stages, one preparing.
PER_LANE = 2


def _retryable() -> tuple[type[BaseException], ...]:
    from ray import exceptions as rx

    names = ("NodeDiedError", "WorkerCrashedError", "ObjectLostError", "OwnerDiedError",
             "LocalRayletDiedError", "ObjectReconstructionFailedError", "RayActorError",
             "ActorDiedError", "ActorUnavailableError")  # fmt: skip
    return tuple(getattr(rx, n) for n in names if hasattr(rx, n))


@dataclass
class _LaneState:
    """A lane as the driver sees it: ready once its actor answered where
    it runs, or an entry started there (asked again after it was lost and
    restarted)."""

    handle: Any
    ready: Any  # the pending answer of ``node``, None once answered
    node: str = ""
    #: The attempts it holds (entry ids).
    held: list[str] = field(default_factory=list)
    #: Entries go to it before it is first up (Ray hands them over as it
    #: comes up, with no round trip to here): the cluster has room for it.
    eager: bool = False
    opened: float = field(default_factory=time.monotonic)
    #: Never placed while the others ran out of entries: killed, not used.
    dropped: bool = False


@dataclass
class _Attempt:
    entry: queue.Entry
    args: Any  # QueuedArgs
    number: int
    ref: Any = None  # the task's ObjectRefGenerator
    node: str = ""
    started: float = field(default_factory=time.monotonic)
    checkpoint: str = ""  # the chain's tip as last written here
    tries: int = 0  # attempts lost before this one
    #: Why its lane was stopped for another reason than its own (another
    #: entry's ``queue kill``, a lane never placed): shipped again, not
    #: counted as a try.
    spared: str = ""
    copied: Copied | None = None  # its --copy-paths, read at its claim
    #: Its stages are over (``free``): its lane can take another entry.
    free: bool = False
    lane: int = -1
    #: ``queue kill`` killed its lane: it stays queued.
    killed: bool = False


@dataclass
class _Driver:
    project: Project
    git: Git
    jobs: int
    settings: RaySettings
    remote: RemoteSettings
    display: QueueStatus
    result: PoolResult
    events: threads_queue.Queue[tuple[int, str, Event | BaseException | None]] = field(
        default_factory=threads_queue.Queue
    )
    running: dict[str, _Attempt] = field(default_factory=dict)
    bases: dict[str, Any] = field(default_factory=dict)
    serial: int = 0
    #: Bytes each finished experiment cost its node (bundles, cache objects).
    shipped: list[tuple[str, int, int]] = field(default_factory=list)

    lanes: list[_LaneState] = field(default_factory=list)
    #: Attempts lost with their lane, to ship again once a lane is free.
    again: deque[_Attempt] = field(default_factory=deque)
    #: What an entry's ``--copy-paths`` may weigh (``[exp] ray_copy_max``).
    copy_max: int = COPY_MAX

    def open_lanes(self, room: int) -> None:
        """``jobs`` lanes, each with the experiment's resources (Ray places
        them). The first ``room`` (as many as the cluster's nodes hold)
        take entries at once, the others once they are up; one never
        placed is dropped (``drop_unplaced``). A lost lane is restarted by
        Ray (``max_restarts``), its entries shipped again."""
        import ray

        actor: Any = ray.remote(Lane).options(
            max_concurrency=PER_LANE, max_restarts=-1, max_task_retries=0,
            **self.settings.options(),
        )  # fmt: skip
        trace("driver lane class")
        for i in range(self.jobs):
            handle = actor.remote()
            self.lanes.append(_LaneState(handle, handle.node.remote(), eager=i < room))

    def drop_unplaced(self) -> None:
        """With no entry left to ship and a lane up with room, a lane that
        holds entries but was not placed for ``UNPLACED`` seconds (the
        cluster's slots taken by others) is killed, its entries shipped
        again: they would wait for it for ever."""
        import ray

        if not any(lane.ready is None and self._busy(lane) < PER_LANE for lane in self.lanes
                   if not lane.dropped):  # fmt: skip
            return
        now = time.monotonic()
        for lane in self.lanes:
            if lane.dropped or lane.ready is None or not lane.held:
                continue
            if now - lane.opened < UNPLACED:
                continue
            lane.dropped = True
            for e in lane.held:
                if e in self.running:
                    self.running[e].spared = f"its lane was not placed in {UNPLACED:g} s"
            with contextlib.suppress(Exception):
                ray.kill(lane.handle, no_restart=True)

    def _busy(self, lane: _LaneState) -> int:
        """The entries it holds whose stages may still run."""
        return sum(not self.running[e].free for e in lane.held if e in self.running)

    def look_at_lanes(self) -> None:
        """Lanes that came up (or back) since the last look."""
        import ray

        asked = [lane.ready for lane in self.lanes if lane.ready is not None]
        if not asked:
            return
        answered, _ = ray.wait(asked, num_returns=len(asked), timeout=0)
        for lane in self.lanes:
            if lane.ready is not None and lane.ready in answered:
                try:
                    lane.node = str(ray.get(lane.ready))
                except Exception:  # lost again before it answered: ask again
                    lane.ready = lane.handle.node.remote()
                    continue
                lane.ready = None
                trace(f"driver lane ready {lane.node[:8]}")

    def free_lane(self) -> int | None:
        """The lane holding the fewest entries whose stages may still run
        (one that is up first), if it can take one more: one up, or one
        the cluster has room for."""
        best, key = None, (PER_LANE, True)
        for i, lane in enumerate(self.lanes):
            if lane.dropped or (lane.ready is not None and not lane.eager):
                continue
            k = (self._busy(lane), lane.ready is not None)
            if k[0] < PER_LANE and k < key:
                best, key = i, k
        return best

    def close_lanes(self) -> None:
        import ray

        for lane in self.lanes:
            with contextlib.suppress(Exception):
                ray.kill(lane.handle, no_restart=True)

    def rundir(self, entry_id: str) -> RunDir:
        return queue.run_dir(self.project.root, entry_id)

    def claim(self, entry: queue.Entry) -> _Attempt | None:
        """Take the entry (its lock, holding this pid), then read it, in one
        ``git log`` that also says whether its ref still points there: read
        before, an entry another run took and failed could be failed again
        here. One that cannot be run here fails with the reason."""
        from trails.pids import claim

        rundir = self.rundir(entry.id)
        if not claim(rundir.lock):
            self.display.taken(entry.id)
            return None
        try:
            queued = queue.read_entry(self.git, entry.ref)
        except TrailsError as exc:
            self._refuse(entry, str(exc))
            return None
        if queued is None or queued.entry.sha != entry.sha:
            rundir.lock.unlink(missing_ok=True)  # another run has had it since it was listed
            self.display.taken(entry.id)
            return None
        for p in (rundir.result, rundir.stage, rundir.kill):
            p.unlink(missing_ok=True)
        copied = None
        if queued.args.copy_paths:
            # Read here (a worker cannot read this workspace), shipped with the entry.
            try:
                copied = collect_copies(self.project.root, queued.args.copy_paths,
                                        self.copy_max)  # fmt: skip
            except (TrailsError, OSError) as exc:
                self._refuse(entry, error_message(exc))
                return None
        rundir.log.write_bytes(b"")
        return _Attempt(entry, queued.args, 0, copied=copied)

    def _refuse(self, entry: queue.Entry, reason: str) -> None:
        """A claimed entry failed before it is shipped, its lock let go."""
        rundir = self.rundir(entry.id)
        queue.mark_failed(self.git, entry)
        rundir.write_result(RunResult(status=RunStatus.FAILED, created=entry.created, error=reason))
        self.result.failed.append((entry.id, reason))
        self.display.failed(entry.id, reason, self.project.rel(rundir.log))
        rundir.lock.unlink(missing_ok=True)

    def start(self, att: _Attempt, lane: int) -> None:
        """Ship the entry to ``lane``; one that cannot be shipped (its
        baseline gone) fails with the reason, the rest of the queue goes on."""
        try:
            self.submit(att, lane)
        except TrailsError as exc:
            self._end(att, RunStatus.FAILED, str(exc))

    def submit(self, att: _Attempt, lane: int) -> None:
        import ray

        e, baseline = att.entry, att.args.baseline or ""
        state = self._resumed(att)
        tips = [e.ref]
        if state is not None and state.name:
            from trails.experiments.refs import ref_for

            tips.append(ref_for(baseline, state.name))
        if baseline not in self.bases:
            self.bases[baseline] = ray.put(self.git.bundle([e.ref]))
        shipment = Shipment(
            project=project_key(self.remote), entry_ref=e.ref, entry_sha=e.sha, created=e.created,
            baseline=baseline, bundle=self.git.bundle(tips, [baseline]), remote=self.remote,
            checkpoint=state, copied=att.copied,
        )  # fmt: skip
        att.lane = lane
        att.ref = (
            self.lanes[lane]
            .handle.run.options(num_returns="streaming")
            .remote(shipment.encode(), [self.bases[baseline]])
        )
        self.lanes[lane].held.append(e.id)
        trace(f"driver shipped {e.id}")
        self.serial += 1
        att.number = self.serial
        self.running[e.id] = att
        # "queued (prepared)" until a node starts it (it may wait there for
        # the resources it asks for).
        self.rundir(e.id).waiting.touch()
        self.rundir(e.id).node.write_text("")  # on Ray: `queue kill` asks this process
        threading.Thread(target=self._follow, args=(att.number, e.id, att.ref), daemon=True).start()

    def _resumed(self, att: _Attempt) -> CheckpointState | None:
        """The chain an interrupted run of the entry made, if its ref still
        holds it here (the worker continues it)."""
        from trails.experiments.checkpoints import continued

        found = continued(self.project.root, self.git, att.args.baseline or "",
                          self.rundir(att.entry.id).checkpoint)  # fmt: skip
        if found is None:
            return None
        return CheckpointState(baseline=att.args.baseline or "", name=found[0], tip=found[1])

    def _follow(self, number: int, entry_id: str, gen: Any) -> None:
        import ray

        try:
            for ref in gen:
                self.events.put((number, entry_id, decode_event(ray.get(ref))))
        except BaseException as exc:
            self.events.put((number, entry_id, exc))
            return
        self.events.put((number, entry_id, None))

    def handle(self, number: int, entry_id: str, what: Event | BaseException | None) -> None:
        att = self.running.get(entry_id)
        if att is None or att.number != number:
            return  # an earlier attempt's last words
        rundir = self.rundir(entry_id)
        if isinstance(what, BaseException):
            self._lost(att, what)
        elif what is None:
            self._end(att, RunStatus.FAILED, "the worker ended without a result")
        elif what.kind is EventKind.STARTED:
            att.node = what.text
            rundir.node.write_text(what.text)
            self._up(att.lane, what.text)
        elif what.kind is EventKind.RUNNING:
            rundir.waiting.unlink(missing_ok=True)
            trace(f"driver running {entry_id}")
            att.started = time.monotonic()
            self.display.started(entry_id)
        elif what.kind is EventKind.LOG:
            with rundir.log.open("a", encoding="utf-8") as f:
                f.write(what.text)
        elif what.kind is EventKind.STAGE:
            rundir.stage.write_text(what.text)
        elif what.kind is EventKind.CHECKPOINT:
            self._checkpoint(att, what)
        elif what.kind is EventKind.FREE:
            att.free = True
        elif what.kind is EventKind.DONE:
            self._done(att, what)

    def _up(self, index: int, node: str) -> None:
        """An entry started on the lane: it is up (its answer to ``node``
        may come later)."""
        if 0 <= index < len(self.lanes) and self.lanes[index].ready is not None:
            self.lanes[index].ready = None
            self.lanes[index].node = node

    def _lost(self, att: _Attempt, exc: BaseException) -> None:
        from ray.exceptions import TaskCancelledError

        lane = self._unhold(att)
        if lane is not None and lane.ready is None and not lane.dropped:
            lane.ready = lane.handle.node.remote()  # Ray restarts it, maybe elsewhere
            # Calls to a restarting actor fail ('unavailable'): no more
            # entries until it is back.
            lane.eager = False
            lane.opened = time.monotonic()
        if att.killed or isinstance(exc, TaskCancelledError):
            self._leave(att)
            return
        reason = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".strip()
        if att.spared:
            self._again(att, att.tries, att.spared)
            return
        if isinstance(exc, _retryable()) and att.tries < RETRIES:
            self._again(att, att.tries + 1, reason)
            return
        self._end(att, RunStatus.FAILED, reason or "the worker was lost")

    def _unhold(self, att: _Attempt) -> _LaneState | None:
        """The attempt off its lane (ended, left or lost)."""
        if not 0 <= att.lane < len(self.lanes):
            return None
        lane = self.lanes[att.lane]
        if att.entry.id in lane.held:
            lane.held.remove(att.entry.id)
        return lane

    def _again(self, att: _Attempt, tries: int, reason: str) -> None:
        self._note(att, f"\n[trails] attempt on node {att.node[:8] or '?'} lost ({reason}); "
                        "shipping it again\n")  # fmt: skip
        self.running.pop(att.entry.id, None)
        self.rundir(att.entry.id).waiting.touch()
        self.again.append(_Attempt(att.entry, att.args, 0, checkpoint=att.checkpoint,
                                   tries=tries, copied=att.copied))  # fmt: skip

    def _note(self, att: _Attempt, text: str) -> None:
        with self.rundir(att.entry.id).log.open("a", encoding="utf-8") as f:
            f.write(text)

    def _checkpoint(self, att: _Attempt, ev: Event) -> None:
        """A checkpoint made on the node: its commit here, the experiment's
        ref moved to it, the chain remembered for a resumed run."""
        from trails.experiments.refs import ref_for, validate_name

        baseline = att.args.baseline or ""
        try:
            self._descends(ev, baseline)
            validate_name(self.git, ev.name)
            ref = ref_for(baseline, ev.name)
            self.git.update_ref(ref, ev.tip)
        except (GitError, TrailsError) as exc:
            self._note(att, f"\n[trails] checkpoint {ev.tip[:7]} not kept: {exc}\n")
            return
        att.checkpoint = ev.tip
        state = CheckpointState(baseline=baseline, name=ev.name, tip=ev.tip)
        self.rundir(att.entry.id).checkpoint.write_bytes(state.encode())

    def _done(self, att: _Attempt, ev: Event) -> None:
        if ev.status is not RunStatus.SUCCESS:
            self._end(att, RunStatus.FAILED, ev.error or "failed")
            return
        try:
            name, sha = self._record(att, ev)
        except TrailsError as exc:
            self._note(att, f"\nError: {exc}\n")
            self._end(att, RunStatus.FAILED, str(exc))
            return
        self.shipped.append((att.node, ev.received, ev.fetched))
        self._end(att, RunStatus.SUCCESS, "", name, sha)

    def _descends(self, ev: Event, baseline: str) -> None:
        """The bundle's commits here, and its tip a descendant of the
        entry's baseline: a worker's answer names nothing else."""
        self.git.unbundle(ev.bundle)
        if len(ev.tip) != 40 or not self.git.ok("merge-base", "--is-ancestor", baseline, ev.tip):
            raise ExecutorError(
                f"the worker's commit {ev.tip[:7]} is not of baseline {baseline[:7]}"
            )

    def _record(self, att: _Attempt, ev: Event) -> tuple[str, str]:
        """The worker's experiment, recorded here as the local executor
        records it: one commit of its tree on the baseline (``record``), or
        the checkpoint chain's ref moved to its tip."""
        from trails.experiments.record import record
        from trails.experiments.refs import ref_for, validate_name

        args, baseline, entry = att.args, att.args.baseline or "", att.entry
        self._descends(ev, baseline)
        if self.git.rev_parse(f"{ev.tip}^1") == baseline and not att.checkpoint:
            tree = self.git.run("rev-parse", f"{ev.tip}^{{tree}}").strip()
            rec = record(self.git, name=args.name, message=args.message, force=args.force,
                         tree=tree, baseline=baseline, consumed=entry.ref)  # fmt: skip
            return rec.name, rec.sha
        validate_name(self.git, ev.name)
        ref = ref_for(baseline, ev.name)
        old = self.git.rev_parse(ref)
        if old is not None and old != att.checkpoint and not args.force:
            from trails.experiments.record import taken

            raise taken(ev.name, baseline)
        self.git.move_ref(ref, ev.tip, old or ZERO, entry.ref)
        return ev.name, ev.tip

    def _leave(self, att: _Attempt) -> None:
        """Cancelled (``queue kill``, Ctrl+C): the entry stays queued."""
        self._unhold(att)
        self.running.pop(att.entry.id, None)
        self.rundir(att.entry.id).write_result(RunResult(status=RunStatus.INTERRUPTED))
        self._release(att)
        self.result.left.append(att.entry.id)
        self.display.left(att.entry.id)

    def _end(self, att: _Attempt, status: RunStatus, error: str, name: str = "",
             sha: str = "") -> None:  # fmt: skip
        e = att.entry
        self._unhold(att)
        self.running.pop(e.id, None)
        rundir = self.rundir(e.id)
        rundir.write_result(RunResult(status=status, name=name, sha=sha, created=e.created,
                                      error=error))  # fmt: skip
        secs = time.monotonic() - att.started
        if status is RunStatus.SUCCESS:
            self.result.done.append((e.id, name))
            self.display.done(e.id, name, secs)
            rundir.checkpoint.unlink(missing_ok=True)
        else:
            if self.git.rev_parse(e.ref) is not None:
                queue.mark_failed(self.git, e)
            self.result.failed.append((e.id, error))
            self.display.failed(e.id, error, self.project.rel(rundir.log))
        self._release(att)

    def _release(self, att: _Attempt) -> None:
        rundir = self.rundir(att.entry.id)
        for p in (rundir.stage, rundir.node, rundir.kill, rundir.waiting, rundir.lock):
            p.unlink(missing_ok=True)

    def kills(self) -> None:
        """``queue kill`` asks by a ``kill`` file in the run folder: the
        entry's lane is killed (Ray cancels no running actor call) and
        restarted; the lane's other entry is shipped again."""
        import ray

        for att in list(self.running.values()):
            if att.killed or not self.rundir(att.entry.id).kill.exists():
                continue
            att.killed = True
            lane = self.lanes[att.lane]
            for other in lane.held:
                if other != att.entry.id and other in self.running:
                    self.running[other].spared = SPARED_BY_KILL
            with contextlib.suppress(Exception):
                ray.kill(lane.handle, no_restart=False)

    def cancel_all(self) -> None:
        self.close_lanes()
        for att in [*self.running.values(), *self.again]:
            self._leave(att)
        self.again.clear()


def _connect(settings: RaySettings) -> None:
    import ray

    if ray.is_initialized():
        return
    try:
        ray.init(address=settings.address, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)  # fmt: skip
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ExecutorError(
            f"cannot reach the Ray cluster at {settings.address or 'this machine'}: {exc}",
            hint="Start it ('ray start --head'), or give its address: --address HOST:PORT.",
        ) from None


#: Ray's names for the resources ``--resources`` spells as its options.
_RAY_NAMES = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}


def _check_fits(settings: RaySettings) -> int:
    """Refuse, before anything is claimed, resources no live node offers:
    Ray would keep such an experiment pending for ever (its scheduler only
    logs an 'infeasible' warning), and the run would hang with the queue
    marked as being run. Else how many experiments the live nodes hold
    at once."""
    import ray

    wanted = {"CPU": 1.0, **{_RAY_NAMES.get(k, k): v for k, v in settings.resources}}
    wanted = {k: v for k, v in wanted.items() if v > 0}
    listed: list[dict[str, Any]] = ray.nodes()  # type: ignore[no-untyped-call]
    nodes = [n.get("Resources", {}) for n in listed if n.get("Alive")]
    room = sum(int(min(n.get(k, 0) / v for k, v in wanted.items())) for n in nodes)
    if room > 0:
        return room
    ask = ",".join(f"{k}={v:g}" for k, v in wanted.items())
    # Memory figures (bytes) only when asked for: they would drown the rest.
    shown = [k for k in {k for n in nodes for k in n} if not k.startswith("node:")]
    shown = [k for k in sorted(shown) if "memory" not in k or k in wanted]
    offers = "; ".join(",".join(f"{k}={n[k]:g}" for k in shown if k in n) for n in nodes)
    raise ExecutorError(
        f"no node of the Ray cluster at {settings.address or 'this machine'} offers "
        f"{ask} for one experiment (its live nodes offer: {offers or 'nothing'})",
        hint="Lower --resources (or [exp] resources), or start a node that has them "
        "('ray start --address ... --resources ...'); nothing was run.",
    )


def run_all(
    project: Project,
    jobs: int,
    echo: Callable[[str], None],
    settings: RaySettings,
    draining: Callable[[], bool] = lambda: False,
    show: DisplayFactory | None = None,
) -> PoolResult:
    """Run the queue on Ray, ``jobs`` experiments at once, FIFO; like
    ``pool.run_all`` (its result, its display), the work on the cluster."""
    from trails.experiments.display import QueueDisplay
    from trails.experiments.pool import PoolResult

    trace("driver run_all")
    git = Git(project.root)
    pending = deque(queue.entries(git))
    remote = remote_settings(project)
    limit = copy_max(project)
    _connect(settings)
    trace("driver connected")
    serialization_without_pydantic()
    room = _check_fits(settings) if pending else 0
    trace("driver fits")
    ids = [e.id for e in pending]
    display: QueueStatus = show(ids, jobs) if show else QueueDisplay(ids, jobs, echo)
    d = _Driver(project, git, jobs, settings, remote, display, PoolResult(),
                copy_max=limit)  # fmt: skip
    if pending:
        # The lanes' processes start on their nodes while this pushes.
        d.open_lanes(room)
        trace("driver lanes opened")
    try:
        _push_needed(project, git, [e.sha for e in pending])
        trace("driver pushed")
    except BaseException:
        d.close_lanes()
        raise
    with display:
        try:
            while ((pending or d.again) and not draining()) or d.running:
                d.look_at_lanes()
                # A lane takes the next entry as soon as the one running its
                # stages is past them (or while it runs, the second of two).
                while (d.again or pending) and not draining():
                    lane = d.free_lane()
                    if lane is None:
                        break
                    att = d.again.popleft() if d.again else d.claim(pending.popleft())
                    if att is not None:
                        d.start(att, lane)
                if not (pending or d.again):
                    d.drop_unplaced()
                d.kills()
                with contextlib.suppress(threads_queue.Empty):
                    d.handle(*d.events.get(timeout=POLL))
                    while True:
                        d.handle(*d.events.get_nowait())
        except KeyboardInterrupt:
            d.cancel_all()
            raise
        finally:
            for att in list(d.again):
                d._leave(att)
            d.close_lanes()
            d.result.left += [e.id for e in pending]
            for i in pending:
                display.left(i.id)
    trace("driver ran")
    refs.pack_many(git)
    trace("driver packed")
    return d.result
