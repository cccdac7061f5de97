"""A metrics logger for training loops, in DVCLive's file layout:
``from trails.live import Live``.

::

    with Live(checkpoint=True) as live:
        live.log_params({"lr": 0.1})
        for epoch in range(epochs):
            ...
            live.log_metric("loss", loss)
            live.next_step()   # metrics.json written, a checkpoint made

Files (as DVCLive 3 writes them, so a project written for DVCLive, ``trails
plots`` and ``trails metrics`` read the same): ``dvclive/metrics.json``
(the latest value of each metric, and ``step``), one
``dvclive/plots/metrics/NAME.tsv`` per metric (a ``step`` column and the
value; ``train/loss`` goes to ``train/loss.tsv`` and nests in the summary),
``dvclive/params.yaml``. At each step ``.dvc/tmp/exps/run/DVCLIVE_STEP_COMPLETED``
(``{"pid", "step"}``) tells the VS Code extension to refresh; ``end()``
removes it. Unlike DVCLive 3, ``Live(checkpoint=True)`` makes each
``next_step()`` a checkpoint of the experiment (``trails.api.make_checkpoint``),
the per-epoch checkpoints the guide describes; such a Live resumes from the
step of the last checkpoint when its ``metrics.json`` is there, so declare
``dvclive/metrics.json`` and ``dvclive/plots/metrics`` with ``persist: true``
(a stage's other outputs are cleared before it runs) and a second ``exp run``
continues the curves where the chain stopped.

Not written: DVCLive's ``dvc.yaml`` of its own (declare ``dvclive/metrics.json``
under ``metrics`` and ``dvclive/plots/metrics`` under ``plots`` in your
stage), reports, images and Studio updates.

Importing this module loads only the standard library; YAML is loaded
when params are first written.
"""

from __future__ import annotations

import json
import math
import os
import posixpath
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from trails import nesting

#: The signal file the VS Code extension watches, under the project root.
STEP_SIGNAL = Path(".dvc", "tmp", "exps", "run", "DVCLIVE_STEP_COMPLETED")


class LiveError(ValueError):
    """A value or name ``Live`` cannot log."""


def _project_root() -> Path | None:
    """The project the extension watches: ``$DVC_ROOT`` (set by trails and
    DVC for every stage; for a queued or ``--temp`` run, the project its
    ``.dvc/tmp/exps/<id>/`` folder is in), else the nearest folder above
    holding ``.dvc/``."""
    env = os.environ.get("DVC_ROOT")
    if env:
        head, sep, _ = Path(env).as_posix().partition("/.dvc/tmp/exps/")
        return Path(head) if sep else Path(env)
    here = Path.cwd().resolve()
    return next((p for p in (here, *here.parents) if (p / ".dvc").is_dir()), None)


def _number(name: str, value: Any) -> int | float | str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        item = getattr(value, "item", None)  # numpy and torch scalars
        value = item() if callable(item) else value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LiveError(f"metric '{name}': {type(value).__name__} is not a number")
    if math.isnan(value) or math.isinf(value):
        return str(value)
    return value


def _metric_path(name: str) -> str:
    clean = posixpath.normpath(name)
    if not name or clean.startswith(("/", "..")) or clean == ".":
        raise LiveError(f"metric name '{name}' must be a relative name such as 'train/loss'")
    return clean


def _write(path: Path, text: str) -> None:
    """Replace ``path`` whole (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


class Live:
    def __init__(
        self,
        dir: str = "dvclive",  # DVCLive's name for it
        resume: bool = False,
        checkpoint: bool = False,
    ) -> None:
        self.dir = Path(dir)
        self.checkpoint = checkpoint
        self.summary: dict[str, Any] = {}
        self.step = 0
        self._params: dict[str, Any] = {}
        self._inside_with = False
        self._stepped = False
        if resume or (checkpoint and self.metrics_file.is_file()):
            self._resume()
        else:
            self._clean()

    # --- where ---------------------------------------------------------------------

    @property
    def metrics_file(self) -> Path:
        return self.dir / "metrics.json"

    @property
    def params_file(self) -> Path:
        return self.dir / "params.yaml"

    @property
    def plots_dir(self) -> Path:
        return self.dir / "plots"

    def _resume(self) -> None:
        """Continue after the last step recorded (a resumed checkpoint run)."""
        try:
            self.summary = json.loads(self.metrics_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.summary = {}
        if self.params_file.is_file():
            import yaml

            loaded = yaml.safe_load(self.params_file.read_text(encoding="utf-8"))
            self._params = dict(loaded) if isinstance(loaded, Mapping) else {}
        last = self.summary.get("step")
        if isinstance(last, int) and not isinstance(last, bool):
            self.step, self._stepped = last + 1, True

    def _clean(self) -> None:
        """A new run starts with no history of an old one (DVCLive does so)."""
        import shutil

        metrics = self.plots_dir / "metrics"
        if metrics.is_dir() and not metrics.is_symlink():
            shutil.rmtree(metrics)
        for f in (self.metrics_file, self.params_file):
            f.unlink(missing_ok=True)

    # --- logging -------------------------------------------------------------------

    def log_param(self, name: str, val: Any) -> None:
        self.log_params({name: val})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Add ``params`` to ``dvclive/params.yaml`` (written at once)."""
        import yaml

        self._params.update(params)
        try:
            text = yaml.safe_dump(self._params, sort_keys=False)
        except yaml.YAMLError as exc:
            raise LiveError(f"params: {exc}") from None
        _write(self.params_file, text)

    def log_metric(self, name: str, val: Any, timestamp: bool = False, plot: bool = True) -> None:
        """Append ``val`` at the current step to ``plots/metrics/NAME.tsv``
        (``plot=False``: only the summary) and keep it as the latest value."""
        rel = _metric_path(name)
        value = _number(name, val)
        if plot:
            path = self.plots_dir / "metrics" / f"{rel}.tsv"
            path.parent.mkdir(parents=True, exist_ok=True)
            head = ["timestamp"] if timestamp else []
            row = [str(int(time.time() * 1000))] if timestamp else []
            new = not path.exists()
            with path.open("a", encoding="utf-8") as f:
                if new:
                    f.write("\t".join([*head, "step", rel]) + "\n")
                f.write("\t".join([*row, str(self.step), str(value)]) + "\n")
        nesting.put(self.summary, rel.split("/"), value)

    def log_artifact(self, path: str | os.PathLike[str], cache: bool = True, **meta: Any) -> None:
        """Track ``path`` (a file or folder the run wrote). Inside a stage it
        is the stage's output to declare (``outs:``); outside one, with
        ``cache``, it is ``trails add``-ed. Metadata (``type``, ``name``,
        ``desc``, ``labels``, ``meta``) is accepted and not recorded yet."""
        target = Path(path)
        if not target.exists():
            raise LiveError(f"log_artifact: '{target}' does not exist")
        if not cache or "DVC_EXP_NAME" in os.environ or os.environ.get("DVC_ROOT"):
            return
        import subprocess
        import sys

        subprocess.run([sys.executable, "-m", "trails", "add", os.fspath(target)], check=True)

    def make_summary(self) -> None:
        """Write ``metrics.json``: the latest value of each metric and ``step``."""
        if self._stepped:
            self.summary["step"] = self.step
        _write(self.metrics_file, json.dumps(self.summary, indent=4) + "\n")

    def next_step(self) -> None:
        """End the current step: the summary is written, the extension told,
        a checkpoint made with ``checkpoint=True``; then the step is one more."""
        self._stepped = True
        self.make_summary()
        self._signal_step()
        if self.checkpoint:
            from trails.api import make_checkpoint

            make_checkpoint()
        self.step += 1

    def end(self) -> None:
        """The run is over: the summary is written (at the last step logged)."""
        if self._inside_with:
            return
        last = self.summary.get("step")
        if isinstance(last, int):
            self.step = last  # next_step() already moved past the last step
        self.make_summary()
        root = _project_root()
        if root is not None:
            (root / STEP_SIGNAL).unlink(missing_ok=True)

    def _signal_step(self) -> None:
        root = _project_root()
        if root is None:
            return
        _write(root / STEP_SIGNAL, json.dumps({"pid": os.getpid(), "step": self.step}))

    def __enter__(self) -> Live:
        self._inside_with = True
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._inside_with = False
        self.end()
