"""What is stale and why. Each check returns human-readable reasons (empty:
up to date), so ``status`` and ``repro --explain`` can print them: "dep
'data' changed", "params.yaml:train.lr 0.1 -> 0.2", "output 'model.pt'
missing". Pure decisions: no commands run here."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from trails import params
from trails.errors import PipelineError, TrailsError
from trails.pipeline.graph import Graph, overlaps
from trails.pipeline.lockfile import FileState, LockEntry
from trails.pipeline.stage import ParamDep, Stage
from trails.repro.workspace import Workspace

_MISSING = object()


def _fmt(value: Any) -> str:
    if value is _MISSING:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def cmd_value(stage: Stage) -> str | list[str]:
    """The lock file's form of the command (a task's names its code)."""
    return stage.recorded_cmd


def current_params(stage: Stage, ws: Workspace) -> dict[str, dict[str, Any]]:
    """The values a stage's params have now, in the lock file's form.
    Missing keys are left out (the check reports them)."""
    out: dict[str, dict[str, Any]] = {}
    for pd in stage.params:
        data = ws.params_file(pd.repo_path)
        values: dict[str, Any] = {}
        if pd.keys:
            for key in pd.keys:
                value = params.get(data, key, _MISSING)
                if value is not _MISSING:
                    values[key] = value
        else:
            values = dict(data)
        out[pd.path] = values
    return out


def missing_params(stage: Stage, ws: Workspace) -> list[str]:
    """``file:key`` of every declared param absent from its file."""
    missing = []
    for pd in stage.params:
        data = ws.params_file(pd.repo_path)
        missing += [f"{pd.path}:{k}" for k in pd.keys if not params.has(data, k)]
    return missing


def _param_reasons(pd: ParamDep, now: dict[str, Any], before: dict[str, Any]) -> list[str]:
    flat_now = dict(params.flatten(now)) if not pd.keys else now
    flat_before = dict(params.flatten(before)) if not pd.keys else before
    keys = pd.keys or tuple(dict.fromkeys([*flat_before, *flat_now]))
    reasons = []
    for key in keys:
        a, b = flat_before.get(key, _MISSING), flat_now.get(key, _MISSING)
        if a != b or type(a) is not type(b):
            reasons.append(f"{pd.path}:{key} {_fmt(a)} -> {_fmt(b)}")
    return reasons


def _file_reasons(
    kind: str, path: str, now: FileState | None, before: FileState | None
) -> list[str]:
    if now is None:
        return [f"{kind} '{path}' missing"]
    if before is None:
        return [f"{kind} '{path}' is new"]
    if before.hash_name != now.hash_name:
        return [f"{kind} '{path}' recorded with {before.hash_name}, re-hashed with {now.hash_name}"]
    if before.value != now.value or before.isexec != now.isexec:
        return [f"{kind} '{path}' " + ("changed" if kind == "dep" else "modified")]
    return []


def reasons(stage: Stage, lock: LockEntry | None, ws: Workspace) -> list[str]:
    """Why ``stage`` must run; empty when its lock entry matches the workspace."""
    if lock is None:
        return ["never run"]
    out: list[str] = []
    if stage.always_changed:
        out.append("always changed")
    out += stage.cmd_reasons(lock.cmd)
    ws.prefetch([d.repo_path for d in stage.deps] + [o.repo_path for o in stage.outs])
    for d in stage.deps:
        out += _file_reasons("dep", d.path, ws.file_state(d.path, d.repo_path), lock.dep(d.path))
    declared = {d.path for d in stage.deps}
    out += [f"dep '{s.path}' removed" for s in lock.deps if s.path not in declared]
    try:
        now = current_params(stage, ws)
    except TrailsError as exc:
        out.append(str(exc))
    else:
        for pd in stage.params:
            out += _param_reasons(pd, now.get(pd.path, {}), lock.params.get(pd.path, {}))
        out += [f"params of '{f}' removed" for f in lock.params if f not in now]
    for o in stage.outs:
        out += _file_reasons("output", o.path, ws.file_state(o.path, o.repo_path), lock.out(o.path))
    return out


def missing_dep(stage: Stage, path: str) -> PipelineError:
    return PipelineError(
        f"stage '{stage.address}': dependency '{path}' does not exist",
        hint="Create it, add it with 'trails add', or fix the stage's 'deps'.",
    )


def check_runnable(stage: Stage, graph: Graph, ws: Workspace) -> None:
    """Raise for a stage that cannot run now: a dependency that is neither
    on disk (nor assumed) nor some stage's output, or a declared param
    absent from its file."""
    for d in stage.deps:
        absent = ws.file_state(d.path, d.repo_path) is None
        if absent and graph.owner_of(d.repo_path) is None:
            raise missing_dep(stage, d.path)
    check_params(stage, ws)


def check_params(stage: Stage, ws: Workspace) -> None:
    """Raise for a declared param absent from its file."""
    missing = missing_params(stage, ws)
    if missing:
        where = f"{stage.dvcfile}:{stage.line}: " if stage.line else ""
        raise PipelineError(
            f"{where}stage '{stage.address}': params missing: {', '.join(missing)}",
            hint="Add them to the params file or remove them from the stage's 'params'.",
        )


def preflight(
    root: Path,
    graph: Graph,
    ws: Workspace,
    stages: list[Stage],
    *,
    running: bool = True,
    allow_missing: bool = False,
) -> None:
    """Refuse, before anything is hashed, linked or run, what
    ``check_runnable`` would refuse later from the disk alone: a ``wdir``
    that is not a folder (when ``running``) and a dependency that neither
    exists, nor is assumed, nor is some stage's output; a task's param
    absent from its file. A refused command
    then leaves the stat index, the run-cache locks and the outputs of the
    stages before it as they were."""
    assumed = ws.assumed()
    for stage in stages:
        if stage.frozen:
            continue
        if running and not (root / stage.wdir).is_dir():
            where = f"{stage.dvcfile}:{stage.line}" if stage.line else stage.dvcfile
            raise PipelineError(
                f"{where}: stage '{stage.address}': wdir '{stage.wdir}' is not a folder",
                hint="Create the folder, or fix the stage's 'wdir'.",
            )
        if stage.is_task:  # before anything runs (a dvc.yaml stage's: when it is decided)
            check_params(stage, ws)
        if allow_missing:
            continue
        for d in stage.deps:
            if (
                graph.owner_of(d.repo_path) is None
                and not os.path.lexists(root / d.repo_path)
                and not any(overlaps(a, d.repo_path) for a in assumed)
            ):
                raise missing_dep(stage, d.path)
