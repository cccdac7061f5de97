"""The rows of ``trails exp show`` (and of ``trails.api.exp_show``): the
workspace, each baseline, its experiments, their checkpoints and the
queued or failed runs, with the params and metrics each commit records;
and those of ``trails exp diff``.
Here, not in ``cli/``, so that the public API does not depend on the
command line."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trails.git import Git
    from trails.project import Project


def select_baselines(
    git: Git, all_branches: bool, all_tags: bool, all_commits: bool, num: int, revs: tuple[str, ...]
) -> list[str]:
    """The baseline commits ``exp show``/``exp list`` report on, in order
    and without repeats: the last ``num`` commits of each of ``revs`` (each
    must resolve; the reference tool's ``--rev R -n N``), else of HEAD,
    plus every branch head, tag or commit asked for."""
    from trails.experiments.refs import ExperimentError

    shas: list[str] = []
    for r in revs:
        sha = git.rev_parse(r)
        if sha is None:
            raise ExperimentError(f"'{r}' is not a Git revision")
        shas += git.run("rev-list", f"--max-count={num}", sha).split() if num > 1 else [sha]
    if not revs:
        head = git.head()
        shas += git.run("rev-list", f"--max-count={max(num, 1)}", head).split()
    shas += git.select_commits(branches=all_branches, tags=all_tags)
    if all_commits:  # the project's history: not the experiments' own commits
        shas += git.run("rev-list", "--exclude=refs/exps/*", "--all").split()
    return list(dict.fromkeys(shas))


def collect_rows(
    project: Project,
    baselines: list[str],
    sha: bool,
    *,
    queued: bool = True,
    failed: bool = True,
    recorded: tuple[str, ...] | None = None,
) -> tuple[list[Any], Any]:
    """One row per workspace, baseline, experiment, checkpoint and queued
    or failed run of ``baselines``, and the params/metrics files they
    read. Commits are read in one batch (and cached) rather than one by
    one, which is what keeps ``exp show`` fast with many experiments.
    ``recorded``: also read what these lock and ``.dvc`` files record
    (``Snapshot.recorded``, for ``exp show --json``)."""
    from trails.experiments import queue, show, table
    from trails.experiments.refs import list_exps
    from trails.git import Git
    from trails.pipeline import load_graph

    git = Git(project.root)
    files = show.files_of(project, load_graph(project))
    reader = show.CommitReader(project, git, files)
    # One listing for experiments, queue and failures, and their commits' parents.
    refs, parent_of = reader.refs("refs/exps/")
    wanted = set(baselines)
    exps = [e for e in list_exps(git, refs=refs) if e.baseline in wanted]
    pending = (queue.entries(git, refs=refs) if queued else []) + (
        queue.entries(git, failed=True, refs=refs) if failed else []
    )
    parents = parent_of  # an entry's parent: its baseline
    pending = [e for e in pending if parents.get(e.sha) in wanted]
    # Only experiments whose parent is not their baseline have checkpoints
    # to list; the listing tells which, so the chain walk is skipped for
    # the usual one-commit experiments.
    deep = [e.sha for e in exps if parent_of.get(e.sha) != e.baseline]
    chains = git.chains(deep, baselines)
    older = [c for e in exps for c in chains.get(e.sha, [])]
    shas = baselines + [e.sha for e in exps] + [e.sha for e in pending] + older
    snaps = reader.read(shas)
    if recorded is not None:
        reader.read_recorded(shas, recorded)
    times = reader.commit_times(baselines)
    reader.save()
    opts = table.ShowOptions(sha=sha)
    ws = show.workspace(project, files)
    if recorded is not None:
        ws.recorded = show.read_files(project.root, recorded)
    rows = [table.Row("workspace", "workspace", None, None, None, ws, "workspace")]
    by_baseline: dict[str, list[Any]] = {}
    for e in exps:  # once, not once per baseline (10 x 10,000 took 0.3 s)
        by_baseline.setdefault(e.baseline, []).append(e)
    for b in baselines:
        rows.append(table.Row("baseline", b, None, None, times.get(b), snaps[b], b[:7]))
        mine = [(e, snaps[e.sha]) for e in by_baseline.get(b, [])]
        waiting = [
            table.Row(
                "failed" if e.failed else "queued",
                e.sha,
                None,
                b,
                e.created,
                show.Snapshot(snaps[e.sha].params, {}, snaps[e.sha].recorded),
                node="" if e.failed else queue.running_node(queue.run_dir(project.root, e.id)),
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
    """The rows as ``api.exp_show`` returns them (``exp show --json``
    prints ``experiments.document`` instead, the reference tool's shape)."""
    return [
        {"rev": r.rev, "name": r.name, "kind": r.kind, "baseline": r.baseline,
         "created": r.created, "params": r.snap.params, "metrics": r.snap.metrics}
        for r in rows
    ]  # fmt: skip


@dataclass(frozen=True)
class DiffRows:
    """``exp diff``'s result: the two sides' names, the JSON document and
    the table cells (path, key, old, new, change), values formatted."""

    a_name: str
    b_name: str
    doc: dict[str, Any]
    cells: list[list[str]]


def diff_rows(
    project: Project,
    git: Git,
    a_rev: str | None,
    b_rev: str | None,
    *,
    all_: bool,
    param_deps: bool,
    precision: int,
) -> DiffRows:
    """HEAD vs the workspace, A vs the workspace, or A vs B (experiments
    or Git revisions, an ``exp-`` name read as an experiment first)."""
    from trails.experiments import show, table
    from trails.experiments.refs import resolve
    from trails.pipeline import load_graph

    files = show.files_of(project, load_graph(project))
    reader = show.CommitReader(project, git, files)

    def rev_of(spec: str) -> tuple[str, str]:
        sha = git.rev_parse(spec)
        if sha is not None and not spec.startswith("exp-"):
            return sha, spec
        e = resolve(git, spec, git.rev_parse("HEAD"))
        return e.sha, e.name

    if a_rev is None and b_rev is None:
        (a, a_name), (b, b_name) = (git.head(), "HEAD"), ("workspace", "workspace")
    elif b_rev is None:  # as the reference tool: the new side is the workspace
        (a, a_name), (b, b_name) = rev_of(a_rev or ""), ("workspace", "workspace")
    else:
        (a, a_name), (b, b_name) = rev_of(a_rev or ""), rev_of(b_rev)
    snaps = reader.read([x for x in (a, b) if x != "workspace"])
    reader.save()
    ws = show.workspace(project, files) if "workspace" in (a, b) else None
    sa, sb = (snaps.get(x) or ws for x in (a, b))
    assert sa is not None and sb is not None
    changes = show.diff(sa, sb, files, all_=all_, param_deps=param_deps)
    doc: dict[str, Any] = {"params": {}, "metrics": {}}
    out: list[list[str]] = []
    for section, f, k, x, y, change in changes:
        doc[section].setdefault(f, {})[k] = {"old": x, "new": y, "diff": change}
        cells = [table.fmt(v, precision) for v in (x, y)]
        out.append(
            [f, k, *cells, table.MISSING if change is None else table.fmt(change, precision)]
        )
    return DiffRows(a_name, b_name, doc, out)
