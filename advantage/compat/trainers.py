"""The specification's trainers: its agents wrapped into an ordinary algorithm
(:func:`~advantage.compat.algorithm.as_algorithm`), then advantage's own loop.

    A2CTrainer(envs, agent, val_envs, config)          feed-forward agents (or any algorithm)
    A2CLSTMTrainer(envs, agent, val_envs, config)      recurrent agents (or any algorithm)
    SyncMultiEnvTrainer(envs, agent, val_envs, config) either
    A3CTrainer(env_id, agent, val_envs, config, num_workers=2)  a feed-forward agent on Ray workers

``PPOTrainer``, ``PGTrainer`` and ``PPOLSTMTrainer`` are the same loop under the names the
specification's family gives it. Every keyword after ``config`` is
:class:`~advantage.training.loop.SyncMultiEnvTrainer`'s.
"""

from __future__ import annotations

from typing import Any

from advantage.compat.agents import A2CModel
from advantage.compat.algorithm import AgentA3CAlgorithm, as_algorithm
from advantage.envs.vector import make_vec_env
from advantage.training import loop
from advantage.training.config import RunConfig, TrainerConfig
from advantage.training.distributed import a3c
from advantage.training.distributed.session import require_ray, start_ray
from advantage.training.distributed.workers import WorkerPool


class SyncMultiEnvTrainer(loop.SyncMultiEnvTrainer):
    """The shared loop under the specification's signature ``(envs, agent, val_envs, config)``:
    an A2C agent (``ActorCritic(model, input_size, action_size, config)``) in place of the
    algorithm is trained by its own ``backprop`` (checked first against the envs' spaces)."""

    takes_recurrent_agents: bool | None = None
    """Whether the specification's agents this trainer takes must be recurrent (True),
    feed-forward (False) or either (None). Algorithms are always taken."""

    def __init__(self, envs: Any, agent: Any, val_envs: Any, config: TrainerConfig, *args: Any, **kwargs: Any) -> None:
        algorithm = as_algorithm(
            agent, self.takes_recurrent_agents, type(self).__name__, envs if envs is not None else val_envs,
            config.total_steps,
        )
        super().__init__(envs, algorithm, val_envs, config, *args, **kwargs)


class A2CTrainer(SyncMultiEnvTrainer):
    """Synchronous advantage actor-critic trainer: an A2C algorithm or the specification's
    feed-forward ``ActorCritic`` agent."""

    takes_recurrent_agents = False


class A2CLSTMTrainer(SyncMultiEnvTrainer):
    """Recurrent A2C: an algorithm over an LSTM model (its memory carried across rollouts) or
    the specification's ``ActorCritic_LSTM`` agent."""

    takes_recurrent_agents = True


class PPOTrainer(SyncMultiEnvTrainer):
    """PPO on the shared synchronous loop."""


class PGTrainer(SyncMultiEnvTrainer):
    """REINFORCE on the shared synchronous loop."""


class PPOLSTMTrainer(SyncMultiEnvTrainer):
    """Recurrent PPO on the shared loop: minibatches of whole env sequences or BPTT chunks."""


class A3CTrainer(a3c.A3CTrainer):
    """A3C on a :class:`WorkerPool`, or the specification's style: ``A3CTrainer(env_id, agent,
    val_envs, config, num_workers=2)`` trains a feed-forward ``ActorCritic`` agent on
    ``num_workers`` Ray workers (``num_envs`` envs of ``env_id`` in all, default one per worker),
    each acting with a copy of the agent and returning the gradient of the agent's own loss; the
    learner applies it with the agent's own optimiser. Ray is started here when it is not
    running; :meth:`close` stops the workers."""

    def __init__(
        self, pool: WorkerPool | str, algorithm: Any, val_envs: Any, config: TrainerConfig,
        run_config: RunConfig | None = None, run_dir: Any = None, progress: bool = False, *,
        num_workers: int = 2, num_envs: int | None = None, env_backend: str = "auto",
        callbacks: list[Any] | None = None,
    ) -> None:
        owns_pool = isinstance(pool, str)
        if owns_pool:
            algorithm, pool = agent_on_workers(pool, algorithm, config, num_workers, num_envs, env_backend)
        super().__init__(pool, algorithm, val_envs, config, run_config, run_dir, progress, callbacks=callbacks)
        self.owns_pool = owns_pool


def agent_on_workers(
    env_id: str, agent: Any, config: TrainerConfig, num_workers: int, num_envs: int | None, env_backend: str
) -> tuple[AgentA3CAlgorithm, WorkerPool]:
    """The agent wrapped for A3C (checked against ``env_id``'s spaces) and a pool shipping a copy
    of it to the workers."""
    if not isinstance(agent, A2CModel):
        raise TypeError(
            f"A3CTrainer(env_id, agent, ...) trains an ActorCritic agent, got {type(agent).__name__}; "
            "for advantage's own a3c use advantage.A3C or `advantage train --algo a3c`"
        )
    probe = make_vec_env(env_id, 1, backend=env_backend)
    try:
        algorithm = as_algorithm(agent, False, "A3CTrainer", probe, config.total_steps, asynchronous=True)
    finally:
        probe.close()
    run_config = RunConfig(
        algo=AgentA3CAlgorithm.name, env=env_id, num_envs=num_envs or num_workers, env_backend=env_backend,
        distributed="ray", num_workers=num_workers, algorithm=agent.config, trainer=config,
    )
    require_ray()
    import ray

    if not ray.is_initialized():
        start_ray(None, num_workers)
    return algorithm, WorkerPool(agent, run_config, worker_algorithm=algorithm.worker_copy())
