"""The specification's A2C family on top of advantage: agents built from a body network with
their own optimiser (``ActorCritic``, ``ActorCritic_LSTM``, ``A2CModel``), the adapter that makes
such an agent an ordinary :class:`~advantage.algorithms.base.Algorithm`, and the trainers under
the specification's names, which run advantage's own loop.

A layer above ``training``: nothing below imports it (``tests/test_layers.py``).
"""

from advantage.compat.agents import A2CActorCritic, A2CActorCriticLSTM, A2CModel
from advantage.compat.algorithm import AgentA3CAlgorithm, AgentAlgorithm, as_algorithm
from advantage.compat.trainers import (
    A2CLSTMTrainer,
    A2CTrainer,
    A3CTrainer,
    PGTrainer,
    PPOLSTMTrainer,
    PPOTrainer,
    SyncMultiEnvTrainer,
)

ActorCritic = A2CActorCritic
"""The specification's ``ActorCritic(model, input_size, action_size, config, ...)``."""
ActorCritic_LSTM = A2CActorCriticLSTM  # noqa: N816 — the specification's naming
"""The specification's ``ActorCritic_LSTM(model, input_size, action_size, cell_size, config, ...)``."""

__all__ = [
    "A2CModel", "A2CActorCritic", "A2CActorCriticLSTM", "ActorCritic", "ActorCritic_LSTM",
    "AgentAlgorithm", "AgentA3CAlgorithm", "as_algorithm",
    "SyncMultiEnvTrainer", "A2CTrainer", "A2CLSTMTrainer", "PPOTrainer", "PGTrainer", "PPOLSTMTrainer", "A3CTrainer",
]
