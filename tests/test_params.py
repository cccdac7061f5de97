"""Params writing and the ``-S`` grammar.

The writers' contract is the user guide's: ``git diff`` after ``-S`` shows
only the changed line(s). Most tests therefore compare the old and new text
line by line (``changed``) and read the new file back.
"""

from __future__ import annotations

import difflib
import json
import os
import random
import stat
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from trails import yamlio
from trails.params import (
    Change,
    ParamsError,
    apply_changes,
    get,
    jsonfile,
    overrides,
    pyfile,
    same,
    tomlfile,
    update,
    update_file,
    update_files,
    updated_texts,
    yamlfile,
)
from trails.params.overrides import Override, expand, parse, validate

# --- Helpers ----------------------------------------------------------------------------


def changed(old: str, new: str) -> tuple[list[str], list[str]]:
    """The lines ``unified_diff`` removes and adds (no context)."""
    out: list[str] = []
    add: list[str] = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0):
        if line.startswith(("---", "+++", "@@")):
            continue
        (out if line.startswith("-") else add).append(line[1:])
    return out, add


def one_line(old: str, new: str) -> tuple[str, str]:
    """The single line out and the single line in, at the same place;
    everything else byte-identical."""
    out, add = changed(old, new)
    assert (len(out), len(add)) == (1, 1), (out, add)
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(old_lines) == len(new_lines)
    differ = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    assert len(differ) == 1
    return out[0], add[0]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode())
    return path


def read(path: Path) -> str:
    return path.read_bytes().decode()


def run_set(root: Path, *values: str, strict: bool = False) -> list[str]:
    """``trails exp run -S ...`` as far as params go: parse, validate, write."""
    changes, warnings = validate(root, parse(list(values)), strict)
    update_files(root, changes)
    return warnings


GUIDE_PARAMS = "---\nmodel:\n  learning_rate: 0.0001\n"

REALISTIC = """\
# Parameters for the training pipeline.
# Stages depend on these keys: edit with care.

seed: 20170428   # reproducibility

data:
  source: "data/raw.csv"    # input
  test_size: 0.2
  shuffle: true
  columns: [age, income, 'zip code']

featurize:
  max_features: 200
  ngrams: 2
  normalize: ~

train:
  # optimizer settings
  optimizer:
    name: 'adam'
    lr: 1e-3
    betas: [0.9, 0.999]
  epochs: 10
  batch_size: 64
  layers:
    - units: 128
      activation: relu
    - units: 64
      activation: relu  # hidden

evaluate:
  metrics:
  - accuracy
  - f1
  threshold: 0.5
"""


# --- The user guide's examples ------------------------------------------------------------


def test_guide_set_param_on_guide_params_yaml(tmp_path: Path) -> None:
    path = write(tmp_path / "params.yaml", GUIDE_PARAMS)
    assert run_set(tmp_path, "model.learning_rate=0.0002") == []
    new = read(path)
    assert one_line(GUIDE_PARAMS, new) == ("  learning_rate: 0.0001", "  learning_rate: 0.0002")
    assert new == "---\nmodel:\n  learning_rate: 0.0002\n"


def test_guide_git_diff_shows_one_line(tmp_path: Path) -> None:
    old = "# model\nunits: 32\nepochs: 10\n"
    write(tmp_path / "params.yaml", old)
    write(tmp_path / "before.yaml", old)
    run_set(tmp_path, "units=128")
    proc = subprocess.run(
        ["git", "diff", "--no-index", "--no-color", "-U0", "before.yaml", "params.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    body = [ln for ln in proc.stdout.splitlines() if ln[:1] in "+-" and ln[:3] not in "+++---"]
    assert body == ["-units: 32", "+units: 128"]


GUIDE_TWO = "# hyperparameters\nlearning_rate: 0.01  # step size\nunits: 32\nepochs: 5\n"
GUIDE_TWO_AFTER = "# hyperparameters\nlearning_rate: 0.001  # step size\nunits: 128\nepochs: 5\n"


def test_guide_multiple_set_params(tmp_path: Path) -> None:
    path = write(tmp_path / "params.yaml", GUIDE_TWO)
    run_set(tmp_path, "learning_rate=0.001", "units=128")
    assert read(path) == GUIDE_TWO_AFTER


def test_guide_comma_delimited_list(tmp_path: Path) -> None:
    path = write(tmp_path / "params.yaml", GUIDE_TWO)
    run_set(tmp_path, "learning_rate=0.001,units=128")
    assert read(path) == GUIDE_TWO_AFTER


def test_guide_toml_file_prefix(tmp_path: Path) -> None:
    old = '# model knobs\ntitle = "run"\nlearning_rate = 0.001  # Adam\n\n[model]\nunits = 32\n'
    path = write(tmp_path / "myparams.toml", old)
    write(tmp_path / "params.yaml", GUIDE_PARAMS)
    run_set(tmp_path, "myparams.toml:learning_rate = 0.0001")
    new = read(path)
    assert one_line(old, new) == (
        "learning_rate = 0.001  # Adam",
        "learning_rate = 0.0001  # Adam",
    )
    assert read(tmp_path / "params.yaml") == GUIDE_PARAMS


# --- YAML ---------------------------------------------------------------------------------


def yupdate(text: str, *changes: Change) -> str:
    new = yamlfile.update(text, "params.yaml", list(changes))
    assert yamlio.loads(new) == apply_changes(yamlio.loads(text), list(changes), "x")
    return new


def scalar_leaves(data: Any, prefix: str = "") -> list[str]:
    """Every dotted path to a scalar, list items included."""
    items = data.items() if isinstance(data, dict) else enumerate(data)
    out: list[str] = []
    for k, v in items:
        key = f"{prefix}{k}"
        if isinstance(v, dict | list):
            out += scalar_leaves(v, key + ".")
        else:
            out.append(key)
    return out


STRINGS = [
    "plain",
    "two words",
    "yes",
    "no",
    "on",
    "null",
    "true",
    "1.5",
    "0x1F",
    "a: b",
    "x # y",
    "it's",
    'say "hi"',
    "",
    "  padded ",
    "line1\nline2",
    "ünïcödé",
    "[not a list]",
    "{not: a map}",
    "a,b",
    "-",
    "- dash",
    "*star",
    "&amp",
    "@at",
    "%pct",
    "tab\there",
]


def random_value(rng: random.Random) -> Any:
    kind = rng.randrange(7)
    if kind == 0:
        return rng.randint(-(10**6), 10**6)
    if kind == 1:
        return rng.choice([0.0, -1.5, 1e-07, 3.14159, 2.5e20, rng.uniform(-10, 10)])
    if kind == 2:
        return rng.choice([True, False])
    if kind == 3:
        return None
    if kind == 4:
        return rng.choice([[1, 2], [], {"a": 1, "b": [True, None]}, {}, ["x, y", "z"]])
    return rng.choice(STRINGS)


def test_yaml_property_every_other_line_untouched() -> None:
    rng = random.Random(20240501)
    data = yamlio.loads(REALISTIC)
    leaves = scalar_leaves(data)
    assert len(leaves) > 20
    for _ in range(400):
        key = rng.choice(leaves)
        value = random_value(rng)
        new = yupdate(REALISTIC, Change(key, value))
        one_line(REALISTIC, new)
        assert yaml.safe_load(new) is not None  # a YAML 1.1 reader still parses it


def test_yaml_property_chained_changes() -> None:
    rng = random.Random(7)
    text = REALISTIC
    for _ in range(150):
        key = rng.choice(scalar_leaves(yamlio.loads(text)))
        value = random_value(rng)
        if same(get(yamlio.loads(text), key), value):
            continue
        new = yupdate(text, Change(key, value))
        one_line(text, new)
        text = new
    comments = [ln for ln in REALISTIC.splitlines() if "#" in ln and ln.lstrip().startswith("#")]
    assert all(c in text.splitlines() for c in comments)


def test_yaml_property_add_and_delete_one_line_each() -> None:
    rng = random.Random(99)
    data = yamlio.loads(REALISTIC)
    maps = ["data", "featurize", "train", "train.optimizer", "train.layers.0", "evaluate"]
    for _ in range(100):
        parent = rng.choice(maps)
        new = yupdate(REALISTIC, Change(f"{parent}.added_{rng.randrange(100)}", random_value(rng)))
        out, add = changed(REALISTIC, new)
        assert out == [] and len(add) == 1
    for key in scalar_leaves(data):
        if key.split(".")[-1].isdigit() or key in ("seed",):
            continue
        new = yupdate(REALISTIC, Change(key, delete=True))
        out, add = changed(REALISTIC, new)
        if key.endswith(".units"):  # first key of "- units: ...": the next key moves up
            assert (len(out), len(add)) == (2, 1) and add[0].lstrip().startswith("- act"), key
        else:
            assert len(out) == 1 and add == [], key


def test_yaml_end_of_line_comments_stay() -> None:
    old = "lr: 0.1  # learning rate\nbs: 32 # batch\n"
    assert one_line(old, yupdate(old, Change("lr", 0.25))) == (
        "lr: 0.1  # learning rate",
        "lr: 0.25  # learning rate",
    )
    assert yupdate(old, Change("bs", 1000000)) == "lr: 0.1  # learning rate\nbs: 1000000 # batch\n"


def test_yaml_merge_keys_stay_as_written() -> None:
    old = (
        "defaults: &defaults\n  lr: 0.1\n  bs: 32\n\n"
        "train:\n  <<: *defaults\n  bs: 64\n\nfinetune:\n  <<: *defaults\n"
    )
    new = yupdate(old, Change("train.bs", 128))
    assert one_line(old, new) == ("  bs: 64", "  bs: 128")
    new = yamlfile.update(old, "params.yaml", [Change("train.lr", 0.5)])
    assert changed(old, new) == ([], ["  lr: 0.5"])
    assert new.count("<<: *defaults") == 2
    loaded = yamlio.loads(new)
    assert loaded["train"]["lr"] == 0.5 and loaded["finetune"]["lr"] == 0.1
    new = yamlfile.update(old, "params.yaml", [Change("defaults.lr", 0.2)])
    assert one_line(old, new) == ("  lr: 0.1", "  lr: 0.2")
    assert yamlio.loads(new)["finetune"]["lr"] == 0.2  # merged, as a hand edit would do


def test_yaml_merged_key_cannot_be_deleted_where_it_is_inherited() -> None:
    old = "base: &b\n  lr: 0.1\nrun:\n  <<: *b\n  epochs: 2\n"
    with pytest.raises(ParamsError, match=r"cannot delete 'run\.lr': it is inherited through"):
        yamlfile.update(old, "params.yaml", [Change("run.lr", delete=True)])
    over = "base: &b\n  lr: 0.1\nrun:\n  <<: *b\n  lr: 0.2\n"
    with pytest.raises(ParamsError, match=r"'run\.lr': it is also inherited through a merge"):
        yamlfile.update(over, "params.yaml", [Change("run.lr", delete=True)])


def test_yaml_flow_collections_stay_flow() -> None:
    old = "layers: [1, 2]\nopt: {name: adam, lr: 0.1}\nafter: 1\n"
    assert one_line(old, yupdate(old, Change("layers", [1, 2, 3])))[1] == "layers: [1, 2, 3]"
    assert one_line(old, yupdate(old, Change("layers.0", 8)))[1] == "layers: [8, 2]"
    assert one_line(old, yupdate(old, Change("layers.2", 3)))[1] == "layers: [1, 2, 3]"
    assert one_line(old, yupdate(old, Change("layers.0", delete=True)))[1] == "layers: [2]"
    assert one_line(old, yupdate(old, Change("opt.lr", 0.2)))[1] == "opt: {name: adam, lr: 0.2}"
    assert one_line(old, yupdate(old, Change("opt.name", "a, b")))[1] == (
        "opt: {name: 'a, b', lr: 0.1}"
    )
    assert one_line(old, yupdate(old, Change("opt.wd", 0.01)))[1] == (
        "opt: {name: adam, lr: 0.1, wd: 0.01}"
    )
    assert one_line(old, yupdate(old, Change("opt.name", delete=True)))[1] == "opt: {lr: 0.1}"


def test_yaml_block_sequences_stay_block() -> None:
    old = "layers:\n  - 64\n  - 32\nnext: 1\n"
    assert yupdate(old, Change("layers", [128, 64, 32])) == (
        "layers:\n  - 128\n  - 64\n  - 32\nnext: 1\n"
    )
    assert yupdate(old, Change("layers.2", 16)) == "layers:\n  - 64\n  - 32\n  - 16\nnext: 1\n"
    assert yupdate(old, Change("layers.0", delete=True)) == "layers:\n  - 32\nnext: 1\n"


def test_yaml_quote_style_of_changed_value_is_kept() -> None:
    old = 'a: \'single\'\nb: "double"\nc: plain\nd: "0.1"\n'
    assert one_line(old, yupdate(old, Change("a", "x")))[1] == "a: 'x'"
    assert one_line(old, yupdate(old, Change("b", "y")))[1] == 'b: "y"'
    assert one_line(old, yupdate(old, Change("c", "z")))[1] == "c: z"
    assert one_line(old, yupdate(old, Change("c", "yes")))[1] == "c: 'yes'"
    assert one_line(old, yupdate(old, Change("d", 0.2)))[1] == "d: 0.2"  # not a string now


def test_yaml_untouched_lines_keep_their_spelling() -> None:
    # Each of these is rewritten by a ruamel.yaml load+dump of the file.
    old = "---\na: null\nb: ~\nc: True\nd: +1\ne:   5\nf: 1e-3\nl:\n- 1\nm:\n  - 2\nx: 0\n"
    assert one_line(old, yupdate(old, Change("x", 1))) == ("x: 0", "x: 1")


def test_yaml_anchored_scalar_keeps_anchor_and_alias_follows() -> None:
    old = "lr: &lr 0.1\nscheduler:\n  max_lr: *lr\n"
    new = yamlfile.update(old, "params.yaml", [Change("lr", 0.2)])
    assert one_line(old, new) == ("lr: &lr 0.1", "lr: &lr 0.2")
    assert yamlio.loads(new)["scheduler"]["max_lr"] == 0.2
    new = yamlfile.update(old, "params.yaml", [Change("scheduler.max_lr", 0.5)])
    assert one_line(old, new) == ("  max_lr: *lr", "  max_lr: 0.5")


def test_yaml_change_through_an_alias_is_refused() -> None:
    old = "base: &b {lr: 0.1}\ntrain: *b\n"
    with pytest.raises(ParamsError, match=r"'train' is an alias \(\*b\)") as info:
        yamlfile.update(old, "params.yaml", [Change("train.lr", 0.2)])
    assert info.value.hint is not None and "&b" in info.value.hint


def test_yaml_new_keys_and_parent_maps_use_file_indentation() -> None:
    old = "a:\n    b: 1\n\n# section c\nc: 2\n"
    new = yupdate(old, Change("a.x.y", 5))
    assert new == "a:\n    b: 1\n    x:\n        y: 5\n\n# section c\nc: 2\n"
    assert yupdate(old, Change("z", [1, 2])) == old + "z: [1, 2]\n"


@pytest.mark.parametrize(
    ("text", "added"),
    [
        ("model:\n  units: 1\n  layers:\n  - 1\nend: 0\n", ["  - 2", "  dropout: 0.5"]),
        ("model:\n  units: 1\n  layers:\n    - 1\nend: 0\n", ["    - 2", "  dropout: 0.5"]),
        ("model:\n    units: 1\n    layers:\n    - 1\nend: 0\n", ["    - 2", "    dropout: 0.5"]),
        (
            "model:\n    units: 1\n    layers:\n        - 1\nend: 0\n",
            ["        - 2", "    dropout: 0.5"],
        ),
    ],
    ids=["2-flat-seq", "2-indented-seq", "4-flat-seq", "4-indented-seq"],
)
def test_yaml_indentation_styles(text: str, added: list[str]) -> None:
    assert one_line(text, yupdate(text, Change("model.units", 2)))[1].endswith("units: 2")
    assert one_line(text, yupdate(text, Change("model.layers.0", 9)))[1].endswith("- 9")
    assert changed(text, yupdate(text, Change("model.layers.1", 2))) == ([], [added[0]])
    assert changed(text, yupdate(text, Change("model.dropout", 0.5))) == ([], [added[1]])
    out, add = changed(text, yupdate(text, Change("model.units", delete=True)))
    assert len(out) == 1 and add == []


def test_yaml_delete_removes_the_key_lines_only() -> None:
    old = "# top\na: 1  # one\nb:\n  c: 2\n  d: [3]\n\n# e's comment\ne: 4\n"
    assert yupdate(old, Change("b", delete=True)) == "# top\na: 1  # one\n\n# e's comment\ne: 4\n"
    assert yupdate(old, Change("b.d", delete=True)) == old.replace("  d: [3]\n", "")


def test_yaml_sequence_of_maps() -> None:
    old = "layers:\n- units: 1\n  act: relu\n- units: 2\n"
    assert yupdate(old, Change("layers.0.units", delete=True)) == (
        "layers:\n- act: relu\n- units: 2\n"
    )
    assert yupdate(old, Change("layers.1.act", "tanh")) == old + "  act: tanh\n"
    assert yupdate(old, Change("layers.2", {"units": 3})) == old + "- {units: 3}\n"


def test_yaml_replacing_a_block_map_with_a_scalar_and_back() -> None:
    old = "model:\n  units: 1\n  depth: 2\nnext: 0\n"
    assert yupdate(old, Change("model", 5)) == "model: 5\nnext: 0\n"
    assert yupdate(old, Change("model", {"units": 3})) == "model:\n  units: 3\nnext: 0\n"


def test_yaml_floats_read_as_floats_by_yaml_1_1_readers_too() -> None:
    new = yupdate("lr: 0.1\n", Change("lr", 1e-05))
    assert new == "lr: 1.0e-05\n"
    assert yaml.safe_load(new) == {"lr": 1e-05}
    assert yupdate("x: 1\n", Change("x", float("inf"))) == "x: .inf\n"


def test_yaml_literal_block_scalar_stays_literal() -> None:
    old = "cmd: |\n  python train.py\n  --fast\nafter: 1\n"
    assert yupdate(old, Change("cmd", "a\nb\n")) == "cmd: |\n  a\n  b\nafter: 1\n"
    assert yupdate(old, Change("cmd", "one")) == "cmd: one\nafter: 1\n"


def test_yaml_crlf_and_missing_final_newline_are_kept() -> None:
    old = "a: 1\r\nb:\r\n  c: 2\r\n"
    assert yupdate(old, Change("b.c", 3)) == "a: 1\r\nb:\r\n  c: 3\r\n"
    assert yupdate(old, Change("b.d", 4)) == "a: 1\r\nb:\r\n  c: 2\r\n  d: 4\r\n"
    assert yupdate("a: 1", Change("a", 2)) == "a: 2"


def test_yaml_empty_and_comment_only_files() -> None:
    assert yupdate("", Change("a.b", 1)) == "a:\n  b: 1\n"
    assert yupdate("# just a comment\n", Change("x", "y")) == "# just a comment\nx: y\n"
    assert yupdate("{}\n", Change("x", 1)) == "{x: 1}\n"


def test_yaml_removing_the_only_key_falls_back_to_ruamel() -> None:
    old = "a: 1\nb:\n  c: 2\n"
    assert yupdate(old, Change("b.c", delete=True)) == "a: 1\nb: {}\n"


def test_yaml_null_parent_and_scalar_parent_are_errors() -> None:
    with pytest.raises(ParamsError, match=r"cannot change 'lr\.x': 'lr' is 0\.1, not a mapping"):
        yamlfile.update("lr: 0.1\n", "params.yaml", [Change("lr.x", 1)])
    with pytest.raises(ParamsError, match=r"'layers' is not an index of a list|'5' is not an"):
        yamlfile.update("layers: [1]\n", "params.yaml", [Change("layers.5", 1)])


# --- JSON ---------------------------------------------------------------------------------

JSON_DATA: dict[str, Any] = {
    "lr": 0.1,
    "model": {"units": 32, "layers": [64, 32], "name": "x"},
    "seed": 1,
}


@pytest.mark.parametrize("indent", [2, 4, "\t"], ids=["2", "4", "tab"])
def test_json_keeps_indentation(indent: int | str) -> None:
    old = json.dumps(JSON_DATA, indent=indent) + "\n"
    pad = indent if isinstance(indent, str) else " " * indent
    new = jsonfile.update(old, "params.json", [Change("model.units", 64)])
    assert one_line(old, new) == (f'{pad * 2}"units": 32,', f'{pad * 2}"units": 64,')
    new = jsonfile.update(old, "params.json", [Change("model.layers.1", 16)])
    assert one_line(old, new) == (f"{pad * 3}32", f"{pad * 3}16")
    new = jsonfile.update(old, "params.json", [Change("model.dropout", 0.5)])
    model = {**JSON_DATA["model"], "dropout": 0.5}
    assert new == json.dumps({**JSON_DATA, "model": model}, indent=indent) + "\n"
    new = jsonfile.update(old, "params.json", [Change("lr", delete=True)])
    assert changed(old, new) == ([f'{pad}"lr": 0.1,'], [])
    new = jsonfile.update(old, "params.json", [Change("extra", {"a": [1]})])
    assert json.loads(new)["extra"] == {"a": [1]}
    assert new == json.dumps({**JSON_DATA, "extra": {"a": [1]}}, indent=indent) + "\n"


def test_json_one_line_file_stays_one_line() -> None:
    old = '{"lr":0.1,"model":{"units":32},"tags":["a"]}'
    new = jsonfile.update(
        old, "params.json", [Change("model.units", 8), Change("tags.1", "b"), Change("x", None)]
    )
    assert new == '{"lr":0.1,"model":{"units":8},"tags":["a","b"],"x":null}'


def test_json_only_the_value_text_changes() -> None:
    old = '{\n  "lr" :   0.1,\n  "name": "a"\n}\n'
    assert jsonfile.update(old, "p.json", [Change("lr", 0.2), Change("name", "b")]) == (
        '{\n  "lr" :   0.2,\n  "name": "b"\n}\n'
    )


def test_json_empty_objects_and_new_files() -> None:
    assert jsonfile.update("", "p.json", [Change("a.b", 1)]) == '{\n  "a": {\n    "b": 1\n  }\n}\n'
    old = '{\n  "a": {},\n  "b": 1\n}\n'
    assert jsonfile.update(old, "p.json", [Change("a.x", 1)]) == (
        '{\n  "a": {\n    "x": 1\n  },\n  "b": 1\n}\n'
    )
    assert jsonfile.update('{"a": [1]}', "p.json", [Change("a.0", delete=True)]) == '{"a": []}'


def test_json_errors() -> None:
    with pytest.raises(ParamsError, match=r"^p\.json:1: malformed JSON"):
        jsonfile.update("{", "p.json", [Change("a", 1)])
    with pytest.raises(ParamsError, match=r"cannot delete 'nope': it is not set"):
        jsonfile.update("{}", "p.json", [Change("nope", delete=True)])


# --- TOML ---------------------------------------------------------------------------------

TOML = """\
# Training parameters
seed = 42  # fixed
name = 'literal'
title = "basic"

[model]
units = 32
layers = [64, 32]  # widths

[train]
epochs = 10
opt.kind = "adam"
"""


def tupdate(*changes: Change) -> str:
    new = tomlfile.update(TOML, "params.toml", list(changes))
    assert tomllib.loads(new) == apply_changes(tomllib.loads(TOML), list(changes), "x")
    return new


def test_toml_one_line_changes_keep_comments_and_quotes() -> None:
    assert one_line(TOML, tupdate(Change("seed", 7))) == ("seed = 42  # fixed", "seed = 7  # fixed")
    assert one_line(TOML, tupdate(Change("name", "new")))[1] == "name = 'new'"
    assert one_line(TOML, tupdate(Change("title", "t")))[1] == 'title = "t"'
    assert one_line(TOML, tupdate(Change("model.layers.1", 16)))[1] == "layers = [64, 16]  # widths"
    assert one_line(TOML, tupdate(Change("train.opt.kind", "sgd")))[1] == 'opt.kind = "sgd"'


def test_toml_add_and_delete() -> None:
    assert changed(TOML, tupdate(Change("model.dropout", 0.5))) == ([], ["dropout = 0.5"])
    assert changed(TOML, tupdate(Change("model.units", delete=True))) == (["units = 32"], [])
    new = tupdate(Change("data.path", "x.csv"))
    assert new.startswith(TOML) and tomllib.loads(new)["data"] == {"path": "x.csv"}


def test_toml_has_no_null() -> None:
    with pytest.raises(ParamsError, match=r"cannot set 'seed' to null: TOML has no null") as info:
        tomlfile.update(TOML, "params.toml", [Change("seed", None)])
    assert info.value.hint == "Use ~seed to delete the key instead."


# --- Python ---------------------------------------------------------------------------------

PY = '''\
"""Training parameters."""

LR = 0.001  # learning rate
NAME: str = "resnet"
LAYERS = [64, 32]
OPT = {"kind": "adam", "beta": 0.9}


class Train:
    """Loop settings."""

    epochs = 10
    batch = 32  # per device

    def describe(self):
        return "train"
'''


def pupdate(*changes: Change) -> str:
    new = pyfile.update(PY, "params.py", list(changes))
    assert pyfile.load(new, "x") == apply_changes(pyfile.load(PY, "x"), list(changes), "x")
    return new


def test_python_replaces_only_the_literal() -> None:
    assert one_line(PY, pupdate(Change("LR", 0.0001))) == (
        "LR = 0.001  # learning rate",
        "LR = 0.0001  # learning rate",
    )
    assert one_line(PY, pupdate(Change("NAME", "vgg")))[1] == 'NAME: str = "vgg"'
    assert one_line(PY, pupdate(Change("Train.epochs", 20)))[1] == "    epochs = 20"
    assert one_line(PY, pupdate(Change("LAYERS.1", 16)))[1] == "LAYERS = [64, 16]"
    assert one_line(PY, pupdate(Change("OPT.beta", 0.99)))[1] == (
        'OPT = {"kind": "adam", "beta": 0.99}'
    )
    assert one_line(PY, pupdate(Change("LR", [1, "a", None, True])))[1] == (
        'LR = [1, "a", None, True]  # learning rate'
    )


def test_python_string_values_work() -> None:
    new = pupdate(Change("Train.batch", "auto"))
    assert one_line(PY, new)[1] == '    batch = "auto"  # per device'
    assert pyfile.load(new, "p.py")["Train"]["batch"] == "auto"
    assert one_line(PY, pupdate(Change("NAME", 'it\'s "q"')))[1] == 'NAME: str = "it\'s \\"q\\""'


def test_python_add_and_delete() -> None:
    assert pupdate(Change("SEED", 1)) == PY + "SEED = 1\n"
    assert pupdate(Change("NEW.a", "x")) == PY + 'NEW = {"a": "x"}\n'
    new = pupdate(Change("Train.lr", 0.1))
    assert changed(PY, new) == ([], ["    lr = 0.1"])
    assert new.index("    lr = 0.1") < new.index("    def describe")
    assert changed(PY, pupdate(Change("Train.batch", delete=True))) == (
        ["    batch = 32  # per device"],
        [],
    )
    assert changed(PY, pupdate(Change("LR", delete=True))) == (["LR = 0.001  # learning rate"], [])
    assert one_line(PY, pupdate(Change("OPT.kind", delete=True)))[1] == 'OPT = {"beta": 0.9}'
    assert one_line(PY, pupdate(Change("OPT.wd", 0)))[1] == (
        'OPT = {"kind": "adam", "beta": 0.9, "wd": 0}'
    )
    assert pyfile.update("class A:\n    x = 1\n", "p.py", [Change("A.x", delete=True)]) == (
        "class A:\n    pass\n"
    )


def test_python_errors() -> None:
    cases = [
        ("a = b = 1\n", Change("a", 2), r"'a': it is assigned together with 'b'"),
        (PY, Change("Train", 1), r"cannot set 'Train': it is a class"),
        (PY, Change("bad-name", 1), r"'bad-name' is not a valid Python name"),
        (PY, Change("LR", float("nan")), r"no literal for inf or nan"),
        ("a = 1; b = 2\n", Change("b", delete=True), r"cannot delete line 1"),
        ("def f(:\n", Change("a", 1), r"^p\.py:1: invalid Python"),
    ]
    for text, change, pattern in cases:
        with pytest.raises(ParamsError, match=pattern):
            pyfile.update(text, "p.py", [change])


# --- Writing files ----------------------------------------------------------------------------


def test_update_file_is_atomic_and_keeps_mode(tmp_path: Path) -> None:
    path = write(tmp_path / "params.yaml", "a: 1\n")
    os.chmod(path, 0o640)
    assert update_file(path, [Change("a", 2)]) is True
    assert read(path) == "a: 2\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]
    assert update_file(path, [Change("a", 2)]) is False


def test_update_file_creates_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "new.toml"
    update_file(path, [Change("a", 1)])
    assert read(path) == "a = 1\n"
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


def test_quoted_key_parts_hold_dots(tmp_path: Path) -> None:
    path = write(tmp_path / "params.yaml", '"a.b":\n  c: 1\n')
    run_set(tmp_path, '"a.b".c=2')
    assert read(path) == '"a.b":\n  c: 2\n'


def test_update_files_writes_nothing_if_any_file_fails(tmp_path: Path) -> None:
    yml = write(tmp_path / "params.yaml", "a: 1\n")
    toml = write(tmp_path / "p.toml", "b = 1\n")
    with pytest.raises(ParamsError, match="TOML has no null"):
        update_files(tmp_path, {"params.yaml": [Change("a", 2)], "p.toml": [Change("b", None)]})
    assert read(yml) == "a: 1\n" and read(toml) == "b = 1\n"
    written = update_files(tmp_path, {"params.yaml": [Change("a", 2)], "p.toml": [Change("b", 2)]})
    assert written == ["params.yaml", "p.toml"]
    assert read(yml) == "a: 2\n" and read(toml) == "b = 2\n"


def test_updated_texts_writes_nothing_and_crlf_survives(tmp_path: Path) -> None:
    path = write(tmp_path / "params.yaml", "a: 1\r\nb: 2\r\n")
    texts = updated_texts(tmp_path, {"params.yaml": [Change("a", 3)]})
    assert texts == {"params.yaml": "a: 3\r\nb: 2\r\n"}
    assert path.read_bytes() == b"a: 1\r\nb: 2\r\n"
    assert update_file(path, [Change("a", 3)]) is True
    assert path.read_bytes() == b"a: 3\r\nb: 2\r\n"


def test_update_dispatches_by_suffix_and_rejects_unknown() -> None:
    assert update("a: 1\n", "x.yml", [Change("a", 2)]) == "a: 2\n"
    with pytest.raises(ParamsError, match=r"unsupported params file format '\.ini'") as info:
        update("", "x.ini", [Change("a", 1)])
    assert info.value.hint == "Use one of: .yaml, .yml, .json, .toml, .py."


# --- The -S grammar -------------------------------------------------------------------------


def ov(file: str, key: str, op: overrides.Op, *values: Any) -> Override:
    return Override(file, key, op, values)


def test_parse_plain_list_and_file_prefix() -> None:
    assert parse(["learning_rate=0.001", "units=128"]) == [
        ov("params.yaml", "learning_rate", "set", 0.001),
        ov("params.yaml", "units", "set", 128),
    ]
    assert parse(["learning_rate=0.001,units=128"]) == parse(["learning_rate=0.001", "units=128"])
    assert parse(["myparams.toml:learning_rate = 0.0001"]) == [
        ov("myparams.toml", "learning_rate", "set", 0.0001)
    ]
    assert parse(["a.toml:x=1,y=2,b.json:z=3"]) == [
        ov("a.toml", "x", "set", 1),
        ov("params.yaml", "y", "set", 2),
        ov("b.json", "z", "set", 3),
    ]
    assert parse(["x=1"], default_file="other.yaml") == [ov("other.yaml", "x", "set", 1)]
    with pytest.raises(ParamsError, match="twice"):
        parse(["./params.yaml:x=1", "x=2"])
    assert parse(['"a.b".c=1']) == [ov("params.yaml", '"a.b".c', "set", 1)]


def test_parse_values_are_yaml() -> None:
    got = parse(
        ["f=0.001,i=128,t=true,n=null,l=[1, 2],m={a: 1, b: [x, y]},q='quoted',s=word,e=1e-3"]
    )
    assert [o.value for o in got] == [
        0.001,
        128,
        True,
        None,
        [1, 2],
        {"a": 1, "b": ["x", "y"]},
        "quoted",
        "word",
        0.001,
    ]
    assert [o.value for o in parse(["a='1'", 'b="x, y"', "c=it's", "d=@home", "e=a: b"])] == [
        "1",
        "x, y",
        "it's",
        "@home",
        "a: b",
    ]


def test_parse_commas_inside_brackets_quotes_and_parens_do_not_split() -> None:
    assert parse(["s='it''s, ok',t=1"])[0].value == "it's, ok"
    got = parse(["a=[1, 2],b={x: 1, y: 2},c='p, q',d=\"r, s\",e=choice(1,2),f=3"])
    assert [(o.key, o.values) for o in got] == [
        ("a", ([1, 2],)),
        ("b", ({"x": 1, "y": 2},)),
        ("c", ("p, q",)),
        ("d", ("r, s",)),
        ("e", (1, 2)),
        ("f", (3,)),
    ]


def test_parse_hydra_prefixes() -> None:
    assert parse(["+a=1", "++b=2", "~c", "~d=3", "p.json:~e", "~p.json:f", "p.json:+g=1"]) == [
        ov("params.yaml", "a", "add", 1),
        ov("params.yaml", "b", "force", 2),
        ov("params.yaml", "c", "delete"),
        ov("params.yaml", "d", "delete", 3),
        ov("p.json", "e", "delete"),
        ov("p.json", "f", "delete"),
        ov("p.json", "g", "add", 1),
    ]


def test_parse_sweeps() -> None:
    assert parse(["lr=choice(0.1,0.01)"])[0].values == (0.1, 0.01)
    assert parse(["units=range(16,65,16)"])[0].values == (16, 32, 48, 64)
    assert parse(["units=range(3)".replace("3", "0,3")])[0].values == (0, 1, 2)
    assert parse(["x=range(0.1, 0.5, 0.1)"])[0].values == (0.1, 0.2, 0.3, 0.4)
    assert parse(["x=range(1, 0, -0.25)"])[0].values == (1.0, 0.75, 0.5, 0.25)
    assert parse(["lr=0.1,0.01,units=8"]) == [
        ov("params.yaml", "lr", "set", 0.1, 0.01),
        ov("params.yaml", "units", "set", 8),
    ]
    assert parse(["t=choice([1, 2], 'a,b')"])[0].values == ([1, 2], "a,b")
    assert parse(["+new=1,2"])[0] == ov("params.yaml", "new", "add", 1, 2)
    assert parse(["lr=0.1"])[0].is_sweep is False


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (["lr"], r"'lr' has no value; write lr=VALUE \(or ~lr to delete it\)"),
        (["0.1"], r"'0\.1' has no key; write key=0\.1"),
        (["lr="], r"no value after '='"),
        (["lr=[1, 2"], r"unclosed '\['"),
        (["lr=1]"], r"unbalanced '\]'"),
        (["lr='x"], r"unclosed \"'\""),
        (["a=1,,b=2"], r"empty item between commas"),
        (["lr=1", "lr=2"], r"-S sets 'lr' in params\.yaml twice"),
        (["~a=choice(1,2)"], r"~a cannot sweep"),
        (["~a,1"], r"'1' cannot continue '~a'"),
        (["a=1,choice(2,3)"], r"cannot continue 'a'"),
        (["+~a=1"], r"two operators"),
        (["x=range(1,1)"], r"range\(\) gives no values"),
        (["x=range(1,5,0)"], r"step must not be 0"),
        (["x=range(a,5)"], r"range\(\) takes numbers"),
        (["x=range(1)"], r"range\(\) takes start, stop\[, step\]"),
        (["x=range(0,100000)"], r"more than 10000 values"),
        (["x=choice()"], r"choice\(\) needs at least one value"),
        (["a..b=1"], r"'a\.\.b' is not a parameter name"),
    ],
)
def test_parse_errors(values: list[str], message: str) -> None:
    with pytest.raises(ParamsError, match=message) as info:
        parse(values)
    assert str(info.value).startswith(("invalid -S", "-S sets"))


def test_expand_is_the_cartesian_product_in_order() -> None:
    got = expand(parse(["a=1,2", "b=x", "c=choice(3,4)"]))
    assert [[o.value for o in combo] for combo in got] == [
        [1, "x", 3],
        [1, "x", 4],
        [2, "x", 3],
        [2, "x", 4],
    ]
    assert expand(parse(["a=1", "~b"])) == [parse(["a=1", "~b"])]
    assert expand([]) == [[]]
    with pytest.raises(ValueError, match="expand"):
        _ = parse(["a=1,2"])[0].value


# --- Validation against the files ----------------------------------------------------------------


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(tmp_path / "params.yaml", "lr: 0.1\nunits: 32\nmodel:\n  depth: 2\n")
    write(tmp_path / "myparams.toml", "learning_rate = 0.001\n")
    return tmp_path


def test_validate_returns_changes_per_file(project: Path) -> None:
    changes, warnings = validate(
        project, parse(["lr=0.2,~units", "myparams.toml:learning_rate=0.0001", "++x=1"]), False
    )
    assert changes == {
        "params.yaml": [Change("lr", 0.2), Change("units", delete=True), Change("x", 1)],
        "myparams.toml": [Change("learning_rate", 0.0001)],
    }
    assert warnings == []


def test_validate_unknown_key_warns_with_did_you_mean(project: Path) -> None:
    _, warnings = validate(project, parse(["unitz=64"]), False)
    assert warnings == ["'unitz' is not in params.yaml; did you mean 'units'? (added as a new key)"]
    _, warnings = validate(project, parse(["model.dept=3"]), False)
    assert warnings == [
        "'model.dept' is not in params.yaml; did you mean 'model.depth'? (added as a new key)"
    ]
    _, warnings = validate(project, parse(["zzzzzz=1"]), False)
    assert warnings == ["'zzzzzz' is not in params.yaml (added as a new key)"]


def test_validate_strict_refuses_unknown_keys(project: Path) -> None:
    with pytest.raises(ParamsError) as info:
        validate(project, parse(["unitz=64"]), True)
    assert str(info.value) == "'unitz' is not in params.yaml; did you mean 'units'?"
    assert info.value.hint is not None and "--strict-params" in info.value.hint
    assert validate(project, parse(["+unitz=64"]), True)[0] == {
        "params.yaml": [Change("unitz", 64)]
    }


def test_validate_add_existing_key_is_an_error(project: Path) -> None:
    with pytest.raises(ParamsError) as info:
        validate(project, parse(["+lr=0.2"]), False)
    assert str(info.value) == (
        "'lr' is already in params.yaml; use lr=... to change it or ++lr=... to add or change"
    )


def test_validate_delete_rules(project: Path) -> None:
    with pytest.raises(ParamsError, match=r"^'unitz' is not in params\.yaml; nothing to delete"):
        validate(project, parse(["~unitz"]), False)
    with pytest.raises(ParamsError) as info:
        validate(project, parse(["~units=16"]), False)
    assert str(info.value) == (
        "'units' is 32 in params.yaml, not 16; ~units=16 deletes it only when it has that value"
    )
    assert validate(project, parse(["~units=32"]), False)[0] == {
        "params.yaml": [Change("units", delete=True)]
    }


def test_validate_missing_file(project: Path) -> None:
    with pytest.raises(ParamsError, match=r"^params file 'other\.yaml' does not exist$"):
        validate(project, parse(["other.yaml:a=1"]), False)
    changes, warnings = validate(project, parse(["other.yaml:+a.b=1,other.yaml:++c=2"]), False)
    assert warnings == []
    update_files(project, changes)
    assert read(project / "other.yaml") == "a:\n  b: 1\nc: 2\n"


def test_validate_unsupported_suffix(project: Path) -> None:
    with pytest.raises(ParamsError, match=r"^params\.ini: unsupported params file format") as info:
        validate(project, parse(["params.ini:a=1"]), False)
    assert info.value.hint is not None and ".toml" in info.value.hint


def test_validate_refuses_sweeps_and_impossible_paths(project: Path) -> None:
    with pytest.raises(ParamsError, match="is a sweep; expand"):
        validate(project, parse(["lr=1,2"]), False)
    with pytest.raises(ParamsError, match=r"params\.yaml: cannot change 'lr\.x': 'lr' is 0\.1"):
        validate(project, parse(["lr.x=1"]), False)


def test_sweep_end_to_end(project: Path) -> None:
    runs = expand(parse(["lr=choice(0.2,0.3)", "myparams.toml:learning_rate=range(1,3)"]))
    texts = []
    for combo in runs:
        changes, _ = validate(project, combo, False)
        assert {f: [str(c) for c in cs] for f, cs in changes.items()}
        texts.append(
            (
                update(read(project / "params.yaml"), "params.yaml", changes["params.yaml"]),
                update(read(project / "myparams.toml"), "myparams.toml", changes["myparams.toml"]),
            )
        )
    assert [t[0].splitlines()[0] for t in texts] == ["lr: 0.2", "lr: 0.2", "lr: 0.3", "lr: 0.3"]
    assert [t[1] for t in texts] == ["learning_rate = 1\n", "learning_rate = 2\n"] * 2
