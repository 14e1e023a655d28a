"""Training beyond one process on Ray: A3C, IMPALA and APPO, and distributed sampling for PG, A2C and PPO.

Ray is an optional dependency (``pip install 'advantage[ray]'``); nothing here imports it at
module level, so :func:`require_ray` can name the fix when it is missing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advantage.algorithms import Algorithm, algorithm_spec
from advantage.envs.vector import VecEnv
from advantage.training.config import RunConfig
from advantage.training.distributed.session import ray_session, require_ray
from advantage.training.loop import SyncMultiEnvTrainer


def train_distributed(
    algorithm: Algorithm,
    val_envs: VecEnv | None,
    config: RunConfig,
    run_dir: str | Path | None = None,
    progress: bool = False,
    resume: dict[str, Any] | None = None,
    callbacks: list[Any] | None = None,
    agent: Any = None,
) -> tuple[SyncMultiEnvTrainer, dict[str, Any]]:
    """Train on ``config.num_workers`` Ray workers; returns the trainer and its summary.

    ``resume`` is a checkpoint payload to continue from; the workers' envs start new episodes.
    ``callbacks`` run after the trainer's own; ``agent`` is the API agent they see as ``run.agent``.

    An algorithm whose workers send gradients (its spec says so: ``a3c``, and ``unreal`` on Ray)
    runs :class:`~advantage.training.distributed.a3c.A3CTrainer`; an actor-learner one (``impala``,
    ``appo``) :class:`~advantage.training.distributed.actor_learner.ActorLearnerTrainer`; every
    other algorithm runs its usual
    update on rollouts gathered from the workers
    (:class:`~advantage.training.distributed.sampling.RaySamplingTrainer`).
    """
    require_ray()
    from advantage.training.distributed.a3c import A3CTrainer
    from advantage.training.distributed.actor_learner import ActorLearnerTrainer
    from advantage.training.distributed.sampling import RaySamplingTrainer
    from advantage.training.distributed.workers import WorkerPool

    spec = algorithm_spec(config.algo)
    trainer_cls = (A3CTrainer if spec.sends_gradients("ray") else ActorLearnerTrainer if spec.actor_learner
                   else RaySamplingTrainer)
    given = algorithm.estimator if algorithm.estimator_given else None  # A3C workers estimate with it
    with ray_session(config.ray_address, config.num_workers):
        pool = WorkerPool(algorithm.trained_module, config, estimator=given)
        try:
            trainer = trainer_cls(pool, algorithm, val_envs, config.trainer, config, run_dir, progress, callbacks=callbacks)
            trainer.agent = agent
            if resume is not None:
                trainer.restore(resume)
            summary = trainer.train()
        finally:
            pool.close()
    return trainer, summary
