"""JSON params files."""

import json
from typing import Any

from trails.params import ParamsError


def load(text: str, path: str) -> Any:
    try:
        return json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ParamsError(f"{path}:{exc.lineno}: malformed JSON: {exc.msg}") from None
