"""Issue #14, item 12: files trails parses are bounded (YAML alias expansion,
file size), and a params file of 200,000 keys is handled in linear time by
``exp show`` and ``exp run -S``."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result, gen, git

PIPELINE = "stages:\n  train:\n    cmd: echo hi > out.txt\n    params: [lr]\n    outs: [out.txt]\n"

#: The classic "billion laughs": nine levels of nine aliases, 10**9 strings.
LAUGHS = "".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n',
        *(
            f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


def _limited(cwd: Path, *args: str) -> Result:
    """The CLI with its address space capped at 2 GiB: an expansion that is
    not refused fails with MemoryError instead of the clear message."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    proc = subprocess.run(
        [sys.executable, "-m", "trails", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=cap,
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def _project(repo: Path, trails: Callable[..., Result], files: dict[str, str]) -> None:
    assert trails("init").code == 0
    gen(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")


def test_billion_laughs_in_dvc_yaml_is_refused_fast(
    repo: Path, trails: Callable[..., Result]
) -> None:
    _project(repo, trails, {"dvc.yaml": PIPELINE, "params.yaml": "lr: 1\n"})
    (repo / "dvc.yaml").write_text(LAUGHS + PIPELINE)
    r = _limited(repo, "status")
    assert r.code == 1, r.err
    assert "dvc.yaml:7: YAML aliases expand this value to" in r.err
    assert "aliases may add at most 1,000,000" in r.err
    assert "fewer nested aliases" in r.err
    assert "Traceback" not in r.err and "MemoryError" not in r.err


def test_billion_laughs_in_params_yaml_is_refused_by_exp_run_set(
    repo: Path, trails: Callable[..., Result]
) -> None:
    _project(repo, trails, {"dvc.yaml": PIPELINE, "params.yaml": "lr: 1\n"})
    (repo / "params.yaml").write_text("lr: 1\n" + LAUGHS)
    r = _limited(repo, "exp", "run", "-S", "lr=2")
    assert r.code == 1, r.err
    assert "params.yaml:8: YAML aliases expand this value to" in r.err
    assert "Running stage" not in r.out
    assert (repo / "params.yaml").read_text() == "lr: 1\n" + LAUGHS
    assert "Traceback" not in r.err


def test_recursive_alias_in_dvc_lock_is_refused(repo: Path, trails: Callable[..., Result]) -> None:
    _project(repo, trails, {"dvc.yaml": PIPELINE, "params.yaml": "lr: 1\n"})
    (repo / "dvc.lock").write_text("schema: '2.0'\nstages: &s\n  train: [*s]\n")
    r = trails("status")
    assert r.code == 1
    assert "dvc.lock:2: a YAML alias refers to a value that contains it" in r.err
    assert "Remove the recursive alias" in r.err


def test_ordinary_aliases_still_load(repo: Path, trails: Callable[..., Result]) -> None:
    _project(
        repo,
        trails,
        {
            "dvc.yaml": PIPELINE,
            "params.yaml": "base: &b {units: 4}\nlr: 1\nmodel: *b\nbig: &x [1, 2, 3]\nagain: *x\n",
        },
    )
    r = trails("exp", "run", "-S", "lr=2")
    assert r.code == 0, r.err
    r = trails("exp", "show", "--no-pager", "--csv")
    assert "model.units" in r.out and "again" in r.out


def test_oversized_file_is_refused_before_reading(
    repo: Path, trails: Callable[..., Result]
) -> None:
    _project(repo, trails, {"dvc.yaml": PIPELINE, "params.yaml": "lr: 1\n"})
    # A sparse file: 100 MiB long, no disk used, refused from its size alone.
    with (repo / "dvc.yaml").open("r+b") as f:
        f.truncate(100 << 20)
    r = _limited(repo, "status")
    assert r.code == 1
    assert "dvc.yaml: 104,857,600 bytes is too big to read (the limit is 64 MiB)" in r.err
    assert "split it into smaller files" in r.err


def _many_keys(n: int) -> str:
    return "lr: 0.1\n" + "".join(f"k{i}: {i}\n" for i in range(n))


def test_exp_show_and_exp_run_set_with_200000_params(
    repo: Path, trails: Callable[..., Result]
) -> None:
    """Completes (the column matching was quadratic: it never finished) and
    is right; the timings are in benches/RESULTS.md, not asserted here."""
    text = _many_keys(200_000)
    _project(repo, trails, {"dvc.yaml": PIPELINE, "params.yaml": text})
    r = trails("exp", "run", "-S", "lr=0.5", "-S", "k199999=7")
    assert r.code == 0, r.err
    new = (repo / "params.yaml").read_text()
    assert new == text.replace("lr: 0.1\n", "lr: 0.5\n").replace("k199999: 199999", "k199999: 7")
    r = trails("exp", "show", "--no-pager", "--csv")
    assert r.code == 0, r.err
    header, *rows = r.out.splitlines()
    columns = header.split(",")
    assert len(columns) == 200_001 + len([c for c in columns if not c.startswith(("k", "lr"))])
    assert columns.index("k199999") > columns.index("k0")
    last = columns.index("k199999")
    assert sorted(row.split(",")[last] for row in rows) == ["199999", "7", "7"]


def test_invalid_utf8_is_named_with_line_and_offset(
    repo: Path, trails: Callable[..., Result]
) -> None:
    _project(repo, trails, {"dvc.yaml": PIPELINE, "params.yaml": "lr: 1\n"})
    cases = {
        "dvc.yaml": (
            PIPELINE.encode() + b"# caf\xe9\n",
            "dvc.yaml:6: not valid UTF-8 (byte offset",
        ),
        "params.yaml": (b"lr: 1\nname: \xff\n", "params.yaml:2: not valid UTF-8 (byte offset 12)"),
        "dvc.lock": (b"schema: '2.0'\n\xc3\n", "dvc.lock:2: not valid UTF-8 (byte offset 14)"),
        ".dvc/config": (
            b"[core]\n    x = \xfe\n",
            ".dvc/config:2: not valid UTF-8 (byte offset 15)",
        ),
    }
    for name, (data, message) in cases.items():
        path = repo / name
        before = path.read_bytes() if path.exists() else None
        path.write_bytes(data)
        r = trails("status")
        assert r.code == 1, (name, r.err)
        assert message in r.err, (name, r.err)
        assert "Save the file as UTF-8 text" in r.err
        assert "internal error" not in r.err and "Traceback" not in r.err
        if before is None:
            path.unlink()
        else:
            path.write_bytes(before)
    assert os.path.exists(repo / "dvc.yaml")


def test_deep_nesting_is_refused_by_name(repo: Path, trails: Callable[..., Result]) -> None:
    """Hundreds of levels ended in RecursionError ("internal error")."""
    _project(repo, trails, {"dvc.yaml": PIPELINE, "params.yaml": "lr: 1\n"})
    (repo / "dvc.yaml").write_text(PIPELINE + "    meta: " + "[" * 500 + "]" * 500 + "\n")
    r = trails("status")
    assert r.code == 1
    assert "dvc.yaml:6: values nest more than 100 levels deep here" in r.err
    assert "Flatten the structure" in r.err and "internal error" not in r.err
    gen(repo, {"dvc.yaml": PIPELINE.replace("params: [lr]", "params: [{params.json: [lr]}]")})
    for text, message in (
        ('{"lr": ' + "[" * 100_000 + "]" * 100_000 + "}", "values nest too deeply to read"),
        ('{"lr": ' + "[" * 150 + "]" * 150 + "}", "values nest more than 100 levels deep"),
    ):
        (repo / "params.json").write_text(text)
        r = trails("exp", "run", "-S", "params.json:lr=2")
        assert r.code == 1
        assert f"Error: params.json: {message}" in r.err
        assert "internal error" not in r.err


def test_invalid_utf8_in_a_dvc_file_and_in_dvc_yaml_for_stage_add(
    repo: Path, trails: Callable[..., Result]
) -> None:
    _project(repo, trails, {"dvc.yaml": PIPELINE, "params.yaml": "lr: 1\n"})
    (repo / "data.txt.dvc").write_bytes(b"outs:\n- path: data\xff.txt\n")
    r = trails("status")
    assert r.code == 1
    assert "data.txt.dvc:2: not valid UTF-8 (byte offset 18)" in r.err
    (repo / "data.txt.dvc").unlink()
    (repo / "dvc.yaml").write_bytes(PIPELINE.encode() + b"# \xff\n")
    r = trails("stage", "add", "-n", "other", "echo hi")
    assert r.code == 1
    assert "dvc.yaml:6: not valid UTF-8" in r.err
    assert "internal error" not in r.err


def test_deep_block_nesting_at_the_narrowest_indentation_is_refused() -> None:
    """The pre-check that skips the walk of shallow files (a 1,000-stage
    ``dvc.lock``) bounds block nesting by the leading column: the tightest
    block layout (a list at its key's column, each item one column in)
    still reaches the walk and is refused by name."""
    import pytest

    from trails import yamlio

    lines = []
    for level in range(60):  # two levels per column: 120 levels
        lines += [" " * level + "k:", " " * level + "-"]
    text = "\n".join(lines) + "\n" + " " * 60 + "x\n"
    with pytest.raises(yamlio.YamlError, match="values nest more than 100 levels deep"):
        yamlio.loads(text, "deep.yaml")
    wide = "".join(f"s{i}:\n  deps:\n  - path: a\n    size: 1\n" for i in range(2000))
    assert len(yamlio.loads(wide, "wide.yaml")) == 2000
