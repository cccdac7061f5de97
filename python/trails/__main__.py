"""``python -m trails`` is the ``trails`` command."""

from trails.cli import main

main()
