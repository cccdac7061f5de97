"""The ``trails`` command's entry point. Before the CLI's own imports
(click, the subcommand's modules: ~0.1 s), it starts what the command will
need from another process, so that both make progress at once: for
``exp run --run-all``, the queue's worker server (``forkserver.start``).
The look at the arguments is a hint, not parsing: a wrong guess costs a
server that exits with this process, never a different result."""

from __future__ import annotations

import sys


def main() -> None:
    args = sys.argv[1:]
    if "--run-all" in args and "exp" in args:
        from trails.experiments import forkserver

        forkserver.start()
    from trails.cli import main as cli_main

    cli_main()
