"""Advantage actor-critic loss.

- policy: :math:`-\\frac 1 N \\sum_n w^n \\log \\pi(a^n|s^n) A^n`
- value: :math:`\\frac 1 N \\sum_n w^n (G^n - V(s^n))^2`, the whole mean squared error (the
  specification's ``a2c_error``; PPO's value loss is half of it), which ``value_coeff`` multiplies
- entropy: :math:`\\frac 1 N \\sum_n w^n H(\\pi(\\cdot|s^n))`

The training objective is ``policy_loss + value_coeff * value_loss - entropy_coeff * entropy_loss``.
``adv`` is used as given: pass it detached (it is a target, not a function of the parameters).
"""

from __future__ import annotations

from collections import namedtuple

import torch

from advantage.losses.policy import (
    ActionMask,
    check_float,
    check_same_shape,
    log_prob_entropy,
    weighted_mean,
)

a2c_data = namedtuple("a2c_data", ["logit", "action", "value", "adv", "return_", "weight"])
a2c_loss = namedtuple("a2c_loss", ["policy_loss", "value_loss", "entropy_loss"])


def a2c_error(data: a2c_data, action_mask: ActionMask = None) -> a2c_loss:
    """A2C loss terms for ``a2c_data``; ``weight=None`` means ones. All terms are 0-d tensors.

    Shapes:
        logit (B, A) (or a ``(mu, sigma)`` pair, a list of logits, a distribution), action (B,),
        value, adv, return_ and weight (B,); ``action_mask`` (B, A) bool.

    Examples:
        Uniform policy over 2 actions, advantage 1, value 0, return 3: policy loss
        ``-log(1/2)``, value loss ``(3 - 0)²``.

        >>> import torch
        >>> one = torch.ones(1)
        >>> loss = a2c_error(a2c_data(torch.zeros(1, 2), torch.tensor([1]), 0 * one, one, 3 * one, None))
        >>> [round(term.item(), 4) for term in loss]
        [0.6931, 9.0, 0.6931]
    """
    logit, action, value, adv, return_, weight = data
    for name, tensor in (("value", value), ("adv", adv), ("return_", return_)):
        check_float(name, tensor)
    check_same_shape("value", tuple(value.shape), adv=adv, return_=return_, weight=weight)
    logp, entropy = log_prob_entropy(logit, action, action_mask)
    check_same_shape("value", tuple(value.shape), **{"log-prob of action": logp})
    return a2c_terms(logp, entropy, adv, value, return_, weight)


def a2c_terms(
    logp: torch.Tensor, entropy: torch.Tensor, adv: torch.Tensor, value: torch.Tensor, return_: torch.Tensor,
    weight: torch.Tensor | None = None,
) -> a2c_loss:
    """The loss terms from each sample's log π(a|s) and entropy (what :func:`a2c_error` computes
    from the logits)."""
    return a2c_loss(
        -weighted_mean(logp * adv, weight), weighted_mean((return_ - value).pow(2), weight), weighted_mean(entropy, weight)
    )


def a2c_error_gradient(
    adv: torch.Tensor, value: torch.Tensor, return_: torch.Tensor, weight: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(∂policy_loss/∂log π, ∂value_loss/∂V)`` per sample, derived by hand for an update without
    autograd: ``−w A / N`` and ``2 w (V − G) / N``.

    Examples:
        >>> import torch
        >>> d_logp, d_value = a2c_error_gradient(torch.tensor([1.0, -2.0]), torch.zeros(2), torch.ones(2))
        >>> d_logp.tolist(), d_value.tolist()
        ([-0.5, 1.0], [-1.0, -1.0])
    """
    n = adv.shape[0]
    d_logp, d_value = adv.mul(-1.0 / n), (value - return_).mul_(2.0 / n)
    if weight is not None:
        d_logp.mul_(weight)
        d_value.mul_(weight)
    return d_logp, d_value
