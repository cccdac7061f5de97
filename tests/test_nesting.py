"""``nesting.put``: the one way flat keys become the nested documents the
reference tool writes (``exp show --json``, DVCLive's ``metrics.json``)."""

from __future__ import annotations

from typing import Any

from trails.experiments.document import nest
from trails.nesting import put


def test_put_makes_maps_and_a_deeper_key_replaces_a_value_on_its_way() -> None:
    tree: dict[str, Any] = {"train": {"loss": 1.0}}
    put(tree, ["train", "acc"], 0.5)
    put(tree, ["eval"], 3)
    put(tree, ["eval", "loss"], 0.2)  # a value on the way gives way to a map
    assert tree == {"train": {"loss": 1.0, "acc": 0.5}, "eval": {"loss": 0.2}}


def test_nest_splits_dotted_keys() -> None:
    assert nest({"a.b": 1, "a.c.d": 2, "e": 3}) == {"a": {"b": 1, "c": {"d": 2}}, "e": 3}
