"""A task's worker: ``python -m trails.tasks.run NODE`` is the command of a
task's stage, so it runs as a shell stage does (its own process, cwd at
the project root, the same ``DVC_*`` environment, the queue, ``--temp``,
checkpoints). It imports the task file, reads the arguments as the
collector did, injects the params' current values and calls the function.
With ``TRAILS_TASK_PDB=1`` (``--pdb``) a failure opens the debugger at
the failing frame."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from trails.errors import PipelineError, TrailsError, error_lines

#: Set by ``--pdb``: post-mortem debugging of a failing task.
PDB = "TRAILS_TASK_PDB"


def _kwargs(root: Path, relpath: str, node: str) -> tuple[Any, dict[str, Any]]:
    from trails.tasks import describe, loader

    module = loader.load(root, relpath)
    defs = dict(describe.task_defs(module, relpath))
    if node not in defs:
        raise PipelineError(
            f"{relpath}:1: no task '{node}' in this file (any more)",
            hint="Run 'trails collect' to see the tasks.",
        )
    d = defs[node]
    kwargs: dict[str, Any] = {}
    loaded: dict[str, Any] = {}
    for name, arg in describe.arguments(d, root, relpath).items():
        if arg.kind == "param":
            from trails import params  # (YAML, TOML): only for a task that reads params

            if arg.value.file not in loaded:
                loaded[arg.value.file] = params.load_file(root / arg.value.file, arg.value.file)
            kwargs[name] = params.get(loaded[arg.value.file], arg.value.name)
        else:
            kwargs[name] = arg.value
        if arg.kind == "out":
            from trails.confine import confined

            confined(root, arg.repo_paths[0], source=f"{node}: output")
            (root / arg.repo_paths[0]).parent.mkdir(parents=True, exist_ok=True)
    return d.fn, kwargs


def main(argv: list[str]) -> int:
    node = argv[0]
    root = Path(os.environ.get("DVC_ROOT") or os.getcwd()).resolve()
    os.chdir(root)
    relpath = node.partition("::")[0]
    try:
        fn, kwargs = _kwargs(root, relpath, node)
    except TrailsError as exc:
        print("\n".join(error_lines(exc)), file=sys.stderr)
        return 1
    try:
        fn(**kwargs)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            return 130
        import traceback  # only on failure

        traceback.print_exc()
        if os.environ.get(PDB) == "1":
            import pdb

            pdb.post_mortem(exc.__traceback__)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
