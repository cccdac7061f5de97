"""The daemon's socket protocol, client side (see ``docs/fsmonitor.md``).
Standard library only, and cheap: it runs in the ``status`` fast path
before click or the native core load. Every failure (no daemon, a dead
one, a socket owned by another user, a garbled answer, a timeout) is
``None``: the caller then checks every file, as without the daemon."""

from __future__ import annotations

# ``_socket``, not ``socket``: the wrapper module imports enum and
# selectors, several ms of the fast path's budget.
import _socket
import os

TAG = "TFM1"
SOCKET = "sock"
#: How long a question may take. The daemon answers in well under a
#: millisecond; a stopped or wedged one must not hang ``status``.
TIMEOUT_S = 3.0
#: AF_UNIX paths are limited to 108 bytes; longer ones go through the
#: folder opened with O_PATH.
_MAX_SOCKET_PATH = 100


class Answer:
    """One answer to ``since`` (a plain class: ``dataclasses`` costs a few
    ms of import in the fast path)."""

    __slots__ = ("kind", "paths", "reason", "token")

    def __init__(self, kind: str, token: str, paths: tuple[str, ...] = (), reason: str = ""):
        #: "ok": ``paths`` is every path changed since the token asked
        #: about; "full": check everything (``reason`` says why).
        self.kind = kind
        #: The token to ask with next time; "-" when the daemon cannot
        #: vouch for the future either (starting, re-scanning, watch limit).
        self.token = token
        self.paths = paths
        self.reason = reason


def _connect(folder: str, timeout: float) -> _socket.socket | None:
    path = os.path.join(folder, SOCKET)
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if st.st_uid != os.getuid():
        return None  # not our daemon's socket: never trust its answers
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if len(os.fsencode(path)) < _MAX_SOCKET_PATH:
            s.connect(path)
        else:
            fd = os.open(folder, os.O_PATH | os.O_DIRECTORY)
            try:
                s.connect(f"/proc/self/fd/{fd}/{SOCKET}")
            finally:
                os.close(fd)
    except OSError:
        s.close()
        return None
    return s


def ask(folder: str, request: str, timeout: float = TIMEOUT_S) -> bytes | None:
    """Send one request line; the whole answer, or None."""
    s = _connect(folder, timeout)
    if s is None:
        return None
    chunks = []
    try:
        s.sendall(f"{TAG} {request}\n".encode())
        while chunk := s.recv(1 << 16):
            chunks.append(chunk)
    except OSError:
        return None
    finally:
        s.close()
    data = b"".join(chunks)
    return data if data.startswith(TAG.encode() + b" ") else None


def since(folder: str, token: str) -> Answer | None:
    """What changed since ``token`` ("-": none yet)."""
    data = ask(folder, f"since {token}")
    if data is None:
        return None
    head, _, body = data.partition(b"\n")
    words = head.decode("ascii", "replace").split(" ", 3)
    if len(words) < 3:
        return None
    kind, new = words[1], words[2]
    if kind == "full":
        return Answer("full", new, reason=words[3] if len(words) > 3 else "")
    if kind != "ok" or len(words) != 4 or not words[3].isdigit():
        return None
    paths = body.split(b"\0")
    if paths[-1] != b"" or len(paths) - 1 != int(words[3]):
        return None  # cut short: never act on part of an answer
    return Answer("ok", new, tuple(os.fsdecode(p) for p in paths[:-1]))


def status(folder: str) -> dict[str, str] | None:
    """The daemon's ``key=value`` status (``state``, ``pid``, ``watches``,
    ``token``, ``overflows``, ``reason``), or None if none answers."""
    data = ask(folder, "status")
    if data is None:
        return None
    head = data.decode("utf-8", "replace").strip()
    words = head.split(" ")
    if words[1:2] != ["status"]:
        return None
    fields: dict[str, str] = {}
    rest = head.split(" reason=", 1)
    for w in rest[0].split(" ")[2:]:
        key, _, value = w.partition("=")
        fields[key] = value
    fields["reason"] = rest[1] if len(rest) > 1 else ""
    return fields


def stop(folder: str) -> bool:
    return ask(folder, "stop") is not None
