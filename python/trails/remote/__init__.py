"""Data remotes: where cached objects go to be shared between machines.

The API other code builds on (the Ray executor's workers meet through a
cache remote)::

    from trails import remote
    r = remote.open(project, "storage")   # None: the default remote
    r.missing(names)   # those the remote lacks
    r.push(names)      # send what it lacks; a Transfer (sent, already, bytes, absent)
    r.fetch(names)     # bring what the cache lacks, hash-checked (corrupt, absent)

``names`` are cache object names: a file's blake3 hex, a tree manifest's
``<hex>.dir`` (a tree's files are objects of their own: ``needed.expand``).
``settings`` holds the configuration commands, ``needed`` which objects a
command is about, ``store`` the layout (``docs/remote-format.md``),
``backend``/``s3``/``ssh`` where the files live.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trails.project import Project
    from trails.remote.store import Remote


def open(project: Project, name: str | None = None, *, jobs: int | None = None) -> Remote:
    """Remote ``name`` of the project (None: ``core.remote``), for its
    cache. ``jobs``: parallel transfers (default: the remote's ``jobs``
    option, else 4 per CPU, as the reference tool)."""
    from trails.remote.backend import open_backend
    from trails.remote.settings import get
    from trails.remote.store import Remote

    conf = get(project, name)
    n = jobs or int(conf.options.get("jobs") or 0) or 4 * (os.cpu_count() or 1)
    from trails import core

    state = project.tmp_dir / "trails"
    where = core.hash_bytes(f"{conf.url}\n{conf.options.get('endpointurl', '')}".encode())
    backend = open_backend(project, conf)
    return Remote(
        backend, project.cache_dir, state / "remote-index", n, state / "remote-seen" / where,
        project.index_path, state / "remote-pushed" / where, conf.url,
    )  # fmt: skip
