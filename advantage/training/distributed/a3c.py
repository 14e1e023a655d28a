"""The A3C learner: apply each worker's gradient as it arrives, send that worker fresh weights.

Every worker always has one gradient task in flight. The learner waits (``ray.wait``) for
whichever finishes first, applies its gradient with the one shared optimiser, puts the new
weights into the object store once and starts that worker's next task with them; the other
workers keep computing with the weights they have. A gradient computed with weights of version
``v`` and applied when the learner is at version ``u`` (the number of updates so far) has policy
lag ``u - v``: 0 with one worker, about ``K - 1`` with K workers of equal speed. The trainer logs
its mean (``policy_lag``) and maximum (``policy_lag_max``) over each logging window.

Normalisation statistics are the learner's: a worker normalises observations and scales rewards
with the statistics that came with its weights, and sends back what they learn from (its
observations; its envs' discounted returns, which each worker env carries across rollouts). The
learner updates its statistics with them after applying the gradient, as the local loop does
after each update.

One iteration of the shared training loop is one applied gradient. A worker that dies mid-task
loses that rollout (counted in ``dropped_rollouts``, its steps never counted); Ray restarts it
and it gets a new task with the current weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from advantage.algorithms.base import Algorithm
from advantage.envs.vector import VecEnv
from advantage.training.config import RunConfig, TrainerConfig
from advantage.training.distributed.workers import Gradient, WorkerPool
from advantage.training.loop import SyncMultiEnvTrainer


class A3CTrainer(SyncMultiEnvTrainer):
    """Asynchronous advantage actor-critic on a :class:`WorkerPool`: the algorithm has
    ``gradients`` for the workers and ``apply_gradients`` here (A3C, and UNREAL as the paper
    trains it). The specification's
    ``A3CTrainer(env_id, agent, val_envs, config, num_workers=2)`` is
    :class:`advantage.compat.trainers.A3CTrainer`, which starts the pool itself.
    """

    aggregates = {"policy_lag_max": "max", "dropped_rollouts": "last"}

    def __init__(
        self,
        pool: WorkerPool,
        algorithm: Algorithm,
        val_envs: VecEnv | None,
        config: TrainerConfig,
        run_config: RunConfig | None = None,
        run_dir: str | Path | None = None,
        progress: bool = False,
        *,
        callbacks: list[Any] | None = None,
    ) -> None:
        if not callable(getattr(algorithm, "apply_gradients", None)):
            raise TypeError(f"A3CTrainer needs an algorithm whose workers send gradients (a3c, unreal), "
                            f"got {getattr(algorithm, 'name', type(algorithm).__name__)}")
        super().__init__(None, algorithm, val_envs, config, run_config, run_dir, progress, pool, callbacks)
        self.pool = pool
        self.owns_pool = False
        """Whether :meth:`close` stops the workers (a pool this trainer started)."""
        self.pending: dict[Any, tuple[int, bool]] = {}  # in-flight task -> (worker, is a gradient)
        self.weights: Any = None
        self.lags: list[int] = []

    def close(self) -> None:
        """Stop the workers, when this trainer started them."""
        if self.owns_pool:
            self.pool.close()

    def _worker_cores(self) -> int:
        """One core per Ray worker: they compute gradients while the learner applies one."""
        return len(self.pool.workers)

    def launch(self, index: int) -> None:
        """Start worker ``index``'s next gradient task with the latest weights."""
        self.pending[self.pool.workers[index].gradient.remote(self.weights)] = (index, True)

    def next_gradient(self) -> tuple[int, Gradient]:
        """The first gradient to arrive, and its worker.

        A gradient lost with its worker is dropped; the worker is pinged (without blocking the
        others) until Ray has restarted it, then given a new task with the latest weights.
        """
        return self.pool.next_result(self.pending, self.launch)

    def iteration(self) -> dict[str, float]:
        """Apply one worker's gradient and send that worker the new weights. ``on_rollout_end``
        fires when the gradient arrives (the worker's rollout is done; ``run.rollout`` is None)."""
        if not self.pending:
            self.weights = self.pool.broadcast(self.updates)
            for index in range(len(self.pool.workers)):
                self.launch(index)
        index, result = self.next_gradient()
        self.callbacks.fire("on_rollout_end", self.run)
        self.pool.record(result)
        self.algorithm.set_progress(self.env_steps)
        lag = self.updates - result.version
        grad_norm = self.algorithm.apply_gradients(torch.tensor(result.grads))  # a copy: Ray's arrays are read-only
        self.normalization.learn(  # the worker scaled and normalised with these statistics
            None if result.obs is None else result.obs.to(self.device),
            None if result.discounted_returns is None else result.discounted_returns.to(self.device),
        )
        self.env_steps += result.steps
        self.updates += 1
        self.weights = self.pool.broadcast(self.updates)
        self.launch(index)
        self.lags.append(lag)
        return {
            **result.metrics, "grad_norm": grad_norm, "lr": self.algorithm.lr,
            "policy_lag": float(lag), "policy_lag_max": float(lag),
            "dropped_rollouts": float(self.pool.dropped),
        }

    def train(self) -> dict[str, Any]:
        summary = super().train()
        summary.update(
            dropped_rollouts=self.pool.dropped, delivered_rollouts=self.pool.delivered,
            policy_lag_mean=float(np.mean(self.lags)) if self.lags else 0.0,
            policy_lag_max=max(self.lags, default=0),
        )
        self.pending.clear()  # tasks still running are abandoned: their steps were never counted
        return summary
