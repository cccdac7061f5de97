"""Running stage commands: effects only. ``SubprocessRunner`` runs each
command of a stage through the shell in the stage's ``wdir`` with
``DVC_ROOT`` set; tests use ``FakeRunner`` to plan and record without
processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from trails import interrupt
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


def _terminal_foreground() -> bool:
    """Whether trails runs in the foreground of the terminal on its stdin:
    Ctrl+C then reaches the terminal's foreground group, and a command in a
    group of its own could not read the terminal (SIGTTIN would stop it: a
    password prompt would hang)."""
    try:
        return os.tcgetpgrp(0) == os.getpgrp()
    except OSError:
        return False


class Started(Protocol):
    """A running command: a ``subprocess.Popen``, or a task's worker forked
    from the task server (``tasks.server.Worker``)."""

    pid: int

    def wait(self, timeout: float | None = None) -> int: ...

    def kill(self) -> None: ...


def _start(stage: Stage, cmd: str, cwd: Path, env: Mapping[str, str], group: bool) -> Started:
    """The command through the shell; a task's from the task server, which
    skips a fresh interpreter's start and imports (``tasks.server``)."""
    if stage.is_task:
        from trails.tasks import server

        if server.wanted(env):
            return server.start(stage.name, str(cwd), env, group)
    return subprocess.Popen(
        cmd, shell=True, cwd=cwd, env=dict(env), process_group=0 if group else None
    )


@dataclass
class SubprocessRunner:
    """Runs each command through the shell. With ``own_group`` (the CLI),
    each command leads a process group of its own, which
    ``trails.interrupt`` signals when trails gets SIGINT/SIGTERM/SIGHUP: a
    signal sent to trails alone then stops the stage too. In a terminal's
    foreground the command stays in trails' group instead (it may read the
    terminal; Ctrl+C reaches it directly) and only SIGTERM is passed on, to
    the command itself. A queue worker passes ``own_group=False``: it leads
    its own group already, and the pool signals (and, at the last, kills)
    that whole group."""

    own_group: bool = True

    def run(self, stage: Stage, root: Path, env: Mapping[str, str]) -> None:
        cwd = root / stage.wdir
        for cmd in stage.cmd:
            group = self.own_group and not _terminal_foreground()
            proc = _start(stage, cmd, cwd, env, group)
            if self.own_group:
                interrupt.add(proc.pid, group=group)
            try:
                code = self._wait(proc, group)
            finally:
                interrupt.remove(proc.pid)
            if code != 0:
                raise StageFailed(stage, cmd, code)

    def _wait(self, proc: Started, group: bool) -> int:
        """The command's exit code. After a forwarded signal it gets
        ``interrupt.GRACE`` seconds to stop, then it is killed (its group,
        if it leads one). Called on a thread of the reproducer's pool, or on
        the main thread, where Ctrl+C arrives as ``KeyboardInterrupt``."""
        exited = _exit_fd(proc)
        try:
            while True:
                try:
                    return _wait_awhile(proc, exited)
                except subprocess.TimeoutExpired:
                    if interrupt.overdue():
                        _kill(proc, group)
        except KeyboardInterrupt:
            # The signal reached the command too (forwarded to its group, or
            # sent to the worker's whole group); give it a moment to stop.
            try:
                proc.wait(timeout=interrupt.GRACE)
            except subprocess.TimeoutExpired:
                _kill(proc, group)
            raise
        finally:
            if exited is not None:
                os.close(exited)


#: How long a wait for a command lasts before the overdue check.
_WAIT = 0.1


def _exit_fd(proc: Started) -> int | None:
    """A descriptor that becomes readable when the command exits (Linux's
    ``pidfd_open``), for a ``Popen``: its own ``wait(timeout)`` polls,
    sleeping up to 50 ms between looks, so a stage's end was seen ~25 ms
    late on average (a queue slot held that much longer per experiment).
    None where there is none (the command is then polled)."""
    if not isinstance(proc, subprocess.Popen) or not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(proc.pid)
    except OSError:
        return None


def _wait_awhile(proc: Started, exited: int | None) -> int:
    """The command's exit code, or ``TimeoutExpired`` after ``_WAIT``."""
    if exited is None:
        return proc.wait(timeout=_WAIT)
    import select

    if not select.select([exited], [], [], _WAIT)[0]:
        raise subprocess.TimeoutExpired("stage command", _WAIT)
    return proc.wait()


def _kill(proc: Started, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    proc.wait()


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
