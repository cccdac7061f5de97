"""Running stage commands: effects only. ``SubprocessRunner`` runs each
command of a stage through the shell in the stage's ``wdir`` with
``DVC_ROOT`` set; tests use ``FakeRunner`` to plan and record without
processes."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from trails.errors import TrailsError
from trails.pipeline.stage import Stage


class StageFailed(TrailsError):
    def __init__(self, stage: Stage, cmd: str, code: int) -> None:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        super().__init__(
            f"stage '{stage.address}' failed: command '{cmd}' {how}",
            hint="Fix the command and run again; stages that succeeded keep their results.",
        )
        self.stage = stage
        self.code = code


class Runner(Protocol):
    def run(self, stage: Stage, root: Path, env: Mapping[str, str]) -> None:
        """Run the stage's commands; raise ``StageFailed`` on the first failure."""


def stage_env(root: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "DVC_ROOT": str(root), **(extra or {})}


class SubprocessRunner:
    def run(self, stage: Stage, root: Path, env: Mapping[str, str]) -> None:
        cwd = root / stage.wdir
        for cmd in stage.cmd:
            proc = subprocess.Popen(cmd, shell=True, cwd=cwd, env=dict(env))
            try:
                code = proc.wait()
            except KeyboardInterrupt:
                # The terminal sent SIGINT to the whole foreground group; give
                # the command a moment to stop, then make sure it has.
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                raise
            if code != 0:
                raise StageFailed(stage, cmd, code)


@dataclass
class FakeRunner:
    """Records the commands it is asked to run; ``effects`` maps a stage
    address to a function that plays the command (writes outputs), and
    ``fail`` names stages whose command fails."""

    effects: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    fail: set[str] = field(default_factory=set)
    ran: list[str] = field(default_factory=list)

    def run(self, stage: Stage, root: Path, env: Mapping[str, str]) -> None:
        self.ran.append(stage.address)
        if stage.address in self.fail:
            raise StageFailed(stage, stage.cmd[0], 1)
        effect = self.effects.get(stage.address)
        if effect:
            effect(root / stage.wdir)
