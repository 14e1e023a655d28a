"""PG: REINFORCE (Williams 1992) on complete-episode Monte-Carlo returns.

The trainer keeps only transitions whose episode ended inside the rollout, so every return is a
true Monte-Carlo return :math:`G_t = \\sum_k \\gamma^k r_{t+k}`. The policy loss is
:math:`-\\frac 1 N \\sum_n \\log \\pi(a^n|s^n) (G^n - b(s^n))`, with the optional baseline
:math:`b = V` (trained by regression on :math:`G`) or :math:`b = 0`.
"""

from __future__ import annotations

from dataclasses import dataclass

from advantage.algorithms.base import AlgoConfig, Algorithm, explained_variance
from advantage.algorithms.spec import AlgorithmSpec
from advantage.data.batch import RolloutBatch
from advantage.losses import pg_data, pg_error


@dataclass
class PGConfig(AlgoConfig):
    """Hyperparameters of REINFORCE."""

    lr: float = 1e-3
    decay_steps: int | None = None
    entropy_coeff: float = 0.0
    baseline: bool = True
    """Subtract the learned value V(s) from the return (variance reduction)."""
    normalize_advantage: bool = True
    """Standardise the (baselined) returns over the batch."""


class PGAlgorithm(Algorithm):
    """One gradient step per rollout on the complete episodes it holds."""

    name = "pg"
    default_returns = "mc"

    def update(self, batch: RolloutBatch) -> dict[str, float]:
        cfg = self.config
        if len(batch) == 0:
            return {}
        policy, value = self.model(batch.obs)
        weight = batch.returns - value.detach() if cfg.baseline else batch.returns
        if cfg.normalize_advantage and len(batch) > 1:
            weight = (weight - weight.mean()) / (weight.std() + 1e-8)
        loss = pg_error(pg_data(policy, batch.actions, weight), self.model.head.loss_mask(batch.action_mask))
        total = loss.policy_loss - self.entropy_coeff * loss.entropy_loss
        terms = loss._asdict()
        metrics = {}
        if cfg.baseline:
            value_loss = (batch.returns - value).pow(2).mean()
            total = total + cfg.value_coeff * value_loss
            terms["value_loss"] = value_loss
            metrics["value_loss"] = value_loss.item()
            metrics["explained_variance"] = explained_variance(value.detach(), batch.returns)
        grad_norm = self.optimize(total, terms)
        return {
            "policy_loss": loss.policy_loss.item(),
            "entropy": loss.entropy_loss.item(),
            "grad_norm": grad_norm,
            **metrics,
        }


SPEC = AlgorithmSpec(
    name="pg", api_name="PG", summary="REINFORCE.", config=PGConfig, algorithm=PGAlgorithm, policies=("mlp",),
)
