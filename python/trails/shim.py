"""The ``dvc``-named program that forwards to trails, for the VS Code DVC
extension (``trails vscode install-shim``). Written only on request, into a
folder the user names (default: beside the Python that runs trails), never
over a ``dvc`` that trails did not write (the reference tool itself, say)
unless forced. It sets ``TRAILS_AS_DVC=1``: then ``--version`` answers with
the reference tool's version whose CLI contract trails answers
(``DVC_CONTRACT``), which is what the extension checks against its minimum
(3.33.3)."""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from trails.errors import TrailsError

#: The first line after the shebang of every shim trails writes.
MARK = "# trails vscode install-shim: runs trails as 'dvc' (docs/vscode.md)"


def script() -> str:
    python = shlex.quote(sys.executable)
    return f'#!/bin/sh\n{MARK}\nTRAILS_AS_DVC=1 exec {python} -m trails "$@"\n'


def install(folder: Path | None, *, force: bool = False) -> Path:
    """Write ``folder/dvc`` (atomically, mode 0755) and return its path."""
    dest_dir = (folder or Path(sys.executable).parent).absolute()
    if not dest_dir.is_dir():
        raise TrailsError(f"'{dest_dir}' is not a folder", hint="Create it first, or name another.")
    dest = dest_dir / "dvc"
    if dest.exists() or dest.is_symlink():
        try:
            ours = MARK in dest.read_text(errors="replace").splitlines()[:2]
        except OSError:
            ours = False
        if not ours and not force:
            raise TrailsError(
                f"'{dest}' exists and is not a trails shim (the reference tool?)",
                hint="Name another folder, or pass --force to replace it.",
            )
    tmp = dest_dir / f".dvc.{os.getpid()}.tmp"
    try:
        tmp.write_text(script())
        tmp.chmod(0o755)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise TrailsError(f"cannot write '{dest}': {exc.strerror}") from None
    return dest
