"""What is stale and why. Each check returns human-readable reasons (empty:
up to date), so ``status`` and ``repro --explain`` can print them: "dep
'data' changed", "params.yaml:train.lr 0.1 -> 0.2", "output 'model.pt'
missing". Pure decisions: no commands run here."""

from __future__ import annotations

from typing import Any

from trails import params
from trails.errors import TrailsError
from trails.pipeline.lockfile import FileState, LockEntry
from trails.pipeline.stage import ParamDep, Stage
from trails.state import Workspace

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
    """The lock file's form of the command."""
    return stage.cmd[0] if len(stage.cmd) == 1 else list(stage.cmd)


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
    if lock.cmd != cmd_value(stage):
        out.append("cmd changed")
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
