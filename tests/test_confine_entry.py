"""Every entry point of a path trails may write or delete, fed hostile input
through the real CLI (issue #14). Each refusal must exit non-zero, name the
file (and line) the path came from, and change nothing: no file outside the
project, ``.git/config`` and its hooks as they were, the cache intact, the
workspace as it was. The one check itself is tested in ``test_confine.py``."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

import blake3
import pytest

from tests.conftest import Result, gen, git
from trails import yamlio

Trails = Callable[..., Result]

SCRATCH = (".dvc/tmp/",)  # trails' own scratch space (stat index, logs)


def snapshot(root: Path) -> dict[str, str]:
    """What a refused command must not change: every workspace and cache
    file (by content hash and mode), ``.git/config``, the hooks and the refs."""
    seen: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        if rel_dir == ".git":
            dirnames[:] = ["hooks"]
            filenames = [f for f in filenames if f == "config"]
        for f in filenames:
            p = Path(dirpath) / f
            rel = (Path(rel_dir) / f).as_posix()
            if rel.startswith(SCRATCH):
                continue
            st = p.lstat()
            body = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
            seen[rel] = f"{oct(st.st_mode)} {hashlib.blake2b(body).hexdigest()}"
    seen["<refs>"] = git(root, "for-each-ref")
    return seen


@pytest.fixture
def project(repo: Path, trails: Trails) -> Path:
    """A committed project with one tracked data file in the cache and a
    one-stage pipeline whose output is cached too."""
    assert trails("init").code == 0
    gen(
        repo,
        {
            "data.txt": "payload\n",
            "params.yaml": "lr: 0.1\n",
            "dvc.yaml": "stages:\n  a:\n    cmd: echo out > o.txt\n    params: [lr]\n"
            "    outs: [o.txt]\n",
        },
        age=60,
    )
    assert trails("add", "data.txt").code == 0
    assert trails("repro").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    assert any((repo / ".dvc/cache").rglob("*")), "the cache holds objects"
    return repo


def refused(r: Result, *words: str) -> None:
    assert r.code == 1, (r.out, r.err)
    assert "Traceback" not in r.err
    for w in words:
        assert w in r.err, r.err


# --- .dvc files: checkout and exp apply ------------------------------------------


def hostile_dvc(repo: Path, path: str, *, isexec: bool = False) -> str:
    """A ``.dvc`` file pointing the cached ``data.txt`` object at ``path``."""
    out = dict(yamlio.load(repo / "data.txt.dvc")["outs"][0])
    out["path"] = path
    if isexec:
        out["isexec"] = True
    return yamlio.dumps({"outs": [out]})


HOSTILE_DVC_PATHS = ["../x", "<abs>", ".git/config", ".git/hooks/post-checkout", "dvc.yaml"]
REASONS = {
    "../x": "'../x' is outside the project",
    "<abs>": "is an absolute path",
    ".git/config": "'.git/config' is inside .git/",
    ".git/hooks/post-checkout": "'.git/hooks/post-checkout' is inside .git/",
    "dvc.yaml": "'dvc.yaml' is a pipeline, lock, .dvc or ignore file, not data",
}


def _spell(path: str, tmp_path: Path) -> str:
    return str(tmp_path / "abs-x") if path == "<abs>" else path


@pytest.mark.parametrize("path", HOSTILE_DVC_PATHS)
@pytest.mark.parametrize("how", ["all", "targeted"])
def test_checkout_refuses_a_hostile_dvc_file_before_writing_anything(
    project: Path, trails: Trails, tmp_path: Path, path: str, how: str
) -> None:
    gen(project, {"evil.dvc": hostile_dvc(project, _spell(path, tmp_path), isexec=True)})
    git(project, "add", "evil.dvc")
    git(project, "commit", "-qm", "a colleague's commit")
    (project / "data.txt").unlink()  # a checkout that got as far as the good file restores it
    (project / "o.txt").unlink()  # ... and the stage output
    before = snapshot(project)
    r = trails("checkout", *(["evil.dvc"] if how == "targeted" else []))
    refused(r, "evil.dvc:2: ", REASONS[path])
    assert snapshot(project) == before
    assert not (tmp_path / "x").exists() and not (tmp_path / "abs-x").exists()
    assert not (project / ".git/hooks/post-checkout").exists()


def hostile_experiment(repo: Path, files: dict[str, str], link: str | None = None) -> None:
    """An experiment ``evil`` of HEAD, as a pull would bring it: its commit
    holds ``files`` (and a symlink ``link`` to the folder above the repo)."""
    baseline = git(repo, "rev-parse", "HEAD").strip()
    gen(repo, {**files, "params.yaml": "lr: 0.9\n"})
    if link:
        (repo / link).symlink_to("..")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "pulled experiment")
    sha = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "reset", "-q", "--hard", baseline)
    git(repo, "update-ref", f"refs/exps/{baseline[:2]}/{baseline[2:]}/evil", sha)


EVIL_PIPELINE = "stages:\n  a:\n    cmd: echo out > o.txt\n    outs: [{}]\n"


@pytest.mark.parametrize(
    ("files", "link", "reason"),
    [
        ({"evil.dvc": "<hook>"}, None, "evil.dvc:2: '.git/hooks/post-checkout' is inside .git/"),
        ({"dvc.yaml": EVIL_PIPELINE.format(".git/config")}, None, "'.git/config' is inside .git/"),
        ({"dvc.yaml": EVIL_PIPELINE.format(".dvc/cache")}, None, "'.dvc/cache' is inside .dvc/"),
        ({"dvc.yaml": EVIL_PIPELINE.format("up/x")}, "up", "leads outside the project through"),
    ],
)
def test_exp_apply_refuses_a_hostile_experiment_and_changes_nothing(
    project: Path, trails: Trails, files: dict[str, str], link: str | None, reason: str
) -> None:
    hook = hostile_dvc(project, ".git/hooks/post-checkout", isexec=True)
    hostile_experiment(project, {k: hook if v == "<hook>" else v for k, v in files.items()}, link)
    before = snapshot(project)
    r = trails("exp", "apply", "evil")
    refused(r, reason)
    assert snapshot(project) == before, "not even the experiment's params were restored"
    assert (project / "params.yaml").read_text() == "lr: 0.1\n"
    assert not (project.parent / "x").exists()
    assert not list((project / ".dvc/tmp").glob("trails/check-*")), "the scratch copy is gone"


def test_exp_apply_of_a_hostile_experiment_fetches_nothing(
    project: Path, trails: Trails, tmp_path: Path
) -> None:
    """With a default remote, ``exp apply`` fetches what an experiment run
    elsewhere needs (``--executor ray``); a hostile one is refused first."""
    remote = tmp_path / "remote"
    assert trails("remote", "add", "--local", "-d", "store", str(remote)).code == 0
    assert trails("push").code == 0
    shutil.rmtree(project / ".dvc" / "cache" / "files")  # the remote has them; this cache not
    hook = hostile_dvc(project, ".git/hooks/post-checkout", isexec=True)
    hostile_experiment(project, {"evil.dvc": hook}, None)
    before = snapshot(project)
    reason = "evil.dvc:2: '.git/hooks/post-checkout' is inside .git/"
    refused(trails("exp", "apply", "evil"), reason)
    assert snapshot(project) == before, "an object was fetched for a refused experiment"


def test_checkout_refuses_a_crafted_tree_manifest_entering_a_git_folder(
    project: Path, trails: Trails
) -> None:
    """Cache contents are input too: a ``.dir`` object (pulled from a
    remote, say) listing ``sub/.git/hooks/post-checkout`` is refused."""
    out = yamlio.load(project / "data.txt.dvc")["outs"][0]
    entry = {"relpath": "sub/.git/hooks/post-checkout", "blake3": out["blake3"],
             "size": out["size"], "isexec": True}  # fmt: skip
    manifest = json.dumps([entry], separators=(",", ":")).encode()
    digest = blake3.blake3(manifest).hexdigest()
    obj = project / ".dvc/cache/files/blake3" / digest[:2] / f"{digest[2:]}.dir"
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(manifest)
    gen(project, {"tree.dvc": yamlio.dumps({"outs": [{"path": "tree", "hash": "blake3",
                                                       "blake3": f"{digest}.dir"}]})})  # fmt: skip
    before = snapshot(project)
    refused(trails("checkout", "tree.dvc"), "is not a relative path inside the tree")
    assert snapshot(project) == before
    assert not (project / "tree").exists()


# --- dvc.yaml: outputs, wdir ---------------------------------------------------------


@pytest.mark.parametrize(
    ("out", "reason"),
    [
        (".dvc/cache", "'.dvc/cache' is inside .dvc/"),
        (".dvc", "'.dvc' is inside .dvc/"),
        (".git/config", "'.git/config' is inside .git/"),
        ("dvc.yaml", "output 'dvc.yaml': trails reads it as a pipeline"),
        ("dvc.lock", "output 'dvc.lock': trails reads it as a pipeline"),
        ("params.yaml", "output 'params.yaml': trails reads it as a pipeline"),
        ("data.txt.dvc", "output 'data.txt.dvc': trails reads it"),
        (".gitignore", "output '.gitignore': trails reads it"),
        ("sub", "output 'sub', which holds 'sub/dvc.yaml'"),
        ("../x", "'../x' is outside the project"),
        ('"a\\nb"', "is not a usable path"),
    ],
)
@pytest.mark.parametrize("command", [("repro",), ("exp", "run"), ("commit", "-f")])
def test_stage_outputs_that_would_delete_state_are_refused(
    project: Path, trails: Trails, tmp_path: Path, out: str, reason: str, command: tuple[str, ...]
) -> None:
    gen(project, {"sub/dvc.yaml": "stages:\n  s:\n    cmd: 'true'\n"})
    gen(project, {"dvc.yaml": f"stages:\n  a:\n    cmd: echo x > o.txt\n    params: [lr]\n"
                              f"    outs: [o.txt]\n  bad:\n    cmd: 'true'\n"
                              f"    outs: [{out}]\n"})  # fmt: skip
    before = snapshot(project)
    r = trails(*command)
    refused(r, "dvc.yaml:6: stage 'bad': output", reason)
    assert snapshot(project) == before
    assert not (tmp_path / "x").exists()


def test_stage_add_of_an_output_inside_git_leaves_dvc_yaml_alone(
    project: Path, trails: Trails
) -> None:
    before = snapshot(project)
    r = trails("stage", "add", "-n", "bad", "-o", ".git/config", "true")
    refused(r, "stage 'bad': output: '.git/config' is inside .git/")
    assert snapshot(project) == before


def test_an_output_that_is_or_holds_its_own_dependency_is_refused(
    project: Path, trails: Trails
) -> None:
    gen(project, {"dvc.yaml": "stages:\n  a:\n    cmd: 'true'\n    deps: [d/in.csv]\n"
                              "    outs: [d]\n"})  # fmt: skip
    gen(project, {"d/in.csv": "1\n"})
    before = snapshot(project)
    refused(trails("repro"), "dvc.yaml:2: stage 'a': output 'd' holds 'd/in.csv', a dependency")
    assert snapshot(project) == before
    gen(project, {"dvc.yaml": "stages:\n  a:\n    cmd: 'true'\n    deps: [o.txt]\n"
                              "    outs: [{o.txt: {persist: true}}]\n"})  # fmt: skip
    refused(trails("repro"), "output 'o.txt' is also a dependency of the same stage")
    assert (project / "o.txt").read_text() == "out\n"


def test_wdir_outside_the_project_is_refused(project: Path, trails: Trails) -> None:
    gen(project, {"dvc.yaml": "stages:\n  a:\n    cmd: touch made-here\n    wdir: ..\n"})
    refused(trails("repro"), "dvc.yaml:2: stage 'a': wdir: '..' is outside the project")
    assert not (project.parent / "made-here").exists()


# --- exp run -S FILE:, -C ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("../o.yaml:lr=1", "-S: '../o.yaml' is outside the project"),
        ("../o.yaml:+a=1", "-S: '../o.yaml' is outside the project"),
        ("<abs>:a=1", "is an absolute path"),
        (".git/x.yaml:+a=1", "-S: '.git/x.yaml' is inside .git/"),
        (".dvc/config.yaml:+a=1", "-S: '.dvc/config.yaml' is inside .dvc/"),
    ],
)
@pytest.mark.parametrize("mode", [(), ("--queue",)])
def test_set_param_files_outside_are_refused(
    project: Path, trails: Trails, tmp_path: Path, spec: str, reason: str, mode: tuple[str, ...]
) -> None:
    (tmp_path / "o.yaml").write_text("lr: 0.5\n")
    (tmp_path / "abs.yaml").write_text("a: 0\n")
    spec = spec.replace("<abs>", str(tmp_path / "abs.yaml"))
    before = snapshot(project)
    refused(trails("exp", "run", *mode, "-S", spec), reason)
    assert snapshot(project) == before
    assert (tmp_path / "o.yaml").read_text() == "lr: 0.5\n"
    assert (tmp_path / "abs.yaml").read_text() == "a: 0\n"
    assert not (project / ".git/x.yaml").exists()


@pytest.mark.parametrize("mode", ["--temp", "--queue"])
def test_copy_paths_outside_are_refused(
    project: Path, trails: Trails, tmp_path: Path, mode: str
) -> None:
    (tmp_path.parent / "x").write_text("outside\n")
    before = snapshot(project)
    refused(trails("exp", "run", mode, "-C", "../../x"), "--copy-paths: '../../x' is outside")
    refused(trails("exp", "run", mode, "-C", ".git/config"), "'.git/config' is inside .git/")
    assert snapshot(project) == before
    assert not (project / ".dvc/tmp/exps").exists() or not any(
        p for p in (project / ".dvc/tmp/exps").iterdir() if p.name != "run"
    )


# --- add, remove, unprotect ------------------------------------------------------------


def test_add_out_outside_is_refused_and_moves_nothing(
    project: Path, trails: Trails, tmp_path: Path
) -> None:
    gen(project, {"f.txt": "mine\n"})
    before = snapshot(project)
    refused(trails("add", "-o", "../x", "f.txt"), "add -o: '../x' is outside the project")
    refused(trails("add", "-o", ".git/f", "f.txt"), "add -o: '.git/f' is inside .git/")
    refused(trails("add", "-o", "dvc.lock", "f.txt"), "'dvc.lock' is a pipeline, lock")
    assert snapshot(project) == before
    assert (project / "f.txt").read_text() == "mine\n"
    for p in ("x", "x.dvc", ".gitignore"):
        assert not (tmp_path / p).exists()


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        (".git/config", "add: '.git/config' is inside .git/"),
        (".dvc/cache", "add: '.dvc/cache' is inside .dvc/"),
        (".dvc", "add: '.dvc' is inside .dvc/"),
        (".", "add: '.' is the project root itself"),
        ("a\nb", "is not a usable path (empty, or holds a NUL or newline)"),
        ("dvc.yaml", "add: 'dvc.yaml' is a pipeline, lock, .dvc or ignore file, not data"),
    ],
)
def test_add_of_trails_or_git_state_is_refused(
    project: Path, trails: Trails, target: str, reason: str
) -> None:
    before = snapshot(project)
    refused(trails("add", target), reason)
    assert snapshot(project) == before


def test_remove_and_unprotect_outside_are_refused(
    project: Path, trails: Trails, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.write_text("theirs\n")
    outside.chmod(0o444)
    (tmp_path / "outside.dvc").write_text((project / "data.txt.dvc").read_text())
    before = snapshot(project)
    refused(trails("unprotect", "../outside"), "unprotect: '../outside' is outside the project")
    refused(trails("remove", "../outside.dvc"), "remove: '../outside.dvc' is outside")
    assert snapshot(project) == before
    assert stat.S_IMODE(outside.stat().st_mode) == 0o444
    assert (tmp_path / "outside.dvc").exists()


def test_remove_outs_of_a_symlink_removes_the_link_only(
    project: Path, trails: Trails, tmp_path: Path
) -> None:
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs/keep.txt").write_text("keep\n")
    (project / "data.txt").unlink()
    (project / "data.txt").symlink_to(tmp_path / "theirs")
    r = trails("remove", "--outs", "data.txt.dvc")
    assert r.code == 0, r.err
    assert not (project / "data.txt").is_symlink()
    assert (tmp_path / "theirs/keep.txt").read_text() == "keep\n"


# --- item 10: a hardlinked add never touches a file outside ----------------------------


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_linked_add_of_a_folder_with_a_symlink_outside_leaves_it_alone(
    project: Path, trails: Trails, tmp_path: Path, kind: str
) -> None:
    outside = tmp_path / "notes.txt"
    outside.write_text("my notes\n")
    outside.chmod(0o644)
    gen(project, {".dvc/config": f"[cache]\n    type = {kind}\n", "d/own.txt": "own\n"}, age=60)
    (project / "d/notes").symlink_to(outside)
    r = trails("add", "d")
    assert r.code == 0, r.err
    assert "Added 'd' (2 files, " in r.out
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644, "the outside file was chmodded"
    assert outside.stat().st_nlink == 1, "the outside file was linked into the cache"
    assert os.readlink(project / "d/notes") == str(outside), "the link is left as it was"
    outside.write_text("edited later\n")
    assert b"my notes" in b"".join(
        p.read_bytes() for p in (project / ".dvc/cache/files").rglob("*") if p.is_file()
    ), "the cache kept its own copy"
