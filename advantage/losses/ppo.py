"""Proximal Policy Optimization losses: clipped surrogate (with optional dual clip) and value.

With the probability ratio :math:`r = \\pi_{new}(a|s) / \\pi_{old}(a|s)` and advantage :math:`A`:

- clipped surrogate: :math:`L^{clip} = \\min(r A, \\mathrm{clip}(r, 1-\\epsilon, 1+\\epsilon) A)`
- dual clip (Ye et al. 2020), only where :math:`A < 0`: :math:`\\max(L^{clip}, c A)` with
  :math:`c > 1`, which bounds the loss when :math:`r` is huge on a bad action. Where
  :math:`A \\ge 0` the objective is exactly :math:`L^{clip}`.
- policy loss: :math:`-\\frac 1 N \\sum_n w^n L^n`; entropy: :math:`\\frac 1 N \\sum_n w^n H^n`
- value loss: :math:`\\frac 1 2 \\frac 1 N \\sum_n w^n \\max((V - G)^2, (V_{clip} - G)^2)` with
  :math:`V_{clip} = V_{old} + \\mathrm{clip}(V - V_{old}, -\\epsilon, \\epsilon)`, or the plain
  half squared error without value clipping. Half: ``value_coeff`` multiplies ½ MSE here, where
  A2C's ``a2c_error`` (the specification's) is the whole MSE.

The same losses' gradients, derived by hand (:func:`ppo_error_gradient`), let an update skip
autograd: the loss reaches the network only through log π(a|s) and V(s),

- :math:`\\partial L^{policy} / \\partial \\log\\pi_n = -\\frac{w^n}{N} r_n A_n` where the
  unclipped term is the minimum and the dual clip does not bind, else 0;
- :math:`\\partial L^{value} / \\partial V_n = \\frac{w^n}{N} (V_n - G_n)`, or, with value
  clipping where the clipped error is the larger, :math:`\\frac{w^n}{N} (V_{clip} - G_n)` inside
  the clip range and 0 outside it.
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
ppo_gradient = namedtuple(
    "ppo_gradient", ["objective", "value_sq", "ratio", "log_ratio", "d_logp", "d_value"],
)
"""Per sample: the surrogate :math:`L^n`, the (clipped) squared value error, the ratio and its log;
and the gradients of ``ppo_error``'s policy loss w.r.t. log π_new and of its value loss w.r.t. V."""

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
    objective, _, _ = clipped_surrogate(ratio, adv, clip_ratio, dual_clip)
    policy_loss = -weighted_mean(objective, weight)
    entropy_loss = weighted_mean(entropy, weight)

    with torch.no_grad():
        kl, clipped = ppo_info_terms(ratio, log_ratio, clip_ratio, kl_estimator)
        approx_kl, clipfrac = torch.stack([kl.mean(), clipped.mean()]).tolist()
    return ppo_policy_loss(policy_loss, entropy_loss), ppo_info(approx_kl, clipfrac)


def ppo_info_terms(
    ratio: torch.Tensor, log_ratio: torch.Tensor, clip_ratio: float, kl_estimator: str = "k1"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample, what ``ppo_info`` averages: the approximate KL term (k1: ``-log r``; k3:
    ``(r - 1) - log r``) and 1.0 where the ratio lies outside ``[1 - ε, 1 + ε]``."""
    kl = -log_ratio if kl_estimator == "k1" else (ratio - 1) - log_ratio
    return kl, ((ratio > 1 + clip_ratio) | (ratio < 1 - clip_ratio)).float()


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
    return 0.5 * weighted_mean(value_errors(value_new, value_old, return_, clip_ratio, use_value_clip)[0], weight)


def clipped_surrogate(
    ratio: torch.Tensor, adv: torch.Tensor, clip_ratio: float, dual_clip: float | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per sample ``(L, r A, flows)``: the (dual-)clipped surrogate, its unclipped term, and
    where the gradient reaches r through that term (the unclipped term is the minimum and the
    dual clip's bound ``c A`` (A < 0) does not bind)."""
    surr1 = ratio * adv
    surr2 = ratio.clamp(1 - clip_ratio, 1 + clip_ratio) * adv
    objective = torch.min(surr1, surr2)
    flows = surr1 <= surr2
    if dual_clip is not None:
        bound = dual_clip * adv
        binds = (adv < 0) & (bound > objective)
        objective = torch.where(binds, bound, objective)
        flows = flows & ~binds
    return objective, surr1, flows


def value_errors(
    value_new: torch.Tensor, value_old: torch.Tensor, return_: torch.Tensor, clip_ratio: float, use_value_clip: bool
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Per sample ``(e, V - G, V_clip - G, V - V_old)``: the squared error that the value loss
    halves and averages (with clipping the larger of ``(V - G)²`` and ``(V_clip - G)²``); the
    last two are None without clipping."""
    err = value_new - return_
    if not use_value_clip:
        return err.square(), err, None, None
    moved = value_new - value_old
    err_clipped = value_old + moved.clamp(-clip_ratio, clip_ratio) - return_
    return torch.max(err.square(), err_clipped.square()), err, err_clipped, moved


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


def ppo_error_gradient(
    logp_new: torch.Tensor,
    logp_old: torch.Tensor,
    adv: torch.Tensor,
    value_new: torch.Tensor,
    value_old: torch.Tensor,
    return_: torch.Tensor,
    weight: torch.Tensor | None = None,
    clip_ratio: float = 0.2,
    use_value_clip: bool = True,
    dual_clip: float | None = None,
) -> ppo_gradient:
    """:func:`ppo_error`'s per-sample terms and its gradients in closed form (see the module
    docstring), for an update that does without autograd. Call it without a graph (the inputs'
    gradients are not tracked); ``policy_loss = -mean(w · objective)`` and
    ``value_loss = ½ mean(w · value_sq)``.

    Shapes:
        every input (B,); each output (B,).

    Examples:
        Ratio 1.5 on advantage +1 is clipped (no gradient); on advantage -1 the unclipped term
        is the minimum: ∂L/∂log π = -r A / N = 1.5 / 2.

        >>> import math, torch
        >>> lp = torch.full((2,), math.log(1.5))
        >>> g = ppo_error_gradient(lp, torch.zeros(2), torch.tensor([1.0, -1.0]), torch.zeros(2), torch.zeros(2),
        ...                        torch.ones(2), use_value_clip=False)
        >>> (g.d_logp + 0.0).tolist(), g.d_value.tolist()
        ([0.0, 0.75], [-0.5, -0.5])
    """
    _check_clip(clip_ratio, dual_clip)
    n = adv.shape[0]
    log_ratio = logp_new - logp_old
    ratio = log_ratio.exp()
    objective, surr1, flows = clipped_surrogate(ratio, adv, clip_ratio, dual_clip)
    d_logp = torch.where(flows, surr1, 0.0).mul_(-1.0 / n)  # ∂(−mean L)/∂log π, as dr/dlog π = r
    value_sq, err, err_clipped, moved = value_errors(value_new, value_old, return_, clip_ratio, use_value_clip)
    if use_value_clip:  # the larger error carries the gradient; the clipped one only where the clamp is open
        chosen = torch.where(moved.abs() <= clip_ratio, err_clipped, 0.0)
        err = torch.where(err_clipped.square() > err.square(), chosen, err)
    d_value = err.mul(1.0 / n)
    if weight is not None:
        d_logp.mul_(weight)
        d_value.mul_(weight)
    return ppo_gradient(objective, value_sq, ratio, log_ratio, d_logp, d_value)
