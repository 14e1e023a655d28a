"""A2C and PPO for recurrent (LSTM) actor-critics: the same losses, learned from sequences.

A recurrent model's output at a step depends on every earlier step of its episode, so the
learner receives a :class:`~advantage.training.recurrent_collector.SequenceBatch` instead of shuffled
transitions: the model runs over each sequence from its stored initial state with the stored
episode-start mask, and the loss is taken over the kept transitions exactly as in the
feed-forward algorithm.

- A2C-LSTM: one gradient step per rollout over every env's whole sequence.
- Recurrent PPO: every epoch shuffles the *sequences* (whole env rollouts, or chunks of
  ``bptt_length`` steps) and splits them into ``minibatches`` groups; advantages are standardised
  over the kept transitions of each minibatch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from advantage.algorithms.a2c import A2CAlgorithm
from advantage.algorithms.ppo import PPOAlgorithm
from advantage.data.batch import RolloutBatch, SequenceBatch


def _run(model: torch.nn.Module, seq: SequenceBatch) -> tuple[RolloutBatch, Any, torch.Tensor]:
    """The kept transitions of ``seq`` with the model's ``(policy, value)`` on them."""
    batch, idx = seq.kept()
    policy, value = model(seq.obs, seq.episode_start, seq.state, idx)
    return batch, policy, value


class RecurrentA2CAlgorithm(A2CAlgorithm):
    """A2C-LSTM: one gradient step per rollout on all env sequences."""

    sequence_length: int | None = None

    def update(self, batch: SequenceBatch) -> dict[str, float]:
        return self.update_on(*_run(self.model, batch))


class RecurrentPPOAlgorithm(PPOAlgorithm):
    """PPO whose minibatches are whole sequences (env rollouts or BPTT chunks)."""

    @property
    def sequence_length(self) -> int | None:
        return self.config.bptt_length

    def update(self, batch: SequenceBatch) -> dict[str, float]:
        flat, _ = batch.kept()
        return self.run_epochs(lambda: self.minibatches(batch), flat.values, flat.returns)

    def minibatches(self, batch: SequenceBatch) -> Iterator[tuple[RolloutBatch, Any, torch.Tensor]]:
        """One epoch: shuffled groups of sequences, each with the model run over them."""
        size = batch.num_sequences
        per_minibatch = max(1, math.ceil(size / self.config.minibatches))
        for idx in torch.randperm(size, device=batch.keep.device).split(per_minibatch):
            mb = batch.index(idx)
            if mb.keep.any():  # a short chunk may hold only a reset step or padding
                yield _run(self.model, mb)


RECURRENT_ALGORITHMS: dict[str, type[A2CAlgorithm | PPOAlgorithm]] = {
    "a2c": RecurrentA2CAlgorithm,
    "ppo": RecurrentPPOAlgorithm,
}
