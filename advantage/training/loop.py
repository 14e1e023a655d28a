"""The training loop shared by every algorithm: collect → estimate → update → log/validate/save."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from advantage.algorithms import Algorithm
from advantage.algorithms.spec_agent import as_algorithm
from advantage.data.batch import Rollout, flatten, sequences
from advantage.data.snapshot import capture_rng, decode, encode, restore_rng
from advantage.envs.vector import VecEnv
from advantage.errors import CheckpointWriteError, TrainingInterrupted, write_failure
from advantage.models.encoders import NatureCNN
from advantage.training.checkpoint import list_checkpoints, prune_checkpoints, save_checkpoint
from advantage.training.collector import RolloutCollector
from advantage.training.config import RunConfig, TrainerConfig
from advantage.training.evaluation import evaluate
from advantage.training.interrupts import StopRequest
from advantage.training.metrics import MetricsLogger, truncate_metrics

CHECKPOINT_FORMAT = 2


RESUME_KEYS = ("last_eval_return", "validations", "wall_time", "loop", "rng", "envs", "envs_uncaptured", "obs")
"""What :meth:`SyncMultiEnvTrainer.state` writes under ``resume`` (and the collector's memory)."""
MEMORY_KEYS = ("memory", "episode_start")
"""The collector's memory and episode-start mask: needed to resume a recurrent model exactly (a
feed-forward model's memory is empty, so a checkpoint without them resumes it just the same)."""


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
    needed = RESUME_KEYS + (MEMORY_KEYS if recurrent else ())
    resume = current_resume_state(payload)
    return top + [f"resume.{k}" for k in needed if k not in resume]


def _next_multiple(step: int, every: int) -> int:
    """The first multiple of ``every`` after ``step``."""
    return (step // every + 1) * every


def _accumulate(how: str, so_far: float | None, value: float) -> float:
    """Fold one update's metric into the log window: a running sum (``mean``), ``max`` or ``last``."""
    if so_far is None or how == "last":
        return value
    return max(so_far, value) if how == "max" else so_far + value


@dataclass
class LoopState:
    """The training loop's bookkeeping between log, validation and save points (checkpointed)."""

    next_log: int
    next_val: int
    next_save: int
    steps_at_log: int = 0
    sums: dict[str, float] = field(default_factory=dict)
    count: int = 0
    episodes_since_log: int = 0
    recent_returns: list[float] = field(default_factory=list)
    recent_lengths: list[float] = field(default_factory=list)


class Progress:
    """A tqdm bar on a terminal; plain periodic lines otherwise (logs, CI)."""

    def __init__(self, total: int, enabled: bool, interval_s: float = 5.0) -> None:
        self.enabled, self.interval_s = enabled, interval_s
        self.bar = None
        self._last_print = 0.0
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="step", unit_scale=True, dynamic_ncols=True)

    def update(self, step: int, info: dict[str, float], force: bool = False) -> None:
        if not self.enabled:
            return
        text = {k: (f"{v:.1f}" if isinstance(v, float) else v) for k, v in info.items() if v == v}
        if self.bar is not None:
            self.bar.n = step
            self.bar.set_postfix(text, refresh=True)
        elif force or time.perf_counter() - self._last_print >= self.interval_s:
            self._last_print = time.perf_counter()
            print(f"step {step:>9d}  " + "  ".join(f"{k} {v}" for k, v in text.items()), flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class SyncMultiEnvTrainer:
    """Trains ``algorithm`` on ``envs`` stepping in lock-step; validates on ``val_envs``.

    With a ``run_dir`` it writes ``metrics.csv``, TensorBoard events, ``checkpoints/`` and
    ``learning_curve.png`` there; without one it only trains. A ``collector`` other than the
    local :class:`RolloutCollector` over ``envs`` (e.g. Ray workers) may be given instead of envs.

    The specification's signature ``(envs, agent, val_envs, config)`` works too: an A2C agent
    (``ActorCritic(model, input_size, action_size, config)``) in place of the algorithm is trained
    by its own ``backprop`` in this same loop, and Gymnasium vector envs (next-step autoreset)
    may stand in for advantage's :class:`VecEnv`.
    """

    aggregates: dict[str, str] = {}
    """Metrics logged as the window's ``max`` or ``last`` value instead of its mean."""
    takes_recurrent_agents: bool | None = None
    """For the specification's trainer names: whether the specification agents they take must be
    recurrent (True), feed-forward (False) or either (None). Native models are always either."""

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
    ) -> None:
        envs, val_envs = _vec_env(envs), _vec_env(val_envs)
        algorithm = as_algorithm(
            algorithm, self.takes_recurrent_agents, type(self).__name__, envs if envs is not None else val_envs,
            config.total_steps,
        )
        self.envs, self.algorithm, self.val_envs, self.config = envs, algorithm, val_envs, config
        self.model = algorithm.model
        self.device = next(self.model.parameters()).device
        self.run_config = run_config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.collector = collector if collector is not None else self.make_collector()
        algorithm.make_value_estimator(config.returns, config.gamma, config.lambda_)
        self.progress_enabled = progress
        self.env_steps = 0
        self.updates = 0
        self.best_eval = -math.inf
        self.last_eval = math.nan
        self.solved_at: int | None = None
        self._validations = 0
        self.loop = LoopState(config.log_freq, config.validate_freq, config.save_freq)
        self.resumed = False
        self.eval_seconds = 0.0
        self.start_steps = 0
        self.wall_time_before = 0.0
        self.wall_time = 0.0
        """Training seconds of the whole run (resumed runs included) when :meth:`train` last stopped."""

    def make_collector(self) -> RolloutCollector:
        return RolloutCollector(self.envs, self.model, self.config.nsteps, self.device)

    def make_batch(self, rollout: Rollout, advantages: torch.Tensor, returns: torch.Tensor, keep: torch.Tensor):
        """What the algorithm learns from: the kept transitions as one flat batch, or for a recurrent
        model the rollout as sequences (whole env rollouts or BPTT chunks) with their stored memory."""
        if self.model.recurrent:
            return sequences(rollout, advantages, returns, keep, self.algorithm.sequence_length)
        return flatten(rollout, advantages, returns, keep)

    # -- one iteration -------------------------------------------------------------------------
    def iteration(self) -> dict[str, float]:
        """Collect one rollout and learn from it; returns the update's metrics."""
        cfg = self.config
        self.algorithm.set_progress(self.env_steps)
        rollout = self.collector.collect()
        scaler = getattr(self.model, "reward_scaler", None)
        if scaler is not None:  # the learner's rewards only; episode statistics stay unscaled
            rollout.rewards.copy_(scaler.update_and_scale(
                rollout.rewards, rollout.terminated | rollout.truncated, rollout.reset_step, cfg.gamma
            ))
        advantages, returns, keep = self.algorithm.estimator(rollout, self.model)
        batch = self.make_batch(rollout, advantages, returns, keep)
        try:
            metrics = self.algorithm.update(batch)
        except FloatingPointError as exc:  # the last checkpoint on disk is still the last good one
            raise FloatingPointError(f"{exc} at env step {self.env_steps}; training stopped") from exc
        normalizer = getattr(self.model, "obs_normalizer", None)
        if normalizer is not None:  # after the update: acting and learning saw the same statistics
            normalizer.rms.update(rollout.obs[~rollout.reset_step])
        self.env_steps += rollout.rewards.numel()
        self.updates += 1
        metrics["lr"] = self.algorithm.lr
        return metrics

    # -- the loop ------------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
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
        logger = None
        if self.run_dir:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        progress = Progress(cfg.total_steps, self.progress_enabled)
        start, started_at = time.perf_counter(), time.time()
        wall = lambda: self.wall_time_before + time.perf_counter() - start
        time_at_log = start
        loop = self.loop
        # SIGINT/SIGTERM: finish this iteration, save, then stop; installed before metrics.csv appears
        stop = StopRequest().install()
        try:
            if self.run_dir and cfg.log_scalars:
                # a resumed run redoes what the interrupted one logged after its checkpoint
                unreadable = truncate_metrics(self.run_dir / "metrics.csv", self.env_steps)
                if unreadable:
                    warnings.warn(
                        f"{self.run_dir / 'metrics.csv'}: dropped {unreadable} unreadable row(s) (a line cut off "
                        f"mid-write); the rows up to step {self.env_steps} are kept",
                        stacklevel=2,
                    )
                redone = unreadable is not None
                logger = MetricsLogger(self.run_dir, cfg.tensorboard, purge_step=self.env_steps + 1 if redone else None)
            while self.env_steps < cfg.total_steps and stop.signum is None:
                metrics = self.iteration()
                for key, value in metrics.items():
                    loop.sums[key] = _accumulate(self.aggregates.get(key, "mean"), loop.sums.get(key), value)
                loop.count += 1
                returns, lengths = self.collector.pop_episodes()
                loop.recent_returns = (loop.recent_returns + returns.tolist())[-100:]
                loop.recent_lengths = (loop.recent_lengths + lengths.tolist())[-100:]
                row: dict[str, float] = {}
                done = self.env_steps >= cfg.total_steps
                if self.env_steps >= loop.next_log or done:
                    now = time.perf_counter()
                    row.update({
                        key: value if key in self.aggregates else value / loop.count
                        for key, value in loop.sums.items()
                    })
                    row.update(
                        sps=(self.env_steps - loop.steps_at_log) / max(now - time_at_log, 1e-9),
                        episode_return=float(np.mean(loop.recent_returns)) if loop.recent_returns else math.nan,
                        episode_length=float(np.mean(loop.recent_lengths)) if loop.recent_lengths else math.nan,
                        episodes=float(loop.episodes_since_log + len(returns)),
                    )
                    loop.sums, loop.count, loop.episodes_since_log = {}, 0, 0
                    loop.steps_at_log, time_at_log = self.env_steps, now
                    loop.next_log = _next_multiple(self.env_steps, cfg.log_freq)
                else:
                    loop.episodes_since_log += len(returns)
                if self.val_envs is not None and cfg.validate_freq and (self.env_steps >= loop.next_val or done):
                    row.update(self.validate())
                    loop.next_val = _next_multiple(self.env_steps, cfg.validate_freq)
                if row:
                    row.update(step=self.env_steps, updates=self.updates, wall_time=wall())
                    if logger:
                        logger.log(row)
                    progress.update(self.env_steps, {
                        "sps": row.get("sps", math.nan), "return": row.get("episode_return", math.nan),
                        "eval": self.last_eval,
                    })
                solved = self._reached_target()
                if self.run_dir and cfg.save_freq and self.env_steps >= loop.next_save and not solved:
                    loop.next_save = _next_multiple(self.env_steps, cfg.save_freq)
                    self.save(self.checkpoint_path(), wall())
                if solved:
                    self.solved_at = self.env_steps
                    break
            saved = self.save(self.checkpoint_path(), wall()) if self.run_dir else None
            if stop.signum is not None and self.env_steps < cfg.total_steps and self.solved_at is None:
                raise TrainingInterrupted(stop.signum, self.env_steps, saved)
        finally:
            self.wall_time = wall()
            stop.uninstall()
            if switch_deterministic:
                torch.use_deterministic_algorithms(False)
            progress.close()
            if logger:
                logger.close()
        elapsed = time.perf_counter() - start
        if self.run_dir and cfg.log_scalars:
            from advantage.training.plot import plot_runs

            plot_runs([self.run_dir], self.run_dir / "learning_curve.png")
        return {
            "env_steps": self.env_steps, "updates": self.updates, "wall_time": elapsed, "started_at": started_at,
            "sps": (self.env_steps - self.start_steps) / max(elapsed, 1e-9), "eval_seconds": self.eval_seconds,
            "last_eval_return": self.last_eval,
            "best_eval_return": self.best_eval, "solved_at_step": self.solved_at,
            "resumed_from_step": self.start_steps if self.resumed else None,
            "run_dir": str(self.run_dir) if self.run_dir else None,
        }

    def _reached_target(self) -> bool:
        """The last validation reached ``target_return`` and a second, fresh one confirms it."""
        target = self.config.target_return
        if target is None or self.val_envs is None or not self.last_eval >= target:
            return False
        first = self.last_eval
        confirmed = self.validate()["eval_return"] >= target
        self.last_eval = min(first, self.last_eval)
        return confirmed

    def validate(self) -> dict[str, float]:
        cfg = self.config
        start = time.perf_counter()
        returns = evaluate(
            self.model, self.val_envs, cfg.val_deterministic, cfg.max_val_steps,
            seed=cfg.seed + 1_000_003 * (self._validations + 1),
        )
        self._validations += 1
        self.eval_seconds += time.perf_counter() - start
        self.last_eval = float(returns.mean())
        if self.last_eval > self.best_eval:
            self.best_eval = self.last_eval
            if self.run_dir:
                self.write_checkpoint(self.run_dir / "checkpoints" / "best.pt", self.state())
        return {"eval_return": self.last_eval, "eval_return_std": float(returns.std())}

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoints" / f"step_{self.env_steps:010d}.pt"

    def state(self, wall_time: float = 0.0) -> dict[str, Any]:
        """Everything needed to continue this run exactly: weights, optimiser, counters, RNGs, envs."""
        env_state, uncaptured = self.envs.get_state() if self.envs is not None else (None, ["Ray workers' envs"])
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "algorithm": self.algorithm.state_dict(),
            "config": self.run_config.to_dict() if self.run_config else {},
            "env_steps": self.env_steps,
            "updates": self.updates,
            "best_eval_return": self.best_eval,
            "resume": {
                "last_eval_return": self.last_eval,
                "validations": self._validations,
                "wall_time": wall_time,
                "loop": encode(dataclasses.asdict(self.loop)),
                "rng": capture_rng(),
                "envs": env_state,
                "envs_uncaptured": uncaptured,
                "obs": encode(self.collector.obs) if env_state is not None else None,
                "memory": self.collector.memory.cpu().clone() if env_state is not None else None,
                "episode_start": self.collector.episode_start.cpu().clone() if env_state is not None else None,
            },
        }

    def restore(self, payload: dict[str, Any]) -> None:
        """Continue from a checkpoint written by :meth:`state` (model and optimiser loaded here too).

        Environments whose state could not be saved (subprocess workers, Box2D, MuJoCo) restart
        with fresh episodes (and the model's initial memory): training continues correctly but not
        bit for bit. With the envs restored, the memory and episode-start mask continue too.
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
        self.best_eval = payload["best_eval_return"]
        self.last_eval = resume["last_eval_return"]
        self._validations = resume["validations"]
        self.wall_time_before = resume["wall_time"]
        self.loop = LoopState(**decode(resume["loop"]))
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
        else:
            warnings.warn(
                "the environment state was not saved ("
                + ", ".join(resume["envs_uncaptured"][:3])
                + "); environments restart with fresh episodes, so this resume is not bit-for-bit",
                stacklevel=2,
            )
            self.collector.reset(seed=self.config.seed + self.env_steps)
        self.resumed = True

    def save(self, path: Path, wall_time: float = 0.0) -> Path:
        self.write_checkpoint(path, self.state(wall_time))
        if path.name.startswith("step_"):
            prune_checkpoints(path.parent, self.config.keep_checkpoints)
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


class A2CTrainer(SyncMultiEnvTrainer):
    """Synchronous advantage actor-critic trainer (the specification's name): an A2C algorithm,
    or the specification's ``ActorCritic`` agent, on the shared loop."""

    takes_recurrent_agents = False

    def __init__(self, envs: Any, agent: Any, val_envs: Any, config: TrainerConfig, *args: Any, **kwargs: Any) -> None:
        """The specification's parameter names; the rest as :class:`SyncMultiEnvTrainer`'s."""
        super().__init__(envs, agent, val_envs, config, *args, **kwargs)


class PPOTrainer(SyncMultiEnvTrainer):
    """PPO on the shared synchronous loop."""


class PGTrainer(SyncMultiEnvTrainer):
    """REINFORCE on the shared synchronous loop."""


class A2CLSTMTrainer(SyncMultiEnvTrainer):
    """Recurrent A2C (the specification's name): the shared loop, with an LSTM model (its memory
    carried across rollouts) or the specification's ``ActorCritic_LSTM`` agent."""

    takes_recurrent_agents = True

    def __init__(self, envs: Any, agent: Any, val_envs: Any, config: TrainerConfig, *args: Any, **kwargs: Any) -> None:
        """The specification's parameter names; the rest as :class:`SyncMultiEnvTrainer`'s."""
        super().__init__(envs, agent, val_envs, config, *args, **kwargs)


class PPOLSTMTrainer(SyncMultiEnvTrainer):
    """Recurrent PPO on the shared loop: minibatches of whole env sequences or BPTT chunks."""
