"""PPO's minibatch gradients for MLP actor-critics without autograd: the network's chain rule
(``closed_form.py``) fed with the loss's hand-derived gradient (:func:`~advantage.losses.ppo_error_gradient`,
beside ``ppo_error`` in ``losses/ppo.py``).

:meth:`ClosedFormPPO.gradients` is an accelerator behind :meth:`PPOAlgorithm.gradients
<advantage.algorithms.ppo.PPOAlgorithm.gradients>`: the same minibatch, the same advantages, the
same gradients and logged values; the epochs, minibatches, clipping, optimiser step and
metrics are :meth:`PPOAlgorithm.update`'s own. ``PPOConfig.closed_form=False`` turns it off.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from advantage.algorithms.closed_form import ClosedFormActorCritic
from advantage.data.batch import RolloutBatch
from advantage.losses.policy import log_prob_entropy
from advantage.losses.ppo import ppo_error_gradient, ppo_info_terms


@dataclass
class PreparedBatch(RolloutBatch):
    """A rollout batch with two per-sample inputs of the closed-form step that no minibatch step
    changes, computed once per update instead of once per minibatch step (32 steps × 10 epochs
    at the MuJoCo settings): the network's input (the observations normalised with the
    statistics, which stay fixed during an update, and flattened) and the acting policy's
    log-probability of each action. Both are elementwise (or a per-row sum), so each sample's
    value is the same bits as the per-minibatch computation gives (``test_ppo_closed_form.py``)."""

    net_input: torch.Tensor | None = None
    old_logp: torch.Tensor | None = None


class ClosedFormPPO:
    """The gradients of ``algo``'s (a :class:`PPOAlgorithm`'s) minibatch loss, by the chain rule."""

    supports = staticmethod(ClosedFormActorCritic.supports)

    def __init__(self, algo) -> None:
        self.algo = algo
        self.net = ClosedFormActorCritic(algo.model)

    @torch.no_grad()
    def prepare(self, batch: RolloutBatch) -> PreparedBatch:
        """``batch`` with the network's input and the old log-probabilities computed once."""
        fields = {f.name: getattr(batch, f.name) for f in dataclasses.fields(RolloutBatch)}
        return PreparedBatch(**fields, net_input=self.net.observations(batch.obs), old_logp=self.old_logp(batch))

    def old_logp(self, mb: RolloutBatch) -> torch.Tensor:
        """log π_old(a|s) of the minibatch's actions under the policy that collected them."""
        return log_prob_entropy(self.algo.model.head.unpack(mb.policy), mb.actions, name="logit_old")[0]

    @torch.no_grad()
    def gradients(self, mb: RolloutBatch) -> torch.Tensor:
        """Fill every parameter's ``.grad`` as :meth:`PPOAlgorithm.gradients` does; returns the
        same logged values (policy loss, value loss, entropy, approx KL, clip fraction). A
        :class:`PreparedBatch`'s minibatch brings its network input and old log-probabilities."""
        algo = self.algo
        cfg = algo.config
        prepared = isinstance(mb, PreparedBatch)
        p = self.net.forward(mb.net_input if prepared else self.net.observations(mb.obs), mb.actions)
        old_logp = mb.old_logp if prepared else self.old_logp(mb)
        grad = ppo_error_gradient(p.logp, old_logp, algo.advantages(mb), p.value, mb.values, mb.returns, None,
                                  algo.clip_ratio, cfg.value_clip, cfg.dual_clip)
        self.net.backward(p, grad.d_logp, grad.d_value.mul_(cfg.value_coeff).unsqueeze(1), algo.entropy_coeff)
        approx_kl, clipfrac = ppo_info_terms(grad.ratio, grad.log_ratio, algo.clip_ratio, cfg.kl_estimator)
        return torch.stack([-grad.objective.mean(), 0.5 * grad.value_sq.mean(), p.entropy.mean(),
                            approx_kl.mean(), clipfrac.mean()])
