"""TOML params files (loaded with the standard library's tomllib)."""

import re
import tomllib
from typing import Any

from trails.params import ParamsError


def load(text: str, path: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"{path}:{m.group(1)}" if m else path
        raise ParamsError(f"{where}: malformed TOML: {exc}") from None
