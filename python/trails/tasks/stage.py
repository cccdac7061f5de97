"""Tasks as stages of the one graph: ``TaskStage`` is a ``Stage`` whose
address is its node id (``src/task_model.py::task_fit[small]``), whose
entry lives in the root ``dvc.lock`` and whose command runs the function
in a worker process (``python -m trails.tasks.run NODE``). What the lock
records as its ``cmd`` names the task and the hash of each piece of code
it reaches, one per line, so a changed helper reruns exactly its tasks,
the run-cache keys on the code, and ``status`` names what changed (DVC's
own lock schema accepts a list ``cmd``)."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass, field
from typing import Any

from trails.pipeline.stage import LOCKFILE, Dep, Out, OutKind, ParamDep, Stage

#: The first line of a task's recorded ``cmd``; ``CODE`` starts the others.
HEAD = "trails task "
CODE = "code "


@dataclass(frozen=True)
class TaskStage(Stage):
    code: tuple[tuple[str, str], ...] = ()
    marks: tuple[str, ...] = ()
    #: What collection saw, a plain ``records.TaskSpec`` (``trails collect``
    #: lists it from the graph).
    spec: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def address(self) -> str:
        return self.name

    @property
    def lock_path(self) -> str:
        return LOCKFILE

    @property
    def is_task(self) -> bool:
        return True

    @property
    def keywords(self) -> tuple[str, ...]:
        return self.marks

    @property
    def recorded_cmd(self) -> str | list[str]:
        return [HEAD + self.name, *(f"{CODE}{label} {h}" for label, h in self.code)]

    def cmd_reasons(self, recorded: str | list[str]) -> list[str]:
        if recorded == self.recorded_cmd:
            return []
        lines = recorded if isinstance(recorded, list) else [recorded]
        if not lines or lines[0] != HEAD + self.name:
            return ["cmd changed"]
        before = dict(_code_line(x) for x in lines[1:] if x.startswith(CODE))
        now = dict(self.code)
        out = [f"code of '{k}' changed" for k in now if k in before and before[k] != now[k]]
        out += [f"code of '{k}' is newly reached" for k in now if k not in before]
        out += [f"code of '{k}' no longer reached" for k in before if k not in now]
        return out or ["cmd changed"]


def _code_line(line: str) -> tuple[str, str]:
    label, _, digest = line.removeprefix(CODE).rpartition(" ")
    return label, digest


def _out(o: dict[str, Any]) -> Out:
    kind: OutKind = "metrics" if o.get("kind") == "metrics" else (
        "plots" if o.get("kind") == "plots" else "outs"
    )  # fmt: skip
    path = o["path"]
    flags = {f: o.get(f, f == "cache") for f in ("cache", "persist", "checkpoint")}
    plot = dict(o.get("plot", {}))
    if isinstance(plot.get("y"), list):
        # Several fields of the plot's own file: dvc.yaml spells it {file: [fields]}.
        plot["y"] = {path: plot["y"]}
    return Out(path, path, kind, **flags, plot=tuple(plot.items()))


def to_stage(spec: dict[str, Any]) -> TaskStage:
    """The stage of a task as ``cache.collect`` gives it (a plain
    ``records.TaskSpec``, its types checked)."""
    params: dict[str, list[str]] = {}
    for p in spec.get("params", []):
        params.setdefault(p["file"], []).append(p["key"])
    node = spec["id"]
    return TaskStage(
        name=node,
        dvcfile=spec["file"],
        cmd=(f"{shlex.quote(sys.executable)} -m trails.tasks.run {shlex.quote(node)}",),
        deps=tuple(Dep(d, d) for d in dict.fromkeys(spec.get("deps", []))),
        params=tuple(ParamDep(f, f, tuple(dict.fromkeys(k))) for f, k in params.items()),
        outs=tuple(_out(o) for o in spec.get("outs", [])),
        line=spec["line"],
        code=tuple((label, h) for label, h in spec.get("code", [])),
        marks=tuple(spec.get("marks", [])),
        spec=spec,
    )
