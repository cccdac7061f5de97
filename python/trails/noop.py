"""A no-op ``status`` or ``repro`` without the CLI: the last up-to-date
answer, kept with the stamp of everything it depended on, is printed again
while one call into the core (``core.noop_unchanged``) finds all of it as
it was. Without a file watcher (``trails.fsmonitor.answers`` is the same
idea with a daemon's token).

What a no-op check costs is then the interpreter's start-up, this module
(stdlib only), the native module and one parallel pass of stats: the
walks of the stages' dependency and output trees (the tree memo's
fingerprints: one walk, the same stat fields), the stat of every file the
check read (pipeline, lock, params, vars, ``.dvc``, task and config files,
``.gitignore``/``.dvcignore``, ``.git/index`` for Git's listing) and of
every folder outside those trees, where a new ``dvc.yaml``, ``.dvc`` or
task file could appear (a new entry moves its folder's mtime).

Never a stale answer:

- nothing is kept that was changed within the racy window before the
  command started (a change in the same timestamp tick would leave the
  stamp as it was: Git's racy-index rule), and the trees' fingerprints are
  only those the tree memo trusted (``noop::confirmed`` in the core);
- a stamp is device, inode, size, mtime, ctime and mode: an edit that puts
  the mtime back still moves the ctime;
- the answer is keyed by the command line, the working folder, trails'
  version and every environment variable trails, Git or the reference
  tool read;
- a command that wrote to stderr, failed, or collected task files afresh
  (what they import is stamped only on the next run) keeps nothing; any
  doubt (an unreadable file, too many folders) is the full path.

``TRAILS_NOOP_TRACE=1`` makes a replay say so on stderr (tests use it to
prove the fast path ran)."""

from __future__ import annotations

import os
import sys
import time
import zlib

TYPE_CHECKING = False  # not `typing`'s: it costs ~5 ms (re, functools)
if TYPE_CHECKING:
    from typing import Any

    _Stamp = tuple[int, int, int, int, int, int]

MAGIC = b"trails-noop-answer"
VERSION = b"1"
#: The commands answered here (their kept files: ``noop-<command>``).
COMMANDS = ("status", "repro")
TRACE = "TRAILS_NOOP_TRACE"
#: Stands for the seconds a command took in a kept answer (``repro``'s
#: summary line of tasks): a replay prints its own.
SECONDS = "\x01"
#: Changed less than this before the command started: not trusted (the
#: stat index's racy window).
RACY_NS = 100_000_000
#: More folders than this outside the trees: not worth stamping.
MAX_FOLDERS = 20_000
_ENV_PREFIXES = ("TRAILS_", "DVC_", "GIT_", "XDG_")
_ENV_NAMES = ("HOME", "TERM")
#: Folders never stamped (their own memos change on every command).
_PRUNED = frozenset({".git", ".dvc"})

#: When this command started (``arm``); None: nothing is kept.
_started: int | None = None
_command = ""
#: Files read (absolute), stamped with the answer.
_read: set[str] = set()
_refused = False
_pending: tuple[str, str, list[str]] | None = None


def note(path: os.PathLike[str] | str) -> None:
    """A file the check read (``textio.read``, task stamps)."""
    if _started is not None:
        _read.add(os.path.abspath(path))


def refuse() -> None:
    """This command's answer must not be kept (it depended on something
    that is not stamped)."""
    global _refused
    _refused = True


def armed() -> bool:
    return _started is not None and not _refused


def _key(argv: list[str]) -> list[str]:
    from trails import __version__

    env = [
        f"{k}={v}"
        for k, v in sorted(os.environ.items())
        if k != TRACE and (k.startswith(_ENV_PREFIXES) or k in _ENV_NAMES)
    ]
    return [__version__, sys.executable, os.getcwd(), *argv, "--env--", *env]


def find_root(start: str) -> str | None:
    """``Project.find``'s answer, without pathlib: the nearest folder
    holding ``.dvc``, if that is a folder."""
    d = start
    while True:
        probe = os.path.join(d, ".dvc")
        if os.path.lexists(probe):
            return d if os.path.isdir(probe) else None
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def _file(root: str, command: str) -> str:
    """Beside the stat index (``TRAILS_STAT_INDEX`` moves both: ``trails
    bench status`` runs on a copy and must leave the project as it was)."""
    index = os.environ.get("TRAILS_STAT_INDEX")
    if index:
        return f"{index}.noop-{command}"
    return os.path.join(root, ".dvc", "tmp", "trails", f"noop-{command}")


def replay(argv: list[str]) -> bool:
    """Print the kept answer of ``argv`` (``status ...``/``repro ...``) if
    everything it depended on is as stamped (True); else arm the full
    check to keep its answer (False). Never raises."""
    global _started, _command
    try:
        _started, _command = time.time_ns(), argv[0]
        root = find_root(os.getcwd())
        if root is None or "/.dvc/tmp/" in root + "/":
            return False  # an experiment's temporary folder: gone soon
        got = _load(_file(root, _command), _key(argv))
        if got is None:
            return False
        text, stamps, trees = got
        from trails import _core

        if not _core.noop_unchanged(stamps, trees):
            return False
        took = (time.time_ns() - _started) / 1e9
        sys.stdout.write(text.replace(SECONDS, f"{took:.1f}"))
        sys.stdout.flush()
        if os.environ.get(TRACE) == "1":
            sys.stderr.write(f"trails: {_command}: the kept no-op answer holds\n")
        return True
    except Exception:  # the full check is always right; never fail here
        return False


def _load(
    path: str, key: list[str]
) -> tuple[str, list[tuple[str, bool, _Stamp]], list[tuple[str, int]]] | None:
    # magic, version, len(key), *key, text, n stamps, (path, follow, stamp)*,
    # (path, fingerprint)*, "" (the end), crc32 of all before it
    try:
        with open(path, "rb") as f:
            data = f.read()
        body, _, crc = data.rpartition(b"\0")
        if crc != b"%d" % zlib.crc32(body):  # damaged, or cut short
            return None
        fields = body.split(b"\0")
        if fields[:2] != [MAGIC, VERSION] or fields[-1] != b"":
            return None
        n = int(fields[2])
        if [os.fsdecode(x) for x in fields[3 : 3 + n]] != key:
            return None
        text = fields[3 + n].decode("utf-8")
        m = int(fields[4 + n])
        at = 5 + n
        stamps = []
        for i in range(at, at + 3 * m, 3):
            dev, ino, size, mtime, ctime, mode = (int(x) for x in fields[i + 2].split(b","))
            stamp = (dev, ino, size, mtime, ctime, mode)
            stamps.append((os.fsdecode(fields[i]), fields[i + 1] == b"1", stamp))
        rest = fields[at + 3 * m : -1]
        if len(rest) % 2:
            return None
        trees = [(os.fsdecode(rest[i]), int(rest[i + 1])) for i in range(0, len(rest), 2)]
        return text, stamps, trees
    except (OSError, ValueError, IndexError, UnicodeDecodeError):
        return None


def keep(root: os.PathLike[str] | str, text: str, trees: list[str]) -> None:
    """This command's up-to-date answer (``text``, as printed) and the
    paths (repo-relative) whose trees it hashed; written by ``save`` once
    the command has succeeded."""
    global _pending
    if armed():
        _pending = (os.fspath(root), text, trees)


class _Stderr:
    """``sys.stderr`` that notes being written to: a command that warned
    keeps no answer (the replay would not warn)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def write(self, s: str) -> int:
        if s:
            refuse()
        return int(self._inner.write(s))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def watch_stderr() -> None:
    sys.stderr = _Stderr(sys.stderr)


def save() -> None:
    """Write the kept answer (the CLI calls it after a command that
    succeeded). A failure to stamp or write only costs the next command its
    shortcut."""
    global _pending
    pending, _pending = _pending, None
    if pending is None or not armed() or _started is None:
        return
    try:
        _write(*pending, _started)
    except (OSError, ValueError):
        return


def _write(root: str, text: str, trees: list[str], started: int) -> None:
    from trails import _core

    if not os.path.isdir(os.path.join(root, ".git")) and os.path.lexists(
        os.path.join(root, ".git")
    ):
        return  # a worktree's or submodule's `.git` file: its index is elsewhere
    if any(v in os.environ for v in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")):
        return  # the same: Git's files are not where they are stamped
    tree_abs = [os.path.join(root, t) for t in dict.fromkeys(trees)]
    limit = started - RACY_NS
    fps = []
    for got in _core.noop_confirmed(tree_abs):
        if got is None or got[1] >= limit:
            return  # a tree the memo did not trust or did not hash, or too new
        fps.append(got[0])
    folders, ignores = _folders(root, set(tree_abs))
    if folders is None:
        return
    files = set(_read) | set(ignores) | _listed(root)
    files |= {os.path.join(root, p) for p in _FIXED}
    files |= _global_files()
    asked = [(f, False) for f in folders] + [(f, True) for f in sorted(files)]
    stamps = _core.noop_stamps(asked)
    if any(s[0] and max(s[3], s[4]) >= limit for s in stamps):
        return  # changed too recently to trust its stamp
    fields = [MAGIC, VERSION]
    key = _key(sys.argv[1:])
    fields += [str(len(key)).encode(), *(os.fsencode(k) for k in key), text.encode("utf-8")]
    fields.append(str(len(asked)).encode())
    for (path, follow), s in zip(asked, stamps, strict=True):
        fields += [os.fsencode(path), b"1" if follow else b"0", ",".join(map(str, s)).encode()]
    for path, fp in zip(tree_abs, fps, strict=True):
        fields += [os.fsencode(path), str(fp).encode()]
    fields.append(b"")
    body = b"\0".join(fields)
    dest = _file(root, _command)
    tmp = f"{dest}.{os.getpid()}.tmp"
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    try:
        with open(tmp, "wb") as f:
            f.write(body + b"\0%d" % zlib.crc32(body))
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


#: Files of the project whose content may change any answer, present or not.
_FIXED = (
    ".dvc/config",
    ".dvc/config.local",
    ".git/index",
    ".git/config",
    ".git/HEAD",
    ".git/info/exclude",
)


def _global_files() -> set[str]:
    """Git's and the reference tool's files outside the project that the
    listing or the config may read."""
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    return {
        os.path.join(home, ".gitconfig"),
        os.path.join(xdg, "git", "config"),
        os.path.join(xdg, "git", "ignore"),
        os.path.join(xdg, "dvc", "config"),
        "/etc/gitconfig",
        "/etc/xdg/dvc/config",
    }


def _listed(root: str) -> set[str]:
    """The pipeline, ``.dvc`` and task files this command's listing found
    (as Git or the walk named them: a tracked file since deleted is
    stamped as absent)."""
    files = sys.modules.get("trails.files")
    if files is None:
        return set()
    found: set[str] = set()
    for f in list(getattr(files, "_FILES", {}).values()):
        if os.fspath(f.root) == os.path.realpath(root):
            for paths in (f._tracked or [], *f._new.values()):
                found.update(os.path.join(root, p) for p in paths)
    return found


def _folders(root: str, trees: set[str]) -> tuple[list[str] | None, list[str]]:
    """Every folder of the project outside ``trees`` (and ``.git``/``.dvc``),
    and the ignore files in them; None if there are too many."""
    folders: list[str] = []
    ignores: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        folders.append(dirpath)
        if len(folders) > MAX_FOLDERS:
            return None, []
        dirnames[:] = [
            d for d in dirnames if d not in _PRUNED and os.path.join(dirpath, d) not in trees
        ]
        ignores += [
            os.path.join(dirpath, n) for n in filenames if n in (".gitignore", ".dvcignore")
        ]
    return folders, ignores
