"""Pipelines: the ``dvc.yaml`` model (``stage``), its loader (``dvcfile``,
with ``interpolate`` for vars/``${}``/foreach/matrix), the graph of stages
(``graph``) and the lock file (``lockfile``)."""
