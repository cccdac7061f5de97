"""Reading the text files trails parses (``dvc.yaml``, ``dvc.lock``, ``.dvc``
files, params files, ``.dvc/config``): whole, bounded in size, and UTF-8
with a message that says where the first bad byte is.

Python's own ``UnicodeDecodeError`` names neither the file nor a line, and
reached the user as "internal error ... a bug in trails"; a file of several
gigabytes would be read whole before any parser could refuse it.
"""

from __future__ import annotations

import os
from pathlib import Path

from trails import noop
from trails.errors import TrailsError

#: The largest file trails reads as text. A 200,000-key params file is about
#: 3 MB; a pipeline, lock or config file of this size is not one.
MAX_BYTES = 64 * 1024 * 1024


class TextFileError(TrailsError):
    """A file trails must parse is not UTF-8 text, or is far too big to be
    one of the files it reads."""


def decode(data: bytes, display: str) -> str:
    """``data`` (the bytes of ``display``) as text; invalid UTF-8 is a
    ``TextFileError`` naming the line and byte offset of the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TextFileError(
            f"{display}:{line}: not valid UTF-8 (byte offset {exc.start})",
            hint="Save the file as UTF-8 text and run again.",
        ) from None


def read(path: Path | str, display: str | None = None) -> str:
    """The text of ``path`` (``display`` names it in messages), refused
    before reading if it is larger than ``MAX_BYTES``. ``FileNotFoundError``
    and other OS errors are raised as they are."""
    name = display or str(path)
    noop.note(path)
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size > MAX_BYTES:
            raise TextFileError(
                f"{name}: {size:,} bytes is too big to read "
                f"(the limit is {MAX_BYTES // (1024 * 1024)} MiB)",
                hint="This is not a file trails can parse: check that it is the right one, "
                "or split it into smaller files.",
            )
        data = f.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:  # grew while being read
        raise TextFileError(f"{name}: grew past {MAX_BYTES:,} bytes while being read")
    return decode(data, name)
