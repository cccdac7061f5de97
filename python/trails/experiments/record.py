"""Recording the workspace as an experiment commit: a child of the
baseline (HEAD) holding the workspace as ``git add -A`` sees it (so never
ignored files, which include cached outputs), under its experiment ref.
HEAD, the branch and the index are left alone."""

from __future__ import annotations

from dataclasses import dataclass

from trails.experiments.refs import ExperimentError, derive_name, list_exps, ref_for, validate_name
from trails.git import ZERO, Git


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
) -> Recorded:
    """Commit the workspace (or ``tree``) as experiment ``name`` (default:
    derived from its content) on HEAD (or ``baseline``). An identical
    unnamed experiment is not recorded twice; a taken name needs ``force``.
    ``include`` adds ignored paths. ``consumed``: a ref (the queued entry)
    deleted in the same transaction as the experiment ref is written."""
    baseline = baseline or git.head()
    tree = tree or git.snapshot_tree(include or [])
    if name is not None:
        validate_name(git, name)
    existing = {e.name: e for e in list_exps(git, baseline)}
    chosen = name or derive_name(baseline, tree)
    old = existing.get(chosen)
    if old is not None and not force:
        if git.run("rev-parse", f"{old.sha}^{{tree}}").strip() == tree and name is None:
            if consumed:
                git.delete_ref(consumed)
            return Recorded(chosen, old.sha, baseline, new=False)
        raise ExperimentError(
            f"experiment '{chosen}' already exists for baseline {baseline[:7]}",
            hint="Use -f to overwrite it, or choose another name with -n.",
        )
    sha = git.commit_tree(tree, [baseline], message or f"trails: experiment {chosen}")
    ref, expected = ref_for(baseline, chosen), None if force else ZERO
    if consumed:
        git.move_ref(ref, sha, expected, consumed)
    else:
        git.update_ref(ref, sha, expected)
    return Recorded(chosen, sha, baseline, new=True)
