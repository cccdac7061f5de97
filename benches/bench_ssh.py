"""ssh:// remotes: which SSH library (paramiko, which trails uses, against
fsspec's sshfs on asyncssh, the reference tool's), and what the SSH
transport costs a push and a pull against a folder remote on the same disk.

One OpenSSH server on 127.0.0.1 (``tests/sshd.py``; ``make sshd``
installs it). The library rows send and fetch 8 MiB packs (the remote's
pack size) four at once, as a push's threads do, alternating the two
libraries round by round; each row gives the client's CPU time (user+sys)
beside the wall time, since sshd's work and the machine's other load are
in the wall time. sshfs is not a dependency: ``.venv/bin/pip install
sshfs`` first, or its rows say it is missing. Writes RESULTS-ssh.md with
``--write``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench import log, machine_facts

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests import sshd  # noqa: E402

TRAILS = Path(sys.executable).parent / "trails"
GIT_ID = ["-c", "user.name=b", "-c", "user.email=b@b"]
PACK = 8 << 20


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def paramiko_io(server: sshd.Server, root: str) -> tuple[Callable[[str, bytes], None],
                                                         Callable[[str], bytes]]:  # fmt: skip
    import threading

    import paramiko

    client = paramiko.SSHClient()
    client.load_host_keys(str(server.known_hosts))
    client.connect("127.0.0.1", server.port, server.user, key_filename=str(server.key),
                   look_for_keys=False, allow_agent=False)  # fmt: skip
    local = threading.local()

    def sftp() -> Any:
        if not hasattr(local, "s"):
            local.s = client.open_sftp()
        return local.s

    def put(name: str, data: bytes) -> None:
        with sftp().open(f"{root}/{name}", "wb") as f:
            f.set_pipelined(True)
            for i in range(0, len(data), 1 << 20):
                f.write(data[i : i + (1 << 20)])

    def get(name: str) -> bytes:
        with sftp().open(f"{root}/{name}", "rb") as f:
            f.prefetch()
            data: bytes = f.read()
            return data

    return put, get


def sshfs_io(server: sshd.Server, root: str) -> tuple[Callable[[str, bytes], None],
                                                      Callable[[str], bytes]]:  # fmt: skip
    from sshfs import SSHFileSystem

    fs = SSHFileSystem(
        "127.0.0.1", port=server.port, username=server.user,
        client_keys=[str(server.key)], known_hosts=str(server.known_hosts),
    )  # fmt: skip

    def put(name: str, data: bytes) -> None:
        fs.pipe_file(f"{root}/{name}", data)

    def get(name: str) -> bytes:
        data: bytes = fs.cat_file(f"{root}/{name}")
        return data

    return put, get


def libraries(server: sshd.Server, work: Path, packs: int, rounds: int) -> list[tuple[str, ...]]:
    data = os.urandom(PACK)
    made: dict[str, Any] = {}
    try:
        import sshfs  # noqa: F401

        libs = {"paramiko": paramiko_io, "sshfs (asyncssh)": sshfs_io}
    except ImportError:
        libs = {"paramiko": paramiko_io}
    got: dict[str, list[tuple[float, float, float, float]]] = {n: [] for n in libs}
    for r in range(rounds):
        for n, (name, make) in enumerate(libs.items()):
            root = work / f"lib{n}-round{r}"
            root.mkdir()
            put, get = made.setdefault(name, make(server, str(work)))  # one connection each
            rel = root.name

            def send(i: int, put: Any = put, rel: str = rel) -> None:
                put(f"{rel}/{i}", data)

            def fetch(i: int, get: Any = get, rel: str = rel) -> None:
                assert len(get(f"{rel}/{i}")) == PACK

            with ThreadPoolExecutor(4) as pool:
                c0, t0 = cpu(), time.perf_counter()
                list(pool.map(send, range(packs)))
                c1, t1 = cpu(), time.perf_counter()
                list(pool.map(fetch, range(packs)))
                c2, t2 = cpu(), time.perf_counter()
            got[name].append((t1 - t0, c1 - c0, t2 - t1, c2 - c1))
            log(f"{name} round {r}: put {t1 - t0:.2f} s, get {t2 - t1:.2f} s")
    rows = []
    mb = packs * PACK / 1e6
    for name, runs in got.items():
        pw, pc, gw, gc = (statistics.median(x[i] for x in runs) for i in range(4))
        rows.append((f"{packs} packs of 8 MiB sent, 4 at once: {name}",
                     f"{mb / pw:.0f} MB/s", f"{pc:.2f} s", f"{mb / gw:.0f} MB/s", f"{gc:.2f} s",
                     f"{os.getloadavg()[0]:.1f}"))  # fmt: skip
    if len(libs) == 1:
        rows.append(("sshfs (asyncssh)", "not installed: pip install sshfs", "", "", "", ""))
    return rows


def run(cwd: Path, home: Path, *argv: str | Path) -> tuple[float, float]:
    """Wall and CPU seconds (user+sys of the command and what it waited for)."""
    env = {**os.environ, "HOME": str(home), "TRAILS_NO_PROGRESS": "1",
           "GIT_CONFIG_NOSYSTEM": "1"}  # fmt: skip
    c0, t0 = children_cpu(), time.perf_counter()
    p = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True)
    wall, spent = time.perf_counter() - t0, children_cpu() - c0
    if p.returncode != 0:
        raise RuntimeError(f"{argv} failed in {cwd}:\n{p.stdout}\n{p.stderr}")
    return wall, spent


def transport(server: sshd.Server, work: Path, files: int) -> list[tuple[str, ...]]:
    import random

    repo = work / "repo"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    rng = random.Random(7)
    for i in range(files):
        p = repo / "data" / f"{i % 100:02}" / f"{i}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(rng.randint(1024, 4096)))
    home = server.home
    run(repo, home, TRAILS, "init")
    run(repo, home, TRAILS, "add", "data")
    run(repo, home, TRAILS, "remote", "add", "folder", str(work / "folder"))
    run(repo, home, TRAILS, "remote", "add", "ssh", server.url(work / "over-ssh"))
    run(repo, home, TRAILS, "remote", "modify", "--local", "ssh", "keyfile", str(server.key))
    subprocess.run(["git", *GIT_ID, "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", *GIT_ID, "commit", "-qm", "data"], cwd=repo, check=True)
    rows = []
    steps = (("push", f"push of {files:,} files"), ("push", "no-op push"),
             ("pull", "pull into a fresh clone"))  # fmt: skip
    for verb, label in steps:
        got = {}
        for remote in ("folder", "ssh"):
            if verb == "pull":
                # Moved aside, not deleted: deleting 40,000 files just before
                # a pull cost it 5x the system time here (bench_remote.fresh).
                for i, p in enumerate((repo / ".dvc" / "cache", repo / ".dvc" / "tmp",
                                       repo / "data")):  # fmt: skip
                    if p.exists():
                        p.rename(work / f"trash-{remote}-{i}")
            got[remote] = run(repo, home, TRAILS, verb, "-r", remote)
        (fw, fc), (sw, sc) = got["folder"], got["ssh"]
        rows.append((label, f"{sw:.2f} s (CPU {sc:.2f} s)", f"{fw:.2f} s (CPU {fc:.2f} s)",
                     f"{sw / fw:.2f}x", f"{os.getloadavg()[0]:.1f}"))  # fmt: skip
        log(" | ".join(rows[-1]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--write", type=Path)
    ap.add_argument("--packs", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--files", type=int, default=20_000)
    args = ap.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    with tempfile.TemporaryDirectory(dir=HERE) as tmp:
        work = Path(tmp)
        (work / "sshd").mkdir()
        server = sshd.start(work / "sshd")
        try:
            libs = libraries(server, work, args.packs, args.rounds)
            trans = transport(server, work, args.files)
        finally:
            server.stop()
    if not args.write:
        return
    model, ram, fs, commit = machine_facts(HERE)
    lines = [
        "# ssh:// remotes: the SSH library, and what SSH costs against a folder",
        "",
        "Written by `benches/bench_ssh.py`; do not edit by hand.",
        "",
        f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; commit {commit}",
        f"- machine: {os.cpu_count()} vCPU ({model}), {ram:.1f} GiB RAM, work dir on {fs}, "
        "shared and noisy",
        f"- load average at start: {load}",
        "- server: OpenSSH's sshd on 127.0.0.1 (Debian's openssh-server), internal-sftp, "
        "an ed25519 key",
        "- command: `.venv/bin/python benches/bench_ssh.py " + " ".join(sys.argv[1:]) + "`",
        "",
        "## The library (medians of the rounds, alternated)",
        "",
        "CPU is the client's (user+sys of the benchmark process); sshd's and the machine's "
        "other work are in the wall time only.",
        "",
        "| measure | send | send CPU | fetch | fetch CPU | load |",
        "|---|---|---|---|---|---|",
        *("| " + " | ".join(r) + " |" for r in libs),
        "",
        "## trails over SSH against a folder remote on the same disk",
        "",
        "Each row runs the folder remote first, then the ssh:// one; CPU is that of "
        "the trails process (sshd's is not in it).",
        "",
        "| measure | ssh:// | folder | ratio | load |",
        "|---|---|---|---|---|",
        *("| " + " | ".join(r) + " |" for r in trans),
        "",
    ]
    args.write.write_text("\n".join(lines))
    log(f"wrote {args.write}")


if __name__ == "__main__":
    main()
