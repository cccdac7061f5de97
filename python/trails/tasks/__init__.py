"""Python task files (``task_*.py``) as stages of the one graph, the way
pytest collects tests: ``api`` (what user code writes: ``trails.task``,
``trails.mark``, ``Out``/``Metric``/``Plot``, ``Param``), ``discover``
(which files), ``loader`` (importing one), ``describe`` (a function's
signature -> deps, outs, params), ``identity`` (the code a task reaches,
normalised), ``collector`` (the process that imports task files: forked by
``fork``, or started),
``cache`` (what collection learned, per file, keyed by stat and content
hash), ``stage`` (``TaskStage``), ``expr`` (``-k``/``-m``) and ``run``
(the worker command of a task).

Nothing is imported here: ``import trails`` stays cheap."""
