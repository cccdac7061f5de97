"""Which commits ``plots diff REVS`` names: Git revisions (one
``cat-file --batch-check`` for all of them), experiments by name, and
checkpoints by commit prefix (``experiments/refs.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trails.errors import TrailsError
from trails.git import Git
from trails.plots.sources import WORKSPACE, Revision

if TYPE_CHECKING:
    from trails.experiments.refs import Exp


def _commits(git: Git, specs: list[str]) -> list[str | None]:
    found = git.object_types([f"{s}^{{commit}}" for s in specs])
    return [t[0] if t is not None and t[1] == "commit" else None for t in found]


def resolve(git: Git, specs: list[str]) -> list[Revision]:
    """The revisions, in the order given; ``workspace`` is the workspace.
    An ``exp-`` name is an experiment first (as ``exp diff`` reads it);
    experiments are looked up (``experiments.refs`` loaded) only then."""
    bad = next((s for s in specs if not s or s.startswith("-") or "\n" in s), None)
    if bad is not None:
        raise TrailsError(f"'{bad}' is not a revision", hint="Name a commit or an experiment.")
    wanted = [s for s in specs if s != WORKSPACE]
    commits = dict(zip(wanted, _commits(git, wanted), strict=True))
    head = None
    exps: list[Exp] | None = None
    out = []
    for spec in specs:
        sha = commits.get(spec)
        if spec == WORKSPACE:
            out.append(Revision(WORKSPACE, None))
            continue
        if sha is None or spec.startswith("exp-"):
            from trails.experiments import refs

            exps = refs.list_exps(git) if exps is None else exps
            head = head or git.rev_parse("HEAD")
            named = [e for e in exps if e.name == spec]
            here = [e for e in named if e.baseline == head] or named
            if len(here) == 1:
                sha = here[0].sha
            elif sha is None:
                sha = _experiment(git, spec, head)
        out.append(Revision(spec, sha))
    return out


def _experiment(git: Git, spec: str, head: str | None) -> str:
    """An experiment by commit prefix or checkpoint; else one message
    naming both kinds of revision, with the nearest experiment names."""
    from trails.experiments import refs

    try:
        return refs.resolve(git, spec, head).sha
    except refs.ExperimentError as exc:
        if "ambiguous" in str(exc):
            raise
        raise TrailsError(
            f"'{spec}' is neither a Git revision nor an experiment", hint=exc.hint
        ) from None


def diff_revisions(specs: tuple[str, ...]) -> list[str]:
    """The reference tool's choice: none -> the workspace and HEAD; one ->
    the workspace and it; more -> exactly those."""
    if len(specs) <= 1:
        return [WORKSPACE, *(specs or ("HEAD",))]
    return list(dict.fromkeys(specs))
