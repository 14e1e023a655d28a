"""The training loop shared by every algorithm: collect → estimate → update, then the callbacks.

Everything around the update — evaluation, metrics rows and files, progress, periodic
checkpoints, the target-return stop — is a callback (:mod:`advantage.training.standard_callbacks`,
built from the config), fired at the hooks of :mod:`advantage.training.callbacks`.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from advantage.algorithms import Algorithm
from advantage.data.batch import Rollout, flatten, sequences
from advantage.data.snapshot import capture_rng, decode, encode, restore_rng
from advantage.envs.vector import VecEnv
from advantage.errors import CheckpointWriteError, TrainingInterrupted, write_failure
from advantage.models.encoders import NatureCNN
from advantage.training.callbacks import CallbackList, Run
from advantage.training.checkpoint import list_checkpoints, prune_checkpoints, save_checkpoint
from advantage.training.collector import RolloutCollector
from advantage.training.config import RunConfig, TrainerConfig
from advantage.training.interrupts import StopRequest
from advantage.training.normalization import Normalization
from advantage.training.numpy_act import numpy_acting_applies
from advantage.training.standard_callbacks import (
    Evaluate,
    StopAtReturn,
    default_callbacks,
    states_from_loop,
)

CHECKPOINT_FORMAT = 2


RESUME_KEYS = ("wall_time", "rng", "envs", "envs_uncaptured", "obs")
"""What :meth:`SyncMultiEnvTrainer.state` writes under ``resume`` (and the collector's memory),
besides the callbacks' states (``callbacks``; ``loop`` in checkpoints written before callbacks)."""
MEMORY_KEYS = ("memory", "episode_start")
"""The collector's memory and episode-start mask: needed to resume a recurrent model exactly (a
feed-forward model's memory is empty, so a checkpoint without them resumes it just the same)."""
REWARD_RETURNS_KEY = "reward_returns"
"""The reward scaler's discounted return in flight per env (float64, (N,); None before the first
rollout), saved with the envs it belongs to: needed to resume a run that scales rewards exactly.
A checkpoint written before it resumes with every env's return at 0 (and says so)."""
LEGACY_CALLBACK_KEYS = ("loop", "last_eval_return", "validations")
"""Where checkpoints written before callbacks kept the built-ins' state."""


RENAMED_RESUME_KEYS = {"recurrent_state": "memory"}
"""Resume keys of earlier checkpoints under their current names (LSTM runs saved their state as
``recurrent_state``, the same (2 · towers, N, C) tensor the memory is now)."""


def current_resume_state(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload["resume"]`` with keys of earlier checkpoint versions renamed (empty if absent)."""
    resume = payload.get("resume") if isinstance(payload.get("resume"), dict) else {}
    return {RENAMED_RESUME_KEYS.get(key, key): value for key, value in resume.items()}


def missing_resume_keys(payload: dict[str, Any], recurrent: bool = False) -> list[str]:
    """The keys a checkpoint needs to continue its run exactly and lacks."""
    top = [k for k in ("env_steps", "updates", "best_eval_return") if k not in payload]
    resume = current_resume_state(payload)
    callbacks = ("callbacks",) if "callbacks" in resume or "loop" not in resume else LEGACY_CALLBACK_KEYS
    needed = RESUME_KEYS + callbacks + (MEMORY_KEYS if recurrent else ())
    return top + [f"resume.{k}" for k in needed if k not in resume]


class SyncMultiEnvTrainer:
    """Trains ``algorithm`` on ``envs`` stepping in lock-step; validates on ``val_envs``.

    With a ``run_dir`` it writes ``metrics.csv``, TensorBoard events, ``checkpoints/`` and
    ``learning_curve.png`` there; without one it only trains. A ``collector`` other than the
    local :class:`RolloutCollector` over ``envs`` (e.g. Ray workers) may be given instead of envs.
    ``callbacks`` (:class:`~advantage.training.callbacks.Callback`) run after the trainer's own,
    which its config builds (:func:`~advantage.training.standard_callbacks.default_callbacks`).

    Gymnasium vector envs (next-step autoreset) may stand in for advantage's :class:`VecEnv`.
    The specification's trainers (``advantage.A2CTrainer(envs, agent, val_envs, config)``, ...)
    wrap its agents into an algorithm and run this loop: :mod:`advantage.compat.trainers`.
    """

    aggregates: dict[str, str] = {}
    """Metrics logged as the window's ``max`` or ``last`` value instead of its mean."""

    def __init__(
        self,
        envs: VecEnv | None,
        algorithm: Algorithm,
        val_envs: VecEnv | None,
        config: TrainerConfig,
        run_config: RunConfig | None = None,
        run_dir: str | Path | None = None,
        progress: bool = False,
        collector: Any = None,
        callbacks: list[Any] | None = None,
    ) -> None:
        if not isinstance(algorithm, Algorithm):
            raise TypeError(
                f"{type(self).__name__} trains an advantage Algorithm, got {type(algorithm).__name__}; the "
                "specification's agents train with advantage.A2CTrainer, A2CLSTMTrainer or SyncMultiEnvTrainer"
            )
        envs, val_envs = _vec_env(envs), _vec_env(val_envs)
        self.envs, self.algorithm, self.val_envs, self.config = envs, algorithm, val_envs, config
        self.model = algorithm.model
        self.device = next(self.model.parameters()).device
        self.run_config = run_config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.collector = collector if collector is not None else self.make_collector()
        self.normalization = Normalization(self.model, config.gamma)
        """Observation statistics and reward scaling (the model's buffers), updated here only."""
        algorithm.make_value_estimator(config.returns, config.gamma, config.lambda_)
        self.env_steps = 0
        self.updates = 0
        self.metrics: dict[str, float] = {}
        """The last update's metrics."""
        self.episodes: tuple[np.ndarray, np.ndarray] = (np.zeros(0), np.zeros(0))
        """Returns and lengths of the episodes that ended in the last rollout."""
        self.rollout: Rollout | None = None
        self.agent: Any = None
        """The API agent being trained, when ``learn()`` trains it (``run.agent``)."""
        self.evaluation = (
            Evaluate(val_envs, config.validate_freq or 1, config.num_val_episodes, config.val_deterministic,
                     config.max_val_steps, config.seed, save_best=True)
            if val_envs is not None else None
        )
        """The validation on ``val_envs`` (a callback when ``validate_freq`` > 0)."""
        self.callbacks = CallbackList(default_callbacks(self, progress) + list(callbacks or []))
        self.run = Run(self)
        """The read-only view of this run that callbacks receive."""
        self.resumed = False
        self.start_steps = 0
        self.wall_time_before = 0.0
        self.wall_time = 0.0
        """Training seconds of the whole run (resumed runs included) when :meth:`train` last stopped."""
        self._started: float | None = None
        self._stop: StopRequest | None = None
        self.started_at, self.elapsed = 0.0, 0.0

    def make_collector(self) -> RolloutCollector:
        return RolloutCollector(self.envs, self.model, self.config.nsteps, self.device, self.config.numpy_act,
                                self.config.lean_env_step)

    def make_batch(self, rollout: Rollout, advantages: torch.Tensor, returns: torch.Tensor, keep: torch.Tensor):
        """What the algorithm learns from: the kept transitions as one flat batch, or for a recurrent
        model the rollout as sequences (whole env rollouts or BPTT chunks) with their stored memory."""
        if self.model.recurrent:
            return sequences(rollout, advantages, returns, keep, self.algorithm.sequence_length)
        return flatten(rollout, advantages, returns, keep)

    def learn(self, rollout: Rollout, advantages: torch.Tensor, returns: torch.Tensor, keep: torch.Tensor) -> dict[str, float]:
        """One update on the rollout's kept transitions (counted in ``updates``); its metrics, or
        none for a rollout without a transition (see :func:`has_transitions`)."""
        if not has_transitions(keep):
            return {}
        try:
            metrics = self.algorithm.update(self.make_batch(rollout, advantages, returns, keep))
        except FloatingPointError as exc:  # the last checkpoint on disk is still the last good one
            raise FloatingPointError(f"{exc} at env step {self.env_steps}; training stopped") from exc
        self.updates += 1
        return metrics

    # -- one iteration -------------------------------------------------------------------------
    def iteration(self) -> dict[str, float]:
        """Collect one rollout (then ``on_rollout_end``) and learn from it; returns the update's metrics."""
        self.algorithm.set_progress(self.env_steps)
        rollout = self.rollout = self.collector.collect()
        self.callbacks.fire("on_rollout_end", self.run)
        self.normalization.scale_rewards(rollout)
        advantages, returns, keep = self.algorithm.estimator(rollout, self.model)
        metrics = self.learn(rollout, advantages, returns, keep)
        self.normalization.learn_observations(rollout)  # after the update: acting and learning saw the same statistics
        self.env_steps += rollout.rewards.numel()
        metrics["lr"] = self.algorithm.lr
        return metrics

    # -- the loop ------------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        """Train to ``total_steps``, until a callback returns False, or until SIGINT/SIGTERM
        (then :class:`TrainingInterrupted` after the checkpoint); returns :meth:`summary`."""
        total = self.config.total_steps
        with self.session() as stop:
            self.callbacks.fire("on_training_start", self.run)
            while self.env_steps < total and not self.run.stopping:
                self.metrics = self.iteration()                # on_rollout_end fires inside
                self.episodes = self.collector.pop_episodes()
                self.callbacks.fire("on_update_end", self.run)  # evaluation, metrics rows, checkpoints
            saved = self.save_final() if self.run_dir else None
            if self.signalled and self.env_steps < total and self.callbacks.stopped_by is None:
                raise TrainingInterrupted(stop.signum, self.env_steps, saved)
        return self.summary()

    @contextlib.contextmanager
    def session(self) -> Iterator[StopRequest]:
        """Around :meth:`train`: torch threads and determinism, seeds (unless resumed), the
        SIGINT/SIGTERM handler, the clock, and ``on_training_end`` (with ``run.outcome``) at the end."""
        cfg = self.config
        torch.set_num_threads(self._threads())
        # switched on (and back off) only when asked: the call imports torch._inductor (~1 s), and
        # a caller's own setting, warn_only included, is left as it is
        switch_deterministic = cfg.deterministic and not torch.are_deterministic_algorithms_enabled()
        if switch_deterministic:
            torch.use_deterministic_algorithms(True)
        if not self.resumed:
            torch.manual_seed(cfg.seed)
            np.random.seed(cfg.seed)
            random.seed(cfg.seed)
            self.collector.reset(seed=cfg.seed)
            self.normalization.restore_returns(None, self.device)  # new episodes: their returns start at 0
        if self.run_dir:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self._started, self.started_at = time.perf_counter(), time.time()
        outcome = "failed"
        stop = self._stop = StopRequest().install()  # installed before on_training_start creates metrics.csv
        try:
            yield stop
            outcome = "stopped" if self.callbacks.stopped_by is not None else "finished"
        except TrainingInterrupted:
            outcome = "interrupted"
            raise
        finally:
            self.wall_time = self.wall()
            self.elapsed = time.perf_counter() - self._started
            stop.uninstall()
            if switch_deterministic:
                torch.use_deterministic_algorithms(False)
            self.run._outcome = outcome
            self.callbacks.fire("on_training_end", self.run)
            self._started = self._stop = None

    @property
    def signalled(self) -> bool:
        """SIGINT or SIGTERM arrived during :meth:`train`: the current iteration is the last."""
        return self._stop is not None and self._stop.signum is not None

    def wall(self) -> float:
        """Training seconds of the whole run so far."""
        running = time.perf_counter() - self._started if self._started is not None else 0.0
        return self.wall_time_before + running

    def summary(self) -> dict[str, Any]:
        """What the last :meth:`train` did: steps, speed, evaluations, why it stopped."""
        evaluation = self.evaluation
        solved = [c.solved_at for c in self.callbacks if isinstance(c, StopAtReturn) and c.solved_at is not None]
        return {
            "env_steps": self.env_steps, "updates": self.updates, "wall_time": self.elapsed, "started_at": self.started_at,
            "sps": (self.env_steps - self.start_steps) / max(self.elapsed, 1e-9),
            "eval_seconds": sum(c.seconds for c in self.callbacks if isinstance(c, Evaluate)),
            "last_eval_return": evaluation.last if evaluation else math.nan,
            "best_eval_return": evaluation.best if evaluation else -math.inf,
            "solved_at_step": solved[0] if solved else None, "stopped_by": self.callbacks.stopped_by,
            "resumed_from_step": self.start_steps if self.resumed else None,
            "run_dir": str(self.run_dir) if self.run_dir else None,
            "paths": speed_paths(self.collector, self.algorithm, self.config.numpy_act),
        }

    def validate(self) -> dict[str, float]:
        """Evaluate on the validation envs now (the best return and ``best.pt`` are kept up to date)."""
        if self.evaluation is None:
            raise ValueError("this trainer has no validation envs (val_envs=None)")
        return self.evaluation.evaluate(self.run)

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoints" / f"step_{self.env_steps:010d}.pt"

    def state(self, wall_time: float | None = None) -> dict[str, Any]:
        """Everything needed to continue this run exactly: weights, optimiser, counters, RNGs, envs,
        the callbacks' states. ``wall_time``: the run's training seconds (default: so far)."""
        env_state, uncaptured = self.envs.get_state() if self.envs is not None else (None, ["Ray workers' envs"])
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "algorithm": self.algorithm.state_dict(),
            "config": self.run_config.to_dict() if self.run_config else {},
            "env_steps": self.env_steps,
            "updates": self.updates,
            "best_eval_return": self.evaluation.best if self.evaluation else -math.inf,
            "resume": {
                "wall_time": self.wall() if wall_time is None else wall_time,
                "callbacks": self.callbacks.state_dict(),
                "rng": capture_rng(),
                "envs": env_state,
                "envs_uncaptured": uncaptured,
                "obs": encode(self.collector.obs) if env_state is not None else None,
                "memory": self.collector.memory.cpu().clone() if env_state is not None else None,
                "episode_start": self.collector.episode_start.cpu().clone() if env_state is not None else None,
                REWARD_RETURNS_KEY: self.normalization.returns_in_flight() if env_state is not None else None,
            },
        }

    def restore(self, payload: dict[str, Any]) -> None:
        """Continue from a checkpoint written by :meth:`state` (model and optimiser loaded here too).

        Environments whose state could not be saved (subprocess workers, Box2D, MuJoCo) restart
        with fresh episodes (and the model's initial memory): training continues correctly but not
        bit for bit. With the envs restored, the memory and episode-start mask continue too, and so
        does each env's discounted return that reward scaling carries (which otherwise restarts at 0).
        """
        if payload.get("format") != CHECKPOINT_FORMAT or "resume" not in payload:
            raise ValueError(
                f"checkpoint format {payload.get('format')} cannot be resumed (needs format {CHECKPOINT_FORMAT})"
            )
        self.model.load_state_dict(payload["model"])
        self.algorithm.load_state_dict(payload["algorithm"])
        resume = current_resume_state(payload)
        self.env_steps = self.start_steps = payload["env_steps"]
        self.updates = payload["updates"]
        self.wall_time_before = resume["wall_time"]
        states = resume["callbacks"] if "callbacks" in resume else states_from_loop(payload, resume)
        self.callbacks.load_state_dict(states)
        if self.evaluation is not None and self.evaluation not in self.callbacks.callbacks:
            self.evaluation.best = payload["best_eval_return"]
        restore_rng(resume["rng"])
        other_backend = resume["envs"] is not None and self.envs.saved_by_another_backend(resume["envs"])
        if other_backend:  # e.g. saved stepping Gymnasium's envs one by one, now numpy-vectorised
            resume = {**resume, "envs": None, "envs_uncaptured": [f"saved by {other_backend}, now {type(self.envs.env).__name__}"]}
        if resume["envs"] is not None:
            self.envs.set_state(resume["envs"])
            self.collector.obs = decode(resume["obs"])
            if resume.get("memory") is not None:  # absent from feed-forward checkpoints of before
                self.collector.memory = resume["memory"].to(self.device)
                self.collector.episode_start = resume["episode_start"].to(self.device)
            if self.normalization.rewards is not None and REWARD_RETURNS_KEY not in resume:
                warnings.warn(
                    "the checkpoint predates saving the reward scaler's returns in flight; they restart at 0, "
                    "so this resume is not bit-for-bit",
                    stacklevel=2,
                )
            self.normalization.restore_returns(resume.get(REWARD_RETURNS_KEY), self.device)
        else:
            warnings.warn(
                "the environment state was not saved ("
                + ", ".join(resume["envs_uncaptured"][:3])
                + "); environments restart with fresh episodes, so this resume is not bit-for-bit",
                stacklevel=2,
            )
            self.collector.reset(seed=self.config.seed + self.env_steps)
            self.normalization.restore_returns(None, self.device)
        self.resumed = True

    def save_final(self) -> Path:
        """The checkpoint where training stopped, unless one was just written at this step."""
        path = self.checkpoint_path()
        return path if self.run.checkpoint == path and path.exists() else self.save(path)

    def save(self, path: Path, wall_time: float | None = None) -> Path:
        """Write :meth:`state` to ``path`` (periodic ``step_*`` ones pruned to ``keep_checkpoints``);
        fires ``on_checkpoint``."""
        self.write_checkpoint(path, self.state(wall_time))
        if path.name.startswith("step_"):
            prune_checkpoints(path.parent, self.config.keep_checkpoints)
        self.run._checkpoint = path
        self.callbacks.fire("on_checkpoint", self.run)
        return path

    @staticmethod
    def write_checkpoint(path: Path, payload: dict[str, Any]) -> None:
        """:func:`save_checkpoint`, with a failed write (disk full, I/O error) as one
        :class:`CheckpointWriteError` naming the cause and the previous checkpoint, which is intact."""
        try:
            save_checkpoint(path, payload)
        except (OSError, RuntimeError) as exc:
            previous = [p for p in list_checkpoints(path.parent) if p != path]
            raise CheckpointWriteError(path, write_failure(exc), previous[-1] if previous else None) from exc

    def _threads(self) -> int:
        """``trainer.torch_threads``, else 1 for MLPs (faster at small batches) and, for CNNs, the
        cores this run's rollout workers leave free. A thread count above the free cores is worse
        than one thread: torch's OpenMP threads spin at each barrier waiting for a thread another
        process holds (a Ray-trained CNN on 2 cores with 2 workers: 64 steps in 36 s with 2 learner
        threads, 0.7 s with 1)."""
        if self.config.torch_threads:
            return self.config.torch_threads
        uses_cnn = any(isinstance(m, NatureCNN) for m in self.model.modules())
        return max(1, (os.cpu_count() or 1) - self._worker_cores()) if uses_cnn else 1

    def _worker_cores(self) -> int:
        """Cores kept busy by this run's rollout workers while the learner updates: none when the
        learner steps its own envs."""
        return 0


def _vec_env(envs: VecEnv | gym.vector.VectorEnv | None) -> VecEnv | None:
    """advantage's view of a Gymnasium vector env (its episode statistics and reset steps)."""
    return VecEnv(envs) if isinstance(envs, gym.vector.VectorEnv) else envs


def has_transitions(keep: torch.Tensor) -> bool:
    """Whether a rollout's ``keep`` mask holds a transition to learn from. A rollout of reset steps
    only (``nsteps = 1`` with every env's episode just ended) holds none: the update is skipped,
    as a gradient of an empty batch is 0/0, and its steps still count."""
    return bool(keep.any())


def speed_paths(collector: Any, algorithm: Any, numpy_act: bool) -> str:
    """Which acting and update paths the run took (the config asks; the model decides where an
    accelerator applies): ``acting numpy|torch, update numpy|closed form|autograd``, and for a
    Nature CNN the precision it computes in (``cnn float32|bfloat16``, ``model.cnn_precision``
    resolved on the learner's device), for an LSTM the pass its sequences take (``lstm compiled``,
    ``model.lstm_pass`` resolved), and ``env step lean`` where a local collector stepped its
    envs with :meth:`VecEnv.step_lean` and it applied (``trainer.lean_env_step``). Rollout workers
    (Ray) build their collectors from the same config and model, so they act as a local collector
    over this model would."""
    if isinstance(collector, RolloutCollector):
        numpy_acting = collector.numpy_actor is not None
    else:
        numpy_acting = numpy_act and numpy_acting_applies(algorithm.model, torch.device("cpu"))
    if getattr(algorithm, "numpy_update", None) is not None:
        update = "numpy"
    elif getattr(algorithm, "closed_form", None) is not None:
        update = "closed form"
    else:
        update = "autograd"
    paths = f"acting {'numpy' if numpy_acting else 'torch'}, update {update}"
    cnn = next((m for m in algorithm.model.modules() if isinstance(m, NatureCNN)), None)
    if cnn is not None:
        device = next(algorithm.model.parameters()).device
        paths += f", cnn {str(cnn.computes_in(device)).removeprefix('torch.')}"
    if hasattr(algorithm.model, "sequence_pass"):
        paths += f", lstm {algorithm.model.sequence_pass()}"
    if isinstance(collector, RolloutCollector) and collector.env_step == collector.envs.step_lean and collector.envs._lean:
        paths += ", env step lean"
    return paths
