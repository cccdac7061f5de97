"""Which files belong to the project: its pipeline files (``dvc.yaml``),
``.dvc`` files and task files (``task_*.py``). Every command takes this
one answer (``Project.files``).

In a Git work tree's top, Git answers, tracked files and new ones that are
not git-ignored. A no-op check must not walk the tree twice (the core's
stat pass of a stage's data folder is the one walk), and ``git ls-files
--others`` walks every untracked-or-tracked folder: on 100,000 files tracked
by Git it cost as much as the stat pass. So:

- tracked files: one ``ls-files --cached`` (the index only, no walk),
  remembered with the stat of ``.git/index`` (``.dvc/tmp/trails/tracked.json``):
  Git replaces that file whenever the index changes (a new inode, mtime,
  ctime), so while its stat holds the answer does, and a no-op check starts
  no Git process for it (reading a 100k-entry index cost ~30 ms);
- new files outside the *bulk* folders the caller names (the folders
  stages depend on or write): one ``ls-files --others`` whose
  pathspecs lead Git around those folders (Git does not enter a folder no
  pathspec can match below; an ``:(exclude)`` pathspec does not stop it);
- new files inside bulk folders: the folders' inode, mtime and ctime
  remembered between runs (Git's untracked-cache idea, in
  ``.dvc/tmp/trails/bulk-dirs.json``, written after a command succeeded):
  a folder whose stat has not moved has no new entry, so a no-op check
  stats each folder once and reads only those that changed; what it finds
  is asked of Git by name in the same ``ls-files --others`` (ignored or not).

Elsewhere (no Git, or an experiment's folder, which holds only committed
files) a walk; in an experiment's folder whose kept index is big
(``adopt_index``), one ``ls-files`` of that index instead. Either way
``.dvcignore`` is judged by the core's rules (``core.ignored_files``,
those of every walk: nested files, negations), and
only when a ``.dvcignore`` with a pattern sits above a file found, so
read-only commands (``exp show``) do not load the native module (~30 ms)
for nothing.

Asked once per process per root; commands that write a pipeline or ``.dvc``
file call ``forget``."""

from __future__ import annotations

import json
import os
import posixpath
import stat
import time
from dataclasses import dataclass
from pathlib import Path

#: A pipeline file's name (``pipeline.stage.DVCFILE`` is this one): here,
#: so that listing files does not load the stage model (~2.5 ms).
PIPELINE = "dvc.yaml"

DATA_SUFFIX = ".dvc"
#: A task file's name (pytask's ``task_files`` default; ``trails.tasks``).
TASK_PATTERN = "task_*.py"
IGNORE_FILE = ".dvcignore"
PRUNED_DIRS = frozenset({".git", ".dvc"})
#: The names looked for, as ``:(glob)`` patterns below a folder.
_NAMES = (PIPELINE, f"*{DATA_SUFFIX}", TASK_PATTERN)
#: A folder changed less than this before it was read may change again
#: within the same timestamp tick: it is read again next time (the stat
#: index's rule for files).
_RACY_NS = 100_000_000
#: 2: a folder's key is (inode, mtime, ctime); ctime cannot be set back.
#: 3: task files are remembered too.
_MEMO_VERSION = 3
_TRACKED_VERSION = 1


@dataclass(frozen=True)
class Listing:
    """Repo-relative POSIX paths, sorted."""

    pipelines: tuple[str, ...]
    data: tuple[str, ...]
    tasks: tuple[str, ...] = ()


class Files:
    """The project's files under ``root``, as Git or a walk sees them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.git = (root / ".git").exists()
        #: The bulk folders the last lookup of new files went around.
        self.bulk: tuple[str, ...] = ()
        self._tracked: list[str] | None = None
        self._new: dict[tuple[str, ...], list[str]] = {}
        #: Without ``.git``: the Git folder and index that list the files
        #: (``adopt_index``), read instead of a walk.
        self.index: tuple[Path, Path] | None = None

    def tracked(self) -> Listing:
        """Files Git tracks (without Git: every file a walk finds)."""
        return self._listing(self._tracked_paths())

    def new(self, bulk: tuple[str, ...] | None = None) -> Listing:
        """Files Git does not track yet and does not ignore; ``bulk``
        (repo-relative folders; None: those of the last call) changes only
        the cost, not the answer."""
        self._tracked_paths()  # first: it finds out whether Git answers
        if not self.git:
            return Listing((), ())
        if bulk is not None:  # only folders inside the project
            bulk = tuple(sorted({b for b in bulk if ".." not in b.split("/") and b[:1] != "/"}))
        bulk = self.bulk if bulk is None else bulk
        self.bulk = bulk
        if bulk not in self._new:
            self._new[bulk] = self._untracked(bulk)
        return self._listing(self._new[bulk])

    def listing(self) -> Listing:
        """Tracked and new files together (new ones around ``self.bulk``)."""
        t, n = self.tracked(), self.new()
        return Listing(
            tuple(sorted({*t.pipelines, *n.pipelines})),
            tuple(sorted({*t.data, *n.data})),
            tuple(sorted({*t.tasks, *n.tasks})),
        )

    # --- where the names come from ---------------------------------------------

    def _tracked_paths(self) -> list[str]:
        if self._tracked is None:
            from trails.git import GitError

            try:
                if self.git:
                    self._tracked = self._cached(list(_TRACKED_SPECS))
            except GitError:  # a `.git` that is no repository: as without Git
                self.git = False
            if not self.git:
                self._tracked = self._indexed() if self.index else _walk(self.root)
        assert self._tracked is not None
        return self._tracked

    def _indexed(self) -> list[str]:
        assert self.index is not None
        git_dir, index = self.index
        env = {"GIT_DIR": str(git_dir), "GIT_INDEX_FILE": str(index)}
        env["GIT_WORK_TREE"] = str(self.root)
        return self._git("--cached", "--", *_TRACKED_SPECS, env=env)

    def _untracked(self, bulk: tuple[str, ...]) -> list[str]:
        specs = _around(self.root, bulk)
        tracked = set(self._tracked_paths())
        inside = [p for p in _bulk_names(self.root, bulk) if p not in tracked]
        specs += [f":(literal){p}" for p in inside]
        return self._git("--others", "--exclude-standard", "--", *specs) if specs else []

    def _cached(self, specs: list[str]) -> list[str]:
        """``ls-files --cached`` of ``specs``, or its remembered answer while
        ``.git/index`` has the stat it had then."""
        memo_path = self.root / ".dvc" / "tmp" / "trails" / "tracked.json"
        try:
            st = os.stat(self.root / ".git" / "index")
        except OSError:
            return self._git("--cached", "--", *specs)
        key: list[object] = [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, *specs]
        doc = _read_json(memo_path, _TRACKED_VERSION)
        kept = doc.get("paths")
        if doc.get("key") == key and isinstance(kept, list):
            return [p for p in kept if isinstance(p, str)]
        paths = self._git("--cached", "--", *specs)
        # An index written within the racy window may be written again
        # within the same timestamp tick: asked again next time.
        if time.time_ns() - max(st.st_mtime_ns, st.st_ctime_ns) > _RACY_NS:
            _PENDING[memo_path] = {"version": _TRACKED_VERSION, "key": key, "paths": paths}
        return paths

    def _git(self, *args: str, env: dict[str, str] | None = None) -> list[str]:
        from trails.git import Git

        out = Git(self.root).run("ls-files", "-z", *args, env=env)
        return [p for p in dict.fromkeys(out.split("\0")) if p]

    # --- what counts -----------------------------------------------------------

    def _listing(self, paths: list[str]) -> Listing:
        kept = [p for p in paths if not PRUNED_DIRS.intersection(p.split("/")[:-1])]
        kept = [p for p in kept if _name_kind(posixpath.basename(p))]
        if kept and self._has_rules(kept):
            from trails import core

            out = core.ignored_files(self.root, kept)
            kept = [p for p, o in zip(kept, out, strict=True) if not o]
        # Git's index still lists a file deleted from the work tree.
        kept = [p for p in kept if (self.root / p).is_file()]
        kinds = {p: _name_kind(posixpath.basename(p)) for p in kept}
        return Listing(
            *(tuple(sorted(p for p in kept if kinds[p] == k)) for k in ("pipeline", "data", "task"))
        )

    def _has_rules(self, paths: list[str]) -> bool:
        """Whether a ``.dvcignore`` with a pattern sits in the root or in a
        folder above one of ``paths`` (a stat per folder: only then is the
        native core loaded to judge them)."""
        folders = {""}
        for p in paths:
            parts = p.split("/")[:-1]
            folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return any(_patterns(self.root / f / IGNORE_FILE) for f in folders)


def _name_kind(name: str) -> str | None:
    if name == PIPELINE:
        return "pipeline"
    if name.endswith(DATA_SUFFIX) and name != DATA_SUFFIX:
        return "data"
    if name.startswith("task_") and name.endswith(".py"):
        return "task"
    return None


def _patterns(path: Path) -> bool:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(ln.strip() and not ln.lstrip().startswith("#") for ln in text.splitlines())


def _glob_escape(rel: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in rel)


def _around(root: Path, bulk: tuple[str, ...]) -> list[str]:
    """Pathspecs for the names anywhere except inside the ``bulk`` folders:
    the folders on the way to a bulk folder are listed (one ``scandir``
    each) and their files named, every other folder gets a ``**`` pattern
    (its literal prefix keeps Git out of the rest)."""
    if not bulk:
        return [f":(glob)**/{n}" for n in _NAMES]
    tree: dict[str, dict] = {}  # type: ignore[type-arg]
    for b in bulk:
        node = tree
        for part in b.split("/"):
            node = node.setdefault(part, {})
        node.clear()
        node[""] = {}  # the folder itself is bulk
    specs: list[str] = []

    def cover(rel: str, node: dict) -> None:  # type: ignore[type-arg]
        try:
            entries = list(os.scandir(root / rel))
        except OSError:
            return
        for e in entries:
            sub = f"{rel}/{e.name}" if rel else e.name
            if not e.is_dir(follow_symlinks=False):
                # By name: a pattern with a wildcard at this level would
                # send Git into every folder here, the bulk ones too.
                if _name_kind(e.name):
                    specs.append(f":(literal){sub}")
                continue
            child = node.get(e.name)
            if e.name in PRUNED_DIRS:
                continue
            if child is None:
                specs.extend(f":(glob){_glob_escape(sub)}/**/{n}" for n in _NAMES)
            elif "" not in child:
                cover(sub, child)

    cover("", tree)
    return specs


def _bulk_names(root: Path, bulk: tuple[str, ...]) -> list[str]:
    """The names inside the ``bulk`` folders, from the remembered folder
    mtimes: only folders whose mtime moved are read."""
    if not bulk:
        return []
    memo_path = root / ".dvc" / "tmp" / "trails" / "bulk-dirs.json"
    memo = _read_memo(memo_path)
    seen: dict[str, list] = {}  # type: ignore[type-arg]
    found: list[str] = []
    changed = False
    now = time.time_ns()
    stack = list(bulk)
    while stack:
        rel = stack.pop()
        try:
            st = os.lstat(root / rel)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode):
            continue
        key = [st.st_ino, st.st_mtime_ns, st.st_ctime_ns]
        rec = memo.get(rel)
        if not (isinstance(rec, list) and len(rec) == 3 and rec[0] == key):
            racy = now - max(st.st_mtime_ns, st.st_ctime_ns) <= _RACY_NS
            rec, changed = _read_dir(root / rel, None if racy else key), True
        seen[rel] = rec
        found += [f"{rel}/{n}" for n in rec[2]]
        stack += [f"{rel}/{d}" for d in rec[1]]
    if changed or seen.keys() != memo.keys():
        _PENDING[memo_path] = {"version": _MEMO_VERSION, "dirs": seen}
    return found


#: Memos read again and changed, written by ``save`` once the command has
#: succeeded: a command refused by its checks changes nothing under
#: ``.dvc/tmp`` either.
_PENDING: dict[Path, dict[str, object]] = {}


def discard() -> None:
    """Forget the memos learnt so far, for a command that must leave the
    project as it found it (``trails bench``)."""
    _PENDING.clear()


def save() -> None:
    """Write the changed memos of bulk folders (the CLI calls it after a
    command that succeeded; without it they are read again next time)."""
    while _PENDING:
        path, doc = _PENDING.popitem()
        _write_memo(path, doc)


def _read_dir(path: Path, key: list[int] | None) -> list:  # type: ignore[type-arg]
    """``[key, subfolders, names looked for]`` of one folder; ``key`` (its
    inode, mtime, ctime) None when it may change again within the same
    timestamp tick: it is read again next time."""
    dirs, names = [], []
    try:
        with os.scandir(path) as it:
            for e in it:
                if e.is_dir(follow_symlinks=False):
                    dirs.append(e.name)
                elif _name_kind(e.name):
                    names.append(e.name)
    except OSError:
        pass
    return [key, dirs, names]


def _read_memo(path: Path) -> dict[str, list]:  # type: ignore[type-arg]
    """The remembered folders; anything unreadable (damaged, another
    version) is an empty memo: every bulk folder is read again."""
    dirs = _read_json(path, _MEMO_VERSION).get("dirs")
    return dirs if isinstance(dirs, dict) else {}


def _read_json(path: Path, version: int) -> dict[str, object]:
    """A memo's document, or {} if unreadable or of another version. JSON,
    not a msgspec record: a no-op check loads no record machinery (~17 ms)."""
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    if not isinstance(doc, dict) or doc.get("version") != version:
        return {}
    return doc


def _write_memo(path: Path, doc: dict[str, object]) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(doc))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _walk(root: Path) -> list[str]:
    """Without Git: every candidate name under ``root``, not entering
    ``.git``, ``.dvc`` or folders a ``.dvcignore`` leaves out."""
    found: list[str] = []
    rules = _patterns(root / IGNORE_FILE)
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root).as_posix()
        rel = "" if rel == "." else rel
        dirnames[:] = [d for d in dirnames if d not in PRUNED_DIRS]
        if IGNORE_FILE in filenames and rel:
            rules = rules or _patterns(Path(dirpath) / IGNORE_FILE)
        if rules and dirnames:
            from trails import core

            subs = [f"{rel}/{d}/" if rel else f"{d}/" for d in dirnames]
            out = core.ignored_files(root, subs)
            dirnames[:] = [d for d, o in zip(dirnames, out, strict=True) if not o]
        found += [f"{rel}/{f}" if rel else f for f in filenames if _name_kind(f)]
    return found


_FILES: dict[Path, Files] = {}

#: The names looked for in Git's index. Plain patterns (``*`` crosses
#: ``/``): cheaper to match against every index entry than ``:(glob)**/``.
_TRACKED_SPECS = (PIPELINE, f"*/{PIPELINE}", f"*{DATA_SUFFIX}", TASK_PATTERN, f"*/{TASK_PATTERN}")
#: A kept index past this size (~4,500 files) is read by ``ls-files`` rather
#: than walking its folder. Measured CPU here: the walk ~1.3 us a file (3 ms
#: at 2,000 files, 20-30 ms at 20,000), ``ls-files`` ~4 ms for the process
#: and ~0.3 us an entry (4.5 ms at 2,000, 10 ms at 20,000).
INDEX_READ_BYTES = 384 * 1024


def adopt_index(root: Path, git_dir: Path, index: Path) -> None:
    """``root``, an experiment's folder without ``.git``, holds exactly the
    files ``index`` records (it was just moved or checked out to a commit,
    nothing copied in): its names are listed from that index rather than a
    walk, if the index is big enough for that to be cheaper."""
    try:
        big = index.stat().st_size > INDEX_READ_BYTES
    except OSError:
        big = False
    found = of(root)
    found.index = (git_dir, index) if big and not found.git else None
    found._tracked = None


def of(root: Path) -> Files:
    """The project files of ``root``, asked once per process."""
    key = root.resolve()
    if key not in _FILES:
        _FILES[key] = Files(key)
    return _FILES[key]


def forget(root: Path | None = None) -> None:
    """Drop what was asked of ``root`` (None: of every root): a pipeline or
    ``.dvc`` file was just written."""
    if root is None:
        _FILES.clear()
    else:
        _FILES.pop(root.resolve(), None)
