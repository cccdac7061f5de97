"""The graph of stages: edges from the stage that writes a path to the
stages that read it (also a dependency on a folder that holds another
stage's output, and the reverse), with the checks that make a graph sound:
outputs confined to the project (``trails.confine``), never a pipeline,
lock or params file nor a dependency of their own stage, no output declared
twice or nested in another, no cycle. Also target resolution (``train``, ``sub/dvc.yaml:train``,
``build@us``, globs, ``-R dir``)."""

from __future__ import annotations

import bisect
import fnmatch
import itertools
import posixpath
from collections.abc import Iterable, Sequence
from pathlib import Path

from trails.confine import confined, protected
from trails.errors import PipelineError, did_you_mean
from trails.pipeline.stage import DVCFILE, Out, Stage


def _where(stage: Stage) -> str:
    return f"{stage.dvcfile}:{stage.line}" if stage.line else stage.dvcfile


def _inside(child: str, parent: str) -> bool:
    return child.startswith(parent + "/") or parent == "."


def overlaps(a: str, b: str) -> bool:
    """Whether two repo paths are the same, or one holds the other."""
    return a == b or _inside(a, b) or _inside(b, a)


class Graph:
    def __init__(self, stages: Sequence[Stage], root: Path) -> None:
        self.root = root
        self.stages = list(stages)
        self.by_address: dict[str, Stage] = {}
        for s in self.stages:
            self.by_address[s.address] = s
        self._position = {s.address: i for i, s in enumerate(self.stages)}
        self._owner: dict[str, tuple[Stage, Out]] = {}
        self._check_outputs()
        self._sorted_outs = sorted(self._owner)
        self.upstream: dict[str, list[str]] = {s.address: [] for s in self.stages}
        self.downstream: dict[str, list[str]] = {s.address: [] for s in self.stages}
        for s in self.stages:
            for producer in self._producers(s):
                self.upstream[s.address].append(producer.address)
                self.downstream[producer.address].append(s.address)
        self._check_cycles()

    # -- checks -------------------------------------------------------------

    def _check_outputs(self) -> None:
        held = self._protected_paths()
        resolved: dict[Path, Path] = {}  # a folder holding many outputs is resolved once
        for s in self.stages:
            if s.wdir != ".":
                where = f"{_where(s)}: stage '{s.name}': wdir"
                confined(self.root, s.wdir, source=where, resolved=resolved)
            for o in s.outs:
                p = o.repo_path
                where = f"{_where(s)}: stage '{s.name}': output"
                confined(self.root, p, source=where, hint="Outputs must be paths in the project.",
                         resolved=resolved)  # fmt: skip
                self._check_not_protected(s, o, held)
                self._check_not_a_dep(s, o)
                if o.checkpoint and not o.cache:
                    raise PipelineError(
                        f"{_where(s)}: stage '{s.name}': checkpoint output '{o.path}' has "
                        "'cache: false'",
                        hint="Checkpoints restore outputs from the cache: remove 'cache: false'.",
                    )
                if p in self._owner:
                    other = self._owner[p][0]
                    raise PipelineError(
                        f"{_where(s)}: output '{p}' is declared by both stage '{other.address}' "
                        f"({_where(other)}) and stage '{s.address}'",
                        hint="Each path may be the output of one stage only.",
                    )
                self._owner[p] = (s, o)
        ordered = sorted(self._owner)
        for a, b in itertools.pairwise(ordered):
            if _inside(b, a):
                sa, sb = self._owner[a][0], self._owner[b][0]
                raise PipelineError(
                    f"{_where(sb)}: overlapping outputs: '{a}' (stage '{sa.address}') contains "
                    f"'{b}' (stage '{sb.address}')",
                    hint="Make the outputs disjoint, or let one stage write both.",
                )

    def _protected_paths(self) -> dict[str, str]:
        """Every folder holding a pipeline file, lock file or params file a
        stage reads (and the file itself) -> that file. A stage's outputs
        are deleted before it runs: an output there would delete them."""
        files = [s.dvcfile for s in self.stages] + [s.lock_path for s in self.stages]
        files += [p.repo_path for s in self.stages for p in s.params]
        held: dict[str, str] = {}
        for f in files:  # a folder is named by its pipeline file first
            for folder in (f, *self._ancestors(f)):
                held.setdefault(folder, f)
        return held

    @staticmethod
    def _check_not_protected(s: Stage, o: Out, held: dict[str, str]) -> None:
        p = o.repo_path
        file = held.get(p) or (p if protected(p) else None)
        if file is not None:
            what = f"'{p}'" if file == p else f"'{p}', which holds '{file}'"
            raise PipelineError(
                f"{_where(s)}: stage '{s.name}': output {what}: trails reads it as a pipeline, "
                "lock, params or ignore file and would delete it before the stage runs",
                hint="Write the output to another path.",
            )

    @staticmethod
    def _check_not_a_dep(s: Stage, o: Out) -> None:
        """An output that is a dependency of its own stage, or holds one, is
        deleted before the command that reads it runs (a persisted output
        is kept, so it may hold one, but not be one: the reference tool's
        rule)."""
        p = o.repo_path
        for d in s.deps:
            if d.repo_path == p or (_inside(d.repo_path, p) and not o.persist):
                what = "is also" if d.repo_path == p else f"holds '{d.repo_path}',"
                raise PipelineError(
                    f"{_where(s)}: stage '{s.name}': output '{p}' {what} a dependency of "
                    "the same stage",
                    hint="Outputs are deleted before the stage runs: write the output to "
                    "another path.",
                )

    def _producers(self, stage: Stage) -> list[Stage]:
        found: dict[str, Stage] = {}
        for dep in stage.deps:
            d = dep.repo_path
            # The dep is an output, or lies inside one.
            for candidate in (d, *self._ancestors(d)):
                if candidate in self._owner:
                    found.setdefault(self._owner[candidate][0].address, self._owner[candidate][0])
            # Outputs inside a dep folder.
            i = bisect.bisect_right(self._sorted_outs, d + "/")
            while i < len(self._sorted_outs) and self._sorted_outs[i].startswith(d + "/"):
                owner = self._owner[self._sorted_outs[i]][0]
                found.setdefault(owner.address, owner)
                i += 1
        found.pop(stage.address, None)
        return sorted(found.values(), key=lambda s: self._position[s.address])

    @staticmethod
    def _ancestors(path: str) -> Iterable[str]:
        while "/" in path:
            path = path.rsplit("/", 1)[0]
            yield path

    def _check_cycles(self) -> None:
        state: dict[str, int] = {}
        stack: list[str] = []

        def visit(a: str) -> None:
            state[a] = 1
            stack.append(a)
            for u in self.upstream[a]:
                if state.get(u) == 1:
                    cycle = [*stack[stack.index(u) :], u]
                    raise PipelineError(
                        f"{_where(self.by_address[a])}: circular dependency: "
                        + " -> ".join(reversed(cycle)),
                        hint="A stage may not depend, directly or not, on its own outputs.",
                    )
                if u not in state:
                    visit(u)
            stack.pop()
            state[a] = 2

        for s in self.stages:
            if s.address not in state:
                visit(s.address)

    # -- queries ------------------------------------------------------------

    def ancestors(self, addresses: Iterable[str]) -> set[str]:
        return self._closure(addresses, self.upstream)

    def descendants(self, addresses: Iterable[str]) -> set[str]:
        return self._closure(addresses, self.downstream)

    @staticmethod
    def _closure(start: Iterable[str], edges: dict[str, list[str]]) -> set[str]:
        seen: set[str] = set()
        todo = list(start)
        while todo:
            a = todo.pop()
            if a not in seen:
                seen.add(a)
                todo.extend(edges[a])
        return seen

    def pipeline_of(self, address: str) -> set[str]:
        """The connected component holding ``address``."""
        seen: set[str] = set()
        todo = [address]
        while todo:
            a = todo.pop()
            if a not in seen:
                seen.add(a)
                todo.extend(self.upstream[a])
                todo.extend(self.downstream[a])
        return seen

    def order(self, addresses: Iterable[str]) -> list[Stage]:
        """Topological order of the given stages, upstream first; ties keep
        the order of the pipeline files."""
        wanted = set(addresses)
        done: set[str] = set()
        out: list[Stage] = []

        def visit(a: str) -> None:
            if a in done:
                return
            done.add(a)
            for u in self.upstream[a]:
                if u in wanted:
                    visit(u)
            out.append(self.by_address[a])

        for a in sorted(wanted, key=self._position.__getitem__):
            visit(a)
        return out

    def owner_of(self, repo_path: str) -> Stage | None:
        hit = self._owner.get(repo_path)
        return hit[0] if hit else None

    # -- targets ------------------------------------------------------------

    def resolve(self, target: str, *, glob: bool = False, cwd: str = ".") -> list[Stage]:
        """Stages named by one target (see :meth:`_resolve`). Given from the
        sub-folder ``cwd`` (repo-relative), the target is first read as
        relative to it (``summarize`` = ``cwd/dvc.yaml:summarize``), as the
        reference tool reads it; then, failing that, from the root."""
        return self._resolve(self.locate(target, glob=glob, cwd=cwd), glob=glob)

    def locate(self, target: str, *, glob: bool = False, cwd: str = ".") -> str:
        """``target`` spelled from the root: the ``cwd``-relative reading
        if it names stages, else the target as written (a queued run, which
        starts at the root, gets this spelling)."""
        if cwd in ("", "."):
            return target
        dvcfile, sep, name = target.rpartition(":")
        if sep:
            local = f"{posixpath.join(cwd, dvcfile)}:{name}"
        elif target.endswith(DVCFILE) or target.endswith("/"):
            local = posixpath.join(cwd, target)
        else:
            local = f"{posixpath.join(cwd, DVCFILE)}:{target}"
        try:
            self._resolve(local, glob=glob)
        except PipelineError as local_error:
            try:
                self._resolve(target, glob=glob)
            except PipelineError:
                raise local_error from None
            return target
        return local

    def _resolve(self, target: str, *, glob: bool = False) -> list[Stage]:
        """Stages named by one target: ``name``, ``name@item``, a foreach
        group ``name`` (all its items), ``dir/dvc.yaml``, ``dir/dvc.yaml:name``
        or, with ``glob``, a pattern over those names."""
        if "::" in target or target.endswith(".py"):
            return self._resolve_task(target, glob=glob)
        dvcfile, _, name = target.rpartition(":")
        if not dvcfile and (target.endswith(DVCFILE) or target.endswith("/")):
            dvcfile, name = target, ""
        if dvcfile:
            dvcfile = posixpath.normpath(dvcfile.rstrip("/"))
            if not dvcfile.endswith(DVCFILE):
                dvcfile = posixpath.join(dvcfile, DVCFILE)
        else:
            dvcfile = DVCFILE
        pool = [s for s in self.stages if s.dvcfile == dvcfile]
        if not name:
            if not pool:
                raise PipelineError(f"'{target}': no stages in '{dvcfile}'")
            return pool
        if glob:
            hits = [s for s in pool if fnmatch.fnmatchcase(s.name, name)]
        else:
            hits = [s for s in pool if s.name == name] or [
                s for s in pool if s.name.split("@", 1)[0] == name and "@" in s.name
            ]
        if not hits:
            names = sorted({s.address for s in self.stages})
            raise PipelineError(
                f"'{target}' is not a stage"
                + (" matching the pattern" if glob else "")
                + (f" of '{dvcfile}'" if dvcfile != DVCFILE else ""),
                hint=did_you_mean(target, names, otherwise="'trails dag' lists the stages."),
            )
        return hits

    def _resolve_task(self, target: str, *, glob: bool) -> list[Stage]:
        """Tasks named by a node id (``src/task_a.py::task_fit``, which
        also names its repetitions ``task_fit[...]``) or a task file."""
        file, _, name = target.partition("::")
        file = posixpath.normpath(file)
        pool = [s for s in self.stages if s.is_task and s.dvcfile == file]
        node = f"{file}::{name}"
        if not name:
            hits = pool
        elif glob:
            hits = [s for s in pool if fnmatch.fnmatchcase(s.address, node)]
        else:
            hits = [s for s in pool if s.address == node] or [
                s for s in pool if s.address.startswith(node + "[")
            ]
        if not hits:
            names = sorted(s.address for s in self.stages if s.is_task)
            raise PipelineError(
                f"'{target}' is not a task" + (" matching the pattern" if glob else ""),
                hint=did_you_mean(target, names, otherwise="'trails collect' lists the tasks."),
            )
        return hits

    def under(self, folder: str) -> list[Stage]:
        """Stages of every pipeline file under ``folder`` (``-R``)."""
        folder = posixpath.normpath(folder)
        hits = [
            s
            for s in self.stages
            if folder == "." or s.dvcfile.startswith(folder + "/") or s.dvcfile == folder
        ]
        if not hits:
            raise PipelineError(f"'{folder}': no pipeline files (dvc.yaml) under this folder")
        return hits
