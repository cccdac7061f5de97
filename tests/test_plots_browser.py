"""The page of ``plots diff`` in a real headless chromium (Debian's; ``make
browser`` installs it), with the network cut off: it loads, shows one chart
per plot, each with the lines and points its data has, and a screenshot is
saved beside the test's files."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Result
from tests.test_plots import Trails, project  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _chromium(tmp: Path, url: str, *extra: str) -> subprocess.CompletedProcess[str]:
    """chromium with no way out: every host name resolves to nothing and
    every request goes to a proxy that does not exist."""
    if CHROMIUM is None:
        pytest.fail("chromium is not installed: run 'make browser' (make test does)")
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-extensions", "--disable-background-networking", "--disable-sync",
         f"--user-data-dir={tmp / 'chromium-profile'}",
         "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
         "--virtual-time-budget=3000", *extra, url],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _marks(section: str, kind: str) -> int:
    groups = re.findall(rf'<g class="mark-{kind} role-mark[^"]*"[^>]*>(.*?)</g>', section, re.S)
    return sum(len(re.findall(r"<path\b", g)) for g in groups)


def test_the_page_renders_offline_in_chromium(
    project: Path,  # noqa: F811
    trails: Trails,
    tmp_path: Path,
) -> None:
    r: Result = trails("plots", "diff", "HEAD", "-o", "out")
    assert r.code == 0, r.err
    url = (project / "out" / "index.html").as_uri()
    dom = _chromium(tmp_path, url, "--dump-dom")
    assert dom.returncode == 0, dom.stderr
    sections = dom.stdout.split('<section class="plot"')[1:]
    ids = [re.search(r'data-plot-id="([^"]+)"', s).group(1) for s in sections]  # type: ignore[union-attr]
    assert ids == ["logs/loss.tsv", "accuracy", "classes", "sizes.yaml", "logs/lr.csv"]
    assert all(s.count("<svg") == 1 for s in sections)  # one chart each
    by_id = dict(zip(ids, sections, strict=True))
    # loss: a line per revision, a point per row (4 in the workspace, 3 at HEAD)
    assert _marks(by_id["logs/loss.tsv"], "line") == 2
    assert _marks(by_id["logs/loss.tsv"], "symbol") == 7
    # accuracy: 2 revisions x 2 fields, 4 rows each
    assert _marks(by_id["accuracy"], "line") == 4
    assert _marks(by_id["accuracy"], "symbol") == 16
    # sizes: a bar per item and revision
    assert _marks(by_id["sizes.yaml"], "rect") == 4
    shot = tmp_path / "plots.png"
    r2 = _chromium(tmp_path, url, f"--screenshot={shot}", "--window-size=1400,1800")
    assert r2.returncode == 0, r2.stderr
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1400, 1800)
    assert len(data) > 20_000  # charts drawn, not a blank page
