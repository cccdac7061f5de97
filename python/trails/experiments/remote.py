"""Experiments on a Git remote: which remote a name means, which of its
refs are experiments, and moving them by exact refspecs.

A remote is untrusted. ``ls-remote 'refs/exps/*'`` matches the *tail* of a
name (``refs/heads/refs/exps/x`` too), so the listing is filtered here by
the exact layout (``refs.parse_ref``): never a queued or failed entry
(a pulled queue entry would run at the next ``--run-all``), never a tag or
a branch. Fetches name each ref in full on both sides and take no tags.
A user's remote name reaches Git after ``--``, so it is never an option
(``--upload-pack=...`` would run a command)."""

from __future__ import annotations

from trails.experiments.refs import Exp, ExperimentError, parse_ref
from trails.git import Git


def resolve(git: Git, name: str) -> str:
    """The remote ``name`` means: a configured remote first, else an
    existing path (a bare repository). Refused: a name Git could read as
    an option, and anything else."""
    if name.startswith("-"):
        raise ExperimentError(
            f"'{name}' is not a Git remote: remote names do not start with '-'",
            hint="'git remote -v' lists the remotes.",
        )
    if name in git.run("remote").split() or (git.root / name).exists():
        return name
    raise ExperimentError(
        f"Git remote '{name}' does not exist", hint="'git remote -v' lists the remotes."
    )


def list_remote(git: Git, remote: str) -> list[Exp]:
    """The experiments ``remote`` holds (refs of the exact layout only)."""
    out = git.run("ls-remote", "--refs", "--", remote, "refs/exps/*")
    exps = []
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if len(sha) == 40 and parse_ref(ref) is not None:
            exps.append(Exp(ref, sha, 0))
    return exps


def fetch(git: Git, remote: str, exps: list[Exp], *, force: bool) -> None:
    """Fetch exactly these refs to the same names, and no tags."""
    plus = "+" if force else ""
    git.run("fetch", "--no-tags", "--no-write-fetch-head", "--", remote,
            *[f"{plus}{e.ref}:{e.ref}" for e in exps])  # fmt: skip


def push(git: Git, remote: str, exps: list[Exp], *, force: bool) -> None:
    plus = "+" if force else ""
    git.run("push", "--", remote, *[f"{plus}{e.ref}:{e.ref}" for e in exps])
