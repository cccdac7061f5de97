"""The ``trails`` command line.

Subcommands are imported only when invoked (``LazyGroup``), so ``trails
--help`` and ``--version`` start without loading the native core, YAML or
Git libraries. ``main`` is the one place where errors become messages and
exit codes: 0 ok, 1 error, 2 usage, 130 interrupted (128 + the signal: 143 for SIGTERM).
"""

from __future__ import annotations

import importlib
import os
import signal
import sys
import warnings
from contextlib import AbstractContextManager
from typing import Any, TextIO

import click

from trails import __version__, interrupt, progress
from trails.errors import TrailsError, did_you_mean, error_lines

#: name -> ("module:attribute", one-line help) of each subcommand. The help
#: is kept here so that `trails --help` imports no subcommand module.
COMMANDS: dict[str, tuple[str, str]] = {
    "debug": ("trails.cli.debug:debug", "Plumbing for benchmarks and bug reports."),
    "exp": ("trails.cli.exp:exp", "Run, compare and manage experiments."),
    "init": ("trails.cli.pipeline:init", "Make the current folder a trails project."),
    "repro": ("trails.cli.pipeline:repro", "Run the pipeline stages that changed."),
    "status": ("trails.cli.pipeline:status", "Show which stages changed, and why."),
    "add": ("trails.cli.data:add", "Track large data: cache it, write PATH.dvc."),
    "remove": ("trails.cli.data:remove", "Stop tracking data added with 'trails add'."),
    "gc": ("trails.cli.data:gc", "Remove cache objects nothing refers to."),
    "unprotect": ("trails.cli.data:unprotect", "Make tracked data editable in place."),
    "checkout": ("trails.cli.pipeline:checkout", "Restore stage outputs from the cache."),
    "commit": ("trails.cli.pipeline:commit", "Record outputs in dvc.lock without running."),
    "metrics": ("trails.cli.metrics:metrics", "Show and compare metrics."),
    "params": ("trails.cli.params:params", "Compare parameters between revisions."),
    "plots": ("trails.cli.plots:plots", "Draw plots of metrics, per revision or experiment."),
    "queue": ("trails.cli.queue:queue", "Manage the experiment queue."),
    "stage": ("trails.cli.stage:stage", "Add stages to dvc.yaml."),
    "dag": ("trails.cli.pipeline:dag", "Show the stages and their dependencies."),
    "remote": ("trails.cli.remote:remote", "Set up data remotes (add, modify, default, list)."),
    "config": ("trails.cli.remote:config", "Get or set options of .dvc/config."),
    "push": ("trails.cli.transfer:push", "Send cached data to a remote."),
    "fetch": ("trails.cli.transfer:fetch", "Get cached data from a remote into the cache."),
    "pull": ("trails.cli.transfer:pull", "Fetch cached data from a remote and check it out."),
    "bench": ("trails.cli.bench:bench", "Time trails' hashing and status on this project."),
    "collect": ("trails.cli.tasks:collect", "List the Python tasks of the task_*.py files."),
    "data": ("trails.cli.data_status:data", "Show what changed in tracked data."),
    "root": ("trails.cli.root:root", "Print the project's root folder."),
    "completion": ("trails.cli.completion:completion", "Print a shell completion script."),
    "vscode": ("trails.cli.vscode:vscode", "Use trails from the VS Code DVC extension."),
    "daemon": ("trails.cli.daemon:daemon", "Start, stop or ask after the file watcher."),
}

#: The reference tool's version whose command-line contract trails answers
#: (the VS Code DVC extension's calls and JSON shapes, docs/vscode.md).
#: ``--version`` prints it instead of trails' own when trails runs as
#: ``dvc`` (``TRAILS_AS_DVC=1``, set by ``trails vscode install-shim``).
DVC_CONTRACT = "3.67.1"
#: Resolvable but not listed: plumbing.
HIDDEN = frozenset({"debug"})


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | (COMMANDS.keys() - HIDDEN))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS:
            module, attr = COMMANDS[cmd_name][0].split(":")
            cmd: click.Command = getattr(importlib.import_module(module), attr)
            cmd.hidden = cmd_name in HIDDEN
            _add_global_options(cmd)
            if "_TRAILS_COMPLETE" in os.environ:
                from trails.cli.complete import attach

                attach(cmd_name, cmd)
            return cmd
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx) if name in COMMANDS]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            hint = did_you_mean(name, sorted(COMMANDS))
            raise click.UsageError(f"No such command '{name}'." + (f" {hint}" if hint else ""), ctx)
        return super().resolve_command(ctx, args)


_state: dict[str, bool] = {"verbose": False, "quiet": False}


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        _state["verbose"] = True


def _set_quiet(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """Errors still go to stderr; everything trails would print on stdout
    is dropped (the stages' own output is theirs and still shows)."""
    if value and not _state["quiet"]:
        import os

        _state["quiet"] = True
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the rest of the process


_VERBOSE_HELP = "Show tracebacks and details on errors."
_QUIET_HELP = "Print only errors."


def _add_global_options(cmd: click.Command) -> None:
    """``-v`` and ``-q`` after any subcommand too (``trails exp run -v``), as
    the reference tool takes them; once per command object."""
    names = {o for p in cmd.params for o in getattr(p, "opts", [])}
    if "--verbose" not in names and "-v" not in names:
        cmd.params.append(
            click.Option(["-v", "--verbose"], is_flag=True, expose_value=False,
                         is_eager=True, callback=_set_verbose, help=_VERBOSE_HELP)
        )  # fmt: skip
    if "--quiet" not in names and "-q" not in names:
        cmd.params.append(
            click.Option(["-q", "--quiet"], is_flag=True, expose_value=False,
                         is_eager=True, callback=_set_quiet, help=_QUIET_HELP)
        )  # fmt: skip
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            _add_global_options(sub)


def _print_version(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    as_dvc = os.environ.get("TRAILS_AS_DVC") == "1"
    click.echo(DVC_CONTRACT if as_dvc else f"trails, version {__version__}")
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True,
              callback=_print_version, help="Show the version and exit.")  # fmt: skip
@click.option("-v", "--verbose", is_flag=True, callback=_set_verbose, help=_VERBOSE_HELP)
@click.option("-q", "--quiet", is_flag=True, callback=_set_quiet, help=_QUIET_HELP)
def cli(verbose: bool, quiet: bool) -> None:
    """Run machine-learning experiments: dvc.yaml pipelines, parameters,
    experiments kept as Git refs, with a Rust core for the heavy lifting."""


def _print_traceback() -> None:
    import traceback  # ~8 ms: only on the error path

    traceback.print_exc()


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """A warning (a damaged stat index being rebuilt, say) as one
    ``Warning: ...`` line, not Python's format with a source line."""
    click.echo(f"Warning: {message}", err=True)


def _progress_line(label: str) -> AbstractContextManager[None]:
    """The CLI draws the services' progress; rich is imported only then."""
    from trails.cli.progress_line import live_line

    return live_line(label)


def main(argv: list[str] | None = None) -> None:
    interrupt.install()
    progress.draw_with(_progress_line)
    warnings.showwarning = _show_warning
    try:
        rv: Any = cli.main(args=argv, prog_name="trails", standalone_mode=False)
    except click.exceptions.Abort as exc:
        # click turns KeyboardInterrupt (so Interrupted) into Abort.
        cause = exc.__cause__
        if isinstance(cause, interrupt.Interrupted) and cause.signum != signal.SIGINT:
            click.echo(f"Interrupted ({cause}).", err=True)
            sys.exit(128 + cause.signum)
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except interrupt.Interrupted as exc:  # raised outside click's own call
        click.echo(f"Interrupted ({exc}).", err=True)
        sys.exit(128 + exc.signum)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except (TrailsError, OSError) as exc:
        if _state["verbose"]:
            _print_traceback()
        click.echo("\n".join(error_lines(exc)), err=True)
        sys.exit(1)
    except Exception as exc:  # a bug in trails, not the user's input
        if _state["verbose"]:
            _print_traceback()
        click.echo(f"Error: internal error: {exc!r}", err=True)
        click.echo("This is a bug in trails: rerun with --verbose and report it.", err=True)
        sys.exit(1)
    if not rv and "trails.files" in sys.modules:
        sys.modules["trails.files"].save()  # what the listing learnt, now that it succeeded
    if not rv and "trails.noop" in sys.modules:
        sys.modules["trails.noop"].save()  # a no-op answer, for the next one to replay
    sys.exit(rv if isinstance(rv, int) else 0)
