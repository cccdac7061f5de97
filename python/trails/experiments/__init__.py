"""Experiments kept as Git refs: ``refs`` (names, lookup), ``record``
(snapshot commits of the workspace), ``show`` (params and metrics per
commit, cached), the services behind ``trails exp ...``."""
