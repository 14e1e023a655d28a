"""Errors that stop a training run for a reason outside the user's command line."""

from __future__ import annotations

import signal
from pathlib import Path


class EnvironmentWorkerError(RuntimeError):
    """A subprocess environment worker died."""


class EnvironmentFault(RuntimeError):
    """An environment raised in ``reset``/``step`` or returned an observation its space does not
    declare. The message names the env id, the env index, the vector step and the cause.

    Built from plain strings and ints only, so it crosses process boundaries (subprocess and Ray
    workers) intact.
    """

    def __init__(
        self, env_id: str | EnvironmentFault, index: int | None = None, what: str = "", step: int = 0, cause: str = ""
    ) -> None:
        if isinstance(env_id, EnvironmentFault):  # AsyncVectorEnv re-raises a worker's error e as type(e)(e)
            env_id, index, what, step, cause = env_id.args
        super().__init__(env_id, index, what, step, cause)
        self.env_id, self.index, self.what, self.step, self.cause = env_id, index, what, step, cause

    def __str__(self) -> str:
        where = f"environment {self.index}" if self.index is not None else "the vectorised environment"
        return f"{where} of {self.env_id} failed in {self.what} at vector step {self.step}: {self.cause}"

    def at(self, index_offset: int = 0, worker: int | None = None) -> EnvironmentFault:
        """The same fault with the env index shifted by ``index_offset`` (a Ray worker's first env)."""
        index = None if self.index is None else self.index + index_offset
        cause = self.cause if worker is None else f"{self.cause} (on Ray worker {worker})"
        return EnvironmentFault(self.env_id, index, self.what, self.step, cause)


def describe(exc: BaseException) -> str:
    """``Type: first line of the message`` — an exception in one line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def write_failure(exc: BaseException) -> str:
    """Why a write failed: the OS error's text (``torch.save`` wraps it in a RuntimeError whose
    context holds it), else the exception in one line."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    return describe(exc)


class CheckpointWriteError(RuntimeError):
    """A checkpoint could not be written (disk full, I/O error); the previous one is untouched."""

    def __init__(self, path: Path, reason: str, previous: Path | None) -> None:
        kept = f"the previous checkpoint {previous} is intact" if previous else "no earlier checkpoint exists"
        super().__init__(f"could not write checkpoint {path}: {reason}; {kept}")


class TrainingInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM stopped training at an iteration boundary after saving ``checkpoint``."""

    def __init__(self, signum: int, step: int, checkpoint: Path | None) -> None:
        super().__init__(signum, step, checkpoint)
        self.signum, self.step, self.checkpoint = signum, step, checkpoint

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        """128 + the signal number, as a shell reports a process ended by it (130, 143)."""
        return 128 + self.signum


class StoppedAtOnce(KeyboardInterrupt):
    """A second SIGINT/SIGTERM: stop now, without saving."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
