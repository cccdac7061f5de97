"""``.dvc/config`` (and ``.dvc/config.local``): the reference tool's INI
format, sections like ``[core]``, ``[cache]``, ``['remote "name"']`` with
indented ``key = value`` lines. Read with ``configparser`` after stripping
the indentation (configparser would take indented lines as continuations).
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from pathlib import Path

from trails import textio
from trails.errors import TrailsError


class ConfigError(TrailsError):
    pass


@dataclass(frozen=True)
class Config:
    sections: dict[str, dict[str, str]] = field(default_factory=dict)

    def get(self, section: str, key: str, default: str | None = None) -> str | None:
        return self.sections.get(section, {}).get(key, default)

    def link_types(self, default: tuple[str, ...]) -> tuple[str, ...]:
        """``cache.type``: link types to try in order."""
        value = self.get("cache", "type")
        if not value:
            return default
        types = tuple(t.strip() for t in value.split(",") if t.strip())
        allowed = {"reflink", "hardlink", "symlink", "copy"}
        bad = [t for t in types if t not in allowed]
        if bad:
            raise ConfigError(
                f".dvc/config: cache.type: unknown link type '{bad[0]}'",
                hint="Use a comma list of reflink, hardlink, symlink, copy.",
            )
        return types


def _parse(path: Path, into: dict[str, dict[str, str]]) -> None:
    try:
        text = textio.read(path, f".dvc/{path.name}")
    except FileNotFoundError:
        return
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    try:
        parser.read_string("\n".join(line.strip() for line in text.splitlines()), str(path))
    except configparser.Error as exc:
        raise ConfigError(f"{path}: malformed config: {exc.message}") from None
    for section in parser.sections():
        name = section.strip("'\"")
        into.setdefault(name, {}).update(parser.items(section))


def load(dvc_dir: Path) -> Config:
    """The project config, with ``config.local`` overriding ``config``."""
    sections: dict[str, dict[str, str]] = {}
    _parse(dvc_dir / "config", sections)
    _parse(dvc_dir / "config.local", sections)
    return Config(sections)
