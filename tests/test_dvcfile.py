"""The ``dvc.yaml`` loader: schema checks, vars and ``${}`` interpolation,
params tracking, ``foreach``/``matrix`` expansion, file discovery, and the
exact wording (with ``file:line:``) of every error a user can hit."""

from __future__ import annotations

import re
import textwrap
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from trails.errors import PipelineError
from trails.pipeline.dvcfile import find_dvcfiles, load_all, load_dvcfile
from trails.pipeline.interpolate import Context, Origin, Use, cmd_args, resolve
from trails.pipeline.stage import Dep, Out, ParamDep, Stage


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def load(root: Path, dvcyaml: str, files: dict[str, str] | None = None) -> list[Stage]:
    """Write ``dvc.yaml`` (and other ``files``) under ``root`` and load it."""
    write(root, {"dvc.yaml": dvcyaml, **(files or {})})
    return load_dvcfile(root, "dvc.yaml")


def one(root: Path, dvcyaml: str, files: dict[str, str] | None = None) -> Stage:
    (stage,) = load(root, dvcyaml, files)
    return stage


def raises_pipeline_error(
    message: str,
) -> AbstractContextManager[pytest.ExceptionInfo[PipelineError]]:
    """Expect exactly ``message``."""
    return pytest.raises(PipelineError, match=f"^{re.escape(message)}$")


def cmds(stages: list[Stage]) -> dict[str, tuple[str, ...]]:
    return {s.name: s.cmd for s in stages}


# --- top level -----------------------------------------------------------------------


def test_empty_file_has_no_stages(tmp_path: Path) -> None:
    assert load(tmp_path, "") == []


def test_file_without_stages_accepts_other_sections(tmp_path: Path) -> None:
    text = """\
        params: [p.yaml]
        metrics: [m.json]
        plots: [p.csv]
        artifacts: {model: {path: m.pt}}
        datasets: []
        vars: [{a: 1}]
    """
    assert load(tmp_path, text) == []


def test_empty_stages_section(tmp_path: Path) -> None:
    assert load(tmp_path, "stages:\n") == []


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    with raises_pipeline_error(
        "dvc.yaml:1: a pipeline file must hold a mapping at the top, not list"
    ):
        load(tmp_path, "- a\n- b\n")


def test_unknown_top_level_key_suggests(tmp_path: Path) -> None:
    with raises_pipeline_error("dvc.yaml:2: unknown top-level key 'stage', did you mean 'stages'?"):
        load(tmp_path, "vars: []\nstage:\n  a: {cmd: x}\n")


def test_unknown_top_level_key_without_close_match(tmp_path: Path) -> None:
    with raises_pipeline_error("dvc.yaml:1: unknown top-level key 'zzz'"):
        load(tmp_path, "zzz: 1\n")


def test_stages_must_be_a_mapping(tmp_path: Path) -> None:
    with raises_pipeline_error(
        "dvc.yaml:1: 'stages' must be a mapping of stage names to stages, not list"
    ):
        load(tmp_path, "stages: [a]\n")


def test_malformed_yaml_is_a_pipeline_error_with_line(tmp_path: Path) -> None:
    with pytest.raises(PipelineError, match=r"^dvc\.yaml:4: malformed YAML: "):
        load(tmp_path, "stages:\n  a:\n    cmd: [x\n  b: 1\n")


def test_missing_pipeline_file(tmp_path: Path) -> None:
    with raises_pipeline_error("sub/dvc.yaml: no such pipeline file"):
        load_dvcfile(tmp_path, "sub/dvc.yaml")


# --- stage keys ------------------------------------------------------------------------


def test_minimal_stage_defaults(tmp_path: Path) -> None:
    stage = one(tmp_path, "stages:\n  train:\n    cmd: python train.py\n")
    assert stage == Stage(name="train", dvcfile="dvc.yaml", cmd=("python train.py",), line=2)


def test_all_stage_keys(tmp_path: Path) -> None:
    stage = one(
        tmp_path,
        """\
        stages:
          train:
            cmd: [prep, train]
            deps: [a.csv, src]
            frozen: true
            always_changed: true
            desc: Trains
            meta: {owner: me, tags: [x]}
        """,
    )
    assert stage.cmd == ("prep", "train")
    assert stage.deps == (Dep("a.csv", "a.csv"), Dep("src", "src"))
    assert (stage.frozen, stage.always_changed, stage.desc) == (True, True, "Trains")
    assert stage.meta == {"owner": "me", "tags": ["x"]}


def test_stages_keep_declaration_order(tmp_path: Path) -> None:
    stages = load(tmp_path, "stages:\n  z: {cmd: a}\n  a: {cmd: b}\n  m: {cmd: c}\n")
    assert [s.name for s in stages] == ["z", "a", "m"]
    assert [s.line for s in stages] == [2, 3, 4]


def test_empty_lists_are_allowed(tmp_path: Path) -> None:
    stage = one(tmp_path, "stages:\n  a:\n    cmd: x\n    deps:\n    outs: []\n")
    assert (stage.deps, stage.outs) == ((), ())


def test_missing_cmd(tmp_path: Path) -> None:
    with raises_pipeline_error("dvc.yaml:2: stage 'train': missing required key 'cmd'"):
        load(tmp_path, "stages:\n  train:\n    deps: [a]\n")


@pytest.mark.parametrize(("value", "what"), [("[]", "an empty list"), ("3", "int")])
def test_cmd_must_be_string_or_non_empty_list(tmp_path: Path, value: str, what: str) -> None:
    with raises_pipeline_error(
        f"dvc.yaml:3: stage 'a': 'cmd' must be a string or a non-empty list of strings, not {what}"
    ):
        load(tmp_path, f"stages:\n  a:\n    cmd: {value}\n")


def test_cmd_items_must_be_strings(tmp_path: Path) -> None:
    with raises_pipeline_error("dvc.yaml:5: stage 'a': cmd[1] must be a string, not mapping"):
        load(tmp_path, "stages:\n  a:\n    cmd:\n      - ok\n      - {a: 1}\n")


def test_unknown_stage_key_suggests_and_points_at_the_key(tmp_path: Path) -> None:
    text = "stages:\n  train:\n    cmd: x\n    dep: [a]\n"
    with raises_pipeline_error(
        "dvc.yaml:4: stage 'train': unknown key 'dep', did you mean 'deps'?"
    ):
        load(tmp_path, text)


def test_stage_must_be_a_mapping(tmp_path: Path) -> None:
    with raises_pipeline_error(
        "dvc.yaml:2: stage 'a': a stage must be a mapping of stage keys, not string"
    ):
        load(tmp_path, "stages:\n  a: echo hi\n")


def test_deps_must_be_a_list(tmp_path: Path) -> None:
    with raises_pipeline_error("dvc.yaml:4: stage 'a': 'deps' must be a list, not string"):
        load(tmp_path, "stages:\n  a:\n    cmd: x\n    deps: a.csv\n")


def test_deps_items_must_be_strings(tmp_path: Path) -> None:
    text = "stages:\n  a:\n    cmd: x\n    deps:\n      - ok\n      - {b: 1}\n"
    with raises_pipeline_error("dvc.yaml:6: stage 'a': deps[1] must be a string, not mapping"):
        load(tmp_path, text)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("frozen", "yes", "'frozen' must be true or false, not string"),
        ("always_changed", "1", "'always_changed' must be true or false, not int"),
        ("desc", "[a]", "'desc' must be a string, not list"),
        ("wdir", "3", "'wdir' must be a string, not int"),
    ],
)
def test_scalar_key_types(tmp_path: Path, key: str, value: str, message: str) -> None:
    with raises_pipeline_error(f"dvc.yaml:4: stage 'a': {message}"):
        load(tmp_path, f"stages:\n  a:\n    cmd: x\n    {key}: {value}\n")


@pytest.mark.parametrize("name", ["a:b", "a/b", "a\\b", "a@b"])
def test_invalid_stage_names(tmp_path: Path, name: str) -> None:
    with raises_pipeline_error(
        f"dvc.yaml:2: stage '{name}': invalid stage name: it may not be empty nor contain "
        "':', '/', '\\', '@'"
    ):
        load(tmp_path, f"stages:\n  '{name}':\n    cmd: x\n")


def test_stage_name_must_be_a_string(tmp_path: Path) -> None:
    with raises_pipeline_error("dvc.yaml:2: stage name 1 must be a string; quote it in the YAML"):
        load(tmp_path, "stages:\n  1:\n    cmd: x\n")


# --- params ------------------------------------------------------------------------------


def test_params_forms_grouped_by_file_in_first_seen_order(tmp_path: Path) -> None:
    stage = one(
        tmp_path,
        """\
        stages:
          a:
            cmd: x
            params:
              - lr
              - conf.json:seed
              - epochs
              - conf.json: [seed, batch]
              - lr
        """,
    )
    assert stage.params == (
        ParamDep("params.yaml", "params.yaml", ("lr", "epochs")),
        ParamDep("conf.json", "conf.json", ("seed", "batch")),
    )


@pytest.mark.parametrize("entry", ["- conf.yaml:", "- conf.yaml: null", "- conf.yaml: []"])
def test_params_whole_file_forms(tmp_path: Path, entry: str) -> None:
    stage = one(tmp_path, f"stages:\n  a:\n    cmd: x\n    params:\n      {entry}\n")
    assert stage.params == (ParamDep("conf.yaml", "conf.yaml", ()),)


def test_params_string_with_empty_key_is_the_whole_file(tmp_path: Path) -> None:
    stage = one(tmp_path, "stages:\n  a:\n    cmd: x\n    params: ['conf.yaml:']\n")
    assert stage.params == (ParamDep("conf.yaml", "conf.yaml", ()),)


def test_whole_file_params_absorb_keys(tmp_path: Path) -> None:
    text = "stages:\n  a:\n    cmd: x\n    params: [c.yaml:k, {c.yaml: }, c.yaml:j]\n"
    assert one(tmp_path, text).params == (ParamDep("c.yaml", "c.yaml", ()),)


def test_params_paths_are_relative_to_wdir(tmp_path: Path) -> None:
    text = "stages:\n  a:\n    cmd: x\n    wdir: sub\n    params: [lr, ../c.yaml:k]\n"
    assert one(tmp_path, text).params == (
        ParamDep("params.yaml", "sub/params.yaml", ("lr",)),
        ParamDep("../c.yaml", "c.yaml", ("k",)),
    )


def test_params_item_of_wrong_type(tmp_path: Path) -> None:
    text = "stages:\n  a:\n    cmd: x\n    params:\n      - lr\n      - 3\n"
    with raises_pipeline_error(
        "dvc.yaml:6: stage 'a': params[1] must be a key, 'file:key' or a one-entry mapping "
        "{file: [keys]}, not int"
    ):
        load(tmp_path, text)


def test_params_mapping_keys_must_be_a_list(tmp_path: Path) -> None:
    text = "stages:\n  a:\n    cmd: x\n    params:\n      - c.yaml: lr\n"
    with raises_pipeline_error(
        "dvc.yaml:5: stage 'a': params[0]: "
        "the keys of 'c.yaml' must be a list of strings, not string"
    ):
        load(tmp_path, text)


def test_params_mapping_keys_must_be_strings(tmp_path: Path) -> None:
    text = (
        "stages:\n  a:\n    cmd: x\n    params:\n      - c.yaml:\n          - lr\n          - 3\n"
    )
    with raises_pipeline_error(
        "dvc.yaml:7: stage 'a': params[0]: the keys of 'c.yaml' must be strings, not int"
    ):
        load(tmp_path, text)


def test_params_must_be_a_list(tmp_path: Path) -> None:
    with raises_pipeline_error("dvc.yaml:4: stage 'a': 'params' must be a list, not string"):
        load(tmp_path, "stages:\n  a:\n    cmd: x\n    params: lr\n")


# --- outputs -------------------------------------------------------------------------------


def test_outs_metrics_plots(tmp_path: Path) -> None:
    stage = one(
        tmp_path,
        """\
        stages:
          a:
            cmd: x
            outs:
              - model.pt
              - cache/:
                  cache: false
                  persist: true
                  checkpoint: true
                  desc: Cache
                  remote: r
                  push: false
            metrics:
              - m.json: {cache: false}
            plots:
              - p.csv: {x: step, y: loss, template: linear, title: T, x_label: s,
                        y_label: l, header: true}
              - roc.json
        """,
    )
    assert stage.outs == (
        Out("model.pt", "model.pt"),
        Out("cache/", "cache", "outs", False, True, True, "Cache", "r", False),
        Out("m.json", "m.json", "metrics", cache=False),
        Out("p.csv", "p.csv", "plots"),
        Out("roc.json", "roc.json", "plots"),
    )


def test_out_with_null_options(tmp_path: Path) -> None:
    stage = one(tmp_path, "stages:\n  a:\n    cmd: x\n    outs:\n      - m.pt:\n")
    assert stage.outs == (Out("m.pt", "m.pt"),)


def test_unknown_out_option_suggests(tmp_path: Path) -> None:
    text = "stages:\n  a:\n    cmd: x\n    outs:\n      - m.pt:\n          cach: false\n"
    with raises_pipeline_error(
        "dvc.yaml:6: stage 'a': outs[0] 'm.pt': unknown option 'cach', did you mean 'cache'?"
    ):
        load(tmp_path, text)


def test_plot_properties_only_on_plots(tmp_path: Path) -> None:
    text = "stages:\n  a:\n    cmd: x\n    metrics:\n      - m.json: {x: step}\n"
    with raises_pipeline_error("dvc.yaml:5: stage 'a': metrics[0] 'm.json': unknown option 'x'"):
        load(tmp_path, text)


def test_out_option_types(tmp_path: Path) -> None:
    text = "stages:\n  a:\n    cmd: x\n    outs:\n      - m.pt:\n          persist: 'no'\n"
    with raises_pipeline_error(
        "dvc.yaml:6: stage 'a': outs[0] 'm.pt': 'persist' must be true or false, not string"
    ):
        load(tmp_path, text)
    text = "stages:\n  a:\n    cmd: x\n    outs:\n      - m.pt:\n          desc: 3\n"
    with raises_pipeline_error(
        "dvc.yaml:6: stage 'a': outs[0] 'm.pt': 'desc' must be a string, not int"
    ):
        load(tmp_path, text)


def test_out_options_must_be_a_mapping(tmp_path: Path) -> None:
    text = "stages:\n  a:\n    cmd: x\n    outs:\n      - m.pt: [cache]\n"
    with raises_pipeline_error(
        "dvc.yaml:5: stage 'a': outs[0] 'm.pt': options must be a mapping, not list"
    ):
        load(tmp_path, text)


def test_out_item_of_wrong_type(tmp_path: Path) -> None:
    text = "stages:\n  a:\n    cmd: x\n    plots:\n      - 1\n"
    with raises_pipeline_error(
        "dvc.yaml:5: stage 'a': plots[0] must be a path or a one-entry mapping "
        "{path: {options}}, not int"
    ):
        load(tmp_path, text)


# --- paths ----------------------------------------------------------------------------------


def test_paths_in_a_sub_pipeline_with_wdir(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "sub/dvc.yaml": """\
                stages:
                  a:
                    cmd: x
                    wdir: ../other
                    deps: [in.csv]
                    outs: [../sub/out]
            """
        },
    )
    (stage,) = load_dvcfile(tmp_path, "sub/dvc.yaml")
    assert (stage.dvcfile, stage.wdir, stage.address) == ("sub/dvc.yaml", "other", "sub/dvc.yaml:a")
    assert stage.deps == (Dep("in.csv", "other/in.csv"),)
    assert stage.outs == (Out("../sub/out", "sub/out"),)


# --- vars --------------------------------------------------------------------------------------


def test_default_params_yaml_is_loaded_as_vars(tmp_path: Path) -> None:
    stage = one(
        tmp_path,
        "stages:\n  a:\n    cmd: train --lr ${lr}\n",
        files={"params.yaml": "lr: 0.1\n"},
    )
    assert stage.cmd == ("train --lr 0.1",)


def test_vars_files_inline_and_key_selection(tmp_path: Path) -> None:
    stage = one(
        tmp_path,
        """\
        vars:
          - conf.yaml:a,b
          - name: m
        stages:
          s:
            cmd: echo ${a} ${b} ${name}
        """,
        files={"conf.yaml": "a: 1\nb: 2\nc: 3\n"},
    )
    assert stage.cmd == ("echo 1 2 m",)


def test_vars_key_selection_leaves_other_keys_out(tmp_path: Path) -> None:
    text = "vars: [conf.yaml:a]\nstages:\n  s:\n    cmd: echo ${c}\n"
    with raises_pipeline_error(
        "dvc.yaml:4: stage 's': cannot interpolate '${c}': 'c' is not defined"
    ):
        load(tmp_path, text, files={"conf.yaml": "a: 1\nc: 3\n"})


def test_vars_key_not_in_file(tmp_path: Path) -> None:
    text = "vars:\n  - conf.yaml:a,bb\nstages:\n  s: {cmd: x}\n"
    with raises_pipeline_error("dvc.yaml:2: vars: 'bb' is not in conf.yaml, did you mean 'b'?"):
        load(tmp_path, text, files={"conf.yaml": "a: 1\nb: 2\n"})


def test_vars_files_relative_to_the_pipeline_folder(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "sub/dvc.yaml": "vars: [c.json]\nstages:\n  s:\n    cmd: echo ${x} ${y}\n",
            "sub/c.json": '{"x": 1}',
            "sub/params.yaml": "y: 2\n",
            "params.yaml": "z: 3\n",
        },
    )
    (stage,) = load_dvcfile(tmp_path, "sub/dvc.yaml")
    assert stage.cmd == ("echo 1 2",)


def test_redefinition_names_both_sources(tmp_path: Path) -> None:
    text = "vars:\n  - other: 1\n  - lr: 0.2\nstages:\n  s: {cmd: x}\n"
    with raises_pipeline_error("dvc.yaml:3: vars: 'lr' is already defined by params.yaml"):
        load(tmp_path, text, files={"params.yaml": "lr: 0.1\n"})


def test_redefinition_between_inline_vars(tmp_path: Path) -> None:
    text = "vars:\n  - lr: 1\n  - lr: 2\nstages:\n  s: {cmd: x}\n"
    with raises_pipeline_error(
        "dvc.yaml:3: vars: 'lr' is already defined by inline vars at dvc.yaml:2"
    ):
        load(tmp_path, text)


def test_listing_the_default_params_file_again_is_allowed(tmp_path: Path) -> None:
    text = "vars: [params.yaml]\nstages:\n  s:\n    cmd: echo ${lr}\n"
    assert one(tmp_path, text, files={"params.yaml": "lr: 1\n"}).cmd == ("echo 1",)


def test_stage_vars_are_relative_to_wdir(tmp_path: Path) -> None:
    text = """\
        stages:
          s:
            wdir: sub
            vars: [c.yaml, {n: 2}]
            cmd: echo ${k} ${n}
    """
    assert one(tmp_path, text, files={"sub/c.yaml": "k: v\n"}).cmd == ("echo v 2",)


def test_stage_vars_may_not_redefine_top_level_vars(tmp_path: Path) -> None:
    text = "vars:\n  - n: 1\nstages:\n  s:\n    cmd: x\n    vars:\n      - n: 2\n"
    with raises_pipeline_error(
        "dvc.yaml:7: stage 's': vars: 'n' is already defined by inline vars at dvc.yaml:2"
    ):
        load(tmp_path, text)


def test_missing_vars_file(tmp_path: Path) -> None:
    text = "vars:\n  - a: 1\n  - missing.yaml\nstages:\n  s: {cmd: x}\n"
    with raises_pipeline_error("dvc.yaml:3: vars: missing.yaml: params file not found"):
        load(tmp_path, text)


def test_vars_file_of_unsupported_format(tmp_path: Path) -> None:
    text = "vars: [c.txt]\nstages:\n  s: {cmd: x}\n"
    with raises_pipeline_error("dvc.yaml:1: vars: c.txt: unsupported params file format '.txt'"):
        load(tmp_path, text, files={"c.txt": "a=1"})


def test_malformed_default_params_file(tmp_path: Path) -> None:
    with pytest.raises(
        PipelineError, match=r"^dvc\.yaml:1: default vars: params\.yaml:2: malformed YAML: "
    ):
        load(tmp_path, "stages:\n  s: {cmd: x}\n", files={"params.yaml": "a: [\n"})


def test_vars_must_be_a_list_of_files_or_mappings(tmp_path: Path) -> None:
    with raises_pipeline_error("dvc.yaml:1: 'vars' must be a list, not mapping"):
        load(tmp_path, "vars: {a: 1}\nstages:\n  s: {cmd: x}\n")
    with raises_pipeline_error(
        "dvc.yaml:2: vars[0] must be a params file name or a mapping, not int"
    ):
        load(tmp_path, "vars:\n  - 3\nstages:\n  s: {cmd: x}\n")


# --- interpolation ----------------------------------------------------------------------------


PARAMS = """\
train:
  lr: 0.001
  epochs: 10
  layers: [32, 64]
  on: true
  off: false
  none: null
  name: a b
"""


def test_exact_reference_keeps_the_type(tmp_path: Path) -> None:
    text = """\
        vars:
          - flag: true
            info: {k: [1, 2]}
        stages:
          s:
            cmd: x
            frozen: ${flag}
            meta: ${info}
    """
    stage = one(tmp_path, text)
    assert (stage.frozen, stage.meta) == (True, {"k": [1, 2]})


def test_values_inside_strings_are_stringified(tmp_path: Path) -> None:
    text = """\
        stages:
          s:
            cmd: x
            desc: ${train.lr} ${train.on}/${train.off} ${train.none} ${train.epochs}
    """
    assert one(tmp_path, text, files={"params.yaml": PARAMS}).desc == "0.001 true/false null 10"


def test_list_indices_in_both_forms(tmp_path: Path) -> None:
    text = "stages:\n  s:\n    cmd: echo ${train.layers[0]} ${train.layers.1}\n"
    assert one(tmp_path, text, files={"params.yaml": PARAMS}).cmd == ("echo 32 64",)


def test_escaped_reference_is_literal(tmp_path: Path) -> None:
    text = "vars: [{x: 1}]\nstages:\n  s:\n    cmd: echo \\${HOME} ${x}\n"
    assert one(tmp_path, text).cmd == ("echo ${HOME} 1",)


def test_exact_reference_in_cmd_is_a_string(tmp_path: Path) -> None:
    text = "vars: [{n: 3}]\nstages:\n  s:\n    cmd: [echo, '${n}']\n"
    assert one(tmp_path, text).cmd == ("echo", "3")


def test_mapping_in_cmd_unpacks_into_arguments(tmp_path: Path) -> None:
    text = "stages:\n  s:\n    cmd: python t.py ${train}\n"
    assert one(tmp_path, text, files={"params.yaml": PARAMS}).cmd == (
        "python t.py --lr 0.001 --epochs 10 --layers 32 64 --on --none null --name 'a b'",
    )


def test_nested_mapping_in_cmd_uses_dotted_keys(tmp_path: Path) -> None:
    text = (
        "vars:\n  - cfg: {opt: {lr: 0.1, wd: 0}, debug: false}\nstages:\n  s:\n    cmd: t ${cfg}\n"
    )
    assert one(tmp_path, text).cmd == ("t --opt.lr 0.1 --opt.wd 0",)


def test_list_in_cmd_is_space_separated(tmp_path: Path) -> None:
    text = "vars:\n  - files: [a.csv, b c.csv]\nstages:\n  s:\n    cmd: cat ${files}\n"
    assert one(tmp_path, text).cmd == ("cat a.csv 'b c.csv'",)


def test_nested_list_cannot_become_arguments() -> None:
    with pytest.raises(
        PipelineError, match=re.escape("cannot interpolate '${c}': 'k' holds a nested list")
    ):
        cmd_args({"k": [[1]]}, "${c}")


def test_mapping_inside_a_non_cmd_string_is_an_error(tmp_path: Path) -> None:
    text = "stages:\n  s:\n    cmd: x\n    deps:\n      - data/${train}.csv\n"
    with raises_pipeline_error(
        "dvc.yaml:5: stage 's': cannot interpolate '${train}' into a string: "
        "a mapping unpacks only in 'cmd'"
    ):
        load(tmp_path, text, files={"params.yaml": PARAMS})


def test_list_inside_a_non_cmd_string_is_an_error(tmp_path: Path) -> None:
    text = "stages:\n  s:\n    cmd: x\n    desc: layers ${train.layers}\n"
    with raises_pipeline_error(
        "dvc.yaml:4: stage 's': cannot interpolate '${train.layers}' into a string: "
        "a list cannot be part of a string"
    ):
        load(tmp_path, text, files={"params.yaml": PARAMS})


def test_undefined_name_suggests_a_close_one(tmp_path: Path) -> None:
    text = "vars: [{lr: 1}]\nstages:\n  train:\n    cmd: x\n    desc: ${lr2}\n"
    with raises_pipeline_error(
        "dvc.yaml:5: stage 'train': cannot interpolate '${lr2}': 'lr2' is not defined, "
        "did you mean 'lr'?"
    ):
        load(tmp_path, text)


def test_undefined_nested_name_suggests_a_sibling(tmp_path: Path) -> None:
    text = "stages:\n  s:\n    cmd: echo ${train.epoch}\n"
    with raises_pipeline_error(
        "dvc.yaml:3: stage 's': cannot interpolate '${train.epoch}': 'train.epoch' is not "
        "defined, did you mean 'train.epochs'?"
    ):
        load(tmp_path, text, files={"params.yaml": PARAMS})


def test_index_out_of_range(tmp_path: Path) -> None:
    text = "stages:\n  s:\n    cmd: echo ${train.layers[5]}\n"
    with raises_pipeline_error(
        "dvc.yaml:3: stage 's': cannot interpolate '${train.layers[5]}': "
        "'train.layers.5' is not defined"
    ):
        load(tmp_path, text, files={"params.yaml": PARAMS})


def test_invalid_expression(tmp_path: Path) -> None:
    text = "stages:\n  s:\n    cmd: echo ${a + b}\n"
    with raises_pipeline_error(
        "dvc.yaml:3: stage 's': cannot interpolate '${a + b}': 'a + b' is not a valid name"
    ):
        load(tmp_path, text)


def test_output_mapping_keys_and_wdir_are_interpolated(tmp_path: Path) -> None:
    text = """\
        vars: [{d: out, n: 3}]
        stages:
          s:
            cmd: x
            wdir: ${d}
            outs:
              - model-${n}.pt:
                  cache: false
    """
    assert one(tmp_path, text).outs == (Out("model-3.pt", "out/model-3.pt", cache=False),)


def test_error_line_is_the_line_of_the_list_item(tmp_path: Path) -> None:
    text = "stages:\n  s:\n    cmd:\n      - ok\n      - echo ${nope}\n"
    with raises_pipeline_error(
        "dvc.yaml:5: stage 's': cannot interpolate '${nope}': 'nope' is not defined"
    ):
        load(tmp_path, text)


def test_resolve_is_pure_and_reports_no_use_of_inline_values() -> None:
    ctx = Context().merged({"a": {"b": [1, 2]}}, Origin("inline"))
    used: list[Use] = []
    assert resolve({"k-${a.b[1]}": "${a.b}"}, ctx, used) == {"k-2": [1, 2]}
    assert used == []


# --- params tracking --------------------------------------------------------------------------


def test_used_params_file_values_become_params(tmp_path: Path) -> None:
    text = """\
        stages:
          s:
            cmd: t --lr ${train.lr} --e ${train.epochs}
            params: [seed, train.lr]
    """
    stage = one(tmp_path, text, files={"params.yaml": PARAMS})
    assert stage.params == (
        ParamDep("params.yaml", "params.yaml", ("seed", "train.lr", "train.epochs")),
    )


def test_used_values_are_absorbed_by_a_whole_file_param(tmp_path: Path) -> None:
    text = "stages:\n  s:\n    cmd: t ${train.lr}\n    params: [{params.yaml: }]\n"
    assert one(tmp_path, text, files={"params.yaml": PARAMS}).params == (
        ParamDep("params.yaml", "params.yaml", ()),
    )


def test_tracked_params_are_relative_to_the_stage_wdir(tmp_path: Path) -> None:
    text = """\
        vars: [conf/c.json]
        stages:
          s:
            wdir: run
            cmd: t ${train.layers[0]} ${seed}
    """
    stage = one(tmp_path, text, files={"params.yaml": PARAMS, "conf/c.json": '{"seed": 7}'})
    assert stage.params == (
        ParamDep("../params.yaml", "params.yaml", ("train.layers.0",)),
        ParamDep("../conf/c.json", "conf/c.json", ("seed",)),
    )


def test_unpacked_mapping_is_tracked_by_its_key(tmp_path: Path) -> None:
    stage = one(tmp_path, "stages:\n  s:\n    cmd: t ${train}\n", files={"params.yaml": PARAMS})
    assert stage.params == (ParamDep("params.yaml", "params.yaml", ("train",)),)


def test_inline_and_item_values_are_not_tracked(tmp_path: Path) -> None:
    text = """\
        vars: [{n: 1}]
        stages:
          s:
            foreach: [a]
            do:
              cmd: echo ${n} ${item}
    """
    assert one(tmp_path, text).params == ()


# --- foreach ------------------------------------------------------------------------------------


def test_foreach_list_of_scalars(tmp_path: Path) -> None:
    text = """\
        stages:
          build:
            foreach: [us, 1, 0.5, true]
            do:
              cmd: echo ${item}
              outs:
                - out-${item}
    """
    stages = load(tmp_path, text)
    assert cmds(stages) == {
        "build@us": ("echo us",),
        "build@1": ("echo 1",),
        "build@0.5": ("echo 0.5",),
        "build@True": ("echo true",),
    }
    assert stages[0].outs == (Out("out-us", "out-us"),)
    assert {s.line for s in stages} == {2}


def test_foreach_list_with_mappings_is_named_by_index(tmp_path: Path) -> None:
    text = """\
        stages:
          build:
            foreach:
              - {os: linux, n: 1}
              - win
            do:
              cmd: echo ${item.os}
    """
    with raises_pipeline_error(
        "dvc.yaml:7: stage 'build@1': cannot interpolate '${item.os}': 'item.os' is not defined"
    ):
        load(tmp_path, text)
    stages = load(tmp_path, text.replace("- win", "- {os: win}"))
    assert cmds(stages) == {"build@0": ("echo linux",), "build@1": ("echo win",)}


def test_foreach_mapping_gives_key_and_item(tmp_path: Path) -> None:
    text = """\
        stages:
          build:
            foreach:
              us: {t: 1}
              eu: {t: 2}
            do:
              cmd: echo ${key} ${item.t}
    """
    assert cmds(load(tmp_path, text)) == {"build@us": ("echo us 1",), "build@eu": ("echo eu 2",)}


def test_foreach_from_a_variable(tmp_path: Path) -> None:
    text = "stages:\n  b:\n    foreach: ${models}\n    do:\n      cmd: echo ${item}\n"
    stages = load(tmp_path, text, files={"params.yaml": "models: [a, b]\n"})
    assert [s.name for s in stages] == ["b@a", "b@b"]


def test_foreach_of_wrong_type(tmp_path: Path) -> None:
    text = "vars: [{n: 3}]\nstages:\n  build:\n    foreach: ${n}\n    do: {cmd: x}\n"
    with raises_pipeline_error(
        "dvc.yaml:4: stage 'build': foreach must be a list or a mapping, not int"
    ):
        load(tmp_path, text)


def test_foreach_needs_do(tmp_path: Path) -> None:
    with raises_pipeline_error("dvc.yaml:3: stage 'b': 'foreach' needs 'do', the stage to repeat"):
        load(tmp_path, "stages:\n  b:\n    foreach: [1]\n")


def test_foreach_with_stage_keys_beside_it(tmp_path: Path) -> None:
    text = "stages:\n  b:\n    foreach: [1]\n    cmd: x\n    do: {cmd: x}\n"
    with raises_pipeline_error(
        "dvc.yaml:4: stage 'b': 'foreach' cannot be combined with 'cmd': put stage keys under 'do'"
    ):
        load(tmp_path, text)


def test_do_without_foreach(tmp_path: Path) -> None:
    with raises_pipeline_error("dvc.yaml:3: stage 'b': 'do' is only valid with 'foreach'"):
        load(tmp_path, "stages:\n  b:\n    do: {cmd: x}\n")


def test_do_must_be_a_stage_mapping(tmp_path: Path) -> None:
    with raises_pipeline_error(
        "dvc.yaml:4: stage 'b': 'do' must be a mapping of stage keys, not string"
    ):
        load(tmp_path, "stages:\n  b:\n    foreach: [1]\n    do: echo\n")


def test_unknown_key_in_do(tmp_path: Path) -> None:
    text = "stages:\n  b:\n    foreach: [1]\n    do:\n      cmd: x\n      out: [a]\n"
    with raises_pipeline_error("dvc.yaml:6: stage 'b': unknown key 'out', did you mean 'outs'?"):
        load(tmp_path, text)


def test_missing_cmd_in_do_names_the_item(tmp_path: Path) -> None:
    with raises_pipeline_error("dvc.yaml:4: stage 'b@1': missing required key 'cmd'"):
        load(tmp_path, "stages:\n  b:\n    foreach: [1]\n    do:\n      deps: [a]\n")


def test_foreach_duplicate_names(tmp_path: Path) -> None:
    text = "stages:\n  b:\n    foreach: [1, '1']\n    do: {cmd: x}\n"
    with raises_pipeline_error("dvc.yaml:2: stage 'b@1' is defined more than once"):
        load(tmp_path, text)


def test_item_may_not_shadow_a_var(tmp_path: Path) -> None:
    text = "stages:\n  b:\n    foreach: [1]\n    do: {cmd: x}\n"
    with raises_pipeline_error(
        "dvc.yaml:4: stage 'b@1': foreach: 'item' is already defined by params.yaml"
    ):
        load(tmp_path, text, files={"params.yaml": "item: 3\n"})


def test_foreach_do_with_wdir_and_vars(tmp_path: Path) -> None:
    text = """\
        stages:
          b:
            foreach: [x, y]
            do:
              wdir: ${item}
              vars: [v.yaml]
              cmd: echo ${v}
    """
    stages = load(tmp_path, text, files={"x/v.yaml": "v: 1\n", "y/v.yaml": "v: 2\n"})
    assert [(s.wdir, s.cmd) for s in stages] == [("x", ("echo 1",)), ("y", ("echo 2",))]


# --- matrix ---------------------------------------------------------------------------------------


def test_matrix_product_in_order(tmp_path: Path) -> None:
    text = """\
        stages:
          train:
            matrix:
              lr: [0.1, 0.01]
              units: [64, 128]
            cmd: t --lr ${item.lr} --units ${item.units}
            outs:
              - m-${item.lr}-${item.units}
    """
    stages = load(tmp_path, text)
    assert cmds(stages) == {
        "train@0.1-64": ("t --lr 0.1 --units 64",),
        "train@0.1-128": ("t --lr 0.1 --units 128",),
        "train@0.01-64": ("t --lr 0.01 --units 64",),
        "train@0.01-128": ("t --lr 0.01 --units 128",),
    }
    assert stages[3].outs == (Out("m-0.01-128", "m-0.01-128"),)


def test_matrix_non_scalar_values_are_named_by_index(tmp_path: Path) -> None:
    text = """\
        stages:
          t:
            matrix:
              cfg: [{a: 1}, {a: 2}]
              n: [x]
            cmd: t ${item.cfg} ${item.n}
    """
    assert cmds(load(tmp_path, text)) == {"t@cfg0-x": ("t --a 1 x",), "t@cfg1-x": ("t --a 2 x",)}


def test_matrix_value_from_a_variable(tmp_path: Path) -> None:
    text = "stages:\n  t:\n    matrix:\n      m: ${models}\n    cmd: t ${item.m}\n"
    stages = load(tmp_path, text, files={"params.yaml": "models: [a, b]\n"})
    assert [s.name for s in stages] == ["t@a", "t@b"]


def test_matrix_value_must_be_a_list(tmp_path: Path) -> None:
    text = "stages:\n  t:\n    matrix:\n      a: [1]\n      b: 3\n    cmd: x\n"
    with raises_pipeline_error("dvc.yaml:5: stage 't': matrix: 'b' must be a list, not int"):
        load(tmp_path, text)


def test_matrix_must_be_a_non_empty_mapping(tmp_path: Path) -> None:
    with raises_pipeline_error(
        "dvc.yaml:3: stage 't': 'matrix' must be a non-empty mapping of names to lists, not list"
    ):
        load(tmp_path, "stages:\n  t:\n    matrix: [1]\n    cmd: x\n")


def test_matrix_duplicate_names(tmp_path: Path) -> None:
    text = "stages:\n  t:\n    matrix:\n      a: [1, 1]\n    cmd: x\n"
    with raises_pipeline_error("dvc.yaml:2: stage 't@1' is defined more than once"):
        load(tmp_path, text)


# --- finding files -------------------------------------------------------------------------------


def test_find_dvcfiles_prunes_git_dvc_and_dvcignore(tmp_path: Path) -> None:
    stage = "stages:\n  s: {cmd: x}\n"
    write(
        tmp_path,
        {
            "dvc.yaml": stage,
            "b/dvc.yaml": stage,
            "a/deep/dvc.yaml": stage,
            ".git/dvc.yaml": stage,
            ".dvc/tmp/dvc.yaml": stage,
            "data/raw/dvc.yaml": stage,
            "x/build/dvc.yaml": stage,
            "keep/build2/dvc.yaml": stage,
            "only/here/dvc.yaml": stage,
            "here/dvc.yaml": stage,
            ".dvcignore": "# comment\n\nbuild/\n/only/here\n!nothing\ndata\n",
        },
    )
    assert find_dvcfiles(tmp_path) == [
        "a/deep/dvc.yaml",
        "b/dvc.yaml",
        "dvc.yaml",
        "here/dvc.yaml",
        "keep/build2/dvc.yaml",
    ]


def test_load_all_reads_every_pipeline_file(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "dvc.yaml": "stages:\n  a: {cmd: x}\n",
            "sub/dvc.yaml": "stages:\n  a: {cmd: y}\n  b: {cmd: z}\n",
        },
    )
    assert [s.address for s in load_all(tmp_path)] == ["a", "sub/dvc.yaml:a", "sub/dvc.yaml:b"]
