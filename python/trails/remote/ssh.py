"""An ``ssh://[user@]host[:port]/path`` remote: SFTP through paramiko.

Why paramiko: measured against fsspec's ``sshfs`` (on asyncssh, what the
reference tool uses) over the same local sshd, 8 MiB packs four at once,
it sent them 1.1-1.5x faster (wall) and fetched them 0.9-1.2x as fast, for
the same client CPU, in three runs (benches/RESULTS-ssh.md,
``benches/bench_ssh.py``); its API is blocking and thread-safe per
channel, so the ``jobs`` threads of ``remote.store`` share one SSH
connection with one SFTP channel each, with no event loop of its own to
run beside them. It is the SSH library most others build on (fabric,
ansible's paramiko transport), kept by its authors since 2003.

The host is checked against ``~/.ssh/known_hosts`` (the system's too) as
``ssh`` checks it, and an unknown or changed host key is refused: the data
fetched is hash-checked anyway, but a password or the data pushed would go
to whoever answers. Files are written under ``trails-v1/tmp/`` and renamed
into place (the posix-rename extension replaces atomically), as the folder
remote writes them, so a reader never sees half a file."""

from __future__ import annotations

import contextlib
import errno
import getpass
import posixpath
import queue
import socket
import stat
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trails.errors import TrailsError
from trails.remote.backend import TMP, Counter, RemoteAccessError, cannot_write

#: OpenSSH's sshd refuses more than 10 sessions on one connection
#: (``MaxSessions``); each SFTP channel is one.
MAX_SESSIONS = 8
#: Bytes per pipelined read or write of a large file.
CHUNK = 1 << 20


def _paramiko(name: str) -> Any:
    try:
        import paramiko
    except ImportError:
        raise TrailsError(
            f"remote '{name}': ssh:// remotes need paramiko: pip install 'trails[ssh]'"
        ) from None
    return paramiko


class SSHBackend(Counter):
    def __init__(
        self, name: str, host: str, port: int | None, user: str | None, root: str,
        options: dict[str, str],
    ) -> None:  # fmt: skip
        super().__init__()
        self.name = name
        self.host = host
        configured = self._number(options, "port", 22)  # checked even if the URL has one
        self.port = port or configured
        self.user = user or options.get("user") or getpass.getuser()
        self.root = root or "/"
        self.options = options
        self._client: Any = None
        self._connect_lock = threading.Lock()
        self._idle: queue.LifoQueue[Any] = queue.LifoQueue()
        self._sessions = threading.Semaphore(MAX_SESSIONS)
        self._dirs: set[str] = set()

    def _number(self, options: dict[str, str], key: str, default: int) -> int:
        """An option a hand edit of .dvc/config may have broken."""
        value = options.get(key) or str(default)
        if not (value.isdigit() and int(value) > 0):
            raise RemoteAccessError(
                f"remote '{self.name}': {key} '{value}' is not a positive number",
                hint=f"Fix it with 'trails remote modify {self.name} {key} N'.",
            )
        return int(value)

    @property
    def where(self) -> str:
        return f"remote '{self.name}' (ssh://{self.user}@{self.host}:{self.port}{self.root})"

    # -- connection ----------------------------------------------------------

    def _connect(self) -> Any:
        paramiko = _paramiko(self.name)
        client = paramiko.SSHClient()
        client.load_system_host_keys()
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        keyfile = self.options.get("keyfile")
        if keyfile and not Path(keyfile).expanduser().is_file():
            raise RemoteAccessError(
                f"{self.where}: the keyfile {keyfile} does not exist",
                hint=f"Fix it with 'trails remote modify --local {self.name} keyfile PATH'.",
            )
        timeout = self._number(self.options, "timeout", 10)
        try:
            client.connect(
                self.host, self.port, self.user,
                password=self.options.get("password") or None,
                key_filename=str(Path(keyfile).expanduser()) if keyfile else None,
                look_for_keys=not keyfile,
                allow_agent=self.options.get("allow_agent", "true").lower() not in ("false", "0"),
                timeout=timeout,
                banner_timeout=30, auth_timeout=30,
            )  # fmt: skip
        except Exception as exc:
            client.close()
            raise self._error(exc, connecting=True) from None
        return client

    def _open_sftp(self) -> Any:
        with self._connect_lock:
            if self._client is None:
                self._client = self._connect()
            client = self._client
        try:
            return client.open_sftp()
        except Exception as exc:
            raise self._error(exc) from None

    @contextlib.contextmanager
    def _sftp(self) -> Iterator[Any]:
        """An SFTP channel for one operation: each thread uses its own, and
        at most ``MAX_SESSIONS`` are open (the server's limit)."""
        with self._sessions:
            try:
                sftp = self._idle.get_nowait()
            except queue.Empty:
                sftp = self._open_sftp()
            try:
                yield sftp
            except FileNotFoundError:
                self._idle.put(sftp)  # a missing file leaves the channel sound
                raise
            except Exception as exc:
                sftp.close()
                raise self._error(exc) from None
            else:
                self._idle.put(sftp)

    def _error(self, exc: BaseException, *, connecting: bool = False) -> Exception:
        if isinstance(exc, TrailsError):
            return exc
        paramiko = _paramiko(self.name)
        if isinstance(exc, paramiko.BadHostKeyException):
            return RemoteAccessError(
                f"{self.where}: the host key of {self.host} does not match the one in "
                "~/.ssh/known_hosts (it changed, or another machine answers)",
                hint="If the server's key was changed on purpose, remove the old one with "
                f"'ssh-keygen -R \"[{self.host}]:{self.port}\"' and connect once with ssh.",
            )
        if isinstance(exc, paramiko.AuthenticationException):
            return RemoteAccessError(
                f"{self.where}: the server refused the credentials of '{self.user}' ({exc})",
                hint=f"Check the user, keyfile or password ('trails remote modify --local "
                f"{self.name} keyfile PATH').",
            )
        if isinstance(exc, paramiko.SSHException) and "known_hosts" in str(exc):
            return RemoteAccessError(
                f"{self.where}: {self.host} is not in ~/.ssh/known_hosts",
                hint="Connect once with ssh to check and record its key "
                f"('ssh -p {self.port} {self.user}@{self.host}').",
            )
        lost = ConnectionError | socket.timeout | socket.gaierror | EOFError | paramiko.SSHException
        if (connecting and isinstance(exc, OSError)) or isinstance(exc, lost):
            return RemoteAccessError(
                f"{self.where}: cannot reach {self.host}:{self.port} ({exc})",
                hint="Check the network, the host and the port "
                f"('trails remote modify {self.name} url URL').",
            )
        if isinstance(exc, OSError):
            return RemoteAccessError(
                f"{self.where}: {exc.strerror or exc}",
                hint="Check the folder's permissions on the server.",
            )
        return RemoteAccessError(f"{self.where}: {exc}")

    def _path(self, key: str) -> str:
        return posixpath.join(self.root, key)

    # -- Backend -------------------------------------------------------------

    def check_readable(self) -> None:
        self.count()
        with self._sftp() as sftp:
            try:
                if stat.S_ISDIR(sftp.stat(self.root).st_mode or 0):
                    return
            except FileNotFoundError:
                pass
        raise RemoteAccessError(
            f"{self.where}: the folder {self.root} does not exist on {self.host}",
            hint="Check its url ('trails remote list'); a push makes it.",
        )

    def list(self, prefix: str) -> list[str]:
        self.count()
        with self._sftp() as sftp:
            try:
                entries = sftp.listdir_attr(self._path(prefix))
            except FileNotFoundError:
                return []
        return [e.filename for e in entries if stat.S_ISREG(e.st_mode or 0)]

    def get(self, key: str) -> bytes:
        self.count()
        with self._sftp() as sftp, sftp.open(self._path(key), "rb") as f:
            f.prefetch()
            data: bytes = f.read()
            return data

    def get_range(self, key: str, start: int, length: int) -> bytes:
        self.count()
        spans = [(start + o, min(CHUNK, length - o)) for o in range(0, length, CHUNK)]
        with self._sftp() as sftp, sftp.open(self._path(key), "rb") as f:
            return b"".join(f.readv(spans))

    def get_file(self, key: str, dest: Path) -> None:
        self.count()
        with self._sftp() as sftp, open(dest, "xb") as out:
            sftp.getfo(self._path(key), out)

    def exists(self, key: str) -> bool:
        self.count()
        with self._sftp() as sftp:
            try:
                return stat.S_ISREG(sftp.stat(self._path(key)).st_mode or 0)
            except FileNotFoundError:
                return False

    def put(self, key: str, data: bytes) -> None:
        def write(sftp: Any, tmp: str) -> None:
            with sftp.open(tmp, "wb") as f:
                f.set_pipelined(True)
                for i in range(0, len(data), CHUNK):
                    f.write(data[i : i + CHUNK])

        self._write(key, write)

    def put_file(self, key: str, path: Path) -> None:
        def write(sftp: Any, tmp: str) -> None:
            with open(path, "rb") as src:
                sftp.putfo(src, tmp, confirm=False)

        self._write(key, write)

    def _write(self, key: str, write: Any) -> None:
        self.count()
        dest = self._path(key)
        tmp = self._path(f"{TMP}/{posixpath.basename(dest)}.{uuid.uuid4().hex}")
        with self._sftp() as sftp:
            try:
                self._makedirs(sftp, posixpath.dirname(tmp))
                self._makedirs(sftp, posixpath.dirname(dest))
                write(sftp, tmp)
                sftp.posix_rename(tmp, dest)
            except OSError as exc:
                with contextlib.suppress(OSError):
                    sftp.remove(tmp)
                raise cannot_write(self.where, dest, exc) from None

    def _makedirs(self, sftp: Any, path: str) -> None:
        """``mkdir -p``, once per folder per process."""
        if path in self._dirs or path in ("", "/"):
            return
        try:
            if stat.S_ISDIR(sftp.stat(path).st_mode or 0):
                self._dirs.add(path)
                return
        except FileNotFoundError:
            pass
        self._makedirs(sftp, posixpath.dirname(path))
        try:
            sftp.mkdir(path)
        except OSError as exc:  # made meanwhile by another thread or machine
            try:
                made = stat.S_ISDIR(sftp.stat(path).st_mode or 0)
            except OSError:
                made = False
            if not made:
                raise OSError(exc.errno or errno.EIO, f"cannot make {path}") from None
        self._dirs.add(path)
