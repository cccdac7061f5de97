"""A real OpenSSH server on 127.0.0.1 for the ssh:// remote tests and
benchmarks: Debian's ``/usr/sbin/sshd`` (``make sshd`` installs it) on a
free port, with a host key and one authorised user key made for the run,
SFTP served in-process (``internal-sftp``), and a HOME whose
``~/.ssh/known_hosts`` holds the host key (point HOME there for the
trails processes)."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = Path("/usr/sbin/sshd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def keygen(path: Path) -> str:
    """A new ed25519 key pair at ``path``; its public line."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@dataclass(frozen=True)
class Server:
    port: int
    user: str
    key: Path  # the authorised private key
    home: Path  # a HOME whose known_hosts holds the server's key
    host_line: str  # that known_hosts line
    proc: subprocess.Popen[bytes]

    @property
    def known_hosts(self) -> Path:
        return self.home / ".ssh" / "known_hosts"

    def url(self, path: Path) -> str:
        return f"ssh://{self.user}@127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start(d: Path) -> Server:
    """Start sshd with its files in the folder ``d``; raises RuntimeError
    (with sshd's log) if it does not listen within 20 s."""
    if not SSHD.exists():
        raise RuntimeError(f"no {SSHD}: run 'make sshd' (Debian's openssh-server)")
    host_pub = keygen(d / "host")
    (d / "authorized_keys").write_text(keygen(d / "user") + "\n")
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # its privilege separation
    with open(d / "log", "w") as log:
        proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(d / "sshd_config")],
                                stderr=log)  # fmt: skip
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"sshd did not start: {(d / 'log').read_text()}") from None
            time.sleep(0.1)
    home = d / "home"
    (home / ".ssh").mkdir(parents=True)
    line = f"[127.0.0.1]:{port} {host_pub}"
    (home / ".ssh" / "known_hosts").write_text(line + "\n")
    return Server(port, getpass.getuser(), d / "user", home, line, proc)
