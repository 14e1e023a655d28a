"""APPO: asynchronous PPO on V-trace advantages (as RLlib's APPO and Sample Factory run it).

Actors and learner as in IMPALA (:mod:`advantage.algorithms.impala`): trajectories arrive from
policies a few updates old. Each batch makes PPO's update (``epochs`` passes of ``minibatches``)
with the clipped surrogate

    L = -E[min(r_t A_t, clip(r_t, 1 - ε, 1 + ε) A_t)],   r_t = π(a_t|x_t) / μ(a_t|x_t),

against the *behaviour* policy μ that acted (dual clip optional, for A_t < 0), on V-trace
advantages :math:`A_t = r_t + \\gamma v_{t+1} - V(x_t)` left unweighted (the ratio in the surrogate
already weights them) and the value regressed on the V-trace targets :math:`v_t`. Optionally
``kl_coeff`` adds :math:`\\beta\\, KL(\\pi_{target} \\| \\pi)` to a target network synchronised
every ``target_update_freq`` learner updates, which keeps the policy near a recent one however
stale the behaviour policies are.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch

from advantage.algorithms.base import model_outputs
from advantage.algorithms.closed_form import private_ops_work
from advantage.algorithms.impala import ActorLearnerSettings
from advantage.algorithms.ppo import PPOAlgorithm, PPOConfig
from advantage.algorithms.ppo_closed_form import ClosedFormPPO
from advantage.algorithms.spec import AlgorithmSpec
from advantage.data.batch import RolloutBatch, SequenceBatch
from advantage.data.estimators import Estimator, VTrace
from advantage.losses.policy import log_prob_entropy


@dataclass
class APPOConfig(PPOConfig, ActorLearnerSettings):
    """Hyperparameters of APPO: PPO's, V-trace's truncations, the learner's batch and the KL to
    the target network."""

    epochs: int = 2
    minibatches: int = 2
    kl_coeff: float = 0.0
    """Weight β of KL(π_target ‖ π) in the loss; 0 leaves the target network out."""
    target_update_freq: int = 1
    """Learner updates between copies of the policy into the target network (with kl_coeff > 0)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.check_actor_learner()
        if self.kl_coeff < 0:
            raise ValueError(f"kl_coeff must be >= 0, got {self.kl_coeff}")
        if self.target_update_freq < 1:
            raise ValueError(f"target_update_freq must be >= 1 learner update, got {self.target_update_freq}")


def policy_kl(p: Any, q: Any, continuous: bool, mask: Any = None) -> torch.Tensor:
    """KL(p ‖ q) per row between two policies of the same form (categorical logits, a list of
    them, a Gaussian ``(mu, sigma)`` pair, or torch distributions); masked actions carry no mass."""
    if isinstance(p, torch.distributions.Distribution):
        return torch.distributions.kl_divergence(p, q)
    if continuous:
        (mu_p, sd_p), (mu_q, sd_q) = p, q
        kl = torch.log(sd_q / sd_p) + (sd_p.square() + (mu_p - mu_q).square()) / (2 * sd_q.square()) - 0.5
        return kl.sum(-1)
    if isinstance(p, (list, tuple)):
        masks = mask if mask is not None else [None] * len(p)
        return sum(policy_kl(a, b, False, m) for a, b, m in zip(p, q, masks))
    if mask is not None:
        low = torch.finfo(p.dtype).min
        p, q = p.masked_fill(~mask, low), q.masked_fill(~mask, low)
    log_p, log_q = torch.log_softmax(p, -1), torch.log_softmax(q, -1)
    return (log_p.exp() * (log_p - log_q)).sum(-1)


class APPOAlgorithm(PPOAlgorithm):
    """PPO's epochs of clipped-surrogate minibatch steps on V-trace advantages and targets."""

    name = "appo"
    default_returns = "vtrace"

    def __init__(
        self, model: torch.nn.Module, config: APPOConfig, total_steps: int | None = None,
        estimator: Estimator | None = None,
    ) -> None:
        super().__init__(model, config, total_steps, estimator)
        self.target = None
        if config.kl_coeff > 0:
            self.target = copy.deepcopy(model).requires_grad_(False)
        self.updates = 0
        self._kl: torch.Tensor | None = None

    def closed_form_class(self, model: torch.nn.Module, config: APPOConfig) -> type[ClosedFormPPO] | None:
        """Without the KL term the update is PPO's exactly, so the MLP closed form computes it too
        (an LSTM model's update runs on autograd)."""
        takes = config.closed_form and config.kl_coeff == 0 and ClosedFormPPO.supports(model) and private_ops_work()
        return ClosedFormPPO if takes else None

    def build_estimator(self, name: str, gamma: float, lambda_: float) -> Estimator:
        if name == VTrace.name:  # advantages unweighted: the surrogate's ratio weights them
            cfg = self.config
            return VTrace(gamma, lambda_, cfg.rho_bar, cfg.c_bar, None, log_prob=log_prob_entropy)
        return super().build_estimator(name, gamma, lambda_)

    def update(self, batch: RolloutBatch | SequenceBatch) -> dict[str, float]:
        self._kls: list[float] = []
        metrics = super().update(batch)
        self.updates += 1
        if self.target is not None:
            metrics["target_kl"] = sum(self._kls) / max(len(self._kls), 1)
            if self.updates % self.config.target_update_freq == 0:
                self.target.load_state_dict(self.model.state_dict())
        return metrics

    def outputs(self, mb: RolloutBatch | SequenceBatch) -> tuple[RolloutBatch, Any, torch.Tensor]:
        """The model's outputs on the minibatch and, with a target network, KL(π_target ‖ π) on it
        (added to the loss by :meth:`objective`)."""
        flat, policy, value = model_outputs(self.model, mb)
        if self.target is not None:
            with torch.no_grad():
                target_policy = model_outputs(self.target, mb)[1]
            mask = self.model.head.loss_mask(flat.action_mask)
            self._kl = policy_kl(target_policy, policy, flat.actions.is_floating_point(), mask).mean()
            self._kls.append(self._kl.item())
        return flat, policy, value

    def objective(self, policy_loss: torch.Tensor, value_loss: torch.Tensor, entropy: torch.Tensor) -> torch.Tensor:
        total = super().objective(policy_loss, value_loss, entropy)
        return total + self.config.kl_coeff * self._kl if self.target is not None else total

    def state_dict(self) -> dict[str, Any]:
        state = {**super().state_dict(), "updates": self.updates}
        if self.target is not None:
            state["target"] = self.target.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.updates = state["updates"]
        if self.target is not None:
            self.target.load_state_dict(state["target"])


SPEC = AlgorithmSpec(
    name="appo", api_name="APPO",
    summary="Asynchronous PPO: the clipped surrogate (dual clip optional) on V-trace advantages from Ray actors.",
    config=APPOConfig, algorithm=APPOAlgorithm, backends=("ray",), actor_learner=True,
)
