"""The rows of ``trails exp show`` (and of ``trails.api.exp_show``): the
workspace, each baseline, its experiments, their checkpoints and the
queued or failed runs, with the params and metrics each commit records.
Here, not in ``cli/``, so that the public API does not depend on the
command line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trails.git import Git
    from trails.project import Project


def select_baselines(
    git: Git, all_branches: bool, all_tags: bool, all_commits: bool, num: int, revs: tuple[str, ...]
) -> list[str]:
    """The baseline commits ``exp show``/``exp list`` report on, in order
    and without repeats: ``revs`` (each must resolve), else the last
    ``num`` commits of HEAD, plus every branch head, tag or commit asked
    for."""
    from trails.experiments.refs import ExperimentError

    shas: list[str] = []
    if revs:
        for r in revs:
            sha = git.rev_parse(r)
            if sha is None:
                raise ExperimentError(f"'{r}' is not a Git revision")
            shas.append(sha)
    else:
        head = git.head()
        shas += git.run("rev-list", f"--max-count={max(num, 1)}", head).split()
    shas += git.select_commits(branches=all_branches, tags=all_tags, all_commits=all_commits)
    return list(dict.fromkeys(shas))


def collect_rows(
    project: Project, baselines: list[str], sha: bool, *, queued: bool = True, failed: bool = True
) -> tuple[list[Any], Any]:
    """One row per workspace, baseline, experiment, checkpoint and queued
    or failed run of ``baselines``, and the params/metrics files they
    read. Commits are read in one batch (and cached) rather than one by
    one, which is what keeps ``exp show`` fast with many experiments."""
    from trails.experiments import queue, show, table
    from trails.experiments.refs import list_exps
    from trails.git import Git
    from trails.pipeline import load_graph

    git = Git(project.root)
    files = show.files_of(project, load_graph(project))
    reader = show.CommitReader(project, git, files)
    refs = git.refs("refs/exps/")  # one listing for experiments, queue and failures
    exps = [e for e in list_exps(git, refs=refs) if e.baseline in set(baselines)]
    pending = (queue.entries(git, refs=refs) if queued else []) + (
        queue.entries(git, failed=True, refs=refs) if failed else []
    )
    parents = git.parents([e.sha for e in pending])
    pending = [e for e in pending if parents.get(e.sha) in set(baselines)]
    # Only experiments whose parent is not their baseline have checkpoints
    # to list; one for-each-ref tells which, so the chain walk is skipped
    # for the usual one-commit experiments.
    parent_of = git.first_parents("refs/exps/")
    deep = [e.sha for e in exps if parent_of.get(e.sha) != e.baseline]
    chains = git.chains(deep, baselines)
    older = [c for e in exps for c in chains.get(e.sha, [])]
    snaps = reader.read(baselines + [e.sha for e in exps] + [e.sha for e in pending] + older)
    reader.save()
    opts = table.ShowOptions(sha=sha)
    rows = [
        table.Row(
            "workspace", "workspace", None, None, None, show.workspace(project, files), "workspace"
        )
    ]
    times = git.commit_times(baselines)
    for b in baselines:
        rows.append(table.Row("baseline", b, None, None, times.get(b), snaps[b], b[:7]))
        mine = [(e, snaps[e.sha]) for e in exps if e.baseline == b]
        waiting = [
            table.Row(
                "failed" if e.failed else "queued",
                e.sha,
                None,
                b,
                e.created,
                show.Snapshot(snaps[e.sha].params, {}),
            )
            for e in pending
            if parents.get(e.sha) == b
        ]
        rows += table.experiment_rows(
            rows[-1], mine, opts, waiting,
            {e.sha: [(c, snaps[c]) for c in chains.get(e.sha, [])] for e, _ in mine},
        )  # fmt: skip
    return rows, files


def rows_json(rows: list[Any]) -> list[dict[str, Any]]:
    """The rows as ``exp show --json`` prints them and ``api.exp_show``
    returns them: one shape for both."""
    return [
        {"rev": r.rev, "name": r.name, "kind": r.kind, "baseline": r.baseline,
         "created": r.created, "params": r.snap.params, "metrics": r.snap.metrics}
        for r in rows
    ]  # fmt: skip
