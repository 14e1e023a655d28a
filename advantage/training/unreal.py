"""UNREAL's trainer under the specification's name: the shared loop over an UNREAL algorithm."""

from __future__ import annotations

from typing import Any

from advantage.algorithms.base import Algorithm
from advantage.algorithms.unreal import UNREALAlgorithm, UNREALConfig
from advantage.models.unreal_agent import ActorCritic_UNREAL
from advantage.training.config import TrainerConfig
from advantage.training.loop import SyncMultiEnvTrainer


class UNREALTrainer(SyncMultiEnvTrainer):
    """UNREAL on the shared synchronous loop, built like ``A2CLSTMTrainer(envs, agent, val_envs,
    config)``: ``agent`` is an :class:`~advantage.models.unreal_agent.ActorCritic_UNREAL` (trained
    with the ``UNREALConfig`` it was built with) or an :class:`UNREALAlgorithm`."""

    def __init__(self, envs: Any, agent: Any, val_envs: Any, config: TrainerConfig, *args: Any, **kwargs: Any) -> None:
        if isinstance(agent, ActorCritic_UNREAL):
            unreal = agent.unreal_config
            if not isinstance(unreal, UNREALConfig):
                raise TypeError(f"ActorCritic_UNREAL's config must be an UNREALConfig, got {type(unreal).__name__}")
            agent = UNREALAlgorithm(agent, unreal, config.total_steps)
        elif not isinstance(agent, UNREALAlgorithm):
            kind = "an Algorithm" if isinstance(agent, Algorithm) else "an agent"
            raise TypeError(f"UNREALTrainer trains ActorCritic_UNREAL or UNREALAlgorithm, got {kind} "
                            f"{type(agent).__name__}; use A2CLSTMTrainer for ActorCritic_LSTM")
        super().__init__(envs, agent, val_envs, config, *args, **kwargs)
