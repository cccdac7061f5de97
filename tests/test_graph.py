"""The graph of stages and the planner, on hand-built stages (no dvc.yaml
parsing) with a fake runner (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import gen
from trails.confine import UnsafePathError
from trails.errors import PipelineError
from trails.pipeline.graph import Graph
from trails.pipeline.stage import Dep, Out, ParamDep, Stage
from trails.project import Project
from trails.repro.builder import Builder
from trails.repro.selection import ReproOptions
from trails.repro.status import EchoStatus
from trails.runner import FakeRunner


def stage(name: str, deps=(), outs=(), dvcfile: str = "dvc.yaml", **kw) -> Stage:  # type: ignore[no-untyped-def]
    return Stage(
        name=name,
        dvcfile=dvcfile,
        cmd=(f"run {name}",),
        deps=tuple(Dep(d, d) for d in deps),
        outs=tuple(Out(o, o) for o in outs),
        line=1,
        **kw,
    )


def test_edges_follow_outputs_and_folders(tmp_path: Path) -> None:
    g = Graph(
        [
            stage("prepare", deps=["raw"], outs=["data/prepared"]),
            stage("featurize", deps=["data"], outs=["features"]),  # dep on a folder holding an out
            stage("train", deps=["features/train.csv"], outs=["model.pt"]),  # dep inside an out
            stage("evaluate", deps=["model.pt", "features"], outs=["metrics.json"]),
            stage("other", deps=["raw"], outs=["x"]),
        ],
        tmp_path,
    )
    assert g.upstream["featurize"] == ["prepare"]
    assert g.upstream["train"] == ["featurize"]
    assert g.upstream["evaluate"] == ["featurize", "train"]
    assert [s.name for s in g.order(g.ancestors(["evaluate"]))] == [
        "prepare",
        "featurize",
        "train",
        "evaluate",
    ]
    assert g.descendants(["train"]) == {"train", "evaluate"}
    assert g.pipeline_of("other") == {"other"}


def test_cycle_is_named(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"circular dependency: a -> b -> c -> a"):
        Graph(
            [
                stage("a", deps=["c.out"], outs=["a.out"]),
                stage("b", deps=["a.out"], outs=["b.out"]),
                stage("c", deps=["b.out"], outs=["c.out"]),
            ],
            tmp_path,
        )


def test_duplicate_and_overlapping_outputs(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"output 'm' is declared by both stage 'a'"):
        Graph([stage("a", outs=["m"]), stage("b", outs=["m"])], tmp_path)
    with pytest.raises(
        PipelineError, match=r"overlapping outputs: 'data' \(stage 'a'\) contains 'data/x'"
    ):
        Graph([stage("a", outs=["data"]), stage("b", outs=["data/x"])], tmp_path)


def test_outputs_outside_the_repo(tmp_path: Path) -> None:
    with pytest.raises(UnsafePathError, match=r"output: '\.\./x' is outside the project"):
        Graph([stage("a", outs=["../x"])], tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "link").symlink_to(outside)
    with pytest.raises(UnsafePathError, match=r"leads outside the project through a symlink"):
        Graph([stage("a", outs=["link/model.pt"])], repo)


def test_targets(tmp_path: Path) -> None:
    g = Graph(
        [
            stage("train", outs=["m"]),
            stage("build@us", outs=["us"]),
            stage("build@eu", outs=["eu"]),
            stage("sub", outs=["s"], dvcfile="sub/dvc.yaml"),
        ],
        tmp_path,
    )
    assert [s.name for s in g.resolve("build")] == ["build@us", "build@eu"]
    assert [s.name for s in g.resolve("build@eu")] == ["build@eu"]
    assert [s.address for s in g.resolve("sub/dvc.yaml")] == ["sub/dvc.yaml:sub"]
    assert [s.address for s in g.resolve("sub/dvc.yaml:sub")] == ["sub/dvc.yaml:sub"]
    assert [s.name for s in g.resolve("b*", glob=True)] == ["build@us", "build@eu"]
    assert [s.address for s in g.under("sub")] == ["sub/dvc.yaml:sub"]
    with pytest.raises(PipelineError, match=r"'trian' is not a stage") as info:
        g.resolve("trian")
    assert info.value.hint == "Did you mean 'train'?"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    return Project(tmp_path)


def _writer(name: str, text: str):  # type: ignore[no-untyped-def]
    return lambda wdir: (wdir / name).write_text(text)


def test_planner_runs_only_what_changed(project: Project) -> None:
    root = project.root
    gen(root, {"raw": "r", "params.yaml": "train:\n  lr: 0.1\n  epochs: 3\n"})
    stages = [
        stage("prepare", deps=["raw"], outs=["prep"]),
        stage(
            "train",
            deps=["prep"],
            outs=["model"],
            params=(ParamDep("params.yaml", "params.yaml", ("train.lr",)),),
        ),
    ]
    g = Graph(stages, root)
    runner = FakeRunner(effects={"prepare": _writer("prep", "p"), "train": _writer("model", "m")})
    messages: list[str] = []

    def repro(**kw: object) -> Builder:
        rep = Builder(project, g, ReproOptions(**kw), runner, EchoStatus(messages.append))  # type: ignore[arg-type]
        rep.run(g.order(g.ancestors(["train"])))
        return rep

    repro()
    assert runner.ran == ["prepare", "train"]
    runner.ran.clear()
    repro()
    assert runner.ran == []
    gen(root, {"params.yaml": "train:\n  lr: 0.2\n  epochs: 9\n"})
    repro(explain=True)
    assert runner.ran == ["train"], "epochs is not a param of train"
    assert "'train' runs because: params.yaml:train.lr 0.1 -> 0.2" in messages
    runner.ran.clear()
    (root / "model").unlink()
    repro(explain=True)
    assert runner.ran == [], "restored from the run-cache instead"
    assert "Restored 'train' from run-cache" in messages
    assert (root / "model").read_text() == "m"
    repro(force=True)
    assert runner.ran == ["prepare", "train"]


def test_failure_blocks_downstream_and_keeps_done_stages(project: Project) -> None:
    root = project.root
    gen(root, {"raw": "r"})
    g = Graph(
        [
            stage("a", deps=["raw"], outs=["a.out"]),
            stage("b", deps=["raw"], outs=["b.out"]),
            stage("c", deps=["b.out"], outs=["c.out"]),
        ],
        root,
    )
    runner = FakeRunner(effects={"a": _writer("a.out", "a")}, fail={"b"})
    rep = Builder(project, g, ReproOptions(keep_going=True), runner, EchoStatus(lambda m: None))
    with pytest.raises(Exception, match=r"stage 'b' failed"):
        rep.run(g.stages)
    assert runner.ran == ["a", "b"]
    assert rep.summary.blocked == ["c"]
    assert "a:" in (root / "dvc.lock").read_text()
    assert "b:" not in (root / "dvc.lock").read_text()


def test_independent_stages_run_in_parallel(project: Project) -> None:
    import threading
    import time

    root = project.root
    gen(root, {"raw": "r"})
    active, peak = [0], [0]
    lock = threading.Lock()

    def slow(name: str):  # type: ignore[no-untyped-def]
        def effect(wdir: Path) -> None:
            with lock:
                active[0] += 1
                peak[0] = max(peak[0], active[0])
            time.sleep(0.2)
            (wdir / name).write_text(name)
            with lock:
                active[0] -= 1

        return effect

    g = Graph([stage(n, deps=["raw"], outs=[f"{n}.out"]) for n in "abc"], root)
    runner = FakeRunner(effects={n: slow(f"{n}.out") for n in "abc"})
    Builder(project, g, ReproOptions(jobs=3), runner, EchoStatus(lambda m: None)).run(g.stages)
    assert sorted(runner.ran) == ["a", "b", "c"]
    assert peak[0] == 3


class RecordingStatus:
    """A ``Status`` that keeps the events (a fake, not a mock)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def __getattr__(self, event: str):  # type: ignore[no-untyped-def]
        if not event.startswith(("stage_", "checkpoint_", "lock_")):
            raise AttributeError(event)
        return lambda subject, *rest: self.events.append((event, str(subject)))


def test_builder_reports_events_not_words(project: Project) -> None:
    """What happened to each stage reaches the ``Status`` as an event with
    the stage's address: callers need not parse the printed lines."""
    root = project.root
    gen(root, {"raw": "r"})
    g = Graph(
        [
            stage("prepare", deps=["raw"], outs=["prep"]),
            stage("train", deps=["prep"], outs=["model"]),
            stage("bad", deps=["raw"], outs=["bad.out"]),
        ],
        root,
    )
    runner = FakeRunner(
        effects={"prepare": _writer("prep", "p"), "train": _writer("model", "m")}, fail={"bad"}
    )

    def repro(**kw: object) -> list[tuple[str, str]]:
        status = RecordingStatus()
        opts = ReproOptions(keep_going=True, ignore_errors=True, **kw)  # type: ignore[arg-type]
        Builder(project, g, opts, runner, status).run(g.stages)
        return status.events

    first = repro()
    assert ("stage_started", "prepare") in first and ("stage_started", "train") in first
    assert ("stage_failed", "bad") in first
    assert ("lock_written", "dvc.lock") in first
    (root / "model").unlink()
    again = repro()
    assert [e for e in again if e[1] in ("prepare", "train")] == [
        ("stage_skipped", "prepare"),
        ("stage_restored", "train"),
    ]


def test_hooks_first_command_once_and_always_run(project: Project) -> None:
    """``before_first_command`` is called once, and only when a stage must
    run; ``always_run`` runs an unchanged stage with the reason given."""
    from trails.repro.builder import Hooks

    root = project.root
    gen(root, {"raw": "r"})
    g = Graph(
        [stage("a", deps=["raw"], outs=["a.out"]), stage("b", deps=["raw"], outs=["b.out"])],
        root,
    )
    runner = FakeRunner(effects={"a": _writer("a.out", "a"), "b": _writer("b.out", "b")})
    calls: list[str] = []
    hooks = Hooks(before_first_command=lambda: calls.append("first"))
    Builder(project, g, ReproOptions(), runner, RecordingStatus(), hooks=hooks).run(g.stages)
    assert calls == ["first"] and sorted(runner.ran) == ["a", "b"]
    Builder(project, g, ReproOptions(), runner, RecordingStatus(), hooks=hooks).run(g.stages)
    assert calls == ["first"], "nothing ran: no slot asked for"
    runner.ran.clear()
    messages: list[str] = []
    again = Hooks(always_run={"b": "checkpoint stage"})
    opts = ReproOptions(explain=True, no_run_cache=True)  # b is in the run-cache
    Builder(project, g, opts, runner, EchoStatus(messages.append), hooks=again).run(g.stages)
    assert runner.ran == ["b"]
    assert "'b' runs because: checkpoint stage" in messages
    assert "Stage 'a' didn't change, skipping" in messages
