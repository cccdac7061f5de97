"""The ``exp run --run-all`` display: plain lines (unchanged wording) off a
terminal, a live table with each entry's state and current stage on one,
and a summary that stays on screen."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from trails.cli.display import LiveQueueDisplay

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


class TtyStream(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAILS_NO_PROGRESS", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def rows_of(text: str, entry_id: str) -> list[str]:
    return [line for line in ANSI.sub("", text).splitlines() if entry_id in line]


def test_plain_mode_prints_the_pool_lines_in_order(tmp_path: Path) -> None:
    lines: list[str] = []
    out = io.StringIO()  # not a terminal: plain mode chosen on its own
    clock = Clock()
    display = LiveQueueDisplay(["aaaaaaa", "bbbbbbb", "ccccccc", "ddddddd"], 2, lines.append,
                           stream=out, clock=clock)  # fmt: skip
    assert not display.is_live
    with display:
        display.started("aaaaaaa")
        display.started("bbbbbbb")
        display.stage("aaaaaaa", "train")
        (tmp_path / "stage").write_text("train")
        display.poll_stages(lambda _id: tmp_path)
        clock.now += 2.5
        display.done("aaaaaaa", "exp-1a2b3", 0.74)
        display.failed("bbbbbbb", "stage 'train' failed", "run/bbbbbbb/output.log")
        display.started("ccccccc")
        display.taken("ccccccc")
        display.queued("eeeeeee")
        display.left("ddddddd")
    assert lines == [
        "Running queued experiment aaaaaaa",
        "Running queued experiment bbbbbbb",
        "Experiment aaaaaaa done as 'exp-1a2b3' (0.7 s)",
        "Experiment bbbbbbb failed: stage 'train' failed (log: run/bbbbbbb/output.log)",
        "Running queued experiment ccccccc",
        "Experiment ccccccc was taken by another worker",
    ]
    assert out.getvalue() == "", "no table and no summary in plain mode"
    state = {r.id: (r.status, r.stage, r.seconds) for r in display.rows}
    assert state == {
        "aaaaaaa": ("done", "", 0.74),
        "bbbbbbb": ("failed", "train", 2.5),
        "ccccccc": ("taken", "", None),
        "ddddddd": ("left", "", None),
        "eeeeeee": ("queued", "", None),
    }


def test_live_only_for_a_watched_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    def live(**kw: object) -> bool:
        return LiveQueueDisplay(["a"], 1, print, **kw).is_live  # type: ignore[arg-type]

    assert live(stream=TtyStream())
    assert not live(stream=io.StringIO())
    assert live(console=Console(file=io.StringIO(), force_terminal=True))
    assert not live(console=Console(file=io.StringIO(), force_terminal=False))
    assert not live(stream=TtyStream(), live=False)
    monkeypatch.setenv("TERM", "dumb")
    assert not live(stream=TtyStream())
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("TRAILS_NO_PROGRESS", "1")
    assert not live(stream=TtyStream())
    assert not live(console=Console(file=io.StringIO(), force_terminal=True))
    monkeypatch.setenv("TRAILS_NO_PROGRESS", "")
    assert live(stream=TtyStream())


def test_poll_stages_reads_only_running_entries(tmp_path: Path) -> None:
    read: list[str] = []

    def run_dir(entry_id: str) -> Path:
        read.append(entry_id)
        d = tmp_path / entry_id
        d.mkdir(exist_ok=True)
        return d

    display = LiveQueueDisplay(["run1", "wait", "run2"], 2, print, live=False)
    display.started("run1")
    display.started("run2")  # no stage file yet
    (run_dir("run1") / "stage").write_text("prepare\n")
    (run_dir("wait") / "stage").write_text("stale")  # left by a killed earlier run
    read.clear()
    display.poll_stages(run_dir)
    assert read == ["run1", "run2"], "one read per running entry, none for the others"
    stages = {r.id: r.stage for r in display.rows}
    assert stages == {"run1": "prepare", "wait": "", "run2": ""}

    (run_dir("run1") / "stage").unlink()  # between stages: keep the last one seen
    (run_dir("run2") / "stage").write_text("")  # being written: ignored
    display.poll_stages(run_dir)
    assert {r.id: r.stage for r in display.rows}["run1"] == "prepare"
    assert {r.id: r.stage for r in display.rows}["run2"] == ""

    (run_dir("run1") / "stage").write_text("train")
    display.poll_stages(run_dir)
    assert {r.id: r.stage for r in display.rows}["run1"] == "train"

    display.done("run1", "exp-x", 1.0)
    (run_dir("run1") / "stage").write_text("evaluate")
    display.poll_stages(run_dir)
    display.stage("run1", "evaluate")
    row = next(r for r in display.rows if r.id == "run1")
    assert (row.status, row.stage) == ("done", ""), "a late stage must not revive a done row"


def test_live_table_shows_states_stages_and_a_summary(tmp_path: Path) -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=140, color_system=None)
    lines: list[str] = []
    clock = Clock()
    ids = ["aaaaaaa", "bbbbbbb", "ccccccc"]
    (tmp_path / "aaaaaaa").mkdir()
    (tmp_path / "aaaaaaa" / "stage").write_text("train")
    with LiveQueueDisplay(ids, 2, lines.append, console=console, clock=clock) as display:
        assert display.is_live
        display.started("aaaaaaa")
        display.started("bbbbbbb")
        display.poll_stages(lambda i: tmp_path / i)
        clock.now += 1.5
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:  # rich's refresh thread redraws
            seen = rows_of(buf.getvalue(), "aaaaaaa")
            if seen and "train" in seen[-1]:
                break
            time.sleep(0.05)
        live = buf.getvalue()
        row_a, row_b, row_c = (rows_of(live, i)[-1] for i in ids)
        assert "running" in row_a and "train" in row_a and "1.5 s" in row_a
        assert "running" in row_b and "train" not in row_b
        assert "queued" in row_c
        assert "2/2 jobs busy, 1 queued" in ANSI.sub("", live)

        display.done("aaaaaaa", "exp-alpha", 1.5)
        clock.now += 2.0
        display.failed("bbbbbbb", "cannot read [data/x.csv]", "run/bbbbbbb/output.log")
        display.left("ccccccc")
    assert lines == [], "live mode prints through the table, not echo"

    raw = buf.getvalue()
    last_frame = raw[raw.rindex("jobs busy") : raw.index("Queue summary")]
    assert "\x1b[2K" in last_frame, "the live table is erased, not left above the summary"
    out = ANSI.sub("", raw)
    assert out.count("Queue summary") == 1
    summary = out[out.index("Queue summary") :]
    assert "1 done, 1 failed, 1 left" in summary
    (done,), (failed,), (left,) = (rows_of(summary, i) for i in ids)
    assert "done" in done and "exp-alpha" in done and "1.5 s" in done
    assert "failed" in failed and "cannot read [data/x.csv]" in failed, "shown as written"
    assert "run/bbbbbbb/output.log" in failed and "3.5 s" in failed
    assert "left" in left
    assert "running" not in summary


def test_summary_is_printed_when_interrupted() -> None:
    buf = io.StringIO()
    console = Console(file=buf, force_terminal=True, width=120, color_system=None)
    with (
        pytest.raises(KeyboardInterrupt),
        LiveQueueDisplay(["aaaaaaa"], 1, print, console=console) as display,
    ):
        display.started("aaaaaaa")
        display.left("aaaaaaa")
        raise KeyboardInterrupt
    summary = ANSI.sub("", buf.getvalue()).split("Queue summary", 1)[1]
    assert "1 left" in summary
    assert "left" in rows_of(summary, "aaaaaaa")[0]


def test_importing_the_display_does_not_load_rich() -> None:
    code = "import sys, trails.cli.display\nprint('rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
