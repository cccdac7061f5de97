"""``trails remote add|modify|default|list|remove|rename``: the remotes in
``.dvc/config`` (``--local``: ``.dvc/config.local``, where credentials
belong), stored as the reference tool stores them: a ``['remote "NAME"']``
section per remote and the default in ``core.remote``. Every check runs
before the file is written, so a refused command changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from trails import config as config_mod
from trails.errors import TrailsError, did_you_mean
from trails.project import Project


class RemoteError(TrailsError):
    pass


#: The options a remote takes (the reference tool's names, for the schemes
#: trails reads: a local path, S3 and SSH).
OPTIONS = frozenset(
    {
        "url",
        "endpointurl",
        "region",
        "profile",
        "access_key_id",
        "secret_access_key",
        "session_token",
        "credentialpath",
        "configpath",
        "jobs",
        "verify",
        "user",
        "port",
        "keyfile",
        "password",
        "ask_password",
        "timeout",
        "allow_agent",
    }
)
SCHEMES = ("s3", "ssh", "file", "")


@dataclass(frozen=True)
class RemoteConfig:
    """One remote's merged settings (``config.local`` over ``config``)."""

    name: str
    options: dict[str, str]

    @property
    def url(self) -> str:
        return self.options.get("url", "")


def check_url(url: str, where: str, *, edit: str | None = None) -> str:
    """A URL trails can use: a path, ``file://PATH``, ``s3://BUCKET[/PREFIX]``
    or ``ssh://[USER@]HOST[:PORT]/PATH``.
    ``edit``: the remote is configured already (its URL read back from
    ``.dvc/config``), so the hint says how to fix it there."""
    fix = f" Fix it with 'trails remote modify {edit} url URL'." if edit else ""
    parts = urlsplit(url)
    scheme = parts.scheme if len(parts.scheme) > 1 else ""  # "C:" is not a scheme
    if not url or "\n" in url or "\0" in url:
        raise RemoteError(f"{where}: the URL is empty or holds a newline", hint=fix.strip() or None)
    if scheme not in SCHEMES:
        raise RemoteError(
            f"{where}: '{scheme}://' remotes are not supported by trails",
            hint="Use a local or mounted path, file://PATH, s3://BUCKET/PREFIX "
            "(with endpointurl for any S3-compatible server) or ssh://USER@HOST/PATH." + fix,
        )
    if scheme == "ssh":
        try:
            port = parts.port
        except ValueError:
            port = -1
        if not parts.hostname or port == -1 or not parts.path.strip("/"):
            raise RemoteError(
                f"{where}: malformed URL '{url}'",
                hint="Write ssh://HOST/PATH, ssh://USER@HOST/PATH or ssh://USER@HOST:PORT/PATH."
                + fix,
            )
    if scheme == "s3" and not parts.netloc:
        raise RemoteError(
            f"{where}: malformed URL '{url}': no bucket",
            hint="Write s3://BUCKET or s3://BUCKET/PREFIX." + fix,
        )
    if scheme == "file" and not parts.path:
        raise RemoteError(f"{where}: malformed URL '{url}': no path", hint=fix.strip() or None)
    return url


def check_name(name: str) -> str:
    if not name or any(c in name for c in "\"'\n\r\0[]") or name != name.strip():
        raise RemoteError(
            f"'{name}' is not a valid remote name",
            hint="Use letters, digits, '-', '_' or '.'.",
        )
    return name


def remotes(project: Project) -> dict[str, RemoteConfig]:
    conf = config_mod.load(project.dvc_dir)
    return {n: RemoteConfig(n, dict(o)) for n, o in conf.remotes().items()}


def unknown(name: str, known: dict[str, RemoteConfig]) -> RemoteError:
    return RemoteError(
        f"remote '{name}' does not exist",
        hint=did_you_mean(
            name,
            known,
            otherwise="'trails remote list' lists the remotes; "
            "'trails remote add NAME URL' adds one.",
        ),
    )


def get(project: Project, name: str | None) -> RemoteConfig:
    """The remote ``name`` (None: the default, ``core.remote``)."""
    known = remotes(project)
    if name is None:
        name = config_mod.load(project.dvc_dir).get("core", "remote")
        if not name:
            raise RemoteError(
                "no remote given and no default remote is set",
                hint="Name one with -r NAME, or set a default with "
                "'trails remote default NAME' (or 'trails remote add -d NAME URL').",
            )
    if name not in known:
        raise unknown(name, known)
    return known[name]


def add(project: Project, name: str, url: str, *, default: bool, local: bool, force: bool) -> None:
    check_name(name)
    check_url(url, f"remote '{name}'")
    with config_mod.edit(project.dvc_dir, local=local) as conf:
        section = config_mod.remote_section(name)
        if section in conf and not force:
            raise RemoteError(
                f"remote '{name}' already exists", hint="Use -f/--force to overwrite it."
            )
        conf[section] = {"url": url}
        if default:
            conf.setdefault("core", {})["remote"] = name


def modify(project: Project, name: str, key: str, value: str | None, *, local: bool) -> None:
    """Set ``key`` (None ``value``: unset it)."""
    known = remotes(project)
    if name not in known:
        raise unknown(name, known)
    if key not in OPTIONS:
        raise RemoteError(
            f"remote '{name}': unknown option '{key}'",
            hint=did_you_mean(key, OPTIONS, otherwise="Options: " + ", ".join(sorted(OPTIONS))),
        )
    if value is not None:
        _check_value(name, key, value)
        if key == "password" and not local:
            raise RemoteError(
                f"remote '{name}': a password belongs in .dvc/config.local, not in the "
                ".dvc/config Git shares",
                hint=f"Add --local: 'trails remote modify --local {name} password ...'.",
            )
    with config_mod.edit(project.dvc_dir, local=local) as conf:
        section = config_mod.remote_section(name)
        if value is None:
            if key not in conf.get(section, {}):
                where = config_mod.path_of(project.dvc_dir, local=local).name
                raise RemoteError(f"remote '{name}': '{key}' is not set in .dvc/{where}")
            del conf[section][key]
            if not conf[section]:
                del conf[section]
        else:
            conf.setdefault(section, {})[key] = value


def _check_value(name: str, key: str, value: str) -> None:
    where = f"remote '{name}': {key}"
    if key == "url":
        check_url(value, f"remote '{name}'")
    elif key in ("jobs", "port", "timeout") and not (value.isdigit() and int(value) > 0):
        raise RemoteError(f"{where}: '{value}' is not a positive number")
    elif key == "ask_password" and value.lower() not in ("false", "0", "no"):
        raise RemoteError(
            f"{where}: trails does not prompt for passwords",
            hint=f"Use a key ('trails remote modify {name} keyfile PATH') or store the password "
            f"in .dvc/config.local ('trails remote modify --local {name} password ...').",
        )
    elif key == "endpointurl" and urlsplit(value).scheme not in ("http", "https"):
        raise RemoteError(
            f"{where}: '{value}' is not an http(s) URL", hint="Write it like http://127.0.0.1:9000."
        )
    elif "\n" in value:
        raise RemoteError(f"{where}: the value holds a newline")


def default(project: Project, name: str | None, *, unset: bool, local: bool) -> str | None:
    """Set (``name``), unset, or read the default remote."""
    if name is None and not unset:
        return config_mod.load(project.dvc_dir).get("core", "remote")
    if name is not None:
        known = remotes(project)
        if name not in known:
            raise unknown(name, known)
    with config_mod.edit(project.dvc_dir, local=local) as conf:
        if name is not None:
            conf.setdefault("core", {})["remote"] = name
        elif "remote" in conf.get("core", {}):
            del conf["core"]["remote"]
    return name


def remove(project: Project, name: str, *, local: bool) -> None:
    with config_mod.edit(project.dvc_dir, local=local) as conf:
        section = config_mod.remote_section(name)
        if section not in conf:
            raise unknown(name, remotes(project))
        del conf[section]
    # The default named it, at either level: it names nothing now.
    for level in (False, True):
        if config_mod.path_of(project.dvc_dir, local=level).exists():
            with config_mod.edit(project.dvc_dir, local=level) as conf:
                if conf.get("core", {}).get("remote") == name:
                    del conf["core"]["remote"]


def rename(project: Project, old: str, new: str, *, local: bool) -> None:
    check_name(new)
    known = remotes(project)
    if new in known:
        raise RemoteError(f"remote '{new}' already exists")
    with config_mod.edit(project.dvc_dir, local=local) as conf:
        section = config_mod.remote_section(old)
        if section not in conf:
            raise unknown(old, known)
        conf.rename(section, config_mod.remote_section(new))
    for level in (False, True):
        if config_mod.path_of(project.dvc_dir, local=level).exists():
            with config_mod.edit(project.dvc_dir, local=level) as conf:
                other = conf.get(config_mod.remote_section(old))
                if other is not None:  # its credentials in the other file
                    conf.rename(config_mod.remote_section(old), config_mod.remote_section(new))
                if conf.get("core", {}).get("remote") == old:
                    conf["core"]["remote"] = new
