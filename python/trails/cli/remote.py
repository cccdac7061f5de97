"""``trails remote ...`` and ``trails config``: the data remotes and the
other options of ``.dvc/config``. Each parses, calls ``remote.settings`` or
``config``, prints."""

from __future__ import annotations

import click

_LOCAL = click.option(
    "--local", is_flag=True, help="Use .dvc/config.local (not in Git: the place for credentials)."
)


@click.group()
def remote() -> None:
    """Set up data remotes: where 'push' sends cached data and 'pull' gets it."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("-d", "--default", "make_default", is_flag=True, help="Make it the default remote.")
@click.option("-f", "--force", is_flag=True, help="Replace a remote of that name.")
@_LOCAL
def add(name: str, url: str, make_default: bool, force: bool, local: bool) -> None:
    """Add remote NAME at URL (a path, file://PATH or s3://BUCKET/PREFIX)."""
    from trails.project import Project
    from trails.remote import settings

    settings.add(Project.find(), name, url, default=make_default, local=local, force=force)
    if make_default:
        click.echo(f"Setting '{name}' as a default remote.")


@remote.command("modify")
@click.argument("name")
@click.argument("option")
@click.argument("value", required=False)
@click.option("-u", "--unset", is_flag=True, help="Remove the option.")
@_LOCAL
def modify(name: str, option: str, value: str | None, unset: bool, local: bool) -> None:
    """Set OPTION of remote NAME to VALUE (endpointurl, region, profile,
    access_key_id, secret_access_key, jobs, url, ...)."""
    from trails.project import Project
    from trails.remote import settings

    if (value is None) != unset:
        raise click.UsageError("give a VALUE, or --unset without one")
    settings.modify(Project.find(), name, option, value, local=local)


@remote.command("default")
@click.argument("name", required=False)
@click.option("-u", "--unset", is_flag=True, help="Have no default remote.")
@_LOCAL
def default(name: str | None, unset: bool, local: bool) -> None:
    """Show the default remote, or make NAME the default."""
    from trails.project import Project
    from trails.remote import settings

    if name is not None and unset:
        raise click.UsageError("give a NAME or --unset, not both")
    shown = settings.default(Project.find(), name, unset=unset, local=local)
    if name is None and not unset:
        if shown is None:
            raise settings.RemoteError(
                "no default remote is set", hint="'trails remote default NAME' sets one."
            )
        click.echo(shown)


@remote.command("list")
def list_() -> None:
    """List the remotes: name and URL."""
    from trails.project import Project
    from trails.remote import settings

    for r in settings.remotes(Project.find()).values():
        click.echo(f"{r.name}\t{r.url}")


@remote.command("remove")
@click.argument("name")
@_LOCAL
def remove(name: str, local: bool) -> None:
    """Remove remote NAME from the config (its data stays where it is)."""
    from trails.project import Project
    from trails.remote import settings

    settings.remove(Project.find(), name, local=local)


@remote.command("rename")
@click.argument("old")
@click.argument("new")
@_LOCAL
def rename(old: str, new: str, local: bool) -> None:
    """Rename remote OLD to NEW (and the default, if it was OLD)."""
    from trails.project import Project
    from trails.remote import settings

    settings.rename(Project.find(), old, new, local=local)


@click.command("config")
@click.argument("name", required=False)
@click.argument("value", required=False)
@click.option("-u", "--unset", is_flag=True, help="Remove the option.")
@click.option("-l", "--list", "list_all", is_flag=True, help="List every option set.")
@_LOCAL
def config(name: str | None, value: str | None, unset: bool, list_all: bool, local: bool) -> None:
    """Get or set an option of .dvc/config: NAME is SECTION.KEY
    (core.remote, cache.type) or remote.REMOTE.KEY."""
    from trails import config as config_mod
    from trails.project import Project

    project = Project.find()
    if list_all or name is None:
        conf = config_mod.load(project.dvc_dir, only_local=local)
        for line in config_mod.lines(conf):
            click.echo(line)
        return
    if value is None and not unset:
        section, key = config_mod.split_name(name)
        got = config_mod.load(project.dvc_dir).get(section, key)
        if got is None:
            raise config_mod.ConfigError(f"option '{name}' is not set")
        click.echo(got)
        return
    config_mod.set_option(project.dvc_dir, name, None if unset else value, local=local)
