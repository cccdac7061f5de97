"""trails: run machine-learning experiments (dvc.yaml pipelines, params,
experiments as Git refs) fast, with a Rust core for everything that touches
file bytes.

This module stays import-light: ``trails --version`` reads ``__version__``
without loading the native core, YAML or Git libraries.
"""

__version__ = "0.1.0"

#: What task files use (``trails.task``, ``trails.Out``...): loaded on first
#: use, so ``import trails`` costs nothing more.
_TASK_NAMES = frozenset({"task", "mark", "Out", "Metric", "Plot", "Param"})
__all__ = ["Metric", "Out", "Param", "Plot", "__version__", "make_checkpoint", "mark", "task"]


def __getattr__(name: str) -> object:
    if name in _TASK_NAMES:
        from trails.tasks import api

        return getattr(api, name)
    if name == "make_checkpoint":
        from trails.api import make_checkpoint

        return make_checkpoint
    raise AttributeError(f"module 'trails' has no attribute {name!r}")
