# Stub for the native module built from rust/py; checked by `mypy.stubtest`.
# Only trails.core imports it.
from os import PathLike

_Path = str | PathLike[str]
_Entry = tuple[str, str, int, bool]

__all__ = [
    "ALGORITHM",
    "STATE_VERSION",
    "checkout_file",
    "checkout_tree",
    "diff_manifests",
    "fsmonitor_serve",
    "hash_bytes",
    "hash_file",
    "hash_files",
    "hash_paths",
    "object_path",
    "parse_manifest",
    "progress",
    "read_tree",
    "scan_tree",
    "store_file",
    "store_manifest",
    "store_tree",
    "threads",
]

ALGORITHM: str
STATE_VERSION: int

def hash_bytes(data: bytes) -> str: ...
def hash_file(path: _Path) -> tuple[str, int, bool]: ...
def hash_files(paths: list[_Path]) -> list[tuple[str, int, bool]]: ...
def scan_tree(root: _Path, index: _Path | None = None) -> tuple[str, bytes, int, int, int]: ...
def hash_paths(
    paths: list[_Path], index: _Path | None = None
) -> list[tuple[str, int, bool, bytes | None, int] | None]: ...
def store_manifest(cache: _Path, data: bytes) -> str: ...
def parse_manifest(data: bytes) -> list[_Entry]: ...
def diff_manifests(
    old: bytes, new: bytes, old_name: str = "<old>", new_name: str = "<new>"
) -> tuple[list[_Entry], list[_Entry], list[str]]: ...
def store_file(
    cache: _Path, path: _Path, index: _Path | None = None, link_types: list[str] | None = None
) -> tuple[str, int, bool, bool]: ...
def store_tree(
    cache: _Path, root: _Path, index: _Path | None = None, link_types: list[str] | None = None
) -> tuple[str, bytes, int, int, int, int]: ...
def read_tree(cache: _Path, tree_hash: str) -> bytes: ...
def object_path(cache: _Path, file_hash: str) -> str: ...
def checkout_file(
    cache: _Path,
    file_hash: str,
    dest: _Path,
    link_types: list[str],
    index: _Path | None = None,
    executable: bool = False,
) -> str | None: ...
def checkout_tree(
    cache: _Path,
    tree_hash: str,
    dest: _Path,
    link_types: list[str],
    index: _Path | None = None,
) -> tuple[str | None, int, int, int, int]: ...
def threads() -> int: ...
def progress() -> tuple[int, int]: ...
def fsmonitor_serve(root: _Path, dir: _Path, max_watches: int | None = None) -> str: ...
