"""trails: run machine-learning experiments (dvc.yaml pipelines, params,
experiments as Git refs) fast, with a Rust core for everything that touches
file bytes.

This module stays import-light: ``trails --version`` reads ``__version__``
without loading the native core, YAML or Git libraries.
"""

__version__ = "0.1.0"
