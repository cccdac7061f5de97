"""Recording the workspace as an experiment commit: a child of the
baseline (HEAD) holding the workspace as ``git add -A`` sees it (so never
ignored files, which include cached outputs), under its experiment ref.
HEAD, the branch and the index are left alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from trails.experiments.refs import ExperimentError, derive_name, list_exps, ref_for, validate_name
from trails.git import ZERO, Git, GitError


@dataclass(frozen=True)
class Recorded:
    name: str
    sha: str
    baseline: str
    #: False when an identical experiment already existed (nothing written).
    new: bool


def record(
    git: Git,
    *,
    name: str | None,
    message: str | None,
    force: bool,
    include: list[str] | None = None,
    tree: str | None = None,
    baseline: str | None = None,
    consumed: str | None = None,
    on_commit: Callable[[str, str], None] | None = None,
) -> Recorded:
    """Commit the workspace (or ``tree``) as experiment ``name`` (default:
    derived from its content) on HEAD (or ``baseline``). An identical
    unnamed experiment is not recorded twice; a taken name needs ``force``.
    ``include`` adds ignored paths. ``consumed``: a ref (the queued entry)
    deleted in the same transaction as the experiment ref is written;
    ``on_commit(name, commit)`` is called just before (a queue worker notes
    its result first, so that an entry is never without both its ref and
    its result while ``queue status`` reads them)."""
    baseline = baseline or git.head()
    tree = tree or git.snapshot_tree(include or [])
    if name is not None:
        validate_name(git, name)
    chosen = name or derive_name(baseline, tree)
    ref = ref_for(baseline, chosen)
    sha = git.commit_tree(tree, [baseline], message or f"trails: experiment {chosen}")
    # Written first, looked at only if the name is taken: the usual case
    # costs no listing of the baseline's experiments.
    expected = None if force else ZERO
    if on_commit is not None:
        on_commit(chosen, sha)
    try:
        if consumed:
            git.move_ref(ref, sha, expected, consumed)
        else:
            git.update_ref(ref, sha, expected)
    except GitError:
        old = None if force else git.rev_parse(ref)
        if old is None:
            raise
        if name is None and git.run("rev-parse", f"{old}^{{tree}}").strip() == tree:
            if consumed:
                git.delete_ref(consumed)
            return Recorded(chosen, old, baseline, new=False)
        raise taken(chosen, baseline) from None
    return Recorded(chosen, sha, baseline, new=True)


FORCE_HINT = "Use -f to overwrite it, or choose another name with -n."


def taken(name: str, baseline: str, hint: str = FORCE_HINT) -> ExperimentError:
    return ExperimentError(f"experiment '{name}' already exists for baseline {baseline[:7]}",
                           hint=hint)  # fmt: skip


def check_free(
    git: Git, baseline: str, names: list[str], force: bool, hint: str = FORCE_HINT
) -> None:
    """Refuse names already taken on ``baseline`` before anything runs (and
    before ``-S`` edits the workspace), unless ``force``."""
    if force or not names:
        return
    existing = {e.name for e in list_exps(git, baseline)}
    for n in names:
        if n in existing:
            raise taken(n, baseline, hint)
