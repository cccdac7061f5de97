"""Parameters files: loading by format (chosen by suffix) and dotted keys.

One module per format (``yamlfile``, ``jsonfile``, ``tomlfile``, ``pyfile``),
each with ``load(text, path)``. Keys are dotted paths into nested maps, with
list indices as numbers (``layers.0.units``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from trails.errors import TrailsError

DEFAULT_FILE = "params.yaml"
SUFFIXES: dict[str, str] = {
    ".yaml": "yamlfile",
    ".yml": "yamlfile",
    ".json": "jsonfile",
    ".toml": "tomlfile",
    ".py": "pyfile",
}


class ParamsError(TrailsError):
    """A params file that cannot be read, or a key that is not in it."""


_MISSING = object()


def format_of(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise ParamsError(
            f"{path}: unsupported params file format '{suffix or '(no suffix)'}'",
            hint=f"Use one of: {', '.join(SUFFIXES)}.",
        )
    return SUFFIXES[suffix]


def loads(text: str, path: str | Path) -> dict[str, Any]:
    """Parse params text in the format of ``path``'s suffix."""
    import importlib

    module = importlib.import_module(f"trails.params.{format_of(path)}")
    data = module.load(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(
            f"{path}: a params file must hold a mapping at the top, not {type(data).__name__}"
        )
    return data


def load_file(path: Path, display: str | None = None) -> dict[str, Any]:
    name = display or str(path)
    format_of(name)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{name}: params file not found") from None
    return loads(text, name)


def split_key(key: str) -> list[str]:
    """``a.b.0`` -> ``["a", "b", "0"]``; a part in quotes may hold dots:
    ``'a."x.y".b'`` -> ``["a", "x.y", "b"]``."""
    parts: list[str] = []
    buf: list[str] = []
    quote: str | None = None
    for ch in key:
        if quote:
            if ch == quote:
                quote = None
            else:
                buf.append(ch)
        elif ch in "\"'":
            quote = ch
        elif ch == ".":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
    parts.append("".join(buf))
    return parts


def get(data: Any, key: str, default: Any = _MISSING) -> Any:
    """The value at dotted ``key``; raises ``KeyError`` if absent and no default."""
    node = data
    for part in split_key(key):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif (
            isinstance(node, list)
            and part.lstrip("-").isdigit()
            and -len(node) <= int(part) < len(node)
        ):
            node = node[int(part)]
        else:
            if default is _MISSING:
                raise KeyError(key)
            return default
    return node


def has(data: Any, key: str) -> bool:
    return get(data, key, _MISSING) is not _MISSING


def flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Leaf values by dotted key (lists are leaves, as the reference tool shows them)."""
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            yield from flatten(v, key + ".")
        else:
            yield key, v
