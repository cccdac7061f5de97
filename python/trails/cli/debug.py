"""``trails debug``: the Rust core, exposed directly for benchmarks and bug
reports. Hidden from ``trails --help``; its output formats are for people
and scripts, not a stable interface."""

from __future__ import annotations

import json
from pathlib import Path

import click

from trails import core
from trails.errors import TrailsError

_cache_option = click.option(
    "--cache",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".dvc/cache"),
    show_default=True,
    help="Cache directory.",
)
_index_option = click.option(
    "--index",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Stat index file to use and update (default: none, read every file).",
)


@click.group()
def debug() -> None:
    """Plumbing: hash, scan, diff, store and check out with the Rust core."""


@debug.command("hash")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@_index_option
def hash_cmd(paths: tuple[Path, ...], index: Path | None) -> None:
    """Print the blake3 hash of each PATH (a directory: its tree hash, with a
    trailing '/'), in b3sum's format."""
    files = [p for p in paths if not p.is_dir()]
    by_file = dict(zip(files, core.hash_files(files), strict=True)) if files else {}
    out = []
    for p in paths:
        if p in by_file:
            out.append(f"{by_file[p].hash}  {p}")
        else:
            out.append(f"{core.scan_tree(p, index).hash}  {p}/")
    click.echo("\n".join(out))


@debug.command("tree")
@click.argument("directory", type=click.Path(path_type=Path))
@_index_option
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def tree_cmd(directory: Path, index: Path | None, as_json: bool) -> None:
    """Scan DIRECTORY: its manifest (path, hash, size, executable bit) and tree hash."""
    tree = core.scan_tree(directory, index)
    if as_json:
        doc = {
            "hash": tree.hash,
            "algorithm": core.ALGORITHM,
            "nfiles": tree.nfiles,
            "size": tree.size,
            "files_read": tree.files_read,
            "entries": json.loads(tree.manifest),
        }
        click.echo(json.dumps(doc, indent=1))
        return
    lines = [
        f"{e.hash}  {e.size:>12}  {'x' if e.executable else '-'}  {e.relpath}" for e in tree.entries
    ]
    lines.append(
        f"tree {tree.hash}: {tree.nfiles} files, {tree.size} bytes, {tree.files_read} read"
    )
    click.echo("\n".join(lines))


def _load_manifest(path: Path) -> bytes:
    """Canonical manifest bytes from a `debug tree --json` document or a
    bare manifest list (a `.dir` object)."""
    try:
        doc = json.loads(path.read_bytes())
    except json.JSONDecodeError as exc:
        raise TrailsError(
            f"{path}:{exc.lineno}: not JSON: {exc.msg}",
            hint="Give a file written by 'trails debug tree --json' or a .dir object.",
        ) from None
    entries = doc.get("entries") if isinstance(doc, dict) else doc
    if not isinstance(entries, list):
        raise TrailsError(
            f"{path}: expected a list of entries or an object with 'entries'",
            hint="Give a file written by 'trails debug tree --json' or a .dir object.",
        )
    return json.dumps(entries).encode()


@debug.command("diff")
@click.argument("old", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("new", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the diff as JSON.")
def diff_cmd(old: Path, new: Path, as_json: bool) -> None:
    """Diff two manifests (from `debug tree --json`): A added, M modified, D deleted."""
    d = core.diff_manifests(
        _load_manifest(old), _load_manifest(new), old_name=str(old), new_name=str(new)
    )
    if as_json:
        doc = {
            "added": [e.relpath for e in d.added],
            "modified": [e.relpath for e in d.modified],
            "deleted": d.deleted,
        }
        click.echo(json.dumps(doc, indent=1))
        return
    rows = [("A", e.relpath) for e in d.added] + [("M", e.relpath) for e in d.modified]
    rows += [("D", p) for p in d.deleted]
    rows.sort(key=lambda r: r[1])
    click.echo("\n".join(f"{k} {p}" for k, p in rows) if rows else "no changes")


@debug.command("store")
@click.argument("path", type=click.Path(path_type=Path))
@_cache_option
@_index_option
def store_cmd(path: Path, cache: Path, index: Path | None) -> None:
    """Store a file or directory in the cache; print its hash (trees end in .dir)."""
    if path.is_dir():
        tree = core.store_tree(cache, path, index)
        click.echo(f"{tree.hash}.dir")
        click.echo(
            f"{tree.nfiles} files, {tree.size} bytes: {tree.files_read} read, "
            f"{tree.objects_written} new objects",
            err=True,
        )
    else:
        stored = core.store_file(cache, path, index)
        click.echo(stored.hash)


def _link_types(value: str) -> list[str]:
    types = [t.strip() for t in value.split(",") if t.strip()]
    bad = [t for t in types if t not in core.LINK_TYPES]
    if bad or not types:
        raise click.BadParameter(f"'{value}': use a comma list of {', '.join(core.LINK_TYPES)}")
    return types


@debug.command("checkout")
@click.argument("object_hash")
@click.argument("dest", type=click.Path(path_type=Path))
@_cache_option
@_index_option
@click.option(
    "--link-type",
    "link_types",
    default=",".join(core.DEFAULT_LINK_TYPES),
    show_default=True,
    help="Link types to try in order (reflink, hardlink, symlink, copy).",
)
def checkout_cmd(
    object_hash: str, dest: Path, cache: Path, index: Path | None, link_types: str
) -> None:
    """Materialise OBJECT_HASH (a file hash, or a tree hash with or without
    '.dir') from the cache at DEST, touching only files that differ."""
    types = _link_types(link_types)
    tree_hash = object_hash.removesuffix(".dir")
    if object_hash.endswith(".dir") or core.tree_object_exists(cache, tree_hash):
        r = core.checkout_tree(cache, tree_hash, dest, types, index)
        click.echo(
            f"{r.added} added, {r.modified} modified, {r.deleted} deleted, "
            f"{r.unchanged} unchanged" + (f" (by {r.link})" if r.link else "")
        )
    else:
        used = core.checkout_file(cache, object_hash, dest, types, index)
        click.echo(f"{dest}: " + (f"checked out (by {used})" if used else "unchanged"))


@debug.command("threads")
def threads_cmd() -> None:
    """Print the number of threads the core uses (TRAILS_THREADS or CPU count)."""
    click.echo(str(core.threads()))
