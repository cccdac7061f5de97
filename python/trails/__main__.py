"""``python -m trails`` is the ``trails`` command."""

from trails.entry import main

main()
