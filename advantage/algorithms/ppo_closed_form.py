"""PPO's minibatch gradients for MLP actor-critics without autograd: the network's chain rule
(``closed_form.py``) fed with the loss's hand-derived gradient (:func:`~advantage.losses.ppo_error_gradient`,
beside ``ppo_error`` in ``losses/ppo.py``).

:meth:`ClosedFormPPO.gradients` is an accelerator behind :meth:`PPOAlgorithm.gradients
<advantage.algorithms.ppo.PPOAlgorithm.gradients>`: the same minibatch, the same advantages, the
same gradients and logged values; the epochs, minibatches, clipping, optimiser step and
metrics are :meth:`PPOAlgorithm.update`'s own. ``PPOConfig.closed_form=False`` turns it off.
"""

from __future__ import annotations

import torch

from advantage.algorithms.closed_form import ClosedFormActorCritic
from advantage.data.batch import RolloutBatch
from advantage.losses.policy import log_prob_entropy
from advantage.losses.ppo import ppo_error_gradient, ppo_info_terms


class ClosedFormPPO:
    """The gradients of ``algo``'s (a :class:`PPOAlgorithm`'s) minibatch loss, by the chain rule."""

    supports = staticmethod(ClosedFormActorCritic.supports)

    def __init__(self, algo) -> None:
        self.algo = algo
        self.net = ClosedFormActorCritic(algo.model)

    @torch.no_grad()
    def gradients(self, mb: RolloutBatch) -> torch.Tensor:
        """Fill every parameter's ``.grad`` as :meth:`PPOAlgorithm.gradients` does; returns the
        same logged values (policy loss, value loss, entropy, approx KL, clip fraction)."""
        algo = self.algo
        cfg = algo.config
        p = self.net.forward(self.net.observations(mb.obs), mb.actions)
        old_logp, _ = log_prob_entropy(algo.model.head.unpack(mb.policy), mb.actions, name="logit_old")
        grad = ppo_error_gradient(p.logp, old_logp, algo.advantages(mb), p.value, mb.values, mb.returns, None,
                                  algo.clip_ratio, cfg.value_clip, cfg.dual_clip)
        self.net.backward(p, grad.d_logp, grad.d_value.mul_(cfg.value_coeff).unsqueeze(1), algo.entropy_coeff)
        approx_kl, clipfrac = ppo_info_terms(grad.ratio, grad.log_ratio, algo.clip_ratio, cfg.kl_estimator)
        return torch.stack([-grad.objective.mean(), 0.5 * grad.value_sq.mean(), p.entropy.mean(),
                            approx_kl.mean(), clipfrac.mean()])
