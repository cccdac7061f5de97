"""The YAML 1.2 loader: types as the reference tool (ruamel.yaml) reads
them, line numbers, and refusal of duplicate keys."""

from __future__ import annotations

import pytest

from trails import yamlio


def test_yaml_12_scalars() -> None:
    doc = yamlio.loads("a: 1e-3\nb: yes\nc: on\nd: 0o17\ne: 0x1f\nf: .inf\ng: ~\nh: True\ni: 012\n")
    assert doc == {
        "a": 0.001,
        "b": "yes",
        "c": "on",
        "d": 15,
        "e": 31,
        "f": float("inf"),
        "g": None,
        "h": True,
        "i": 12,
    }


def test_merge_keys_and_lines() -> None:
    doc, lines = yamlio.loads_with_lines("base: &b {lr: 1}\nrun:\n  <<: *b\n  epochs: 2\n")
    assert doc["run"] == {"lr": 1, "epochs": 2}
    assert lines.of("run", "epochs") == 4
    assert lines.of("run", "nope") == 2


def test_duplicate_keys_are_refused_with_both_lines() -> None:
    with pytest.raises(
        yamlio.YamlError,
        match=r"^dvc\.yaml:4: malformed YAML: duplicate key 'train' \(first on line 2\)",
    ):
        yamlio.loads("stages:\n  train:\n    cmd: a\n  train:\n    cmd: b\n", "dvc.yaml")


def test_malformed_yaml_names_the_line() -> None:
    with pytest.raises(yamlio.YamlError, match=r"^params\.yaml:2: malformed YAML"):
        yamlio.loads("a: [1\nb: 2\n", "params.yaml")
