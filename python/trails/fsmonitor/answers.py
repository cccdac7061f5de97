"""The last up-to-date ``status`` answer, kept with the daemon's token: the
fast path replays it when nothing it depends on changed since.

``replay`` runs from ``trails.entry`` before click, YAML or the native core
load (what a no-op ``status`` costs is then the interpreter's start-up and
one question to the daemon). When it cannot answer, it leaves the token the
daemon just gave (``pending``) for the full check, which ``record``s its
answer under it if the answer is "up to date". A token obtained *before*
the check began is what makes this safe: a change made while the check ran
comes after the token, so the next question reports it.

The kept file is NUL-separated fields after a magic and a version, not a
``versioned.Record``: the no-op ``status`` must not import msgspec
(``tests/test_imports.py``; 17 ms, a third of the 60 ms goal), and even
``json`` pulls in ``re`` (~5 ms). Paths and the answer hold no NUL byte.
Anything unreadable is ignored: the full check is always the fallback."""

from __future__ import annotations

import os
import sys

from trails import __version__, fsmonitor
from trails.fsmonitor import client
from trails.noop import find_root

MAGIC = b"trails-status-answer"
VERSION = 1
FILE = "status-answer"

#: Files whose change may change what a check finds even when no stage
#: names them: pipeline, lock, params and vars files (by their formats),
#: ``.dvc`` files, ignore files.
_READ_SUFFIXES = (".yaml", ".yml", ".json", ".toml", ".py", ".dvc", ".lock")
_READ_NAMES = (".gitignore", ".dvcignore")
#: What Git's listing of pipeline and ``.dvc`` files depends on in ``.git``.
_GIT_READ = (".git/index", ".git/config")

#: (root, token) the full check records its answer under (set by ``replay``).
pending: tuple[str, str] | None = None


class Kept:
    __slots__ = ("depends", "key", "text", "token")

    def __init__(self, token: str, key: list[str], depends: list[str], text: str) -> None:
        self.token, self.key, self.depends, self.text = token, key, depends, text


def _key(argv: list[str]) -> list[str]:
    return [__version__, os.getcwd(), *argv]


def _load(folder: str) -> Kept | None:
    try:
        with open(os.path.join(folder, FILE), "rb") as f:
            fields = f.read().split(b"\0")
    except OSError:
        return None
    # magic, version, token, text, len(key), *key, *depends, "" (the end)
    if len(fields) < 6 or fields[:2] != [MAGIC, str(VERSION).encode()] or fields[-1] != b"":
        return None
    try:
        n = int(fields[4])
        token, text = fields[2].decode(), fields[3].decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    names = [os.fsdecode(x) for x in fields[5:-1]]
    if n > len(names):
        return None
    return Kept(token, names[:n], names[n:], text)


def _store(folder: str, kept: Kept) -> None:
    head = [MAGIC, str(VERSION).encode(), kept.token.encode(), kept.text.encode("utf-8")]
    names = [os.fsencode(x) for x in (*kept.key, *kept.depends)]
    fields = [*head, str(len(kept.key)).encode(), *names, b""]
    tmp = os.path.join(folder, f".{FILE}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(b"\0".join(fields))
        os.replace(tmp, os.path.join(folder, FILE))
    except OSError:
        try:  # noqa: SIM105 (contextlib costs ~1 ms of import here)
            os.unlink(tmp)
        except OSError:
            pass


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def relevant(path: str, depends: list[str]) -> bool:
    """Whether a change at ``path`` (repo-relative) may change the answer."""
    if path == ".git" or path.startswith(".git/"):
        return path in _GIT_READ or path.startswith(".git/info")
    if path == ".dvc/tmp" or path.startswith(".dvc/tmp/"):
        return False
    if path == ".dvc" or path.startswith(".dvc/"):
        return True  # config, and the cache (objects that outputs link to)
    name = path.rsplit("/", 1)[-1]
    if name in _READ_NAMES or name.endswith(_READ_SUFFIXES):
        return True
    return any(_overlaps(path, d) for d in depends)


def _warn(reason: str) -> None:
    sys.stderr.write(f"Warning: the file watcher is off ({reason}); checking every file.\n")


def replay(argv: list[str]) -> bool:
    """Print the kept answer if it still holds (True); else leave the
    daemon's fresh token in ``pending`` (False). Never raises."""
    global pending
    try:
        root = find_root(os.getcwd())
        if root is None:
            return False
        folder = fsmonitor.folder(root)
        kept = _load(folder)
        ans = client.since(folder, kept.token if kept else "-")
        if ans is None:
            _autostart(root)
            return False
        holds = ans.kind == "ok" and kept is not None and kept.key == _key(argv)
        if kept is not None and holds and not any(relevant(p, kept.depends) for p in ans.paths):
            sys.stdout.write(kept.text)
            if ans.paths:  # fewer paths to send next time
                _store(folder, Kept(ans.token, kept.key, kept.depends, kept.text))
            return True
        if ans.token != "-":
            pending = (root, ans.token)
        elif ans.reason.startswith("the inotify watch limit"):
            _warn(ans.reason)
        return False
    except Exception:  # the full check is always right; never fail here
        return False


def _autostart(root: str) -> None:
    """``core.fsmonitor = true`` and no daemon answering: start one for the
    next command (this one checks every file)."""
    from pathlib import Path

    from trails.fsmonitor import daemon

    if "/.dvc/tmp/" in root + "/":
        return  # an experiment's temporary folder: gone soon, never watched
    if daemon.enabled(Path(root)):
        daemon.spawn(Path(root))


def record(root: os.PathLike[str] | str, depends: list[str], text: str) -> None:
    """Keep the full check's up-to-date answer under the pending token.
    ``depends``: every path the check read (repo-relative); an answer that
    read something outside the project is not kept (nobody watches it)."""
    if pending is None or pending[0] != os.fspath(root):
        return
    paths = sorted(set(depends))
    if any(p.startswith(("/", "../")) or p == ".." for p in paths):
        return
    _store(fsmonitor.folder(root), Kept(pending[1], _key(sys.argv[1:]), paths, text))
