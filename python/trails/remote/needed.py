"""Which cache objects a ``push``/``fetch``/``status -c`` is about: the
cached outputs of the workspace's pipeline (``dvc.lock``) and ``.dvc``
files, optionally only the TARGETS given, and those of other commits (the
``gc`` scope flags: ``-a`` branch heads, ``-T`` tags, ``-A`` every commit;
an experiment's commits for ``exp push``/``pull``). Trees count with their
files: the manifest (``<hash>.dir``) and every object it names, read from
the cache (a manifest not there yet is expanded after it is fetched:
``expand``)."""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from trails import core, yamlio
from trails.errors import TrailsError, did_you_mean
from trails.git import Git
from trails.project import Project

TREE = ".dir"

#: name -> the path it is an output at (for messages)
Needed = dict[str, str]


class TargetError(TrailsError):
    pass


def workspace(project: Project, targets: Sequence[str] = ()) -> Needed:
    """The workspace's cached outputs (``push: false`` ones left out), of
    the TARGETS only if any are given: a stage name, an output path (or a
    folder above outputs), or a ``.dvc`` file."""
    from trails import data
    from trails.pipeline import load_graph
    from trails.repro.locks import Locks

    graph = load_graph(project)
    locks = Locks(project.root, graph)
    found: list[tuple[tuple[str, ...], str, str]] = []  # (names it answers to, path, hash)
    for stage in graph.stages:
        entry = locks.of(stage).get(stage.name)
        if entry is None:
            continue
        for o in stage.cached_outs:
            state = entry.out(o.path)
            if o.push and state is not None and state.hash_name == core.ALGORITHM:
                found.append(((stage.address, stage.name), o.repo_path, state.value))
    for t in data.tracked(project):
        if t.state.hash_name == core.ALGORITHM:
            found.append(((t.dvcfile,), t.repo_path, t.state.value))
    wanted = [_repo_path(project, t) for t in targets]
    out: Needed = {}
    hit: set[str] = set()
    for names, path, value in found:
        match = [w for w in wanted if w in names or path == w or path.startswith(w + "/")]
        if wanted and not match:
            continue
        hit.update(match)
        out.setdefault(value, path)
    for w, spelled in zip(wanted, targets, strict=True):
        if w not in hit:
            known = [p for _, p, _ in found] + [n for ns, _, _ in found for n in ns]
            raise TargetError(
                f"'{spelled}' is not a cached output, a stage or a .dvc file of this project",
                hint=did_you_mean(w, known, otherwise="'trails status' lists the stages."),
            )
    return out


def _repo_path(project: Project, target: str) -> str:
    """A target as the user wrote it: a stage name stays as it is; a path
    (relative to the current folder) becomes repo-relative."""
    p = Path(target)
    if not p.exists() and ("/" not in target or target.count(":") == 1):
        return target
    return project.rel(p) if p.is_absolute() or p.exists() else posixpath.normpath(target)


def of_commits(git: Git, commits: Iterable[str]) -> Needed:
    """The cached outputs that the ``dvc.lock`` and ``.dvc`` files of each
    commit record (read from Git, whatever the workspace holds). Outputs a
    ``dvc.yaml`` marks ``cache: false`` are left out."""
    specs: list[str] = []
    for c in dict.fromkeys(commits):
        names = git.run("ls-tree", "-r", "--name-only", c).splitlines()
        for n in names:
            if n.endswith((".dvc", "dvc.lock", "dvc.yaml")) and posixpath.basename(n) != ".dvc":
                specs.append(f"{c}:{n}")
    docs: dict[str, Any] = {}
    for spec, blob in zip(specs, git.read_blobs(specs), strict=True):
        if blob is None:
            continue
        try:
            docs[spec] = yamlio.loads(blob.decode())
        except (TrailsError, UnicodeDecodeError):
            continue
    out: Needed = {}
    for spec, doc in docs.items():
        commit, _, name = spec.partition(":")
        folder = posixpath.dirname(name)
        if name.endswith(".dvc"):
            entries = [("", e) for e in _list(doc, "outs")]
        elif name.endswith("dvc.lock"):
            uncached = _uncached(docs.get(f"{commit}:{posixpath.join(folder, 'dvc.yaml')}"))
            stages = doc.get("stages") if isinstance(doc, dict) else None
            entries = [
                (stage, e)
                for stage, body in (stages.items() if isinstance(stages, dict) else ())
                for e in _list(body, "outs")
                if (stage, e.get("path")) not in uncached
            ]
        else:
            continue
        for _, e in entries:
            value = e.get(core.ALGORITHM)
            if e.get("hash", core.ALGORITHM) == core.ALGORITHM and isinstance(value, str):
                out.setdefault(value, posixpath.join(folder, str(e.get("path", "?"))))
    return out


def _list(doc: Any, key: str) -> list[dict[str, Any]]:
    items = doc.get(key) if isinstance(doc, dict) else None
    return [e for e in items if isinstance(e, dict)] if isinstance(items, list) else []


def _uncached(pipeline: Any) -> set[tuple[str, Any]]:
    """``(stage, path)`` of outputs ``dvc.yaml`` declares ``cache: false``
    or ``push: false`` (a plain stage only: ``foreach`` items keep theirs)."""
    out: set[tuple[str, Any]] = set()
    stages = pipeline.get("stages") if isinstance(pipeline, dict) else None
    for name, body in (stages or {}).items() if isinstance(stages, dict) else ():
        for kind in ("outs", "metrics", "plots"):
            for o in (body.get(kind) or []) if isinstance(body, dict) else []:
                if isinstance(o, dict):
                    for path, opts in o.items():
                        if isinstance(opts, dict) and (
                            opts.get("cache") is False or opts.get("push") is False
                        ):
                            out.add((name, path))
    return out


class _Entry(msgspec.Struct):
    """What ``expand`` reads of a manifest entry (the rest is skipped)."""

    relpath: str
    blake3: str


_ENTRIES = msgspec.json.Decoder(list[_Entry])


def expand(cache: Path, needed: Needed) -> tuple[Needed, list[str]]:
    """``needed`` with the files of each tree whose manifest is in the
    cache; and the trees whose manifest is not (to fetch, then expand).
    The manifest is checked by the core (hash, paths), then decoded with
    msgspec into the two fields needed: 100k ``core.Entry`` objects cost
    more than the rest of a no-op push."""
    out = dict(needed)
    absent = []
    for value, path in needed.items():
        if not value.endswith(TREE):
            continue
        try:
            manifest = core.read_manifest(cache, value.removesuffix(TREE))
        except (TrailsError, OSError):
            absent.append(value)
            continue
        for e in _ENTRIES.decode(manifest):
            out.setdefault(e.blake3, f"{path}/{e.relpath}")
    return out, absent
