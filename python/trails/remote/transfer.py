"""``push``, ``fetch``, ``pull`` and ``status -c``: which objects (from
``needed``), through which remote (``remote.open``), and what to tell the
user. The CLI renders the results; progress is reported through
``trails.progress`` (the core counts the objects it packs and stores)."""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from dataclasses import dataclass

from trails import core, progress
from trails.errors import TrailsError
from trails.git import Git
from trails.project import Project
from trails.remote import known
from trails.remote import needed as needed_mod
from trails.remote.backend import RemoteAccessError
from trails.remote.store import Remote, Transfer


class TransferError(TrailsError):
    pass


@dataclass(frozen=True)
class Scope:
    """What a command is about: the workspace (its TARGETS only, if given)
    and the commits the ``gc`` scope flags name."""

    targets: tuple[str, ...] = ()
    all_branches: bool = False
    all_tags: bool = False
    all_commits: bool = False


def needed(project: Project, scope: Scope, extra_commits: Sequence[str] = ()) -> needed_mod.Needed:
    out = needed_mod.workspace(project, scope.targets)
    commits = list(extra_commits)
    if project.has_scm and (scope.all_branches or scope.all_tags or scope.all_commits):
        git = Git(project.root)
        commits += git.select_commits(
            head=True, branches=scope.all_branches, tags=scope.all_tags,
            all_commits=scope.all_commits,
        )  # fmt: skip
    if commits:
        for value, path in needed_mod.of_commits(Git(project.root), commits).items():
            out.setdefault(value, path)
    return out


def push(project: Project, remote: Remote, wanted: needed_mod.Needed) -> Transfer:
    """Send what the remote lacks; trees with all their files. The same
    push again, while the remote lists every index file and pack the last
    one found its objects in, sends nothing and expands no tree
    (``known``)."""
    record = remote.pushed_file
    k = known.key(wanted, remote.address)
    hit = known.find(record, k) if record else None
    if (
        hit is not None
        and all(core.tree_object_exists(project.cache_dir, n.removesuffix(needed_mod.TREE))
                for n in wanted if n.endswith(needed_mod.TREE))
        and remote.lists(hit.indexes, hit.packs)
    ):  # fmt: skip
        return Transfer(already=hit.count, lost=remote.lost)
    full, absent_trees = needed_mod.expand(project.cache_dir, wanted)
    with progress.progress(f"Pushing to '{remote.name}'"):
        result = remote.push(full)
    result.absent = sorted(set(result.absent) | set(absent_trees))
    if record and not result.absent:
        where = remote.held_in(full)
        if where is not None:
            known.keep(record, known.Entry(k, len(full), indexes=where[0], packs=where[1]))
    return result


def fetch(project: Project, remote: Remote, wanted: needed_mod.Needed) -> Transfer:
    """Bring what the cache lacks: the files and manifests first, then the
    files of the trees whose manifests just arrived. The same fetch again,
    while the cache folders of its objects are as they were when the last
    one found them all there, looks at no object (``known``)."""
    record = project.tmp_dir / "trails" / "fetched"
    k = known.key(wanted, os.fspath(project.cache_dir))
    started = known.now_ns()
    hit = known.find(record, k)
    if hit is not None and known.stamps(hit.folders) == hit.stamps:
        return Transfer(already=hit.count)
    folders = known.cache_folders(project.cache_dir)
    before = dict(zip(folders.values(), known.stamps(list(folders.values())), strict=True))
    result, full = _fetch(project, remote, wanted)
    if result.sent == 0 and not result.absent and not result.corrupt:
        used = sorted({folders[n[:2]] for n in full if n[:2] in folders})
        taken = [before[f] for f in used]
        if known.settled(taken, started):
            known.keep(record, known.Entry(k, len(full), folders=used, stamps=taken))
    return result


def _fetch(
    project: Project, remote: Remote, wanted: needed_mod.Needed
) -> tuple[Transfer, needed_mod.Needed]:
    """The fetch, and what ``wanted`` expands to once its manifests are in."""
    with progress.progress(f"Fetching from '{remote.name}'"):
        try:
            result = remote.fetch(wanted)
            full, _ = needed_mod.expand(project.cache_dir, wanted)
            more = {k: v for k, v in full.items() if k not in wanted}
            if more:
                second = remote.fetch(more)
                result.sent += second.sent
                result.already += second.already
                result.bytes += second.bytes
                result.absent += second.absent
                result.corrupt += second.corrupt
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
                raise RemoteAccessError(
                    f"fetching from remote '{remote.name}': cannot write "
                    f"{exc.filename or project.cache_dir}: {exc.strerror}",
                    hint="Free space there ('trails gc') and run again: the objects already "
                    "fetched are complete and kept; nothing partial was left.",
                ) from None
            raise
    return result, full


def paths(wanted: needed_mod.Needed, names: Sequence[str], limit: int = 10) -> str:
    """Some of ``names`` as the output paths they are at, for a message."""
    shown = sorted({wanted.get(n, n) for n in names})
    more = f" and {len(shown) - limit} more" if len(shown) > limit else ""
    return ", ".join(shown[:limit]) + more


def check_fetched(
    project: Project, remote: Remote, wanted: needed_mod.Needed, result: Transfer
) -> None:
    """A fetch that left something out is an error naming what (by the
    output paths: a tree's files by their paths in it)."""
    if not result.corrupt and not result.absent:
        return
    wanted, _ = needed_mod.expand(project.cache_dir, wanted)
    if result.corrupt:
        raise TransferError(
            f"remote '{remote.name}': {len(result.corrupt)} object(s) did not match their hash "
            f"and were not stored: {paths(wanted, result.corrupt)}",
            hint="The remote's copy is damaged: push them again from a machine that has them.",
        )
    if result.absent:
        raise TransferError(
            f"remote '{remote.name}' does not have {len(result.absent)} object(s): "
            f"{paths(wanted, result.absent)}",
            hint="Push them from the machine that made them ('trails push').",
        )


def cloud_status(project: Project, remote: Remote, wanted: needed_mod.Needed) -> dict[str, str]:
    """Per output path, what is out of sync: ``new`` (in the cache, not on
    the remote), ``deleted`` (on the remote only), ``missing`` (neither)."""
    full, _ = needed_mod.expand(project.cache_dir, wanted)
    names = list(full)
    local_missing = {names[i] for i in core.missing_objects(project.cache_dir, names)}
    remote_missing = set(remote.missing(names))
    tops = sorted(set(wanted.values()), key=len, reverse=True)
    out: dict[str, str] = {}
    for n in names:
        path = wanted.get(n) or next((t for t in tops if full[n].startswith(t + "/")), full[n])
        if n in local_missing and n in remote_missing:
            state = "missing"
        elif n in remote_missing:
            state = "new"
        elif n in local_missing:
            state = "deleted"
        else:
            continue
        out.setdefault(path, state)
    return out


def experiment_commits(git: Git, shas: Sequence[str], baselines: Sequence[str]) -> list[str]:
    """The experiments' commits and those of their checkpoint chains."""
    chains = git.chains(list(shas), list(baselines))
    return list(dict.fromkeys([*shas, *(c for cs in chains.values() for c in cs)]))


def data_remote(project: Project, name: str | None, jobs: int | None) -> Remote | None:
    """The cache remote ``exp push``/``pull`` use: ``name``, else the
    default; None when neither is set (the refs alone travel then)."""
    from trails import config, remote

    if name is None and not config.load(project.dvc_dir).get("core", "remote"):
        return None
    return remote.open(project, name, jobs=jobs)


def experiment_data(git: Git, shas: Sequence[str], baselines: Sequence[str]) -> needed_mod.Needed:
    """The cached outputs of experiments and of each of their checkpoints."""
    return needed_mod.of_commits(git, experiment_commits(git, shas, baselines))


def summary(result: Transfer, verb: str, there: str) -> str:
    """``12,304 files pushed, 98,211 already there.``"""
    n = result.sent
    return f"{n:,} file{'' if n == 1 else 's'} {verb}, {result.already:,} {there}."
