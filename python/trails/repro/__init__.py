"""The run layer: what ``repro``, ``exp run`` and the queue's workers do to
bring stages up to date. One module per concept, as ninja splits
``Plan``/``Builder``/``Status``: ``plan`` (what is stale and why),
``workspace`` (hashes, params values, assumed paths), ``locks`` (each
``dvc.lock``), ``runcache`` (runs already computed), ``outputs`` (save,
checkout, clear), ``signal`` (the checkpoint signal), ``status`` (what the
builder reports), ``builder`` (the scheduling loop).

Nothing is imported here, so ``trails.api`` can read ``signal`` without
loading the rest; nothing in this package imports ``experiments`` or
``cli``."""
