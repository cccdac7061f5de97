"""The one path check (``trails.confine``): what it accepts and refuses.
Entry points that use it have their own functional tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from trails.confine import UnsafePathError, confined, is_confined, remove


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "proj"
    (r / "data").mkdir(parents=True)
    (r / ".dvc").mkdir()
    return r


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("data/x", "data/x"),
        ("./data//x", "data/x"),
        ("a/../b", "b"),
        ("new/deep/file", "new/deep/file"),
    ],
)
def test_accepts_paths_inside(root: Path, path: str, expected: str) -> None:
    assert confined(root, path) == expected


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("../x", "outside the project"),
        ("a/../../x", "outside the project"),
        (".", "project root itself"),
        ("", "not a usable path"),
        ("a\nb", "not a usable path"),
        ("/etc/passwd", "absolute path"),
        (".git/config", r"inside \.git/"),
        (".git/hooks/post-checkout", r"inside \.git/"),
        ("sub/.git/config", r"inside \.git/"),
        (".GIT/config", r"inside \.GIT/"),
        (".dvc/cache", r"inside \.dvc/"),
        (".dvc", r"inside \.dvc/"),
    ],
)
def test_refuses(root: Path, path: str, reason: str) -> None:
    with pytest.raises(UnsafePathError, match=reason):
        confined(root, path, source="x.dvc")
    assert not is_confined(root, path)


def test_names_the_source(root: Path) -> None:
    with pytest.raises(UnsafePathError, match=r"^x\.dvc:3: '\.\./x'"):
        confined(root, "../x", source="x.dvc:3")


def test_absolute_inside_only_when_allowed(root: Path) -> None:
    inside = str(root / "data" / "x")
    with pytest.raises(UnsafePathError):
        confined(root, inside)
    assert confined(root, inside, absolute_ok=True) == "data/x"
    with pytest.raises(UnsafePathError, match="outside the project"):
        confined(root, str(root.parent / "x"), absolute_ok=True)


def test_symlinked_folder_that_leaves_is_refused(root: Path, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    os.symlink(tmp_path / "elsewhere", root / "link")
    with pytest.raises(UnsafePathError, match="through a symlink"):
        confined(root, "link/x")
    os.symlink(root / ".dvc", root / "state")
    with pytest.raises(UnsafePathError, match=r"into \.dvc/ through a symlink"):
        confined(root, "state/cache")


def test_last_component_is_not_followed(root: Path, tmp_path: Path) -> None:
    # A link itself may be replaced or unlinked: it is never written through.
    os.symlink(tmp_path / "elsewhere-file", root / "out")
    assert confined(root, "out") == "out"
    os.symlink(root / "data", root / "inner")
    assert confined(root, "inner/x") == "inner/x"


def test_remove_never_follows_a_link(root: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "keep").mkdir(parents=True)
    os.symlink(elsewhere, root / "dirlink")
    remove(root / "dirlink")
    assert not os.path.lexists(root / "dirlink")
    assert (elsewhere / "keep").is_dir(), "the link's target was touched"
    (root / "data" / "sub").mkdir()
    (root / "data" / "sub" / "f").write_text("x")
    remove(root / "data")
    assert not (root / "data").exists()
    remove(root / "missing")  # nothing there: no error
