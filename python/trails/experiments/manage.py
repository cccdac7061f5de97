"""Experiments as refs, managed: make a branch of one, rename, remove,
pick what ``exp gc`` removes, group them by baseline for ``exp list``.
The commands in ``cli/exp.py`` parse, call these and print."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from trails.experiments import queue
from trails.experiments.refs import Exp, ExperimentError, list_exps, resolve
from trails.git import ZERO, Git


def branch(git: Git, experiment: str, name: str | None) -> tuple[str, Exp]:
    """Make Git branch ``name`` (default ``<exp>-branch``) at the
    experiment's commit; refused if it exists or is not a branch name."""
    e = resolve(git, experiment, git.rev_parse("HEAD"))
    name = name or f"{e.name}-branch"
    if git.rev_parse(f"refs/heads/{name}"):
        raise ExperimentError(f"branch '{name}' already exists", hint="Give another name.")
    if not git.ok("check-ref-format", "--branch", name):
        raise ExperimentError(f"'{name}' is not a valid branch name")
    git.run("branch", name, e.sha)
    return name, e


def rename(git: Git, experiment: str, new_name: str) -> Exp:
    """Move the experiment's ref to ``new_name`` in one ref transaction;
    the name is checked, and must be free under the same baseline."""
    from trails.experiments.record import check_free
    from trails.experiments.refs import ref_for, validate_name

    e = resolve(git, experiment, git.rev_parse("HEAD"))
    validate_name(git, new_name)
    check_free(git, e.baseline, [new_name], False, hint="Choose another name.")
    git.move_ref(ref_for(e.baseline, new_name), e.sha, ZERO, consumed=e.ref)
    return e


def revisions(git: Git, revs: Iterable[str]) -> set[str]:
    """The commits ``--rev`` names; one that is not a revision is refused."""
    shas = set()
    for r in revs:
        sha = git.rev_parse(r)
        if sha is None:
            raise ExperimentError(f"'{r}' is not a Git revision")
        shas.add(sha)
    return shas


def remove(
    git: Git,
    experiments: Sequence[str],
    revs: Sequence[str],
    all_commits: bool,
    queued: bool,
    echo: Callable[[str], None],
) -> None:
    """``exp remove``: the queue (with ``queued``) first, then the named
    experiments, those of ``revs`` and with ``all_commits`` every one,
    each removed once and said."""
    entries = queue.entries(git) if queued else []
    if queued and not entries:
        echo("No experiments in the queue: nothing to remove from it.")
    for entry in entries:
        queue.remove(git, entry)
        echo(f"Removed queued experiment {entry.id}")
    head = git.rev_parse("HEAD")
    targets = [resolve(git, x, head) for x in experiments]
    bases = revisions(git, revs)
    targets += [e for e in list_exps(git) if all_commits or e.baseline in bases]
    for e in {t.ref: t for t in targets}.values():
        git.delete_ref(e.ref)
        echo(f"Removed experiment '{e.name}'")


@dataclass
class Doomed:
    """What ``exp gc`` would remove: experiments and queued entries."""

    exps: list[Exp] = field(default_factory=list)
    entries: list[queue.Entry] = field(default_factory=list)

    def remove(self, git: Git) -> None:
        for e in self.exps:
            git.delete_ref(e.ref)
        for q in self.entries:
            queue.remove(git, q)


def doomed(git: Git, kept: Iterable[str] | None, *, queued: bool) -> Doomed:
    """``exp gc``: every experiment whose baseline is not one of the
    ``kept`` commits (None: no scope given, no experiment goes), and with
    ``queued`` every queued entry."""
    out = Doomed()
    if kept is not None:
        keep = set(kept)
        out.exps = [e for e in list_exps(git) if e.baseline not in keep]
    out.entries = queue.entries(git) if queued else []
    return out


def by_baseline(exps: Iterable[Exp], wanted: set[str] | None) -> dict[str, list[str]]:
    """``exp list``: names per baseline (of ``wanted``, or all), newest
    first."""
    out: dict[str, list[str]] = {}
    for e in sorted(exps, key=lambda e: -e.created):
        if wanted is None or e.baseline in wanted:
            out.setdefault(e.baseline, []).append(e.name)
    return out
