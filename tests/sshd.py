"""A real OpenSSH server on 127.0.0.1 for the ssh:// remote tests and
benchmarks: Debian's ``/usr/sbin/sshd`` (``make sshd`` installs it) on a
free port, with a host key and one authorised user key made for the run,
SFTP served in-process (``internal-sftp``), and a HOME whose
``~/.ssh/known_hosts`` holds the host key (point HOME there for the
trails processes).

With a ``password``, the server also takes that password for a user of
its own. sshd checks passwords against the system's accounts only (here
without PAM: ``/etc/passwd`` and ``/etc/shadow``), so it runs in a private
mount namespace (``unshare -m``, as root) where copies of those two files,
with the user added, are bound over them: the system's own files are not
changed, and no other process sees the copies."""

from __future__ import annotations

import getpass
import os
import shutil
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


#: The user a password logs in as (uid 0, as the tests' own user is here).
PASSWORD_USER = "trails-pw"


def _with_password_user(d: Path, password: str, argv: list[str]) -> list[str]:
    """``argv`` run where ``PASSWORD_USER`` has ``password`` (see above)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise RuntimeError("a password user needs root and unshare (a private mount namespace)")
    hashed = subprocess.run(["openssl", "passwd", "-6", "-stdin"], input=password,
                            capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    passwd, shadow = d / "passwd", d / "shadow"
    passwd.write_text(Path("/etc/passwd").read_text() + f"{PASSWORD_USER}:x:0:0::{d}:/bin/sh\n")
    shadow.touch(mode=0o600)
    shadow.write_text(Path("/etc/shadow").read_text() + f"{PASSWORD_USER}:{hashed}:19000::::::\n")
    script = 'mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/shadow && shift 2'
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script + ' && exec "$@"', "sh",
            str(passwd), str(shadow), *argv]  # fmt: skip


def start(d: Path, password: str | None = None) -> Server:
    """Start sshd with its files in the folder ``d``; raises RuntimeError
    (with sshd's log) if it does not listen within 20 s. With ``password``:
    the Server's user is ``PASSWORD_USER``, who logs in with it."""
    if not SSHD.exists():
        raise RuntimeError(f"no {SSHD}: run 'make sshd' (Debian's openssh-server)")
    host_pub = keygen(d / "host")
    (d / "authorized_keys").write_text(keygen(d / "user") + "\n")
    port = free_port()
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPidFile {d / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\n"
        f"PasswordAuthentication {'no' if password is None else 'yes'}\n"
        "KbdInteractiveAuthentication no\n"
        f"PermitRootLogin {'prohibit-password' if password is None else 'yes'}\n"
        "Subsystem sftp internal-sftp\nLogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)  # its privilege separation
    argv = [str(SSHD), "-D", "-e", "-f", str(d / "sshd_config")]
    if password is not None:
        argv = _with_password_user(d, password, argv)
    with open(d / "log", "w") as log:
        proc = subprocess.Popen(argv, stderr=log)
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
    user = getpass.getuser() if password is None else PASSWORD_USER
    return Server(port, user, d / "user", home, line, proc)
