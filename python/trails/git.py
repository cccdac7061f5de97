"""Git through its command line (plumbing commands).

Why not pygit2: importing it costs ~200 ms here (``../shared/FACTS.md``),
more than the whole of a warm ``exp show``; a ``git`` process costs a few
milliseconds, ``for-each-ref`` lists thousands of refs in one call, and
``cat-file --batch`` streams any number of blobs through one process. Git's
own ref locking (``update-ref`` with an expected old value) makes ref
updates atomic across parallel workers."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from trails.errors import TrailsError

ZERO = "0" * 40


class GitError(TrailsError):
    pass


@dataclass(frozen=True)
class Git:
    root: Path

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = True,
    ) -> str:
        proc = subprocess.run(
            ["git", *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            input=input,
            env={**os.environ, **env} if env else None,
        )
        if check and proc.returncode != 0:
            msg = proc.stderr.strip().splitlines()
            raise GitError(f"git {args[0]} failed: {msg[-1] if msg else proc.returncode}")
        return proc.stdout

    def ok(self, *args: str) -> bool:
        return subprocess.run(["git", *args], cwd=self.root, capture_output=True).returncode == 0

    def rev_parse(self, rev: str) -> str | None:
        out = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
            cwd=self.root,
            capture_output=True,
            text=True,
        )
        return out.stdout.strip() or None

    def head(self) -> str:
        sha = self.rev_parse("HEAD")
        if sha is None:
            raise GitError(
                "this Git repository has no commits yet",
                hint="Commit your code first (git add -A && git commit -m 'baseline'): "
                "experiments are recorded on top of a commit.",
            )
        return sha

    def refs(self, prefix: str) -> list[tuple[str, str, int]]:
        """``(refname, commit, committer time)`` of every ref under ``prefix``."""
        out = self.run(
            "for-each-ref", "--format=%(refname) %(objectname) %(committerdate:unix)", prefix
        )
        rows = []
        for line in out.splitlines():
            ref, sha, ts = line.split(" ")
            rows.append((ref, sha, int(ts or 0)))
        return rows

    def identity_env(self) -> dict[str, str]:
        """Author/committer for commits trails makes when the user has none
        configured (CI machines): Git would refuse to commit otherwise."""
        if self.ok("config", "user.email") and self.ok("config", "user.name"):
            return {}
        return {
            "GIT_AUTHOR_NAME": "trails",
            "GIT_AUTHOR_EMAIL": "trails@localhost",
            "GIT_COMMITTER_NAME": "trails",
            "GIT_COMMITTER_EMAIL": "trails@localhost",
        }

    def git_dir(self) -> Path:
        return (self.root / self.run("rev-parse", "--git-dir").strip()).resolve()

    def snapshot_tree(self, force_paths: list[str] | None = None) -> str:
        """The tree of the workspace as ``git add -A`` sees it (tracked and
        untracked non-ignored files), built in a temporary index so the
        user's index is untouched."""
        git_dir = self.git_dir()
        tmp = git_dir / f"trails-index.{os.getpid()}"
        real = git_dir / "index"
        try:
            if real.exists():
                # copy2 keeps the index's mtime: Git's racy-entry check
                # compares entry mtimes with it. A fresh mtime would let a
                # same-size edit made in the same second as the last
                # `git add` pass for unchanged (seen: an experiment recorded
                # the old params.yaml).
                shutil.copy2(real, tmp)
            env = {"GIT_INDEX_FILE": str(tmp)}
            self.run("add", "-A", "--", ".", env=env)
            if force_paths:
                self.run("add", "-f", "--", *force_paths, env=env)
            return self.run("write-tree", env=env).strip()
        finally:
            tmp.unlink(missing_ok=True)

    def commit_tree(self, tree: str, parents: Iterable[str], message: str) -> str:
        args = ["commit-tree", tree]
        for p in parents:
            args += ["-p", p]
        return self.run(*args, "-m", message, env=self.identity_env()).strip()

    def update_ref(self, ref: str, new: str, old: str | None = None) -> None:
        """Point ``ref`` at ``new``; with ``old`` (ZERO: must not exist), only
        if it still points there (git's ref lock makes this atomic)."""
        args = ["update-ref", ref, new] + ([old] if old is not None else [])
        self.run(*args)

    def delete_ref(self, ref: str) -> None:
        self.run("update-ref", "-d", ref)

    def read_blobs(self, specs: list[str]) -> list[bytes | None]:
        """Contents of ``rev:path`` specs through one ``cat-file --batch``."""
        if not specs:
            return []
        proc = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=self.root,
            input=("\n".join(specs) + "\n").encode(),
            capture_output=True,
        )
        data, pos = proc.stdout, 0
        out: list[bytes | None] = []
        for _ in specs:
            nl = data.index(b"\n", pos)
            header = data[pos:nl].split()
            pos = nl + 1
            if len(header) == 3 and header[1] == b"blob":
                size = int(header[2])
                out.append(data[pos : pos + size])
                pos += size + 1
            elif len(header) == 3:
                pos += int(header[2]) + 1
                out.append(None)
            else:
                out.append(None)
        return out
