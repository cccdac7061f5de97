# Stub for the native module built from rust/py; checked by `mypy.stubtest`.
# Only trails.core imports it.
from os import PathLike
from typing import final

_Path = str | PathLike[str]

__all__ = [
    "ALGORITHM",
    "STATE_VERSION",
    "CheckoutResult",
    "Entry",
    "FileHash",
    "ManifestDiff",
    "PathState",
    "StoredFile",
    "TreeState",
    "checkout_file",
    "checkout_tree",
    "diff_manifests",
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

@final
class FileHash:
    @property
    def hash(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def executable(self) -> bool: ...

@final
class StoredFile:
    @property
    def hash(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def executable(self) -> bool: ...
    @property
    def written(self) -> bool: ...

@final
class Entry:
    @property
    def relpath(self) -> str: ...
    @property
    def hash(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def executable(self) -> bool: ...

@final
class TreeState:
    @property
    def hash(self) -> str: ...
    @property
    def manifest(self) -> bytes: ...
    @property
    def nfiles(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def files_read(self) -> int: ...
    @property
    def objects_written(self) -> int: ...

@final
class PathState:
    @property
    def hash(self) -> str: ...
    @property
    def size(self) -> int: ...
    @property
    def executable(self) -> bool: ...
    @property
    def manifest(self) -> bytes | None: ...
    @property
    def files(self) -> int: ...

@final
class ManifestDiff:
    @property
    def added(self) -> list[Entry]: ...
    @property
    def modified(self) -> list[Entry]: ...
    @property
    def deleted(self) -> list[str]: ...

@final
class CheckoutResult:
    @property
    def link(self) -> str | None: ...
    @property
    def added(self) -> int: ...
    @property
    def modified(self) -> int: ...
    @property
    def deleted(self) -> int: ...
    @property
    def unchanged(self) -> int: ...

def hash_bytes(data: bytes) -> str: ...
def hash_file(path: _Path) -> FileHash: ...
def hash_files(paths: list[_Path]) -> list[FileHash]: ...
def scan_tree(root: _Path, index: _Path | None = None) -> TreeState: ...
def hash_paths(paths: list[_Path], index: _Path | None = None) -> list[PathState | None]: ...
def store_manifest(cache: _Path, data: bytes) -> str: ...
def parse_manifest(data: bytes) -> list[Entry]: ...
def diff_manifests(
    old: bytes, new: bytes, old_name: str = "<old>", new_name: str = "<new>"
) -> ManifestDiff: ...
def store_file(
    cache: _Path, path: _Path, index: _Path | None = None, link_types: list[str] | None = None
) -> StoredFile: ...
def store_tree(
    cache: _Path, root: _Path, index: _Path | None = None, link_types: list[str] | None = None
) -> TreeState: ...
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
) -> CheckoutResult: ...
def threads() -> int: ...
def progress() -> tuple[int, int]: ...
