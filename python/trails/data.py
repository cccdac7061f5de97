"""Data tracked with ``trails add``: ``PATH.dvc`` files in the reference
tool's format (one ``outs`` entry: ``path``, ``hash``, the hash, ``size``,
``nfiles`` for folders), the bytes in the cache, ``PATH`` git-ignored.

``.dvc`` files are found by the project's one listing (``trails.files``:
Git, tracked and untracked-but-not-ignored), never by walking the
workspace, whose data folders may hold hundreds of thousands of files."""

from __future__ import annotations

import fnmatch
import os
import posixpath
import shutil
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

from trails import core, files, gitignore, rootlink, textio, yamlio
from trails.confine import UnsafePathError, check_output_folder, confined, protected
from trails.errors import TrailsError
from trails.pipeline.lockfile import TREE_SUFFIX, FileState
from trails.progress import progress
from trails.project import Project

SUFFIX = ".dvc"


class DataError(TrailsError):
    pass


@dataclass(frozen=True)
class Tracked:
    dvcfile: str  # repo-relative path of the .dvc file
    state: FileState  # its ``path`` is relative to the .dvc file's folder

    @property
    def repo_path(self) -> str:
        return posixpath.normpath(posixpath.join(posixpath.dirname(self.dvcfile), self.state.path))


def find(project: Project) -> list[str]:
    """Every ``.dvc`` file of the project (tracked or new, not ignored):
    the project's one listing (``trails.files``)."""
    return list(project.files().listing().data)


def read(project: Project, dvcfile: str) -> Tracked:
    return parse(project, dvcfile, textio.read(project.root / dvcfile, dvcfile))


def parse(project: Project, dvcfile: str, text: str) -> Tracked:
    """The ``.dvc`` file ``dvcfile`` holding ``text``. Its ``path`` is
    checked here, before any caller writes there: a committed or pulled
    ``.dvc`` file is input like any other (issue #14: ``path: ../x`` or
    ``.git/hooks/post-checkout`` made checkout write there)."""
    doc, lines = yamlio.loads_with_lines(text, dvcfile)
    outs = doc.get("outs") if isinstance(doc, dict) else None
    if not isinstance(outs, list) or len(outs) != 1 or not isinstance(outs[0], dict):
        line = lines.of("outs", default=1)
        raise DataError(
            f"{dvcfile}:{line}: expected 'outs' with exactly one entry",
            hint="Re-create it with 'trails add'.",
        )
    t = Tracked(dvcfile, FileState.from_yaml(outs[0], dvcfile))
    where = f"{dvcfile}:{lines.of('outs', 0, 'path', default=1)}"
    _check_target(project, t.repo_path, where)
    return t


def target(project: Project, arg: str, source: str) -> str:
    """A command-line path (relative to the current folder, or absolute)
    as a repo path trails may write: its last component is not followed
    (``unprotect`` of a symlink into the cache names the link). A
    refusal quotes the path as typed, from the root's view."""
    if os.path.isabs(arg):
        return confined(project.root, arg, source=source, absolute_ok=True)
    here = os.path.relpath(Path.cwd().resolve(), project.root.resolve())
    return confined(project.root, arg if here == "." else posixpath.join(here, arg), source=source)


#: What loading a commit's pipeline and ``.dvc`` files reads: pipeline,
#: lock, ``.dvc`` and ignore files, params and vars files (by their formats).
_LOADED_SUFFIXES = (".yaml", ".yml", ".json", ".toml", ".py", ".dvc", ".lock", ".dvcignore")


def _read_when_loading(mode: str, path: str) -> bool:
    """Whether ``check_commit`` needs this entry of the commit: what loading
    reads, and every symlink (an output may lead outside through one)."""
    return mode == "120000" or path.endswith(_LOADED_SUFFIXES)


def check_commit(
    project: Project, commit: str, fetch: Callable[[dict[str, str]], None] | None = None
) -> None:
    """Load the pipeline and the ``.dvc`` files of ``commit`` as trails
    would after checking it out, in a scratch copy: ``exp apply`` calls it
    before Git restores the experiment's files, so a hostile ``dvc.yaml``
    or ``.dvc`` file in a pulled experiment is refused while the workspace
    is still as it was. Errors name the files as the commit holds them.

    The paths the commit would have trails write are then checked against
    the real workspace too (a symlinked folder there that the commit does
    not hold, an output folder there holding a ``.dvc`` file), and every
    object the commit's locks and ``.dvc`` files record must be in the
    cache: each of these would otherwise fail after Git restored the files.
    ``fetch`` is handed those objects (hash -> what needs it) once every
    path passed, before the cache is checked: so a hostile commit makes
    trails fetch nothing."""
    from trails.git import Git
    from trails.pipeline import load_graph, lockfile

    scratch = project.tmp_dir / "trails" / f"check-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        Git(project.root).materialize_some(commit, scratch, _read_when_loading)
        copy = Project(scratch)
        graph = load_graph(copy)
        items = tracked(copy)
        recorded: list[tuple[str, str]] = []  # (what, hash value) the commit needs cached
        for s in graph.stages:
            entry = lockfile.read(scratch, s.lock_path).get(s.name)
            for o in s.outs:
                where = f"{s.dvcfile}: stage '{s.name}': output"
                confined(project.root, o.repo_path, source=where)
                check_output_folder(project.root, s.dvcfile, s.name, o.repo_path)
                state = entry.out(o.path) if entry is not None and o.cache else None
                if state is not None and state.hash_name == core.ALGORITHM:
                    recorded.append((f"output '{o.repo_path}' of stage '{s.address}'", state.value))
        for item in items:
            confined(project.root, item.repo_path, source=item.dvcfile)
            if item.state.hash_name == core.ALGORITHM:
                recorded.append((f"'{item.repo_path}' ({item.dvcfile})", item.state.value))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if fetch is not None:
        fetch({v: what for what, v in recorded})
    _check_cached(project, recorded)


def _check_cached(project: Project, recorded: list[tuple[str, str]]) -> None:
    """Refuse (naming the first) when an object ``recorded`` is not in the cache."""
    from trails.cachelock import missing

    values = dict((v, what) for what, v in recorded)
    gone = missing(project.cache_dir, [(v, v) for v in values])
    if gone:
        raise DataError(
            f"{values[gone[0]]}: object {gone[0]} is not in the cache"
            + (f" (and {len(gone) - 1} more)" if len(gone) > 1 else ""),
            hint="'trails pull' fetches it once remotes exist; until then, run the "
            "experiment again to produce it. Nothing was changed.",
        )


def _check_target(project: Project, rel: str, where: str) -> str:
    """``rel`` confined to the project and not a file trails reads as
    instructions (a ``.dvc`` file tracking ``dvc.yaml`` would replace it)."""
    rel = confined(project.root, rel, source=where)
    if protected(rel):
        raise UnsafePathError(
            f"{where}: '{rel}' is a pipeline, lock, .dvc or ignore file, not data",
            hint="Track data files and folders only.",
        )
    return rel


def write(project: Project, t: Tracked) -> None:
    path = project.root / t.dvcfile
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(yamlio.dumps({"outs": [t.state.to_yaml()]}))
    os.replace(tmp, path)
    files.forget(project.root)


def tracked(project: Project) -> list[Tracked]:
    return [read(project, f) for f in find(project)]


def _check(project: Project, rel: str, path: Path) -> None:
    from trails.git import Git
    from trails.pipeline import load_graph

    if not path.exists():
        raise DataError(f"'{rel}' does not exist")
    if project.has_scm and Git(project.root).run("ls-files", "--", rel).strip():
        raise DataError(
            f"'{rel}' is tracked by Git",
            hint=f"Stop tracking it in Git first: git rm -r --cached '{rel}'",
        )
    owner = load_graph(project).owner_of(rel)
    if owner is not None:
        raise DataError(
            f"'{rel}' is an output of stage '{owner.address}'",
            hint="Stage outputs are tracked by dvc.lock; 'trails commit' records them.",
        )


def state_of(project: Project, path: Path, written: str, *, commit: bool) -> FileState:
    """Hash (and with ``commit`` store) a file or folder. Stored data is
    linked back per ``cache.type``: with hardlinks the files become the
    cache objects, which is what makes adding a large data set cheap."""
    cache, index, links = project.cache_dir, project.index_path, project.link_types
    if path.is_dir():
        t = core.store_tree(cache, path, index, links) if commit else core.scan_tree(path, index)
        if not commit:
            core.store_manifest(cache, t.manifest)
        return FileState(written, core.ALGORITHM, t.hash + TREE_SUFFIX, t.size, t.nfiles)
    if commit:
        f = core.store_file(cache, path, index, links)
        return FileState(written, core.ALGORITHM, f.hash, f.size, isexec=f.executable)
    h = core.hash_file(path)
    return FileState(written, core.ALGORITHM, h.hash, h.size, isexec=h.executable)


def expand(project: Project, targets: Iterable[str], glob: bool) -> list[Path]:
    paths: list[Path] = []
    for t in targets:
        if glob and any(c in t for c in "*?["):
            hits = sorted(p for p in Path.cwd().glob(t) if not fnmatch.fnmatch(p.name, "*.dvc"))
            if not hits:
                raise DataError(f"'{t}' matches no path")
            paths += hits
        else:
            paths.append(Path(t))
    return [p.absolute() for p in paths]


def add(
    project: Project,
    targets: Iterable[str],
    *,
    no_commit: bool = False,
    out: str | None = None,
    glob: bool = False,
    echo: Callable[[str], None] = print,
) -> list[str]:
    """Track each path; returns the files to ``git add``."""
    paths = expand(project, targets, glob)
    if out is not None and len(paths) != 1:
        raise DataError("--out takes exactly one path to add")
    jobs = []
    for src in paths:
        dest = Path(out).absolute() if out else src
        rel = _check_target(project, project.rel(src), "add")
        _check(project, rel, src)
        if out:
            rel = _check_target(project, project.rel(dest), "add -o")
        jobs.append((src, dest, rel))
    to_git: list[str] = []
    for src, dest, rel in jobs:
        if src != dest:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(src, dest)
        dvcfile = rel + SUFFIX
        with progress(f"Adding '{rel}'"):
            state = state_of(project, dest, posixpath.basename(rel), commit=not no_commit)
        old = read(project, dvcfile) if (project.root / dvcfile).exists() else None
        if old is not None and old.state == state:
            echo(f"'{rel}' didn't change")
            continue
        write(project, Tracked(dvcfile, state))
        to_git.append(dvcfile)
        if project.has_scm:
            g = gitignore.ignore(project.root, rel)
            if g:
                to_git.append(g)
        what = f"{state.nfiles} files, " if state.nfiles is not None else ""
        echo(f"Added '{rel}' ({what}{state.size} bytes)")
        risk = None if no_commit else rootlink.warning(project, rel)
        if risk:
            echo(f"Warning: {risk}")
    return to_git


def changes(project: Project, t: Tracked, now: core.PathHash | None) -> list[str]:
    """Why tracked data differs from its ``.dvc`` file (empty: it does
    not); ``now``: its hash on disk, taken with the rest of the check's."""
    path = project.root / t.repo_path
    if not path.exists():
        return [f"'{t.repo_path}' missing"]
    if t.state.hash_name != core.ALGORITHM:
        return [f"'{t.repo_path}' recorded with {t.state.hash_name}; run 'trails add' to re-hash"]
    if now is None:
        return [f"'{t.repo_path}' missing"]
    if now.hash == t.state.bare_hash:
        return []
    damaged = rootlink.damaged(project, replace(t.state, path=t.repo_path))
    if damaged:
        return [f"'{t.repo_path}' changed, and its {rootlink.note(damaged)}; the recorded "
                f"version is gone, 'trails add {t.repo_path}' records this one"]  # fmt: skip
    if not now.is_dir:
        return [f"'{t.repo_path}' modified"]
    try:
        before = core.read_tree(project.cache_dir, t.state.bare_hash).manifest
    except (TrailsError, OSError):
        return [f"'{t.repo_path}' changed"]
    assert now.manifest is not None
    d = core.diff_manifests(before, now.manifest)
    kinds = ((d.added, "added"), (d.modified, "modified"), (d.deleted, "deleted"))
    parts = [f"{len(x)} {name}" for x, name in kinds if x]
    files = [*(e.relpath for e in d.modified), *(e.relpath for e in d.added), *d.deleted][:5]
    return [f"'{t.repo_path}' changed ({', '.join(parts)}): " + ", ".join(files)]


def checkout(project: Project, t: Tracked, link_types: Iterable[str] | None = None) -> bool:
    """Restore tracked data from the cache; True if anything changed."""
    if t.state.hash_name != core.ALGORITHM:
        raise DataError(
            f"{t.dvcfile}: recorded with {t.state.hash_name} by the reference tool",
            hint="Run 'trails add' on the data once to re-hash it with blake3.",
        )
    if not t.state.value:
        raise DataError(
            f"{t.dvcfile}: '{t.repo_path}' has no recorded hash: nothing to check out",
            hint=f"Run 'trails add {t.repo_path}' to record the data it should hold.",
        )
    dest = project.root / t.repo_path
    types = list(link_types or project.link_types)
    with progress(f"Checking out '{t.repo_path}'"):
        return _checkout(project, t, dest, types)


def _checkout(project: Project, t: Tracked, dest: Path, types: list[str]) -> bool:
    if t.state.is_dir:
        r = core.checkout_tree(project.cache_dir, t.state.bare_hash, dest, types,
                               project.index_path)  # fmt: skip
        return bool(r.added or r.modified or r.deleted)
    used = core.checkout_file(project.cache_dir, t.state.value, dest, types, project.index_path,
                              t.state.isexec)  # fmt: skip
    return used is not None


def _umask() -> int:
    """The process umask, from ``/proc/self/status`` (``os.umask`` can only
    read it by setting it, a race with threads creating files); 022 where
    that line is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def unprotect(path: Path) -> int:
    """Replace links into the cache (read-only) by writable copies; returns
    the number of files copied."""
    files = [path] if not path.is_dir() else [p for p in path.rglob("*") if p.is_file()]
    n = 0
    for f in files:
        st = f.stat()  # of the object behind a symlink: its mode, not the link's 0o777
        if f.is_symlink() or st.st_nlink > 1 or not st.st_mode & stat.S_IWUSR:
            tmp = f.with_name(f".{f.name}.unprotect")
            shutil.copyfile(f, tmp)
            # Writable, and no more readable than the umask lets a new file
            # be: the object's 0444 would make private data world-readable.
            os.chmod(tmp, ((st.st_mode & 0o777) | stat.S_IWUSR) & ~_umask())
            os.replace(tmp, f)
            n += 1
    return n
