"""Distributed sampling for PG, A2C and PPO: Ray workers collect, one learner updates.

Every iteration the learner puts its weights into Ray's object store once, each worker collects
``nsteps`` steps of its share of the envs with them, and the learner concatenates the rollouts
along the env axis into one (T, N) rollout. From there the iteration is the local one, unchanged:
returns and advantages are estimated per env over the gathered rollout, and the algorithm makes
the same update it makes on local envs. Since every env's columns depend only on that env and the
(shared) weights, the batch has the same distribution as a local run's over the same envs.

A worker that dies mid-rollout loses that rollout: it is dropped (counted in
``dropped_rollouts``), the iteration learns from the rollouts that did arrive, and only their
steps count as trained env steps. Ray restarts the worker, which then takes part again.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from advantage.algorithms import Algorithm
from advantage.data.batch import Rollout
from advantage.envs.vector import VecEnv
from advantage.training.config import RunConfig, TrainerConfig
from advantage.training.distributed.workers import Sample, WorkerPool
from advantage.training.loop import SyncMultiEnvTrainer


def concat_rollouts(rollouts: list[Rollout], device: torch.device) -> Rollout:
    """Rollouts of the same length T side by side along the env axis: (T, N1 + N2 + ..., ...),
    ``last_value`` and the memories likewise (action masks too, when the env masks actions)."""
    return Rollout(**{
        f.name: None if getattr(rollouts[0], f.name) is None else torch.cat(
            [getattr(r, f.name) for r in rollouts], dim=Rollout.ENV_AXIS.get(f.name, 1)
        ).to(device)
        for f in dataclasses.fields(Rollout)
    })


class RayCollector:
    """The learner's stand-in for :class:`~advantage.training.collector.RolloutCollector` over a worker pool."""

    def __init__(self, pool: WorkerPool, device: torch.device) -> None:
        self.pool, self.device = pool, device
        self.version = 0

    def reset(self, seed: int | None) -> None:
        self.pool.reset(0 if seed is None else seed)

    def launch(self) -> list[Any]:
        """Broadcast the current weights (one ``ray.put``) and start a rollout on every worker.

        A worker whose last rollout was lost is first waited for until Ray has restarted it.
        """
        for index in list(self.pool.down_since):
            self.pool.wait_until_up(index)
        weights = self.pool.broadcast(self.version)
        self.version += 1
        return [worker.sample.remote(weights) for worker in self.pool.workers]

    def gather(self, futures: list[Any]) -> list[Sample]:
        """The rollouts that arrive, in worker order; a dead worker's is dropped and counted."""
        import ray

        samples = []
        for index, future in enumerate(futures):
            try:
                sample = ray.get(future)
            except ray.exceptions.RayActorError:
                self.pool.dropped += 1
                self.pool.down_since.setdefault(index, time.monotonic())
                continue
            except ray.exceptions.RayTaskError as exc:
                raise self.pool.env_fault(index, exc) from None
            self.pool.record(sample)
            samples.append(sample)
        return samples

    def collect(self) -> Rollout:
        """One rollout of every live worker with the current weights, concatenated along the envs."""
        samples: list[Sample] = []
        while not samples:  # every worker died at once: try again once Ray has restarted them
            samples = self.gather(self.launch())
        return concat_rollouts([s.rollout for s in samples], self.device)

    def pop_episodes(self) -> tuple[np.ndarray, np.ndarray]:
        return self.pool.pop_episodes()


class RaySamplingTrainer(SyncMultiEnvTrainer):
    """The synchronous trainer fed by Ray workers; logs the running count of dropped rollouts."""

    aggregates = {"dropped_rollouts": "last"}

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
        device = next(algorithm.model.parameters()).device
        collector = RayCollector(pool, device)
        super().__init__(None, algorithm, val_envs, config, run_config, run_dir, progress, collector, callbacks)
        self.pool = pool

    def _worker_cores(self) -> int:
        """One core per Ray worker: they sample the next rollouts while the learner updates."""
        return len(self.pool.workers)

    def iteration(self) -> dict[str, float]:
        metrics = super().iteration()
        metrics["dropped_rollouts"] = float(self.pool.dropped)
        return metrics

    def train(self) -> dict[str, Any]:
        summary = super().train()
        summary.update(dropped_rollouts=self.pool.dropped, delivered_rollouts=self.pool.delivered)
        return summary
