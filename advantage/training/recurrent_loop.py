"""Trainers for recurrent actor-critics: the shared loop with a state-carrying collector.

The collector keeps the LSTM state across rollouts (zeroed by the episode-start mask, never at a
rollout boundary), and the learner receives sequences with their stored initial states. The
checkpoint also holds the collector's state and mask, so that a resumed run continues its
episodes where they were (with fresh episodes it starts from the zero state, as any episode does).
"""

from __future__ import annotations

from typing import Any

import torch

from advantage.data.batch import RecurrentRollout, SequenceBatch, sequences
from advantage.training.loop import SyncMultiEnvTrainer
from advantage.training.recurrent_collector import RecurrentRolloutCollector


class RecurrentTrainer(SyncMultiEnvTrainer):
    """The synchronous loop for an ``ActorCriticLSTM`` and a recurrent algorithm (or the
    specification's ``ActorCritic_LSTM`` agent, trained by its own ``backprop``)."""

    recurrent = True

    def make_collector(self) -> RecurrentRolloutCollector:
        return RecurrentRolloutCollector(self.envs, self.model, self.config.nsteps, self.device)

    def make_batch(
        self, rollout: RecurrentRollout, advantages: torch.Tensor, returns: torch.Tensor, keep: torch.Tensor
    ) -> SequenceBatch:
        """The rollout as env sequences (or BPTT chunks), with their stored LSTM states."""
        return sequences(rollout, advantages, returns, keep, self.algorithm.sequence_length)

    def state(self, wall_time: float = 0.0) -> dict[str, Any]:
        payload = super().state(wall_time)
        payload["resume"]["recurrent_state"] = self.collector.hidden.cpu().clone()
        payload["resume"]["episode_start"] = self.collector.episode_start.cpu().clone()
        return payload

    def restore(self, payload: dict[str, Any]) -> None:
        """Continue a run; with the envs restored, the LSTM state and mask continue too."""
        super().restore(payload)
        resume = payload["resume"]
        if resume["envs"] is not None:
            self.collector.hidden = resume["recurrent_state"].to(self.device)
            self.collector.episode_start = resume["episode_start"].to(self.device)


class A2CLSTMTrainer(RecurrentTrainer):
    """Recurrent A2C (the specification's name): LSTM state carried across rollouts."""

    def __init__(self, envs: Any, agent: Any, val_envs: Any, config: Any, *args: Any, **kwargs: Any) -> None:
        """The specification's parameter names; the rest as :class:`SyncMultiEnvTrainer`'s."""
        super().__init__(envs, agent, val_envs, config, *args, **kwargs)


class PPOLSTMTrainer(RecurrentTrainer):
    """Recurrent PPO: minibatches of whole env sequences or BPTT chunks."""


RECURRENT_TRAINERS: dict[str, type[RecurrentTrainer]] = {"a2c": A2CLSTMTrainer, "ppo": PPOLSTMTrainer}
