"""A2C: synchronous advantage actor-critic (Mnih et al. 2016, the synchronous form of A3C).

All environments step in lock-step with one policy; after each rollout of ``nsteps`` the whole
batch makes one gradient step on

    policy_loss + value_coeff * value_loss - entropy_coeff * entropy

with n-step bootstrapped returns (or GAE) as targets. Defaults follow the specification's
``A2CConfig`` and RMSprop, as in the original implementation.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..losses import a2c_data, a2c_error
from .base import AlgoConfig, Algorithm, RolloutBatch, explained_variance


@dataclass
class A2CConfig(AlgoConfig):
    """Hyperparameters of A2C.

    The specification's fields come first, inherited with its defaults: ``lr=1e-3,
    lr_final=0.0, decay_steps=600_000, grad_clip=0.5, device="auto", entropy_coeff=0.01,
    value_coeff=0.5``.
    """

    optimizer: str = "rmsprop"
    rmsprop_alpha: float = 0.99
    """Smoothing constant of RMSprop's squared-gradient average."""
    normalize_advantage: bool = False
    """Standardise advantages over the batch before the policy loss."""


class A2CAlgorithm(Algorithm):
    """One gradient step per rollout on the whole batch."""

    name = "a2c"
    default_returns = "nstep"

    def update(self, batch: RolloutBatch) -> dict[str, float]:
        return self.step(batch, *self.model(batch.obs))

    def step(self, batch: RolloutBatch, policy, value: torch.Tensor) -> dict[str, float]:
        """One gradient step given the model's ``(policy, value)`` on the batch's observations."""
        cfg = self.config
        adv = batch.advantages
        if cfg.normalize_advantage and len(batch) > 1:
            adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        loss = a2c_error(a2c_data(policy, batch.actions, value, adv, batch.returns, None))
        total = loss.policy_loss + cfg.value_coeff * loss.value_loss - cfg.entropy_coeff * loss.entropy_loss
        grad_norm = self.optimize(total, loss._asdict())
        return {
            "policy_loss": loss.policy_loss.item(),
            "value_loss": loss.value_loss.item(),
            "entropy": loss.entropy_loss.item(),
            "grad_norm": grad_norm,
            "explained_variance": explained_variance(batch.values, batch.returns),
        }
