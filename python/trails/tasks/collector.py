"""The collector: ``python -m trails.tasks.collector ROOT FILE...`` imports
the task files (in a process of its own: user code with its imports, its
prints, its crashes, its ``sys.path``, never in trails' own process) and
prints a ``records.Batch`` on stdout: per file, its tasks (declarations
and code identity) or its one error with ``file:line``, and the stamps of
every project file it read."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from trails import core
from trails.errors import PipelineError
from trails.tasks import describe, loader
from trails.tasks.api import REGISTERED, Plot, TaskDef
from trails.tasks.identity import Identity, Project, code_hash
from trails.tasks.records import Batch, FileEntry, OutSpec, ParamSpec, Stamp, TaskSpec


def stamp(root: Path, path: Path) -> Stamp:
    data = path.read_bytes()
    st = path.stat()
    rel = path.resolve().relative_to(root).as_posix()
    return Stamp(rel, st.st_size, st.st_mtime_ns, core.hash_bytes(data))


def _where(root: Path, exc: BaseException, relpath: str) -> tuple[str, int]:
    """The project file and line an exception comes from: for a syntax
    error, where the parser stopped; else the deepest frame in a project
    file (the task file's import line when the error is deeper)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        path = Path(exc.filename).resolve()
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix(), exc.lineno or 1
    import traceback  # only for a file that fails

    where = (relpath, 1)
    for frame, line in traceback.walk_tb(exc.__traceback__):
        path = Path(frame.f_code.co_filename).resolve()
        if path.is_relative_to(root) and "site-packages" not in path.parts:
            where = (path.relative_to(root).as_posix(), line)
    return where


def _spec(node: str, d: TaskDef, root: Path, relpath: str, ident: Identity,
          resolver: describe.Resolver) -> TaskSpec:  # fmt: skip
    args = describe.arguments(d, root, relpath, resolver)
    code = ident.of(d.fn)
    values = {k: repr(a.value) for k, a in args.items() if a.kind == "value" and k in d.kwargs}
    if values:
        code.append((f"{node}(kwargs)", code_hash(repr(sorted(values.items())))))
    return TaskSpec(
        id=node,
        file=relpath,
        line=d.fn.__code__.co_firstlineno,
        deps=[p for a in args.values() if a.kind == "dep" for p in a.repo_paths],
        outs=[
            OutSpec(
                a.repo_paths[0],
                a.out.kind,
                a.out.cache,
                a.out.persist,
                a.out.checkpoint,
                plot=a.out.props() if isinstance(a.out, Plot) else {},
            )
            for a in args.values()
            if a.kind == "out" and a.out is not None
        ],
        params=[ParamSpec(a.value.file, a.value.name) for a in args.values() if a.kind == "param"],
        marks=describe.marks(d),
        code=code,
    )


def collect_file(root: Path, relpath: str, project: Project) -> FileEntry:
    path = root / relpath
    entry = FileEntry(stamp=stamp(root, path))
    try:
        del REGISTERED[:]
        _forget_project_modules(project)
        module = loader.load(root, relpath)
        ident = Identity(project, module.__name__)
        resolver = describe.Resolver(root, relpath)
        entry.tasks = [
            _spec(node, d, root, relpath, ident, resolver)
            for node, d in describe.task_defs(module, relpath)
        ]
    except PipelineError as exc:
        entry.error, entry.hint = str(exc), exc.hint
    except (Exception, SystemExit) as exc:
        file, line = _where(root, exc, relpath)
        what = "syntax error" if isinstance(exc, SyntaxError) else "error while importing"
        detail = exc.msg if isinstance(exc, SyntaxError) else f"{type(exc).__name__}: {exc}"
        entry.error = f"{file}:{line}: {what} '{relpath}': {detail}"
        entry.hint = "Fix the task file (run it with python to see the traceback)."
    entry.reached = _reached(root, project, relpath)
    return entry


def _forget_project_modules(project: Project) -> None:
    """Each task file is imported with no project module loaded yet, so
    the ones loaded after it are exactly those it reached."""
    for name, module in list(sys.modules.items()):
        if project.local(getattr(module, "__file__", None)) is not None:
            del sys.modules[name]


def _reached(root: Path, project: Project, relpath: str) -> list[Stamp]:
    """Every project module its import loaded: a change to any of them
    makes the file collected again."""
    out = []
    for module in list(sys.modules.values()):
        path = project.local(getattr(module, "__file__", None))
        if path is not None and path.resolve() != (root / relpath).resolve() and path.exists():
            out.append(stamp(root, path))
    return sorted(out, key=lambda s: s.path)


def answer(root: Path, files: list[str]) -> bytes:
    """The ``records.Batch`` of ``files``, encoded; what the task files
    print goes to stderr (it is not the answer)."""
    os.chdir(root)
    project = Project(root)
    out = sys.stdout
    sys.stdout = sys.stderr
    try:
        return Batch(files={rel: collect_file(root, rel, project) for rel in files}).encode()
    finally:
        sys.stdout = out


def main(argv: list[str]) -> int:
    data = answer(Path(argv[0]).resolve(), argv[1:])
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
