"""`trails --help` and `--version` must start fast: the CLI module may not
import the native core, Git or YAML/TOML libraries."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("trails._core", "trails.core", "pygit2", "yaml", "ruamel", "tomlkit", "rich", "msgspec")


def test_cli_import_is_light() -> None:
    code = f"import sys, trails.cli\nprint([m for m in {HEAVY!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_help_does_not_load_subcommands() -> None:
    code = (
        "import sys\nfrom trails.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {HEAVY!r} + ('trails.cli.debug',) if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
