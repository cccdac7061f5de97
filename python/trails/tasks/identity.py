"""A task's code identity: the function's own code and what it reaches in
the project, each normalised (the AST, without docstrings, comments or
layout: ``ruff format`` changes nothing), hashed one by one so that
``status`` can name what changed. Reached: the project-local functions and
classes it names (transitively, across modules, through ``import``s) and
the module-level values it reads (a constant, and what that constant's
expression reads in turn). Static, from the source: a helper is never
called to be known. pytask keys a task by its whole file (a reformat
reruns every task of it, its #403) and misses the values it reads (#338).
"""

from __future__ import annotations

import ast
import importlib.util
import os
import site
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trails import core
from trails.tasks.api import Plot

#: Hex digits of each code hash kept (in ``dvc.lock``'s ``cmd``).
DIGITS = 16

_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class Module:
    """One parsed project file: its top-level bindings and its functions
    by first line (a decorator's, or the ``def``'s)."""

    rel: str
    name: str
    tree: ast.Module
    bindings: dict[str, list[ast.stmt]] = field(default_factory=dict)
    by_line: dict[int, ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=dict)


def _top_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Module-level statements, also inside ``if``/``try``/``with`` blocks."""
    for st in body:
        yield st
        if isinstance(st, ast.If | ast.With | ast.Try):
            yield from _top_statements(st.body)
            yield from _top_statements(getattr(st, "orelse", []))
            for h in getattr(st, "handlers", []):
                yield from _top_statements(h.body)
            yield from _top_statements(getattr(st, "finalbody", []))


def _bound_names(st: ast.stmt) -> list[str]:
    if isinstance(st, _SCOPES):
        return [st.name]
    if isinstance(st, ast.Assign | ast.AnnAssign | ast.AugAssign):
        targets = st.targets if isinstance(st, ast.Assign) else [st.target]
        return [n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(st, ast.Import):
        return [a.asname or a.name.split(".")[0] for a in st.names]
    if isinstance(st, ast.ImportFrom):
        return [a.asname or a.name for a in st.names if a.name != "*"]
    return []


_PASS: list[ast.stmt] = [ast.Pass()]
_IMPORTS = (ast.Import, ast.ImportFrom)
_VALUES = (ast.Assign, ast.AnnAssign, ast.AugAssign)


class _Scan:
    """One pass over a definition: its text as ``ast.dump`` writes it (the
    node types, fields and values, no positions; so hashes are those
    trails always recorded) without docstrings, and the names it reads
    that it does not bind itself (arguments, assignments, inner
    definitions) with the attributes read off each. One pass instead of
    ``ast.dump`` plus ``ast.walk``: they were most of a cold collection."""

    def __init__(self) -> None:
        self.loads: set[str] = set()
        self.bound: set[str] = set()
        self.attrs: dict[str, set[str]] = {}

    def visit(self, node: Any) -> str:
        kind = type(node)
        if kind is ast.Name:
            (self.loads if type(node.ctx) is ast.Load else self.bound).add(node.id)
        elif kind is ast.arg:
            self.bound.add(node.arg)
        elif kind is ast.Attribute and type(node.value) is ast.Name:
            self.attrs.setdefault(node.value.id, set()).add(node.attr)
        parts = []
        for name in kind._fields:
            value = getattr(node, name, None)
            if value is None and getattr(kind, name, ...) is None:
                continue  # an optional field left out, as ast.dump leaves it
            if name == "body" and kind in _SCOPES and value and _is_docstring(value[0]):
                value = value[1:] or _PASS
            if isinstance(value, list):
                items = (self.visit(v) if isinstance(v, ast.AST) else repr(v) for v in value)
                parts.append(f"{name}=[{', '.join(items)}]")
            elif isinstance(value, ast.AST):
                parts.append(f"{name}={self.visit(value)}")
            else:
                parts.append(f"{name}={value!r}")
        return f"{kind.__name__}({', '.join(parts)})"


@dataclass(frozen=True)
class Scanned:
    hash: str
    names: frozenset[str]
    attrs: dict[str, set[str]]


def scan(node: ast.AST, *, drop_decorators: bool = False) -> Scanned:
    """``node``'s hash (what survives reformatting, comments and
    docstrings; for a task, ``drop_decorators``: markers and ids are not
    code, though the names its decorators read are reached), and the names
    and attributes it reads."""
    sc = _Scan()
    if drop_decorators and isinstance(node, _SCOPES):
        for d in node.decorator_list:
            sc.visit(d)
        saved = node.decorator_list
        node.decorator_list = []
        calls = _plot_calls(node)
        kept = [c.keywords for c in calls]
        for c in calls:
            c.keywords = [k for k in c.keywords if k.arg not in PLOT_PROPS]
        try:
            text = sc.visit(node)
        finally:
            node.decorator_list = saved
            for c, keywords in zip(calls, kept, strict=True):
                c.keywords = keywords
    else:
        text = sc.visit(node)
    for n in _nested(getattr(node, "body", None) or []):
        if isinstance(n, _SCOPES):
            sc.bound.add(n.name)
        elif isinstance(n, _IMPORTS):
            sc.bound.update(a.asname or a.name.split(".")[0] for a in n.names)
    if isinstance(node, _VALUES):
        sc.bound.clear()  # a module value: its own name is what it binds
    return Scanned(code_hash(text), frozenset(sc.loads - sc.bound), sc.attrs)


#: ``trails.Plot``'s display properties: read by ``trails plots`` only, so
#: not code (as a ``dvc.yaml`` plots entry's are not part of its stage).
PLOT_PROPS = frozenset(Plot.PROPS)


def _plot_calls(fn: ast.AST) -> list[ast.Call]:
    """The ``Plot(...)`` calls in a function's argument annotations."""
    args = getattr(fn, "args", None)
    if args is None:
        return []
    found = []
    for a in (*args.posonlyargs, *args.args, *args.kwonlyargs):
        for n in ast.walk(a.annotation) if a.annotation is not None else ():
            func = n.func if isinstance(n, ast.Call) else None
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name == "Plot" and isinstance(n, ast.Call):
                found.append(n)
    return found


def _nested(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement in ``body``, at any depth (definitions are statements:
    unlike ``ast.walk``, expressions are never entered)."""
    for st in body:
        yield st
        for attr in ("body", "orelse", "finalbody"):
            inner = getattr(st, attr, None)
            if isinstance(inner, list):
                yield from _nested(inner)
        for h in getattr(st, "handlers", None) or getattr(st, "cases", None) or ():
            yield from _nested(h.body)


def _is_docstring(st: ast.stmt) -> bool:
    return (
        isinstance(st, ast.Expr)
        and isinstance(st.value, ast.Constant)
        and isinstance(st.value.value, str)
    )


def code_hash(text: str) -> str:
    return core.hash_bytes(text.encode())[:DIGITS]


class Project:
    """Project-local modules, parsed once each: files under ``root`` and
    outside the environments (``site-packages``, the interpreter's)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self._by_file: dict[Path, Module | None] = {}
        self._local: dict[str, Path | None] = {}
        #: Each node scanned so far (a helper many tasks reach).
        self.scans: dict[int, Scanned] = {}
        # site's folders, not sysconfig's: the same ones, without loading
        # the build configuration (a cold collection's import time).
        envs = (sys.prefix, sys.base_prefix, *site.getsitepackages())
        outside = {Path(p).resolve() for p in envs}
        self._prefix = str(self.root) + os.sep
        self._envs_inside = [str(o) + os.sep for o in outside if o.is_relative_to(self.root)]
        #: Each folder's real path, resolved once (most modules share one).
        self._real_dirs: dict[str, str] = {}

    def local(self, file: str | None) -> Path | None:
        """``file`` resolved, if it is a project file (answers kept: this is
        asked of every loaded module for every task file)."""
        if not file or not file.endswith(".py"):
            return None
        if file not in self._local:
            self._local[file] = self._project_file(file)
        return self._local[file]

    def _project_file(self, file: str) -> Path | None:
        real = self._realpath(file)
        if not real.startswith(self._prefix) or "site-packages" in real.split(os.sep):
            return None
        if any(real.startswith(env) for env in self._envs_inside):
            return None
        return Path(real)

    def _realpath(self, file: str) -> str:
        """``os.path.realpath(file)``, with each folder resolved once: a
        collector asks this of every loaded module (~100, in a dozen
        folders), and resolving each path anew was a tenth of a cold
        collection of a small project."""
        folder, name = os.path.split(os.path.abspath(file))
        real = self._real_dirs.get(folder)
        if real is None:
            real = self._real_dirs[folder] = os.path.realpath(folder)
        full = os.path.join(real, name)
        return os.path.realpath(full) if os.path.islink(full) else full

    def module(self, path: Path, name: str) -> Module | None:
        if path not in self._by_file:
            self._by_file[path] = self._parse(path, name)
        return self._by_file[path]

    def _parse(self, path: Path, name: str) -> Module | None:
        try:
            tree = ast.parse(path.read_bytes(), str(path))
        except (OSError, SyntaxError, ValueError):
            return None
        mod = Module(path.relative_to(self.root).as_posix(), name, tree)
        for st in _top_statements(tree.body):
            for bound in _bound_names(st):
                mod.bindings.setdefault(bound, []).append(st)
        for n in _nested(tree.body):
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
                first = min([n.lineno, *(d.lineno for d in n.decorator_list)])
                mod.by_line.setdefault(first, n)
                mod.by_line.setdefault(n.lineno, n)
        return mod

    def named(self, modname: str) -> Module | None:
        """The project module called ``modname`` (imported already, or
        found without importing it), if it is one."""
        known = sys.modules.get(modname)
        file = getattr(known, "__file__", None) if known is not None else None
        if file is None and known is None:
            try:
                spec = importlib.util.find_spec(modname)
            except (ImportError, ValueError):
                return None
            file = spec.origin if spec is not None else None
        path = self.local(file)
        return self.module(path, modname) if path is not None else None


def _absolute(mod: Module, st: ast.ImportFrom) -> str:
    """The module an ``import from`` names, relative ones resolved."""
    if not st.level:
        return st.module or ""
    is_package = Path(mod.rel).name == "__init__.py"
    package = mod.name if is_package else mod.name.rpartition(".")[0]
    try:
        return importlib.util.resolve_name("." * st.level + (st.module or ""), package)
    except ImportError:
        return ""


class Identity:
    """The ``(label, hash)`` list of each task function of one module: its
    own first, then what it reaches, sorted. Labels are ``file::name``."""

    def __init__(self, project: Project, modname: str) -> None:
        self.project = project
        self.modname = modname

    def of(self, fn: Any) -> list[tuple[str, str]]:
        """``fn``'s identity (a function of the module ``modname``)."""
        path = self.project.local(fn.__code__.co_filename)
        mod = self.project.module(path, self.modname) if path is not None else None
        node = mod.by_line.get(fn.__code__.co_firstlineno) if mod is not None else None
        if mod is None or node is None:  # no source (generated): its bytecode
            return [(fn.__qualname__, code_hash(repr(fn.__code__.co_code)))]
        mine = scan(node, drop_decorators=True)
        own = (f"{mod.rel}::{node.name}", mine.hash)
        found: dict[str, str] = {}
        self._reach(mod, mine, found, {own[0]})
        return [own, *sorted(found.items())]

    def _reach(self, mod: Module, node: Scanned, found: dict[str, str], seen: set[str]) -> None:
        for name in sorted(node.names):
            for target_mod, target, label in self._resolve(mod, name, node.attrs.get(name, set())):
                if label in seen:
                    continue
                seen.add(label)
                key = id(target)
                if key not in self.project.scans:
                    self.project.scans[key] = scan(target)
                found[label] = self.project.scans[key].hash
                self._reach(target_mod, self.project.scans[key], found, seen)

    def _resolve(
        self, mod: Module, name: str, attrs: set[str], depth: int = 0
    ) -> Iterator[tuple[Module, ast.stmt, str]]:
        if depth > 20:
            return
        for st in mod.bindings.get(name, []):
            if isinstance(st, ast.Import):
                for a in st.names:
                    if (a.asname or a.name.split(".")[0]) == name:
                        yield from self._module_attrs(a.name if a.asname else name, attrs, depth)
            elif isinstance(st, ast.ImportFrom):
                base = _absolute(mod, st)
                for a in st.names:
                    if (a.asname or a.name) != name:
                        continue
                    source = self.project.named(base) if base else None
                    if source is not None and a.name in source.bindings:
                        yield from self._resolve(source, a.name, attrs, depth + 1)
                    else:  # a submodule: from pkg import helpers
                        yield from self._module_attrs(f"{base}.{a.name}", attrs, depth)
            else:
                yield mod, st, f"{mod.rel}::{name}"

    def _module_attrs(
        self, modname: str, attrs: set[str], depth: int
    ) -> Iterator[tuple[Module, ast.stmt, str]]:
        source = self.project.named(modname)
        if source is not None:
            for attr in sorted(attrs):
                yield from self._resolve(source, attr, set(), depth + 1)
