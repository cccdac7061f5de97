"""The ``trails`` command's entry point. Before the CLI's own imports
(click, the subcommand's modules: ~0.1 s), it starts what the command will
need from another process, so that both make progress at once: for
``exp run --run-all``, the queue's worker server (``forkserver.start``).
The look at the arguments is a hint, not parsing: a wrong guess costs a
server that exits with this process, never a different result.

For ``status``, the file watcher's fast path (``fsmonitor.answers``) may
answer before any of that loads."""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["status"]:
        from trails.fsmonitor import answers

        if answers.replay(args):  # the file watcher vouches for the last answer
            return
    if "--run-all" in args and "exp" in args:
        from trails.experiments import forkserver

        forkserver.start()
    from trails.cli import main as cli_main

    cli_main()
