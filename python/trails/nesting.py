"""Nested mappings built from key paths: the reference tool's documents
nest what trails keeps flat (``exp show``'s dotted params, DVCLive's
``metrics.json`` from slash-separated metric names)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def put(tree: dict[str, Any], parts: Sequence[str], value: Any) -> None:
    """``value`` at ``parts`` under ``tree``, making the maps on the way; a
    non-map on the way is replaced (the later, deeper key wins)."""
    node = tree
    *parents, leaf = parts
    for p in parents:
        child = node.get(p)
        if not isinstance(child, dict):
            child = node[p] = {}
        node = child
    node[leaf] = value
