"""What ``exp run`` was asked (``ExpRunOptions``) and the ``-S`` edits of
queued runs (``queued_edits``): kept apart from ``run`` so that ``exp run
--queue`` does not import the pipeline builder (~30 ms of every call)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trails.project import Project
    from trails.repro.selection import ReproOptions


@dataclass(frozen=True)
class ExpRunOptions:
    repro: ReproOptions
    set_params: Sequence[str] = ()
    name: str | None = None
    message: str | None = None
    force: bool = False
    strict_params: bool = False
    reset: bool = False


def queued_edits(
    project: Project, values: Sequence[str], strict: bool, warn: Callable[[str], None]
) -> list[dict[str, bytes]]:
    """The params files' new contents for each combination of the ``-S``
    sweeps (one empty dict without ``-S``). Nothing is written: queued runs
    carry their edits in their own commits."""
    if not values:
        return [{}]
    from trails import params
    from trails.params import overrides

    out: list[dict[str, bytes]] = []
    seen: set[str] = set()
    for combo in overrides.expand(overrides.parse(list(values))):
        changes, warnings = overrides.validate(project.root, combo, strict)
        for w in warnings:
            if w not in seen:
                seen.add(w)
                warn(w)
        texts = params.updated_texts(project.root, changes)
        out.append({f: t.encode() for f, t in texts.items()})
    return out
