"""Where a remote's files live: a small interface over a local (or
mounted) folder, S3 and SSH (``remote.s3``, ``remote.ssh``), so the layout
code (``remote.store``) is written once. Keys are ``/``-separated,
relative to the remote's root. Every ``put`` is whole or absent (a reader
never sees half a file): a folder (or an SSH server) writes a temporary
file and renames it; S3 makes an object visible only once its upload
completes. A backend counts its requests (``requests``),
for the benchmarks and the "requests <= 1% of the files" goal."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from trails.errors import TrailsError
from trails.project import Project
from trails.remote.settings import RemoteConfig, check_url

#: A folder remote's temporary files (``remote-format.md``).
TMP = "trails-v1/tmp"


class RemoteAccessError(TrailsError):
    """A remote that cannot be read or written: unreachable, refused
    credentials, no such bucket or folder, a full disk."""


def cannot_write(where: str, dest: str, exc: OSError) -> RemoteAccessError:
    """A write the remote refused (full, read-only, not permitted)."""
    return RemoteAccessError(
        f"{where}: cannot write {dest}: {exc.strerror or exc}",
        hint="Free space there or fix its permissions; what was already sent "
        "stays, and the next push sends only the rest.",
    )


class Backend(Protocol):
    #: The remote's name, for messages.
    name: str
    #: Requests sent so far (a folder: files opened or listed).
    requests: int

    def list(self, prefix: str) -> list[str]:
        """Names of the files directly under ``prefix`` (a folder key ending
        in ``/``); none for a remote not written yet."""

    def check_readable(self) -> None:
        """Before a fetch: a remote that does not exist is an error (a push
        makes it)."""

    def get(self, key: str) -> bytes: ...

    def get_range(self, key: str, start: int, length: int) -> bytes: ...

    def get_file(self, key: str, dest: Path) -> None:
        """Write the file ``key`` to ``dest`` (a new file)."""

    def exists(self, key: str) -> bool: ...

    def put(self, key: str, data: bytes) -> None: ...

    def put_file(self, key: str, path: Path) -> None: ...


class Counter:
    """A thread-safe request count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0

    def count(self, n: int = 1) -> None:
        with self._lock:
            self.requests += n


class LocalBackend(Counter):
    """A folder: made on the first write (as the reference tool does),
    never by a read, so a mistyped path fails a pull with its name."""

    def __init__(self, name: str, root: Path) -> None:
        super().__init__()
        self.name = name
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key

    def _missing(self) -> RemoteAccessError:
        return RemoteAccessError(
            f"remote '{self.name}': the folder {self.root} does not exist",
            hint="Check its url ('trails remote list'), or mount the disk it is on.",
        )

    def check_readable(self) -> None:
        if not self.root.is_dir():
            raise self._missing()

    def list(self, prefix: str) -> list[str]:
        self.count()
        try:
            return [e.name for e in os.scandir(self._path(prefix)) if e.is_file()]
        except FileNotFoundError:
            return []

    def get(self, key: str) -> bytes:
        self.count()
        return self._path(key).read_bytes()

    def get_range(self, key: str, start: int, length: int) -> bytes:
        self.count()
        with open(self._path(key), "rb") as f:
            f.seek(start)
            return f.read(length)

    def get_file(self, key: str, dest: Path) -> None:
        import shutil

        self.count()
        with open(self._path(key), "rb") as src, open(dest, "xb") as out:
            shutil.copyfileobj(src, out, 1 << 20)

    def exists(self, key: str) -> bool:
        self.count()
        return self._path(key).is_file()

    def _write(self, key: str, write: object) -> None:
        dest = self._path(key)
        # Beside the layout's folders, never in them: a push killed while
        # writing leaves no stray file where readers list.
        tmp = self.root / TMP / f"{dest.name}.{os.getpid()}.{threading.get_ident()}"
        try:
            tmp.parent.mkdir(parents=True, exist_ok=True)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if callable(write):
                write(tmp)
            os.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise cannot_write(f"remote '{self.name}'", str(dest), exc) from None

    def put(self, key: str, data: bytes) -> None:
        self.count()
        self._write(key, lambda tmp: tmp.write_bytes(data))

    def put_file(self, key: str, path: Path) -> None:
        import shutil

        self.count()
        self._write(key, lambda tmp: shutil.copyfile(path, tmp))


def open_backend(project: Project, remote: RemoteConfig) -> Backend:
    """The backend of a configured remote (S3 needs the ``s3`` extra, SSH
    the ``ssh`` one). Its
    URL is checked again: ``.dvc/config`` may have been edited by hand, and
    an unknown scheme read as a path would make a folder named ``ftp:``."""
    url = check_url(remote.url, f"remote '{remote.name}'", edit=remote.name)
    parts = urlsplit(url)
    if parts.scheme == "s3":
        from trails.remote.s3 import S3Backend

        return S3Backend(remote.name, parts.netloc, parts.path.strip("/"), remote.options)
    if parts.scheme == "ssh":
        from trails.remote.ssh import SSHBackend

        if remote.options.get("ask_password", "false").lower() not in ("false", "0", "no"):
            raise RemoteAccessError(
                f"remote '{remote.name}': trails does not prompt for passwords (ask_password)",
                hint=f"Unset it ('trails remote modify {remote.name} ask_password --unset') "
                "and use a keyfile, or a password in .dvc/config.local.",
            )
        return SSHBackend(remote.name, parts.hostname or "", parts.port,
                          unquote(parts.username) if parts.username else None,
                          unquote(parts.path), remote.options)  # fmt: skip
    path = unquote(parts.path) if parts.scheme == "file" else url
    root = Path(os.path.expanduser(path))
    # A relative path is relative to .dvc/, as the reference tool reads it.
    return LocalBackend(remote.name, root if root.is_absolute() else project.dvc_dir / root)
