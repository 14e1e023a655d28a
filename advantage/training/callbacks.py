"""Callbacks: the training loop's one seam, and the read-only view of the run each hook receives.

Hooks, in the order the loop fires them (every hook is optional; one that returns ``False``
stops training at the end of the current iteration, after which the run saves a checkpoint)::

    on_training_start                         once, after seeding or resuming
    ┌ on_rollout_end                          a rollout collected (``run.rollout``), before the update
    │ on_update_end                           the update done (``run.metrics``, ``run.episodes``)
    │   ├ on_evaluation_end                   an evaluation finished (``run.evaluation``)
    │   ├ on_log                              a metrics row was logged (``run.row``)
    └   └ on_checkpoint                       a checkpoint was written (``run.checkpoint``)
    on_checkpoint                             the final checkpoint (with a run directory)
    on_training_end                           always, last; ``run.outcome`` says how it ended

The nested hooks are fired by the built-in callbacks that evaluate, log and save (see
:mod:`advantage.training.standard_callbacks`), from within their ``on_update_end``; every hook
goes to the callbacks in list order, the trainer's own first. So a callback given to ``learn()``
sees an update's ``on_evaluation_end``, ``on_log`` and ``on_checkpoint`` before that update's
``on_update_end``. A callback with ``state_dict()`` / ``load_state_dict(state)`` has that state
(plain data) saved in every checkpoint and restored on resume.
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from advantage.data.snapshot import NotPlainData, decode, encode

HOOKS = (
    "on_training_start", "on_rollout_end", "on_update_end", "on_evaluation_end", "on_log",
    "on_checkpoint", "on_training_end",
)
OUTCOMES = ("finished", "stopped", "interrupted", "failed")
"""``run.outcome`` at ``on_training_end``: the budget was trained, a callback returned False, a
signal (Ctrl-C, SIGTERM) stopped the run after saving, or an exception is on its way out."""


class Callback:
    """Base class of callbacks: override any hook; return ``False`` from one to stop training.

    Examples:
        >>> class StopAfter(Callback):
        ...     def on_update_end(self, run):
        ...         return run.update < 3
        >>> StopAfter().on_update_end(types.SimpleNamespace(update=3))
        False
    """

    def on_training_start(self, run: Run) -> bool | None:
        """Training is about to collect its first rollout (of this ``learn()`` call)."""

    def on_rollout_end(self, run: Run) -> bool | None:
        """A rollout was collected (``run.rollout``); the update on it comes next."""

    def on_update_end(self, run: Run) -> bool | None:
        """The algorithm updated (``run.metrics``); ``run.step`` counts the rollout's steps."""

    def on_evaluation_end(self, run: Run) -> bool | None:
        """An evaluation finished: ``run.evaluation`` holds its mean and std return."""

    def on_log(self, run: Run) -> bool | None:
        """A metrics row was logged: ``run.row`` (the columns of ``metrics.csv``)."""

    def on_checkpoint(self, run: Run) -> bool | None:
        """A checkpoint was written to ``run.checkpoint``."""

    def on_training_end(self, run: Run) -> bool | None:
        """Training ended (``run.outcome``); fired even when an exception is on its way out."""


class Run:
    """The read-only view of a run that every hook receives.

    Besides reading, a callback may ask for a checkpoint now (:meth:`save_checkpoint`).
    """

    def __init__(self, trainer: Any) -> None:
        """``trainer``: the :class:`~advantage.training.loop.SyncMultiEnvTrainer` it views."""
        self._trainer = trainer
        self._evaluation: dict[str, float] = {}
        self._evaluator: Any = None
        self._row: dict[str, float] = {}
        self._checkpoint: Path | None = None
        self._outcome: str | None = None

    @property
    def step(self) -> int:
        """Environment steps trained so far (all envs together)."""
        return self._trainer.env_steps

    @property
    def update(self) -> int:
        """Updates (one per rollout) made so far."""
        return self._trainer.updates

    @property
    def total_steps(self) -> int:
        """The step budget this training runs to."""
        return self._trainer.config.total_steps

    @property
    def metrics(self) -> Mapping[str, float]:
        """The last update's metrics: losses, entropy, approx_kl, clipfrac, grad_norm, lr, ..."""
        return types.MappingProxyType(self._trainer.metrics)

    @property
    def episodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns and lengths of the episodes that ended in the last rollout."""
        return self._trainer.episodes

    @property
    def rollout(self) -> Any:
        """The last rollout (tensors of shape (T, N, ...); None for A3C, whose workers keep theirs).
        Valid during ``on_rollout_end``; the collector may reuse its buffers afterwards."""
        return self._trainer.rollout

    @property
    def evaluation(self) -> Mapping[str, float]:
        """The latest evaluation: ``eval_return`` (mean) and ``eval_return_std``; empty before one."""
        return types.MappingProxyType(self._evaluation)

    @property
    def evaluator(self) -> Any:
        """The :class:`~advantage.training.standard_callbacks.Evaluate` that made :attr:`evaluation`."""
        return self._evaluator

    @property
    def row(self) -> Mapping[str, float]:
        """The latest metrics row logged (step, sps, episode_return, eval_return, the losses...)."""
        return types.MappingProxyType(self._row)

    @property
    def checkpoint(self) -> Path | None:
        """The latest checkpoint written."""
        return self._checkpoint

    @property
    def agent(self) -> Any:
        """What is trained: the API agent (``PPO(...)``) under ``learn()``, else the algorithm."""
        return self._trainer.agent if self._trainer.agent is not None else self._trainer.algorithm

    @property
    def model(self) -> Any:
        """The policy (a ``torch.nn.Module``)."""
        return self._trainer.model

    @property
    def config(self) -> Any:
        """The whole run configuration (:class:`RunConfig`), or None for a bare trainer."""
        return self._trainer.run_config

    @property
    def run_dir(self) -> Path | None:
        """Where the run writes its files; None when it writes none."""
        return self._trainer.run_dir

    @property
    def wall_time(self) -> float:
        """Training seconds of the whole run so far (resumed runs included)."""
        return self._trainer.wall()

    @property
    def resumed(self) -> bool:
        """Whether this training continues an earlier one (a checkpoint or a previous ``learn()``)."""
        return self._trainer.resumed

    @property
    def stopping(self) -> bool:
        """A callback returned False or a signal arrived: this iteration is the last."""
        return self._trainer.callbacks.stopped_by is not None or self._trainer.signalled

    @property
    def stopped_by(self) -> str | None:
        """The name of the callback that returned False, if one did."""
        return self._trainer.callbacks.stopped_by

    @property
    def outcome(self) -> str | None:
        """None while training; at ``on_training_end`` one of :data:`OUTCOMES`."""
        return self._outcome

    def save_checkpoint(self) -> Path:
        """Write a checkpoint of the run now (``checkpoints/step_<N>.pt``); fires ``on_checkpoint``."""
        if self.run_dir is None:
            raise ValueError("this run has no run_dir, so there is nowhere to save a checkpoint")
        return self._trainer.save(self._trainer.checkpoint_path())

    def fire(self, hook: str) -> None:
        """Call ``hook`` on every callback of the run (the built-ins use this for nested hooks)."""
        self._trainer.callbacks.fire(hook, self)


class CallbackList:
    """The run's callbacks in order; dispatches hooks and holds the first stop request."""

    def __init__(self, callbacks: Iterable[Any] = ()) -> None:
        self.callbacks = list(callbacks)
        for callback in self.callbacks:
            if isinstance(callback, type) or not any(callable(getattr(callback, h, None)) for h in HOOKS):
                raise TypeError(
                    f"{callback!r} is not a callback: pass an instance with one or more of the hooks "
                    f"{', '.join(HOOKS)} (subclass advantage.callbacks.Callback)"
                )
        self.keys = _unique_keys(self.callbacks)
        # only the hooks a callback overrides are called: the loop pays nothing for the others
        self._bound = {hook: [(c, getattr(c, hook)) for c in self.callbacks if _overrides(c, hook)] for hook in HOOKS}
        self.stopped_by: str | None = None

    def fire(self, hook: str, run: Run) -> None:
        for callback, method in self._bound[hook]:
            if method(run) is False and self.stopped_by is None:
                self.stopped_by = type(callback).__name__

    def __iter__(self):
        return iter(self.callbacks)

    def state_dict(self) -> dict[str, Any]:
        """Each stateful callback's ``state_dict()`` as plain data, by key."""
        states = {}
        for key, callback in zip(self.keys, self.callbacks):
            if callable(getattr(callback, "state_dict", None)):
                try:
                    states[key] = encode(callback.state_dict())
                except NotPlainData as exc:
                    raise TypeError(
                        f"callback {key}: state_dict() must return plain data (numbers, strings, lists, "
                        f"dicts, numpy arrays), got {exc}"
                    ) from exc
        return states

    def load_state_dict(self, states: dict[str, Any]) -> None:
        """Give each callback the state saved under its key (callbacks the checkpoint lacks start fresh)."""
        for key, callback in zip(self.keys, self.callbacks):
            if key in states and callable(getattr(callback, "load_state_dict", None)):
                callback.load_state_dict(decode(states[key]))


def _overrides(callback: Any, hook: str) -> bool:
    method = getattr(type(callback), hook, None)
    if method is None:
        return callable(getattr(callback, hook, None))
    return method is not getattr(Callback, hook)


def _unique_keys(callbacks: list[Any]) -> list[str]:
    """A callback's ``key`` attribute or its class name; ``#2``, ``#3``... for repeats."""
    keys, seen = [], {}
    for callback in callbacks:
        key = getattr(callback, "key", None) or type(callback).__name__
        seen[key] = seen.get(key, 0) + 1
        keys.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return keys


def as_callbacks(callback: Any) -> list[Any]:
    """``learn(callback=...)``: None, one callback or a list of them, as a list."""
    if callback is None:
        return []
    if isinstance(callback, (list, tuple)):
        return list(callback)
    return [callback]


def load_callback(spec: str) -> Any:
    """A callback named ``module:Name`` (``--callback``): a class is instantiated without arguments,
    an instance or a factory function's result is used as it is."""
    module_name, sep, name = spec.partition(":")
    if not sep or not module_name or not name:
        raise ValueError(f"--callback expects module:Name (e.g. mycallbacks:StopAfter), got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(
            f"cannot import module {module_name!r} of --callback {spec} ({exc}); put the directory holding "
            f"{module_name.split('.')[0]} on PYTHONPATH"
        ) from exc
    if not hasattr(module, name):
        raise ValueError(f"module {module_name} has no {name!r} (--callback {spec})")
    found = getattr(module, name)
    if isinstance(found, type):
        try:
            found = found()
        except TypeError as exc:
            raise ValueError(f"--callback {spec}: {name}() needs arguments ({exc}); give a class that takes none "
                             "or a module-level instance") from exc
    CallbackList([found])  # refuses what is not a callback, with the reason
    return found


def next_multiple(step: int, every: int) -> int:
    """The first multiple of ``every`` after ``step``."""
    return (step // every + 1) * every

