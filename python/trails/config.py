"""``.dvc/config`` (and ``.dvc/config.local``): the reference tool's INI
format, sections like ``[core]``, ``[cache]``, ``['remote "name"']`` with
indented ``key = value`` lines. Read with ``configparser`` after stripping
the indentation (configparser would take indented lines as continuations);
written with ``configobj`` (``edit``), the library the reference tool
writes it with, so a file either tool writes reads the same in both and
keeps its comments.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from trails import textio
from trails.errors import TrailsError

if TYPE_CHECKING:
    from configobj import ConfigObj


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

    def remotes(self) -> dict[str, dict[str, str]]:
        """``['remote "NAME"']`` sections by name."""
        return {
            k[len(REMOTE) : -1]: v
            for k, v in self.sections.items()
            if k.startswith(REMOTE) and k.endswith('"') and len(k) > len(REMOTE) + 1
        }


#: The start of a remote's section name: ``remote "NAME"``.
REMOTE = 'remote "'


def remote_section(name: str) -> str:
    return f'{REMOTE}{name}"'


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
        quoted = len(section) > 1 and section[0] == section[-1] and section[0] in "'\""
        name = section[1:-1] if quoted else section
        into.setdefault(name, {}).update(parser.items(section))


def load(dvc_dir: Path, *, only_local: bool = False) -> Config:
    """The project config, with ``config.local`` overriding ``config``
    (``only_local``: ``config.local`` alone)."""
    sections: dict[str, dict[str, str]] = {}
    if not only_local:
        _parse(dvc_dir / "config", sections)
    _parse(dvc_dir / "config.local", sections)
    return Config(sections)


def path_of(dvc_dir: Path, *, local: bool) -> Path:
    return dvc_dir / ("config.local" if local else "config")


@contextmanager
def edit(dvc_dir: Path, *, local: bool) -> Iterator[ConfigObj]:
    """One config file to change (``config``, or ``config.local`` with
    ``local``): what the block leaves in it is written back by temp file and
    rename when the block ends without an error, so a failed command
    changes nothing and a reader never sees half a file. Values are
    written as given (``list_values=False``: no quoting, which ``load``'s
    configparser would keep as part of the value)."""
    from configobj import ConfigObj, ConfigObjError

    path = path_of(dvc_dir, local=local)
    try:
        lines = textio.read(path, f".dvc/{path.name}").splitlines()
    except FileNotFoundError:
        lines = []
    try:
        conf = ConfigObj(lines, list_values=False, interpolation=False)
    except ConfigObjError as exc:
        raise ConfigError(f".dvc/{path.name}: malformed config: {exc}") from None
    conf.indent_type = "    "
    yield conf
    for name in [n for n, v in conf.items() if isinstance(v, dict) and not v]:
        del conf[name]
    text = "".join(f"{_quoted_marker(line)}\n" for line in conf.write())
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _quoted_marker(line: str) -> str:
    """``[remote "x"]`` as the reference tool writes it: ``['remote "x"']``
    (configobj quotes a section name only when it quotes values, and
    values are kept unquoted here)."""
    if line.startswith("[") and line.endswith("]") and '"' in line and "'" not in line:
        return f"['{line[1:-1]}']"
    return line


def split_name(name: str) -> tuple[str, str]:
    """``core.remote`` -> (``core``, ``remote``); ``remote.NAME.KEY`` ->
    (``remote "NAME"``, ``KEY``): the reference tool's spelling of an
    option on the command line."""
    parts = name.split(".")
    if len(parts) == 2 and all(parts) and parts[0] != "remote":
        return parts[0], parts[1]
    if len(parts) >= 3 and parts[0] == "remote" and all(parts):
        return remote_section(".".join(parts[1:-1])), parts[-1]
    raise ConfigError(
        f"'{name}' is not an option name",
        hint="Write SECTION.KEY (core.remote, cache.type) or remote.NAME.KEY.",
    )


def dotted(section: str, key: str) -> str:
    if section.startswith(REMOTE) and section.endswith('"'):
        return f"remote.{section[len(REMOTE) : -1]}.{key}"
    return f"{section}.{key}"


def lines(conf: Config) -> list[str]:
    """``trails config --list``: ``name=value`` per option."""
    return [f"{dotted(s, k)}={v}" for s, opts in conf.sections.items() for k, v in opts.items()]


def set_option(dvc_dir: Path, name: str, value: str | None, *, local: bool) -> None:
    """Set ``name`` (None: unset it) in one file."""
    section, key = split_name(name)
    with edit(dvc_dir, local=local) as conf:
        if value is not None:
            conf.setdefault(section, {})[key] = value
            return
        if key not in conf.get(section, {}):
            raise ConfigError(f"'{name}' is not set in .dvc/{path_of(dvc_dir, local=local).name}")
        del conf[section][key]
        if not conf[section]:
            del conf[section]
