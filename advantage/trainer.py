"""The training loop shared by every algorithm: collect → estimate → update → log/validate/save."""

from __future__ import annotations

import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .algorithms import Algorithm
from .checkpoint import prune_checkpoints, save_checkpoint
from .config import RunConfig, TrainerConfig
from .envs import VecEnv
from .evaluation import evaluate
from .metrics import MetricsLogger
from .models.encoders import NatureCNN
from .rollout import Rollout, RolloutCollector, estimate, flatten

CHECKPOINT_FORMAT = 1


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
    ``learning_curve.png`` there; without one it only trains.
    """

    def __init__(
        self,
        envs: VecEnv,
        algorithm: Algorithm,
        val_envs: VecEnv | None,
        config: TrainerConfig,
        run_config: RunConfig | None = None,
        run_dir: str | Path | None = None,
        progress: bool = False,
    ) -> None:
        self.envs, self.algorithm, self.val_envs, self.config = envs, algorithm, val_envs, config
        self.model = algorithm.model
        self.device = next(self.model.parameters()).device
        self.run_config = run_config
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.collector = self.make_collector()
        self.estimator = algorithm.default_returns if config.returns == "auto" else config.returns
        self.progress_enabled = progress
        self.env_steps = 0
        self.updates = 0
        self.best_eval = -math.inf
        self.last_eval = math.nan
        self.solved_at: int | None = None
        self._validations = 0

    def make_collector(self) -> RolloutCollector:
        return RolloutCollector(self.envs, self.model, self.config.nsteps, self.device)

    def make_batch(self, rollout: Rollout, advantages: torch.Tensor, returns: torch.Tensor, keep: torch.Tensor):
        """What the algorithm learns from: the kept transitions as one flat batch."""
        return flatten(rollout, advantages, returns, keep)

    # -- one iteration -------------------------------------------------------------------------
    def iteration(self) -> dict[str, float]:
        """Collect one rollout and learn from it; returns the update's metrics."""
        cfg = self.config
        self.algorithm.set_progress(self.env_steps)
        rollout = self.collector.collect()
        advantages, returns, keep = estimate(rollout, self.estimator, cfg.gamma, cfg.lambda_)
        batch = self.make_batch(rollout, advantages, returns, keep)
        try:
            metrics = self.algorithm.update(batch)
        except FloatingPointError as exc:  # the last checkpoint on disk is still the last good one
            raise FloatingPointError(f"{exc} at env step {self.env_steps}; training stopped") from exc
        normalizer = getattr(self.model, "obs_normalizer", None)
        if normalizer is not None:  # after the update: acting and learning saw the same statistics
            normalizer.rms.update(rollout.obs[~rollout.reset_step])
        self.env_steps += cfg.nsteps * self.envs.num_envs
        self.updates += 1
        metrics["lr"] = self.algorithm.lr
        return metrics

    # -- the loop ------------------------------------------------------------------------------
    def train(self) -> dict[str, Any]:
        cfg = self.config
        torch.set_num_threads(self._threads())
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.collector.reset(seed=cfg.seed)
        logger = MetricsLogger(self.run_dir, cfg.tensorboard) if self.run_dir else None
        progress = Progress(cfg.total_steps, self.progress_enabled)
        start = time.perf_counter()
        sums: dict[str, float] = {}
        count = 0
        recent_returns: list[float] = []
        next_log, next_val, next_save = cfg.log_freq, cfg.validate_freq, cfg.save_freq
        steps_at_log, time_at_log = 0, start
        try:
            while self.env_steps < cfg.total_steps:
                metrics = self.iteration()
                for key, value in metrics.items():
                    sums[key] = sums.get(key, 0.0) + value
                count += 1
                returns, lengths = self.envs.pop_episodes()
                recent_returns = (recent_returns + returns.tolist())[-100:]
                row: dict[str, float] = {}
                if self.env_steps >= next_log or self.env_steps >= cfg.total_steps:
                    now = time.perf_counter()
                    row.update({key: value / count for key, value in sums.items()})
                    row.update(
                        sps=(self.env_steps - steps_at_log) / max(now - time_at_log, 1e-9),
                        episode_return=float(np.mean(recent_returns)) if recent_returns else math.nan,
                        episode_length=float(lengths.mean()) if len(lengths) else math.nan,
                        episodes=float(len(returns)),
                    )
                    sums, count = {}, 0
                    steps_at_log, time_at_log = self.env_steps, now
                    while next_log <= self.env_steps:
                        next_log += cfg.log_freq
                done = self.env_steps >= cfg.total_steps
                if self.val_envs is not None and cfg.validate_freq and (self.env_steps >= next_val or done):
                    row.update(self.validate())
                    while next_val <= self.env_steps:
                        next_val += cfg.validate_freq
                if row:
                    row.update(step=self.env_steps, updates=self.updates, wall_time=time.perf_counter() - start)
                    if logger:
                        logger.log(row)
                    progress.update(self.env_steps, {
                        "sps": row.get("sps", math.nan), "return": row.get("episode_return", math.nan),
                        "eval": self.last_eval,
                    })
                solved = self._reached_target()
                if self.run_dir and cfg.save_freq and self.env_steps >= next_save and not solved:
                    self.save(self.checkpoint_path())
                    while next_save <= self.env_steps:
                        next_save += cfg.save_freq
                if solved:
                    self.solved_at = self.env_steps
                    break
            if self.run_dir:
                self.save(self.checkpoint_path())
        finally:
            progress.close()
            if logger:
                logger.close()
        wall = time.perf_counter() - start
        if self.run_dir:
            from .plot import plot_runs

            plot_runs([self.run_dir], self.run_dir / "learning_curve.png")
        return {
            "env_steps": self.env_steps, "updates": self.updates, "wall_time": wall,
            "sps": self.env_steps / max(wall, 1e-9), "last_eval_return": self.last_eval,
            "best_eval_return": self.best_eval, "solved_at_step": self.solved_at,
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
        returns = evaluate(
            self.model, self.val_envs, cfg.val_deterministic, cfg.max_val_steps,
            seed=cfg.seed + 1_000_003 * (self._validations + 1),
        )
        self._validations += 1
        self.last_eval = float(returns.mean())
        if self.last_eval > self.best_eval:
            self.best_eval = self.last_eval
            if self.run_dir:
                self.save(self.run_dir / "checkpoints" / "best.pt")
        return {"eval_return": self.last_eval, "eval_return_std": float(returns.std())}

    # -- checkpoints ---------------------------------------------------------------------------
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoints" / f"step_{self.env_steps:010d}.pt"

    def state(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "model": self.model.state_dict(),
            "algorithm": self.algorithm.state_dict(),
            "config": self.run_config.to_dict() if self.run_config else {},
            "env_steps": self.env_steps,
            "updates": self.updates,
            "best_eval_return": self.best_eval,
        }

    def save(self, path: Path) -> Path:
        save_checkpoint(path, self.state())
        if path.name.startswith("step_"):
            prune_checkpoints(path.parent, self.config.keep_checkpoints)
        return path

    def _threads(self) -> int:
        if self.config.torch_threads:
            return self.config.torch_threads
        uses_cnn = any(isinstance(m, NatureCNN) for m in self.model.modules())
        return (os.cpu_count() or 1) if uses_cnn else 1


class A2CTrainer(SyncMultiEnvTrainer):
    """Synchronous advantage actor-critic trainer (the specification's name)."""


class PPOTrainer(SyncMultiEnvTrainer):
    """PPO on the shared synchronous loop."""


class PGTrainer(SyncMultiEnvTrainer):
    """REINFORCE on the shared synchronous loop."""
