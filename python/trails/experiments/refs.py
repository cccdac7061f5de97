"""Experiment refs: ``refs/exps/<baseline[:2]>/<baseline[2:]>/<name>``, one
commit (a chain with checkpoints) whose first parent chain reaches the
baseline. Names, validation and lookup by name or commit prefix."""

from __future__ import annotations

import re
from dataclasses import dataclass

from trails.errors import TrailsError, did_you_mean
from trails.git import Git

PREFIX = "refs/exps"


class ExperimentError(TrailsError):
    pass


@dataclass(frozen=True)
class Exp:
    ref: str
    sha: str
    created: int

    @property
    def baseline(self) -> str:
        parts = self.ref.split("/")
        return parts[2] + parts[3]

    @property
    def name(self) -> str:
        return self.ref.split("/", 4)[4]


#: Loose experiment refs past which a finished queue run packs them.
LOOSE_REFS_PACKED = 1000


def pack_many(git: Git) -> None:
    """``git pack-refs`` once ``refs/exps/`` holds many loose refs, after a
    queue run, by its driver (the one writer of those refs): listing 10,000
    loose refs opens 10,000 files, packed ones are read from one. Not in
    ``exp show``: a reader packing while a queue's workers delete their
    entries' refs makes each deletion wait for ``packed-refs.lock``, past
    Git's one-second timeout on a loaded machine."""
    git.pack_loose_refs("refs/exps", LOOSE_REFS_PACKED)


def ref_for(baseline: str, name: str) -> str:
    return f"{PREFIX}/{baseline[:2]}/{baseline[2:]}/{name}"


def derive_name(baseline: str, tree: str) -> str:
    """``exp-`` + 5 hex of the experiment's content (its tree) and baseline,
    so the same results on the same baseline get the same name."""
    from trails import core

    return "exp-" + core.hash_bytes(f"{baseline}:{tree}".encode())[:5]


#: Bytes of a name: it is one file name under ``refs/exps/<xx>/<38 hex>/``,
#: and Git writes ``<name>.lock`` beside it while updating (NAME_MAX is 255).
MAX_NAME_BYTES = 255 - len(".lock")
_HEX = frozenset("0123456789abcdef")
_FORBIDDEN = frozenset(" ~^:?*[\\\x7f")


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an experiment's name (Git's ref-name rules
    for one component, and the length of a file name), or None. Pure, so
    names listed by a remote are checked without a process each."""
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_NAME_BYTES:
        return f"it is {size} bytes long; at most {MAX_NAME_BYTES} fit in a ref's file name"
    bad = (
        not name
        or "/" in name
        or name.startswith(".")
        or name.endswith((".", ".lock"))
        or ".." in name
        or "@{" in name
        or name == "@"
        or any(c in _FORBIDDEN or ord(c) < 32 for c in name)
    )
    return "it is not a valid Git ref name" if bad else None


#: A name Git's rules plainly accept (ASCII letters, digits, ``-`` and
#: ``_``, single dots inside), asked of no ``check-ref-format``: every
#: name trails gives, which a queue worker checks again per experiment.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")


def validate_name(git: Git, name: str) -> None:
    """Refuse a bad name before anything runs (a name Git refuses would
    otherwise fail at ``update-ref``, after the run changed the workspace)."""
    problem = name_problem(name)
    plain = _PLAIN_NAME.fullmatch(name) is not None and not name.endswith(".lock")
    if problem is None and not plain and not git.ok("check-ref-format", ref_for("0" * 40, name)):
        problem = "it is not a valid Git ref name"
    if problem is not None:
        raise ExperimentError(
            f"'{_shown(name)}' is not a valid experiment name: {problem}",
            hint="Use letters, digits, '-', '_' and '.' (not first); no spaces, '/', '..', "
            f"'~', '^', ':'; at most {MAX_NAME_BYTES} bytes.",
        )


def _shown(name: str) -> str:
    return name if len(name) <= 60 else f"{name[:40]}...({len(name)} characters)"


#: An experiment ref whose name is plainly valid (letters, digits, ``-``,
#: ``_``, single dots inside; short): ``parse_ref``'s fast path.
_PLAIN = re.compile(
    r"refs/exps/([0-9a-f]{2})/([0-9a-f]{38})/([A-Za-z0-9_-](?:\.?[A-Za-z0-9_-]){0,199})"
)


def parse_ref(ref: str) -> tuple[str, str] | None:
    """``(baseline, name)`` of an experiment ref, or None for anything
    else under ``refs/exps/`` (queued and failed entries, stray or crafted
    refs): ``refs/exps/<2 hex>/<38 hex>/<valid name>``."""
    m = _PLAIN.fullmatch(ref)
    if m is not None and len(m[3]) <= MAX_NAME_BYTES and not m[3].endswith(".lock"):
        return m[1] + m[2], m[3]  # the usual ref, without the checks one by one
    parts = ref.split("/")
    if len(parts) != 5 or f"{parts[0]}/{parts[1]}" != PREFIX:
        return None
    baseline = parts[2] + parts[3]
    if len(parts[2]) != 2 or len(parts[3]) != 38 or not _HEX.issuperset(baseline):
        return None
    return (baseline, parts[4]) if name_problem(parts[4]) is None else None


def list_exps(
    git: Git, baseline: str | None = None, refs: list[tuple[str, str, int]] | None = None
) -> list[Exp]:
    """Experiments (of ``baseline``, or all); ``refs`` reuses a listing of
    ``refs/exps/`` already made."""
    prefix = f"{PREFIX}/{baseline[:2]}/{baseline[2:]}/" if baseline else f"{PREFIX}/"
    rows = [r for r in refs if r[0].startswith(prefix)] if refs is not None else git.refs(prefix)
    out = []
    for ref, sha, ts in rows:
        if parse_ref(ref) is not None:
            out.append(Exp(ref, sha, ts))
    return out


def resolve(git: Git, spec: str, baseline: str | None = None) -> Exp:
    """An experiment named by ``spec``: its name (on ``baseline`` first, then
    on any baseline) or a prefix of its commit (4+ hex)."""
    exps = list_exps(git)
    by_name = [e for e in exps if e.name == spec]
    if baseline:
        here = [e for e in by_name if e.baseline == baseline]
        by_name = here or by_name
    if len(by_name) == 1:
        return by_name[0]
    hits = by_name
    if not hits and len(spec) >= 4 and all(c in "0123456789abcdef" for c in spec.lower()):
        hits = [e for e in exps if e.sha.startswith(spec.lower())]
    if len(hits) == 1:
        return hits[0]
    if not hits and len(spec) >= 4 and all(c in "0123456789abcdef" for c in spec.lower()):
        hits = _containing(git, spec, exps)
    if hits and len({e.sha for e in hits}) == 1:
        # One commit, however many chains hold it (a checkpoint that was
        # resumed into a new experiment is in both histories): ambiguity
        # is about different commits. The oldest of those experiments names it.
        return min(hits, key=lambda e: (e.created, e.ref))
    if hits:
        listed = ", ".join(f"{e.sha[:7]} [{e.name}] on {e.baseline[:7]}" for e in hits)
        raise ExperimentError(
            f"'{spec}' is ambiguous: {listed}",
            hint="Name it by a longer commit prefix.",
        )
    raise ExperimentError(
        f"'{spec}' is not an experiment",
        hint=did_you_mean(
            spec, sorted({e.name for e in exps}), otherwise="'trails exp list' lists them."
        ),
    )


def _containing(git: Git, spec: str, exps: list[Exp]) -> list[Exp]:
    """Experiments whose checkpoint chain holds the commit ``spec``, as the
    experiment seen from that checkpoint (its ``sha`` is the checkpoint)."""
    sha = git.rev_parse(spec)
    if sha is None:
        return []
    out = git.run("for-each-ref", "--contains", sha, "--format=%(refname)", f"{PREFIX}/")
    refs = set(out.split())
    return [Exp(e.ref, sha, e.created) for e in exps if e.ref in refs and e.baseline != sha]
