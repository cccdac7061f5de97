"""`trails --help` and `--version` must start fast: the CLI module may not
import the native core, Git or YAML/TOML libraries."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Result, gen

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


def test_run_layer_imports_nothing_above_it() -> None:
    """``trails.repro`` is below ``experiments`` and ``cli``: no module of it
    imports them, not even inside a function."""
    import ast

    import trails.repro

    found = []
    for path in sorted(Path(trails.repro.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [
                f"{path.name}: {n}"
                for n in names
                if n.startswith(("trails.experiments", "trails.cli"))
            ]
    assert found == []


def _imported(path: Path) -> list[str]:
    """Every module ``path`` imports, at the top or inside a function."""
    import ast

    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_api_imports_nothing_from_the_cli() -> None:
    """The public API (``trails.api``) is a service user: it must not
    depend on the command line, not even inside a function."""
    import trails.api

    found = [n for n in _imported(Path(trails.api.__file__)) if n.startswith("trails.cli")]
    assert found == []


def test_only_the_cli_imports_rich() -> None:
    """Services report (``progress``, ``QueueDisplay``); the CLI draws: no
    module outside ``trails/cli/`` imports rich, not even in a function."""
    import trails

    top = Path(trails.__file__).parent
    found = [
        f"{path.relative_to(top)}: {n}"
        for path in sorted(top.rglob("*.py"))
        if "cli" not in path.relative_to(top).parts[:1]
        for n in _imported(path)
        if n == "rich" or n.startswith("rich.")
    ]
    assert found == []
    assert any(n.startswith("rich") for p in (top / "cli").glob("*.py") for n in _imported(p)), (
        "the test reads the imports it means to"
    )


def test_services_report_progress_through_the_installed_meter() -> None:
    """``progress`` draws nothing by itself: the installed meter (the CLI's
    rich line) gets each label, and none is drawn without one."""
    from contextlib import nullcontext

    from trails.progress import draw_with, progress

    labels: list[str] = []
    draw_with(lambda label: labels.append(label) or nullcontext())
    try:
        with progress("Adding 'data'", enabled=True):
            pass
        with progress("not watched", enabled=False):
            pass
    finally:
        draw_with(None)
    with progress("no meter", enabled=True):
        pass
    assert labels == ["Adding 'data'"]


def test_api_reads_the_signal_without_the_run_layer() -> None:
    """User code's ``import trails.api`` shares the checkpoint signal's path
    with the watcher, without loading the builder or the native core."""
    code = (
        "import sys, trails.api\n"
        "print([m for m in ('trails.repro.builder', 'trails.experiments', 'trails.core')"
        " if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_status_checkout_commit_build_no_runner(repo: Path, trails: Callable[..., Result]) -> None:
    """``status``, ``checkout`` and ``commit`` use the outputs directly: the
    builder and the runner are never imported."""
    assert trails("init").code == 0
    gen(repo, {"dvc.yaml": "stages:\n  s:\n    cmd: echo\n    deps: [d]\n    outs: [o]\n",
                   "d": "d", "o": "o"})  # fmt: skip
    for command in ("status", "commit", "checkout"):
        code = (
            "import sys\nfrom trails.cli import main\n"
            f"try:\n    main([{command!r}, '-f'] if {command!r} == 'commit' else [{command!r}])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print([m for m in ('trails.repro.builder', 'trails.runner') if m in sys.modules])"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, check=True
        )
        assert out.stdout.strip().splitlines()[-1] == "[]", (command, out.stdout, out.stderr)


def test_no_op_status_and_repro_do_not_load_msgspec(repo: Path) -> None:
    """The run-cache's record is imported only when an entry is read or
    written: a no-op check loads no record machinery (~20 ms)."""
    gen(repo, {"dvc.yaml": "stages:\n  s:\n    cmd: echo o > o\n    deps: [d]\n    outs: [o]\n",
               "d": "d"})  # fmt: skip
    code = (
        "import sys\nfrom trails.cli import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "except SystemExit as e:\n    assert not e.code, e.code\n"
        "print('msgspec' in sys.modules)"
    )

    def loads(*args: str) -> bool:
        out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                             text=True, cwd=repo, check=True)  # fmt: skip
        return out.stdout.strip().splitlines()[-1] == "True"

    assert not loads("init")
    assert loads("repro"), "a stage that runs stores its run-cache entry"
    assert not loads("status")
    assert not loads("repro")
