"""YAML 1.2 params files."""

from typing import Any

from trails import yamlio


def load(text: str, path: str) -> Any:
    return yamlio.loads(text, path)
