"""One experiment run, wherever it happens: the workspace (``exp run``) or
a run folder (a queued or ``--temp`` entry). The callers decide where and
from which checkpoint it starts; this runs the stages and records the
result, the same way for both: the checkpoint hook, the stages that always
run, ``--reset``'s discarding, and the ending (the wrap-up checkpoint of a
chain, or one experiment commit).

Nothing here changes the process: the stages get ``DVC_EXP_*`` through
their own environment (``Hooks.env``), and paths are the place's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trails.cachelock import check_recordable
from trails.experiments.record import Recorded, record
from trails.git import Git
from trails.pipeline.graph import Graph
from trails.pipeline.stage import Stage
from trails.project import Project
from trails.repro.builder import Builder, Hooks
from trails.repro.selection import ReproOptions
from trails.repro.status import Status, Summary, check_declined
from trails.runner import Runner

if TYPE_CHECKING:
    from trails.experiments.checkpoints import Chain
    from trails.repro.workspace import Workspace

#: The reason ``--explain`` gives for a checkpoint stage nothing else makes run.
CONTINUES = "continues from its last checkpoint"


@dataclass(frozen=True)
class Place:
    """Where an experiment runs. ``index``: a run folder's kept Git index
    (None: the workspace, snapshot through a copy of the user's index).
    ``state``: where its checkpoint chain is remembered for the next run
    (None: not remembered, as for a ``--temp`` run)."""

    project: Project
    index: Path | None = None
    state: Path | None = None

    def snapshot(self, git: Git) -> str:
        """The place's tree as ``git add -A`` sees it."""
        if self.index is None:
            return git.snapshot_tree()
        return git.snapshot_tree(work_tree=self.project.root, index=self.index)


@dataclass(frozen=True)
class Ending:
    """How the run is recorded: the experiment's name (None: derived from
    its content), message, ``-f``, its baseline, and the queue entry's ref
    (``consumed``) that goes in the same ref transaction (None in the
    workspace)."""

    baseline: str
    name: str | None = None
    message: str | None = None
    force: bool = False
    consumed: str | None = None
    #: What a declined stage leaves undone (``check_declined``).
    not_recorded: str = "no experiment recorded"
    #: Called with the experiment's name and commit just before
    #: ``consumed`` goes (``record.record``).
    on_commit: Callable[[str, str], None] | None = None


@dataclass
class ExperimentRun:
    """The stages of one experiment at its place, then its record.
    ``chain``: the checkpoint chain it extends (None: no checkpoint
    stages); ``reset``: checkpoint outputs are discarded just before the
    first command (a stage declined at an ``--interactive`` prompt
    discards nothing). ``before_first_command``: the caller's wait (the
    queue's slot); ``after_stages``: called when the stages are over,
    however they ended (the slot given back), before recording."""

    git: Git
    place: Place
    graph: Graph
    opts: ReproOptions
    runner: Runner
    status: Status
    echo: Callable[[str], None]
    ending: Ending
    chain: Chain | None = None
    reset: bool = False
    confirm: Callable[[str], bool] | None = None
    before_first_command: Callable[[], None] | None = None
    after_stages: Callable[[], None] | None = None

    def run(
        self, stages: list[Stage], prepare: Callable[[Builder], None] | None = None
    ) -> tuple[Summary, Recorded]:
        """Run ``stages`` and record them. ``prepare``: what the caller
        sets up on the builder before it runs (a folder's assumed inputs)."""
        env = {"DVC_EXP_NAME": self.ending.name or "", "DVC_EXP_BASELINE_REV": self.ending.baseline}
        chain = self.chain
        hooks = Hooks(
            before_first_command=lambda: self._first_command(rep.ws, stages),
            on_checkpoint=self._checkpoint if chain is not None else None,
            always_run={s.address: CONTINUES for s in stages if chain and s.has_checkpoints},
            env=env,
        )
        rep = Builder(self.place.project, self.graph, self.opts, self.runner, self.status,
                      self.confirm, hooks)  # fmt: skip
        if prepare is not None:
            prepare(rep)
        tip_before = chain.tip if chain is not None else None
        try:
            summary = rep.run(stages)
        finally:
            if self.after_stages is not None:
                self.after_stages()
        what = self.ending.not_recorded
        if chain is not None and chain.tip != tip_before:
            # The checkpoints made before it are kept, as after a Ctrl+C.
            what = f"no wrap-up checkpoint recorded (those '{chain.name}' made before are kept)"
        check_declined(summary, what)
        check_recordable(self.place.project.cache_dir, rep.stored)
        return summary, self._record(self.place.snapshot(self.git))

    def _first_command(self, ws: Workspace, stages: list[Stage]) -> None:
        if self.before_first_command is not None:
            self.before_first_command()
        if self.reset and self.chain is not None:
            discard_checkpoints(self.place, ws, stages)

    def _checkpoint(self, stage: Stage) -> None:
        from trails.experiments.checkpoints import save_state

        assert self.chain is not None
        # In the watcher's thread: a Ctrl+C must not cut the commit in two.
        git = self.git.shielded()
        sha = self.chain.commit(self.place.snapshot(git), git)
        if self.place.state is not None:
            save_state(self.place.project.root, self.chain, self.place.state)
        self.echo(f"Checkpoint {sha[:7]} of experiment '{self.chain.name}'")

    def _record(self, tree: str) -> Recorded:
        """The wrap-up checkpoint of a chain (if anything changed since the
        last), or one experiment commit."""
        end = self.ending
        if self.chain is None:
            return record(self.git, name=end.name, message=end.message, force=end.force,
                          tree=tree, baseline=end.baseline, consumed=end.consumed,
                          on_commit=end.on_commit)  # fmt: skip
        from trails.experiments.checkpoints import save_state

        tip = self.chain.commit(tree)
        if end.consumed is not None:
            # A queued entry's chain is done: the entry and its memory go.
            if end.on_commit is not None:
                end.on_commit(self.chain.name or "", tip)
            self.git.delete_ref(end.consumed)
            if self.place.state is not None:
                self.place.state.unlink(missing_ok=True)
        elif self.place.state is not None:
            save_state(self.place.project.root, self.chain, self.place.state)
        return Recorded(self.chain.name or "", tip, end.baseline, new=True)


def discard_checkpoints(place: Place, ws: Workspace, stages: list[Stage]) -> None:
    """``--reset``'s start over: the checkpoint outputs (one a folder has
    only assumed so far is dropped, not linked in) and the remembered chain
    go; the experiment's commits stay until the new chain replaces its ref."""
    from trails.confine import remove

    for s in stages:
        for o in s.outs:
            if o.checkpoint:
                ws.materialize([o.repo_path], exact_ok=False, link=False)
                remove(place.project.root / o.repo_path)
    if place.state is not None:
        place.state.unlink(missing_ok=True)
