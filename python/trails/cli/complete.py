"""Shell completion of values: stage names, experiment names, params keys.

Which parameter completes what is one table (``VALUES``), applied by
``attach`` to a command only while the shell asks for completions
(``_TRAILS_COMPLETE`` set), so the commands' own modules stay as they are
and a normal run pays nothing. Each completer reads one small thing (the
``dvc.yaml`` stage names, one ``for-each-ref``, the params files) and
answers nothing rather than fail: a completion must never print an error
into the user's prompt."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click
from click.shell_completion import CompletionItem

COMPLETE_VAR = "_TRAILS_COMPLETE"

Completer = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


def _root() -> Path | None:
    here = Path.cwd().resolve()
    for d in (here, *here.parents):
        if (d / ".dvc").is_dir():
            return d
    return None


def stages(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Stage names of the ``dvc.yaml`` of the current folder and of the
    root (``foreach``/``matrix`` stages by their group name)."""
    import yaml

    root = _root()
    names: dict[str, None] = {}
    for d in dict.fromkeys([Path.cwd(), root] if root else [Path.cwd()]):
        try:
            doc = yaml.load((d / "dvc.yaml").read_text(), Loader=yaml.CSafeLoader)
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
        found = doc.get("stages") if isinstance(doc, dict) else None
        if isinstance(found, dict):
            names.update(dict.fromkeys(str(k) for k in found))
    return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def experiments(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Names of the experiments (every baseline's), from one ``for-each-ref``."""
    from trails.git import Git

    root = _root()
    if root is None:
        return []
    try:
        refs = Git(root).refs("refs/exps/")
    except Exception:
        return []
    pending = ("refs/exps/queue/", "refs/exps/failed/")
    names = {
        r.split("/", 4)[4] for r, _, _ in refs if r.count("/") >= 4 and not r.startswith(pending)
    }
    return [CompletionItem(n) for n in sorted(names) if n.startswith(incomplete)]


def params_keys(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Dotted keys of ``params.yaml`` as ``key=`` (for ``-S``), and of
    another file as ``FILE:key=`` once ``FILE:`` is typed."""
    from trails import params
    from trails.errors import TrailsError

    root = _root()
    if root is None:
        return []
    file, sep, key = incomplete.rpartition(":")
    path = file if sep else "params.yaml"
    try:
        text = (root / path).read_text(encoding="utf-8")
        flat = dict(params.flatten(params.loads(text, path)))
    except (OSError, TrailsError, UnicodeDecodeError, ValueError):
        return []
    prefix = f"{file}:" if sep else ""
    return [CompletionItem(f"{prefix}{k}=", help=repr(v)) for k, v in flat.items()
            if k.startswith(key)]  # fmt: skip


#: (command path, parameter name) -> completer. The command path is what
#: follows ``trails`` (``exp run``).
VALUES: dict[tuple[str, str], Completer] = {
    **{(c, "targets"): stages for c in ("repro", "status", "dag", "checkout", "commit")},
    ("exp run", "targets"): stages,
    ("exp run", "set_params"): params_keys,
    **{("exp " + c, "experiment"): experiments for c in ("apply", "branch", "rename")},
    **{("exp " + c, "experiments"): experiments for c in ("remove", "push")},
    ("exp diff", "a_rev"): experiments,
    ("exp diff", "b_rev"): experiments,
}


def completing() -> bool:
    return COMPLETE_VAR in os.environ


def attach(path: str, cmd: click.Command) -> None:
    """Give ``cmd`` (named ``path``) and its subcommands their completers."""
    for p in cmd.params:
        fn = VALUES.get((path, p.name or ""))
        if fn is not None:
            p.shell_complete = _bound(fn, p)  # type: ignore[method-assign,assignment]
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            attach(f"{path} {name}", sub)


def _bound(
    fn: Completer, param: click.Parameter
) -> Callable[[click.Context, str], list[CompletionItem]]:
    return lambda ctx, incomplete: fn(ctx, param, incomplete)
