"""Git through its command line (plumbing commands).

Why not pygit2: importing it cost 190-209 ms here (``docs/architecture.md``,
"Git: the CLI, not pygit2"), more than the whole of a warm ``exp show``; a
``git`` process costs a few milliseconds, ``for-each-ref`` lists thousands
of refs in one call, and ``cat-file --batch`` streams any number of blobs
through one process. Git's own ref locking (``update-ref`` with an expected old value) makes ref
updates atomic across parallel workers."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from trails.errors import TrailsError

ZERO = "0" * 40


class GitError(TrailsError):
    pass


#: Lines of Git's stderr that say nothing the line before has not said.
_GENERIC = ("adding files failed", "Unable to process path")


def _failure(args: tuple[str, ...], stderr: str, code: int) -> GitError:
    """Git's complaint as one readable line: its ``fatal:``/``error:``
    lines without those prefixes (and without ``git <cmd>:``), generic
    summaries dropped, and what trails was asking Git to do."""
    sub = args[0] if args else "git"
    reasons: list[str] = []
    for line in stderr.splitlines():
        text = line.strip()
        for prefix in ("fatal:", "error:", f"git {sub}:"):
            text = text.removeprefix(prefix).strip()
        if text and not text.startswith("hint:") and text not in reasons:
            reasons.append(text)
    specific = [r for r in reasons if not r.startswith(_GENERIC)] or reasons
    reason = "; ".join(specific) if specific else f"exit code {code}"
    return GitError(
        f"Git refused a step of this command ('git {sub}'): {reason}",
        hint="Fix what Git names (or check the repository with 'git status'), then run again.",
    )


#: Per process, per repository root: facts that do not change while trails
#: runs, asked of Git once (``_git_dir``, ``_identity_env``) or handed down
#: by the queue's pool to its workers (``Git.adopt``), which would
#: otherwise ask again in every experiment.
_GIT_DIRS: dict[Path, Path] = {}
_IDENTITIES: dict[Path, dict[str, str]] = {}
#: Per repository root, while ``Git.one_reader`` is active: its object
#: reader (None until the first question starts it).
_READERS: dict[Path, _ObjectReader | None] = {}
_TYPES = ("blob", "tree", "commit", "tag")


class _ObjectReader:
    """One ``git cat-file --batch-command --buffer`` asked question after
    question: ``info`` (name, type) and ``contents`` of object specs. Each
    round is written in chunks of at most ``CHUNK`` bytes, each ended by
    ``flush`` and answered in full before the next is written, so that
    neither side waits on a full pipe (Linux pipes hold 64 KiB)."""

    CHUNK = 16 * 1024

    def __init__(self, root: Path) -> None:
        self.proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            ["git", "cat-file", "--batch-command", "--buffer"],
            cwd=root,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def ask(self, verb: str, specs: list[str]) -> list[tuple[str, str, bytes] | None]:
        """``(object name, type, content)`` of each spec (content only for
        ``contents``), None where it names nothing. A reader that broke (an
        old Git without ``--batch-command``, a killed process) raises
        ``BrokenPipeError``: the caller asks the one-shot way instead."""
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise BrokenPipeError("the object reader is closed")
        out: list[tuple[str, str, bytes] | None] = []
        start = 0
        while start < len(specs):
            chunk: list[bytes] = []
            size = 0
            while start < len(specs) and (not chunk or size < self.CHUNK):
                line = f"{verb} {specs[start]}\n".encode()
                chunk.append(line)
                size += len(line)
                start += 1
            proc.stdin.write(b"".join(chunk) + b"flush\n")
            proc.stdin.flush()
            for _ in chunk:
                header = proc.stdout.readline()
                if not header.endswith(b"\n"):
                    raise BrokenPipeError("the object reader stopped answering")
                fields = header.split()
                if len(fields) == 3 and fields[1].decode() in _TYPES and fields[2].isdigit():
                    data = b""
                    if verb == "contents":
                        length = int(fields[2])
                        data = proc.stdout.read(length + 1)[:length]
                        if len(data) != length:
                            raise BrokenPipeError("the object reader stopped answering")
                    out.append((fields[0].decode(), fields[1].decode(), data))
                else:  # "<spec> missing", "<spec> ambiguous"
                    out.append(None)
        return out

    def close(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                if proc.stdin is not None:
                    proc.stdin.close()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def _git_dir(root: Path) -> Path:
    if root not in _GIT_DIRS and "GIT_DIR" not in os.environ and (root / ".git").is_dir():
        # The usual layout answers without a process (a worktree's or a
        # submodule's `.git` is a file naming the folder: Git reads it).
        _GIT_DIRS[root] = (root / ".git").resolve()
    if root not in _GIT_DIRS:
        out = Git(root).run("rev-parse", "--git-dir").strip()
        _GIT_DIRS[root] = (root / out).resolve()
    return _GIT_DIRS[root]


def _identity_env(root: Path) -> dict[str, str]:
    """One ``git config`` call: the user's identity, or trails' own."""
    if root not in _IDENTITIES:
        out = Git(root).run("config", "--get-regexp", r"^user\.(name|email)$", check=False)
        if {ln.split(" ", 1)[0] for ln in out.splitlines()} >= {"user.name", "user.email"}:
            _IDENTITIES[root] = {}
        else:
            _IDENTITIES[root] = {
                "GIT_AUTHOR_NAME": "trails",
                "GIT_AUTHOR_EMAIL": "trails@localhost",
                "GIT_COMMITTER_NAME": "trails",
                "GIT_COMMITTER_EMAIL": "trails@localhost",
            }
    return _IDENTITIES[root]


@dataclass(frozen=True)
class Git:
    root: Path
    #: Run each command in a process group of its own (``shielded``).
    own_group: bool = False

    def shielded(self) -> Git:
        """This repository, its commands out of reach of the terminal's
        Ctrl+C (sent to trails' whole process group). For the steps a thread
        other than the main one must finish once begun: a checkpoint whose
        ``update-ref`` was cut by the signal after the ref moved was kept but
        never announced, nor remembered as the chain's tip. The main thread
        still stops at once: the signal raises there, and trails waits for
        such steps (the checkpoint watcher is joined) before it exits."""
        return replace(self, own_group=True)

    def run(
        self,
        *args: str,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        check: bool = True,
        cwd: Path | None = None,
    ) -> str:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd or self.root,
            capture_output=True,
            text=True,
            input=input,
            env={**os.environ, **env} if env else None,
            process_group=0 if self.own_group else None,
        )
        if check and proc.returncode != 0:
            raise _failure(args, proc.stderr, proc.returncode)
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

    def ref_messages(self, prefix: str) -> list[tuple[str, str, int, str, str]]:
        """``(refname, commit, committer time, message, parents)`` of every
        ref under ``prefix`` (parents space-separated), in one
        ``for-each-ref`` (a process per message cost ``queue status`` over
        a second with 1,000 entries, and a queue worker a process each)."""
        fmt = "%(refname)%00%(objectname)%00%(committerdate:unix)%00%(parent)%00%(contents)%00"
        out = self.run("for-each-ref", f"--format={fmt}", prefix)
        rows = []
        for record in out.split("\0\n"):
            parts = record.split("\0")
            if len(parts) >= 5:
                ts = parts[2]
                rows.append(
                    (parts[0], parts[1], int(ts) if ts.isdigit() else 0, parts[4], parts[3])
                )
        return rows

    def points_at(self, ref: str, sha: str) -> bool:
        """Whether ``ref`` points at ``sha`` now. A loose ref answers without
        a process: Git writes it whole (a lock file renamed over it) and it
        wins over ``packed-refs``, so a file holding ``sha`` means the ref
        pointed there when it was read (a queue worker asks once per
        experiment). A packed ref, a symbolic one, a linked worktree's or
        another ref storage: Git is asked."""
        from trails.confine import is_confined

        git_dir = self.git_dir()
        if ref.startswith("refs/") and is_confined(git_dir, ref):
            try:
                text = (git_dir / ref).read_text(errors="replace").strip()
            except OSError:
                text = ""
            if len(text) == len(sha) and all(c in "0123456789abcdef" for c in text):
                return text == sha
        return self.rev_parse(ref) == sha

    def ref_shas(self, prefix: str) -> list[tuple[str, str]]:
        """``(refname, commit)`` of every ref under ``prefix``: no commit is
        read (``refs`` reads each for its time)."""
        out = self.run("for-each-ref", "--format=%(refname) %(objectname)", prefix)
        return [(ref, sha) for ref, _, sha in (ln.rpartition(" ") for ln in out.splitlines())]

    def refs_and_parents(self, prefix: str) -> tuple[list[tuple[str, str, int]], dict[str, str]]:
        """``refs(prefix)`` and the first parent of each of their commits,
        in one ``for-each-ref`` (each listing of 10,000 experiment refs
        costs a pass over their commits)."""
        out = self.run(
            "for-each-ref",
            "--format=%(refname) %(objectname) %(committerdate:unix) %(parent)",
            prefix,
        )
        rows, parents = [], {}
        for line in out.splitlines():
            ref, sha, ts, *up = line.split(" ")
            rows.append((ref, sha, int(ts or 0)))
            if up and up[0]:
                parents[sha] = up[0]
        return rows, parents

    def pack_loose_refs(self, prefix: str, at_least: int) -> bool:
        """``git pack-refs --all`` once ``at_least`` refs under ``prefix``
        are loose files (what ``git gc`` does): listing 10,000 loose refs
        opens 10,000 files, packed ones are read from one. Git's own
        locking keeps concurrent ref updates safe. Whether it packed."""
        folder = self.git_dir() / prefix
        count = 0
        for _, _, names in os.walk(folder):
            count += len(names)
            if count >= at_least:
                self.run("pack-refs", "--all", check=False)
                return True
        return False

    def identity_env(self) -> dict[str, str]:
        """Author/committer for commits trails makes when the user has none
        configured (CI machines): Git would refuse to commit otherwise."""
        return dict(_identity_env(self.root))

    def git_dir(self) -> Path:
        return _git_dir(self.root)

    def facts(self) -> dict[str, object]:
        """What ``adopt`` takes, as plain JSON-able values."""
        return {"git_dir": str(self.git_dir()), "identity": self.identity_env()}

    def adopt(self, facts: Mapping[str, object]) -> None:
        """Take ``facts`` from another process (the pool, for its workers)."""
        identity = facts["identity"]
        assert isinstance(identity, dict)
        _GIT_DIRS[self.root] = Path(str(facts["git_dir"]))
        _IDENTITIES[self.root] = {str(k): str(v) for k, v in identity.items()}

    def snapshot_tree(
        self,
        force_paths: list[str] | None = None,
        *,
        tracked_only: bool = False,
        blobs: Mapping[str, bytes] | None = None,
        work_tree: Path | None = None,
        base: str | None = None,
        index: Path | None = None,
    ) -> str:
        """The tree of a work tree as ``git add`` sees it, built in a
        temporary index so the user's index is untouched.

        Default: the workspace as ``git add -A`` sees it (tracked and
        untracked non-ignored files). ``tracked_only``: tracked and staged
        files only (``git add -u``), what a queued experiment holds.
        ``blobs`` replaces file contents (``-S`` edits of a queued run,
        never written to the workspace). ``work_tree``/``base``: another
        folder, starting from the tree of commit ``base``; ``index``: the
        index ``materialize`` kept for that folder (its stat data spares
        ``git add`` reading unchanged files), used and kept instead."""
        git_dir = self.git_dir()
        tmp = index or git_dir / f"trails-index.{os.getpid()}.{id(self)}"
        real = git_dir / "index"
        env = {"GIT_INDEX_FILE": str(tmp)}
        cwd = None
        if work_tree is not None:
            # Run from inside the other tree, so "." means it.
            env |= {"GIT_WORK_TREE": str(work_tree), "GIT_DIR": str(git_dir)}
            cwd = work_tree
        try:
            if index is not None:
                pass
            elif base is not None:
                self.run("read-tree", base, env=env, cwd=cwd)
            elif real.exists():
                # copy2 keeps the index's mtime: Git's racy-entry check
                # compares entry mtimes with it. A fresh mtime would let a
                # same-size edit made in the same second as the last
                # `git add` pass for unchanged (seen: an experiment recorded
                # the old params.yaml).
                import shutil  # here: ~2 ms (bz2, lzma) that reads of objects do not need

                shutil.copy2(real, tmp)
            self.run("add", "-u" if tracked_only else "-A", "--", ".", env=env, cwd=cwd)
            if force_paths:
                self.run("add", "-f", "--", *force_paths, env=env, cwd=cwd)
            for path, data in (blobs or {}).items():
                blob = self.hash_object(data)
                info = f"100644,{blob},{path}"
                self.run("update-index", "--add", "--cacheinfo", info, env=env, cwd=cwd)
            return self.run("write-tree", env=env, cwd=cwd).strip()
        finally:
            if index is None:
                tmp.unlink(missing_ok=True)

    def tree_with(self, commit: str, blobs: Mapping[str, bytes]) -> str:
        """The tree of ``commit`` with some files replaced (no work tree)."""
        tmp = self.git_dir() / f"trails-index.{os.getpid()}.{id(blobs)}"
        env = {"GIT_INDEX_FILE": str(tmp)}
        try:
            self.run("read-tree", commit, env=env)
            for path, data in blobs.items():
                info = f"100644,{self.hash_object(data)},{path}"
                self.run("update-index", "--add", "--cacheinfo", info, env=env)
            return self.run("write-tree", env=env).strip()
        finally:
            tmp.unlink(missing_ok=True)

    def hash_object(self, data: bytes) -> str:
        proc = subprocess.run(
            ["git", "hash-object", "-w", "--stdin"],
            cwd=self.root,
            input=data,
            capture_output=True,
            process_group=0 if self.own_group else None,
        )
        if proc.returncode != 0:
            raise _failure(("hash-object",), proc.stderr.decode(errors="replace"), proc.returncode)
        return proc.stdout.decode().strip()

    def materialize(self, commit: str, dest: Path, index: Path | None = None) -> None:
        """Write the files of ``commit`` into the empty folder ``dest``
        (no .git there; the index used is temporary, or kept at ``index``
        for ``snapshot_tree`` of that folder)."""
        git_dir = self.git_dir()
        tmp = index or git_dir / f"trails-index.{os.getpid()}.{id(dest)}"
        env = {"GIT_INDEX_FILE": str(tmp), "GIT_WORK_TREE": str(dest), "GIT_DIR": str(git_dir)}
        try:
            # One process: read the tree into the index and write its files.
            self.run("read-tree", "--reset", "-u", commit, env=env, cwd=dest)
        finally:
            if index is None:
                tmp.unlink(missing_ok=True)

    def move_folder(self, old: str, new: str, dest: Path, index: Path) -> None:
        """Move the folder ``dest`` from commit ``old``, which it holds
        exactly as ``index`` records it (a run folder after its snapshot),
        to commit ``new``: every file ``index`` does not track goes (outputs,
        copies; ``dest`` is a run folder, never a work tree of the user's),
        then only the files that differ between the two commits are written
        (a two-way ``read-tree -m``), so the cost follows their diff, not the
        size of the tree. A ``GitError`` (a tracked file changed since the
        snapshot) leaves the folder to be checked out afresh."""
        git_dir = self.git_dir()
        env = {"GIT_INDEX_FILE": str(index), "GIT_WORK_TREE": str(dest), "GIT_DIR": str(git_dir)}
        self.run("clean", "-ffdxq", env=env, cwd=dest)
        self.run("read-tree", "-m", "-u", old, new, env=env, cwd=dest)

    def materialize_some(self, commit: str, dest: Path, keep: Callable[[str, str], bool]) -> None:
        """Write into the empty folder ``dest`` only the entries of
        ``commit`` that ``keep(mode, path)`` accepts (``exp apply``'s check of
        a commit's pipeline and ``.dvc`` files needs those and the symlinks,
        not the data and code beside them)."""
        listed = self.run("ls-tree", "-r", "-z", "--full-tree", commit)
        paths = []
        for line in filter(None, listed.split("\0")):
            meta, path = line.split("\t", 1)
            if keep(meta.split(" ", 1)[0], path):
                paths.append(path)
        if not paths:
            return
        git_dir = self.git_dir()
        tmp = git_dir / f"trails-index.{os.getpid()}.{id(dest)}"
        env = {"GIT_INDEX_FILE": str(tmp), "GIT_WORK_TREE": str(dest), "GIT_DIR": str(git_dir)}
        try:
            self.run("read-tree", "--reset", commit, env=env, cwd=dest)
            self.run("checkout-index", "-z", "--stdin", input="\0".join(paths), env=env, cwd=dest)
        finally:
            tmp.unlink(missing_ok=True)

    def select_commits(
        self,
        *,
        head: bool = False,
        branches: bool = False,
        tags: bool = False,
        all_commits: bool = False,
        since: str | None = None,
    ) -> list[str]:
        """The commits named by the scope flags that ``exp gc`` and ``gc``
        share: HEAD, branch heads, tags, every commit, commits since a date."""
        out: list[str] = []
        if head and self.rev_parse("HEAD"):
            out.append(self.head())
        if branches:
            out += [s for _, s, _ in self.refs("refs/heads/")]
        if tags:
            out += [self.rev_parse(r) or "" for r, _, _ in self.refs("refs/tags/")]
        if all_commits:
            out += self.run("rev-list", "--all").split()
        if since:
            out += self.run("rev-list", "--all", f"--since={since}").split()
        return [c for c in dict.fromkeys(out) if c]

    def commit_times(self, commits: list[str]) -> dict[str, int]:
        """Committer time of each commit, in one call."""
        if not commits:
            return {}
        out = self.run("log", "--no-walk=unsorted", "--format=%H %ct", *commits)
        return {p[0]: int(p[1]) for p in (ln.split() for ln in out.splitlines()) if len(p) == 2}

    def parents(self, commits: list[str]) -> dict[str, str]:
        """First parent of each commit, in one call."""
        if not commits:
            return {}
        out = self.run("rev-list", "--no-walk", "--parents", *commits)
        return {p[0]: p[1] for p in (line.split() for line in out.splitlines()) if len(p) > 1}

    def chains(self, tips: list[str], stops: list[str]) -> dict[str, list[str]]:
        """For each tip, the first-parent commits below it down to (not
        including) a stop commit, newest first: checkpoint chains, in one
        ``git log`` for all tips."""
        if not tips:
            return {}
        out = self.run("log", "--first-parent", "--format=%H %P", *tips, *[f"^{s}" for s in stops])
        parent = {p[0]: p[1] for p in (ln.split() for ln in out.splitlines()) if len(p) > 1}
        chains: dict[str, list[str]] = {}
        for tip in tips:
            chain, c = [], parent.get(tip)
            while c is not None and c in parent:
                chain.append(c)
                c = parent.get(c)
            chains[tip] = chain
        return chains

    def message(self, commit: str) -> str:
        return self.run("log", "-1", "--format=%B", commit)

    def commit_tree(self, tree: str, parents: Iterable[str], message: str) -> str:
        args = ["commit-tree", tree]
        for p in parents:
            args += ["-p", p]
        return self.run(*args, "-m", message, env=self.identity_env()).strip()

    def stash(self, message: str) -> str | None:
        """Save the changes to tracked files (index and work tree) as a stash
        entry, leaving both as they are (``stash create`` + ``store``, what
        ``git stash push`` does minus the reset); its commit, or None if
        there is nothing to save."""
        sha = self.run("stash", "create", message, env=self.identity_env()).strip()
        if sha:
            self.run("stash", "store", "-m", message, sha)
        return sha or None

    def update_ref(self, ref: str, new: str, old: str | None = None) -> None:
        """Point ``ref`` at ``new``; with ``old`` (ZERO: must not exist), only
        if it still points there (git's ref lock makes this atomic)."""
        args = ["update-ref", ref, new] + ([old] if old is not None else [])
        self.run(*args)

    def delete_ref(self, ref: str) -> None:
        self.run("update-ref", "-d", ref)

    def move_ref(self, ref: str, new: str, old: str | None, consumed: str) -> None:
        """``update_ref`` and the deletion of ``consumed`` in one transaction
        (``update-ref --stdin`` applies all or nothing): a queued entry is
        gone exactly when its experiment (or its failed ref) is written, a
        renamed experiment never has both names or neither. Through this
        process's kept ``update-ref --stdin`` if it keeps one
        (``keep_ref_writer``)."""
        first = f"create {ref} {new}" if old == ZERO else f"update {ref} {new} {old or ''}"
        commands = f"{first.rstrip()}\ndelete {consumed}\n"
        writer = _REF_WRITERS.get(self.root)
        if writer is not None:
            writer.transaction(commands)
            return
        self.run("update-ref", "--stdin", input=commands)

    def keep_ref_writer(self) -> None:
        """From now on, this process writes its ref transactions through one
        ``git update-ref --stdin`` it keeps (a queue worker, one transaction
        per experiment: a process each cost ~1.5 ms of CPU)."""
        _REF_WRITERS.setdefault(self.root, _RefWriter(self.root))

    @contextlib.contextmanager
    def one_reader(self) -> Iterator[None]:
        """While inside, ``object_types`` and ``read_objects`` ask one
        ``cat-file --batch-command`` (started by the first question) instead
        of starting Git for each call: a command that reads objects in
        several rounds (``plots``: the revisions, their pipeline files, the
        kinds and bytes of their data files) starts Git once."""
        if self.root in _READERS:
            yield
            return
        _READERS[self.root] = None
        try:
            yield
        finally:
            reader = _READERS.pop(self.root, None)
            if reader is not None:
                reader.close()

    def _ask(self, verb: str, specs: list[str]) -> list[tuple[str, str, bytes] | None] | None:
        """``specs`` asked of the active object reader; None when there is
        none (or it broke: then none for the rest of ``one_reader``)."""
        if self.root not in _READERS:
            return None
        reader = _READERS[self.root]
        try:
            if reader is None:
                reader = _READERS[self.root] = _ObjectReader(self.root)
            return reader.ask(verb, specs)
        except OSError:  # BrokenPipeError included; no Git to start
            if reader is not None:
                reader.close()
            _READERS.pop(self.root, None)
            return None

    def object_types(self, specs: list[str]) -> list[tuple[str, str] | None]:
        """``(object name, type)`` of each spec (``rev^{commit}``,
        ``rev:path``), None where there is none: one ``cat-file --batch-check``
        (or a question to ``one_reader``'s)."""
        if not specs:
            return []
        asked = self._ask("info", specs)
        if asked is not None:
            return [(a[0], a[1]) if a is not None else None for a in asked]
        proc = subprocess.run(
            ["git", "cat-file", "--batch-check=%(objectname) %(objecttype)"],
            cwd=self.root,
            input="".join(f"{s}\n" for s in specs),
            capture_output=True,
            text=True,
        )
        out: list[tuple[str, str] | None] = []
        for line in proc.stdout.splitlines()[: len(specs)]:
            name, _, kind = line.partition(" ")
            out.append((name, kind) if kind in ("blob", "tree", "commit", "tag") else None)
        return out + [None] * (len(specs) - len(out))

    def read_blobs(self, specs: list[str]) -> list[bytes | None]:
        """Contents of ``rev:path`` specs through one ``cat-file --batch``."""
        return [data if kind == "blob" else None for kind, data in self.read_objects(specs)]

    def read_objects(self, specs: list[str]) -> list[tuple[str | None, bytes]]:
        """``(type, content)`` of each object spec (``rev:path``,
        ``rev^{commit}``...) through one ``cat-file --batch``; type None for
        a spec that names nothing (or through ``one_reader``'s)."""
        if not specs:
            return []
        asked = self._ask("contents", specs)
        if asked is not None:
            return [(a[1], a[2]) if a is not None else (None, b"") for a in asked]
        proc = subprocess.run(
            ["git", "cat-file", "--batch"],
            cwd=self.root,
            input=("\n".join(specs) + "\n").encode(),
            capture_output=True,
        )
        data, pos = proc.stdout, 0
        out: list[tuple[str | None, bytes]] = []
        for _ in specs:
            nl = data.index(b"\n", pos)
            header = data[pos:nl].split()
            pos = nl + 1
            if len(header) == 3:
                size = int(header[2])
                out.append((header[1].decode(), data[pos : pos + size]))
                pos += size + 1
            else:
                out.append((None, b""))
        return out

    def bundle(self, refs: Sequence[str], exclude: Iterable[str] = ()) -> bytes:
        """A Git bundle of ``refs`` less what the commits of ``exclude``
        reach (the receiver has them): how a commit travels to a machine
        that cannot read this repository (the Ray executor's workers)."""
        with _scratch_file(self.root) as path:
            self.run("bundle", "create", "-q", str(path), *refs, *(f"^{e}" for e in exclude))
            return path.read_bytes()

    def unbundle(self, data: bytes) -> dict[str, str]:
        """The objects of a bundle added to this repository (no ref is
        written); its refs, name -> commit. A bundle whose prerequisite
        commits this repository lacks is a ``GitError``."""
        with _scratch_file(self.root) as path:
            path.write_bytes(data)
            out = self.run("bundle", "unbundle", str(path))
        refs = {}
        for line in out.splitlines():
            sha, _, name = line.partition(" ")
            if len(sha) == 40 and name:
                refs[name] = sha
        return refs


class _RefWriter:
    """A kept ``git update-ref --stdin``: each transaction is ``start``, the
    commands, ``prepare`` and ``commit``, answered ``<command>: ok``; a
    transaction Git refuses ends the process (its message on stderr), and
    the next one starts another. In a process group of its own, so that an
    interrupt meant for the worker's stages never stops it mid-transaction;
    it exits when its input closes, at the latest with this process."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc: subprocess.Popen[str] | None = None

    def _started(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                ["git", "update-ref", "--stdin"],
                cwd=self.root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                process_group=0,
            )
        return self.proc

    def transaction(self, commands: str) -> None:
        proc = self._started()
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            proc.stdin.write(f"start\n{commands}prepare\ncommit\n")
            proc.stdin.flush()
            answers = [proc.stdout.readline().strip() for _ in range(3)]
        except OSError:
            answers = []
        except BaseException:
            # Interrupted mid-exchange: its answers would be read as the
            # next transaction's; this one is Git's to finish or not.
            self.proc = None
            with contextlib.suppress(OSError):
                proc.stdin.close()
            raise
        if answers == ["start: ok", "prepare: ok", "commit: ok"]:
            return
        self.proc = None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        code = proc.wait()
        raise _failure(("update-ref",), proc.stderr.read(), code)


#: Per process, per repository root: the kept ``update-ref --stdin``
#: (``Git.keep_ref_writer``).
_REF_WRITERS: dict[Path, _RefWriter] = {}


@contextlib.contextmanager
def _scratch_file(root: Path) -> Iterator[Path]:
    """A file of our own in the repository's Git folder, removed after."""
    import tempfile

    fd, name = tempfile.mkstemp(prefix="trails-bundle-", dir=_git_dir(root))
    os.close(fd)
    try:
        yield Path(name)
    finally:
        os.unlink(name)
