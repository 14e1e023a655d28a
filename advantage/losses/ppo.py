"""Proximal Policy Optimization losses: clipped surrogate (with optional dual clip) and value.

With the probability ratio :math:`r = \\pi_{new}(a|s) / \\pi_{old}(a|s)` and advantage :math:`A`:

- clipped surrogate: :math:`L^{clip} = \\min(r A, \\mathrm{clip}(r, 1-\\epsilon, 1+\\epsilon) A)`
- dual clip (Ye et al. 2020), only where :math:`A < 0`: :math:`\\max(L^{clip}, c A)` with
  :math:`c > 1`, which bounds the loss when :math:`r` is huge on a bad action. Where
  :math:`A \\ge 0` the objective is exactly :math:`L^{clip}`.
- policy loss: :math:`-\\frac 1 N \\sum_n w^n L^n`; entropy: :math:`\\frac 1 N \\sum_n w^n H^n`
- value loss: :math:`\\frac 1 2 \\frac 1 N \\sum_n w^n \\max((V - G)^2, (V_{clip} - G)^2)` with
  :math:`V_{clip} = V_{old} + \\mathrm{clip}(V - V_{old}, -\\epsilon, \\epsilon)`, or the plain
  half squared error without value clipping.
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

ppo_policy_data = namedtuple("ppo_policy_data", ["logit_new", "logit_old", "action", "adv", "weight"])
ppo_policy_loss = namedtuple("ppo_policy_loss", ["policy_loss", "entropy_loss"])
ppo_info = namedtuple("ppo_info", ["approx_kl", "clipfrac"])
ppo_value_data = namedtuple("ppo_value_data", ["value_new", "value_old", "return_", "weight"])
ppo_data = namedtuple(
    "ppo_data",
    ["logit_new", "logit_old", "action", "value_new", "value_old", "adv", "return_", "weight"],
)
ppo_loss = namedtuple("ppo_loss", ["policy_loss", "value_loss", "entropy_loss"])

KL_ESTIMATORS = ("k1", "k3")


def _check_clip(clip_ratio: float, dual_clip: float | None) -> None:
    if not clip_ratio > 0:
        raise ValueError(f"clip_ratio must be > 0, got {clip_ratio}")
    if dual_clip is not None and not dual_clip > 1.0:
        raise ValueError(
            f"dual_clip must be > 1.0 (it bounds the loss at dual_clip * adv for adv < 0), "
            f"got {dual_clip}; pass None to disable it"
        )


def ppo_policy_error(
    data: ppo_policy_data,
    clip_ratio: float = 0.2,
    dual_clip: float | None = None,
    *,
    action_mask: ActionMask = None,
    kl_estimator: str = "k1",
) -> tuple[ppo_policy_loss, ppo_info]:
    """PPO clipped policy loss and entropy, plus ``ppo_info(approx_kl, clipfrac)`` as floats.

    ``approx_kl`` is ``mean(logp_old - logp_new)`` (``kl_estimator="k1"``, the specification's)
    or the lower-variance, never-negative ``mean((r - 1) - log r)`` (``"k3"``).
    ``clipfrac`` is the fraction of samples whose ratio lies outside ``[1 - ε, 1 + ε]``.

    Shapes:
        logit_new, logit_old (B, A) (or ``(mu, sigma)`` pairs, lists of logits, distributions),
        action (B,), adv and weight (B,); ``action_mask`` (B, A) bool.

    Examples:
        The new policy makes action 0 three times as likely as the old one did (ratio 1.5 from
        probability 1/2 to 3/4). With advantage +1 the clip caps the surrogate at 1.2; with
        advantage -1 and dual clip 1.4 the surrogate is ``max(min(-1.5, -1.2), -1.4) = -1.4``.

        >>> import math, torch
        >>> old, new = torch.zeros(1, 2), torch.tensor([[math.log(3.0), 0.0]])
        >>> loss, info = ppo_policy_error(ppo_policy_data(new, old, torch.tensor([0]), torch.tensor([1.0]), None))
        >>> round(loss.policy_loss.item(), 4), info.clipfrac
        (-1.2, 1.0)
        >>> data = ppo_policy_data(new, old, torch.tensor([0]), torch.tensor([-1.0]), None)
        >>> round(ppo_policy_error(data, 0.2, dual_clip=1.4)[0].policy_loss.item(), 4)
        1.4
    """
    _check_clip(clip_ratio, dual_clip)
    if kl_estimator not in KL_ESTIMATORS:
        raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, got {kl_estimator!r}")
    logit_new, logit_old, action, adv, weight = data
    check_float("adv", adv)
    logp_new, entropy = log_prob_entropy(logit_new, action, action_mask, "logit_new")
    with torch.no_grad():
        logp_old, _ = log_prob_entropy(logit_old, action, action_mask, "logit_old")
    check_same_shape("adv", tuple(adv.shape), weight=weight, **{"log-prob of action": logp_new})

    log_ratio = logp_new - logp_old
    ratio = log_ratio.exp()
    surr1 = ratio * adv
    surr2 = ratio.clamp(1 - clip_ratio, 1 + clip_ratio) * adv
    objective = torch.min(surr1, surr2)
    if dual_clip is not None:
        objective = torch.where(adv < 0, torch.max(objective, dual_clip * adv), objective)
    policy_loss = -weighted_mean(objective, weight)
    entropy_loss = weighted_mean(entropy, weight)

    with torch.no_grad():
        if kl_estimator == "k1":
            approx_kl = (-log_ratio).mean().item()
        else:
            approx_kl = ((ratio - 1) - log_ratio).mean().item()
        clipped = (ratio > 1 + clip_ratio) | (ratio < 1 - clip_ratio)
        clipfrac = clipped.float().mean().item()
    return ppo_policy_loss(policy_loss, entropy_loss), ppo_info(approx_kl, clipfrac)


def ppo_value_error(
    data: ppo_value_data, clip_ratio: float = 0.2, use_value_clip: bool = True
) -> torch.Tensor:
    """Half the weighted mean squared value error, optionally clipped around ``value_old``."""
    value_new, value_old, return_, weight = data
    for name, tensor in (("value_new", value_new), ("value_old", value_old), ("return_", return_)):
        check_float(name, tensor)
    check_same_shape("value_new", tuple(value_new.shape), value_old=value_old, return_=return_, weight=weight)
    if use_value_clip and not clip_ratio > 0:
        raise ValueError(f"clip_ratio must be > 0 for value clipping, got {clip_ratio}")
    error = (value_new - return_).pow(2)
    if use_value_clip:
        value_clipped = value_old + (value_new - value_old).clamp(-clip_ratio, clip_ratio)
        error = torch.max(error, (value_clipped - return_).pow(2))
    return 0.5 * weighted_mean(error, weight)


def ppo_error(
    data: ppo_data,
    clip_ratio: float = 0.2,
    use_value_clip: bool = True,
    dual_clip: float | None = None,
    *,
    action_mask: ActionMask = None,
    kl_estimator: str = "k1",
) -> tuple[ppo_loss, ppo_info]:
    """Policy, value and entropy terms of PPO in one call (see the two functions above)."""
    logit_new, logit_old, action, value_new, value_old, adv, return_, weight = data
    check_float("value_new", value_new)
    check_same_shape("value_new", tuple(value_new.shape), adv=adv)
    policy, info = ppo_policy_error(
        ppo_policy_data(logit_new, logit_old, action, adv, weight),
        clip_ratio,
        dual_clip,
        action_mask=action_mask,
        kl_estimator=kl_estimator,
    )
    value_loss = ppo_value_error(
        ppo_value_data(value_new, value_old, return_, weight), clip_ratio, use_value_clip
    )
    return ppo_loss(policy.policy_loss, value_loss, policy.entropy_loss), info
