"""The actor-learner loop of IMPALA and APPO: trajectories in as they arrive, weights out without a barrier.

Every actor (a :class:`~advantage.training.distributed.workers.RolloutWorker` on Ray) always has
one trajectory task in flight: ``nsteps`` steps of its envs with the weights it was handed, its
LSTM state carried from its previous trajectory and stored in this one (the memory before each
step), the behaviour policy's parameters stored beside each action. The learner takes
trajectories in the order they finish (``ray.wait``), hands each actor its next task at once
with the newest weights in the object store (actors never wait for the learner or each other),
and once it holds ``learner_batch`` of them makes one update: V-trace re-evaluates the batch
with the current model, the algorithm's loss learns from it, and the new weights go into the
object store once (one ``ray.put``), for the tasks launched from then on.

A trajectory acted with weights of version ``v`` and learnt from at version ``u`` (updates so
far) has policy lag ``u - v``, logged as ``policy_lag`` (mean) and ``policy_lag_max`` over each
logging window, as A3C logs it; trajectories older than ``max_lag`` are dropped and counted
(``stale_rollouts``). An actor that dies mid-trajectory loses it (``dropped_rollouts``, its
steps never counted); Ray restarts the actor, which then gets a new task with the current
weights. ``learner_wait`` is the share of the learner's time spent waiting for trajectories: near
0 the learner is the limit, near 1 the actors are.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advantage.algorithms import Algorithm, algorithm_spec
from advantage.envs.vector import VecEnv
from advantage.training.config import RunConfig, TrainerConfig
from advantage.training.distributed.sampling import concat_rollouts
from advantage.training.distributed.workers import Sample, WorkerPool
from advantage.training.loop import SyncMultiEnvTrainer


class ActorLearnerTrainer(SyncMultiEnvTrainer):
    """IMPALA / APPO on a :class:`WorkerPool` of actors (the algorithm's spec must be ``actor_learner``)."""

    aggregates = {"policy_lag_max": "max", "dropped_rollouts": "last", "stale_rollouts": "last"}

    def __init__(
        self,
        pool: WorkerPool,
        algorithm: Algorithm,
        val_envs: VecEnv | None,
        config: TrainerConfig,
        run_config: RunConfig | None = None,
        run_dir: str | Path | None = None,
        progress: bool = False,
        callbacks: list[Any] | None = None,
    ) -> None:
        if not algorithm_spec(algorithm.name).actor_learner:
            raise TypeError(f"ActorLearnerTrainer trains impala or appo, got {algorithm.name}")
        super().__init__(None, algorithm, val_envs, config, run_config, run_dir, progress, pool, callbacks)
        self.pool = pool
        self.pending: dict[Any, tuple[int, bool]] = {}  # in-flight task -> (actor, is a trajectory)
        self.weights: Any = None
        self.lags: list[int] = []
        self.stale = 0

    def _worker_cores(self) -> int:
        """One core per actor: they act while the learner updates."""
        return len(self.pool.workers)

    def launch(self, index: int) -> None:
        """Start actor ``index``'s next trajectory with the newest published weights."""
        self.pending[self.pool.workers[index].trajectory.remote(self.weights)] = (index, True)

    def next_batch(self) -> tuple[list[Sample], list[int]]:
        """``learner_batch`` trajectories in the order they finish, and their policy lags; each
        actor gets its next task as soon as it delivers; trajectories older than ``max_lag`` are
        dropped."""
        cfg = self.algorithm.config
        samples: list[Sample] = []
        lags: list[int] = []
        while len(samples) < cfg.learner_batch:
            index, sample = self.pool.next_result(self.pending, self.launch)
            self.pool.record(sample)
            self.launch(index)
            lag = self.updates - sample.version
            if cfg.max_lag is not None and lag > cfg.max_lag:
                self.stale += 1
                continue
            samples.append(sample)
            lags.append(lag)
        return samples, lags

    def iteration(self) -> dict[str, float]:
        """One learner update on the next ``learner_batch`` trajectories (``on_rollout_end`` fires once they
        are in, ``run.rollout`` their concatenation); publishes the new weights."""
        if not self.pending:
            self.weights = self.pool.broadcast(self.updates)
            for index in range(len(self.pool.workers)):
                self.launch(index)
        started = time.perf_counter()
        samples, lags = self.next_batch()
        waited = time.perf_counter() - started
        self.algorithm.set_progress(self.env_steps)
        rollout = self.rollout = concat_rollouts([s.rollout for s in samples], self.device)
        self.callbacks.fire("on_rollout_end", self.run)  # the learner's batch of trajectories is in
        advantages, returns, keep = self.algorithm.estimator(rollout, self.model)
        metrics = self.learn(rollout, advantages, returns, keep)
        self.normalization.learn_observations(rollout)  # after the update, as the local loop does
        if self.normalization.rewards is not None:  # the actors scaled with the statistics their weights came with
            self.normalization.learn(discounted=torch.cat([s.discounted_returns for s in samples]).to(self.device))
        self.env_steps += rollout.rewards.numel()
        self.weights = self.pool.broadcast(self.updates)
        self.lags += lags
        return {
            **metrics, "lr": self.algorithm.lr, "policy_lag": float(np.mean(lags)), "policy_lag_max": float(max(lags)),
            "dropped_rollouts": float(self.pool.dropped), "stale_rollouts": float(self.stale),
            "learner_wait": waited / max(time.perf_counter() - started, 1e-9),
        }

    def train(self) -> dict[str, Any]:
        summary = super().train()
        summary.update(
            dropped_rollouts=self.pool.dropped, delivered_rollouts=self.pool.delivered, stale_rollouts=self.stale,
            worker_restarts=self.pool.restarts, lost_nodes=self.pool.lost_nodes(),
            policy_lag_mean=float(np.mean(self.lags)) if self.lags else 0.0, policy_lag_max=max(self.lags, default=0),
        )
        self.pending.clear()  # trajectories still being acted are abandoned: their steps were never counted
        return summary
