"""Experiments on a Git remote: which remote a name means, which of its
refs are experiments, and moving them by exact refspecs.

A remote is untrusted. ``ls-remote 'refs/exps/*'`` matches the *tail* of a
name (``refs/heads/refs/exps/x`` too), so the listing is filtered here by
the exact layout (``refs.parse_ref``): never a queued or failed entry
(a pulled queue entry would run at the next ``--run-all``), never a tag or
a branch. Fetches name each ref in full on both sides and take no tags.
A user's remote name reaches Git after ``--``, so it is never an option
(``--upload-pack=...`` would run a command). A pulled ref reaches
``refs/exps/`` only once its commit is known to descend from the baseline
its name gives (``fetch``)."""

from __future__ import annotations

from trails.experiments.refs import Exp, ExperimentError, parse_ref
from trails.git import ZERO, Git


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


#: Where pulled refs wait until they are checked (never under refs/exps/).
INCOMING = "refs/trails-incoming/"


def fetch(git: Git, remote: str, exps: list[Exp], *, force: bool) -> list[Exp]:
    """Fetch exactly these refs, and no tags, into ``INCOMING``; keep those
    whose commit descends from the baseline its name claims and move them
    to their names under ``refs/exps/`` in one transaction (without
    ``force``, only a new ref or a fast-forward). The temporary refs are
    deleted whatever happens. Returns the refused ones: a remote that names
    an experiment after a baseline it does not grow from would have it
    listed, applied and garbage-collected as that baseline's."""
    tmp = {e.ref: INCOMING + e.ref.removeprefix("refs/") for e in exps}
    try:
        git.run("fetch", "--no-tags", "--no-write-fetch-head", "--", remote,
                *[f"+{e.ref}:{tmp[e.ref]}" for e in exps])  # fmt: skip
        local = {ref: sha for ref, sha, _ in git.refs("refs/exps/")}
        good, bad, stale = [], [], []
        for e in exps:
            sha = git.rev_parse(tmp[e.ref])
            if sha is None or not git.ok("merge-base", "--is-ancestor", e.baseline, sha):
                bad.append(e)
            elif (
                not force
                and local.get(e.ref, sha) != sha
                and not git.ok("merge-base", "--is-ancestor", local[e.ref], sha)
            ):
                stale.append(e)
            else:
                good.append((e, sha))
        if stale:
            raise ExperimentError(
                "not pulling: the local experiment(s) "
                + ", ".join(f"'{e.name}'" for e in stale)
                + " differ from the remote's",
                hint="Pull with --force to replace them.",
            )
        if good:
            # Each expecting the local ref as read (or none): a concurrent
            # run's new experiment is not overwritten unseen.
            git.run("update-ref", "--stdin", input="".join(
                f"update {e.ref} {sha} {local.get(e.ref, ZERO)}\n" for e, sha in good))  # fmt: skip
        return bad
    finally:
        doomed = "".join(f"delete {t}\n" for t in tmp.values())
        git.run("update-ref", "--stdin", input=doomed, check=False)


def push(git: Git, remote: str, exps: list[Exp], *, force: bool) -> None:
    plus = "+" if force else ""
    git.run("push", "--", remote, *[f"{plus}{e.ref}:{e.ref}" for e in exps])
