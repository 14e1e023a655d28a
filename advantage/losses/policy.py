"""Turning a loss's ``logit`` field into log-probabilities and entropies, with input checks.

Every loss in :mod:`advantage.losses` takes the policy as its ``logit`` field, in one of four forms:

======================================  ===============================  ==========================
``logit``                               ``action``                       distribution
======================================  ===============================  ==========================
float tensor ``(*B, N)``                integer ``(*B,)`` in ``[0, N)``  categorical
pair ``(mu, sigma)``, each ``(*B, A)``  float ``(*B, A)``                diagonal Gaussian
list/tuple of float ``(*B, N_k)``       integer ``(*B, K)``              multi-discrete (K parts)
``torch.distributions.Distribution``    whatever it takes                itself
======================================  ===============================  ==========================

A pair of tensors is read as ``(mu, sigma)`` when the action is floating point and as two
multi-discrete components when it is integer. Log-probabilities and entropies of the Gaussian
(and of the multi-discrete parts) are summed over action dimensions, so every form yields
``logp`` and ``entropy`` of shape ``*B``.

An optional boolean ``action_mask`` (same shape as the logits; for multi-discrete, a list of
them) forbids actions where it is False: their logits become the most negative float, so their
probability is exactly zero and the entropy stays finite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.distributions import Distribution, Normal

Logit = torch.Tensor | Sequence[torch.Tensor] | Distribution
ActionMask = torch.Tensor | Sequence[torch.Tensor] | None


def check_float(name: str, value: torch.Tensor) -> None:
    """Raise TypeError unless ``value`` is a floating-point tensor."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor, got dtype {value.dtype}; "
            f"convert it with {name}.float()"
        )


def check_same_shape(expected_name: str, expected: tuple[int, ...], **fields: Any) -> None:
    """Raise ValueError naming both fields when a tensor's shape differs from ``expected``.

    ``None`` fields are skipped (an absent weight). Broadcasting is never relied upon: an
    ``adv`` of shape (B, 1) against a ``value`` of shape (B,) would silently broadcast to (B, B).
    """
    for name, value in fields.items():
        if value is None:
            continue
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
        if tuple(value.shape) != tuple(expected):
            raise ValueError(
                f"shape mismatch: {name} has shape {tuple(value.shape)} but {expected_name} "
                f"has shape {tuple(expected)}; they must be equal (no broadcasting)"
            )


def weighted_mean(x: torch.Tensor, weight: torch.Tensor | None) -> torch.Tensor:
    """``mean(x * weight)``, or ``mean(x)`` when there is no weight (no tensor of ones to build)."""
    return x.mean() if weight is None else (x * weight).mean()


def _masked_logits(logits: torch.Tensor, mask: torch.Tensor | None, name: str) -> torch.Tensor:
    if mask is None:
        return logits
    if mask.dtype != torch.bool:
        raise TypeError(f"action_mask for {name} must be a bool tensor, got dtype {mask.dtype}")
    if mask.shape != logits.shape:
        raise ValueError(
            f"shape mismatch: action_mask has shape {tuple(mask.shape)} but {name} has shape "
            f"{tuple(logits.shape)}"
        )
    if not bool(mask.any(dim=-1).all()):
        raise ValueError("action_mask forbids every action in some row; allow at least one")
    return logits.masked_fill(~mask, torch.finfo(logits.dtype).min)


def _categorical(
    logits: torch.Tensor, action: torch.Tensor, mask: torch.Tensor | None, name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    check_float(name, logits)
    if action.is_floating_point():
        raise TypeError(f"action for categorical {name} must be an integer tensor, got {action.dtype}")
    if tuple(logits.shape[:-1]) != tuple(action.shape):
        raise ValueError(
            f"shape mismatch: action has shape {tuple(action.shape)} but {name} has shape "
            f"{tuple(logits.shape)}; expected {name} of shape {tuple(action.shape)} + (num_actions,)"
        )
    n = logits.shape[-1]
    if action.numel():
        lo, hi = (int(v) for v in torch.aminmax(action))
        if lo < 0 or hi >= n:
            raise ValueError(f"action out of range: values span [{lo}, {hi}] but {name} has {n} actions, so actions must lie in [0, {n})")
    logits = _masked_logits(logits, mask, name)
    if mask is not None and not bool(mask.gather(-1, action.unsqueeze(-1)).all()):
        raise ValueError("action_mask forbids an action that was taken; the mask and actions disagree")
    # log π = log_softmax(logits); H = -Σ π log π (masked actions: π = 0 times a finite log π)
    log_probs = torch.log_softmax(logits, dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(-1)
    return log_probs.gather(-1, action.unsqueeze(-1)).squeeze(-1), entropy


def _gaussian(
    mu: torch.Tensor, sigma: torch.Tensor, action: torch.Tensor, name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    check_float(f"{name}[0] (mu)", mu)
    check_float(f"{name}[1] (sigma)", sigma)
    check_float("action", action)
    check_same_shape(f"{name}[0] (mu)", tuple(mu.shape), **{f"{name}[1] (sigma)": sigma, "action": action})
    dist = Normal(mu, sigma, validate_args=False)
    return dist.log_prob(action).sum(-1), dist.entropy().sum(-1)


def log_prob_entropy(
    logit: Logit, action: torch.Tensor, action_mask: ActionMask = None, name: str = "logit"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``(log π(action), entropy of π)``, each of the batch shape, for any supported form.

    ``name`` is the field name used in error messages (``logit``, ``logit_new``, ...).
    """
    if not isinstance(action, torch.Tensor):
        raise TypeError(f"action must be a torch.Tensor, got {type(action).__name__}")
    if isinstance(logit, Distribution):
        if action_mask is not None:
            raise ValueError(
                f"action_mask cannot be applied to a torch Distribution ({name}); mask the logits "
                "before building it, or pass the logits themselves"
            )
        return logit.log_prob(action), logit.entropy()
    if isinstance(logit, torch.Tensor):
        if action_mask is not None and not isinstance(action_mask, torch.Tensor):
            raise TypeError("action_mask for a single categorical must be one bool tensor")
        return _categorical(logit, action, action_mask, name)
    if isinstance(logit, (list, tuple)):
        if len(logit) == 2 and action.is_floating_point():
            if action_mask is not None:
                raise ValueError("action_mask applies to discrete actions only, not to a Gaussian (mu, sigma)")
            return _gaussian(logit[0], logit[1], action, name)
        return _multi_discrete(logit, action, action_mask, name)
    raise TypeError(
        f"{name} must be a tensor of logits, a (mu, sigma) pair, a list of logit tensors or a "
        f"torch Distribution; got {type(logit).__name__}"
    )


def _multi_discrete(
    logits: Sequence[torch.Tensor], action: torch.Tensor, action_mask: ActionMask, name: str
) -> tuple[torch.Tensor, torch.Tensor]:
    if action.is_floating_point():
        raise TypeError(f"action for multi-discrete {name} must be an integer tensor, got {action.dtype}")
    if action.dim() == 0 or action.shape[-1] != len(logits):
        raise ValueError(
            f"shape mismatch: action has shape {tuple(action.shape)} but {name} has {len(logits)} "
            f"components; expected action of shape batch + ({len(logits)},)"
        )
    masks = [None] * len(logits) if action_mask is None else list(action_mask)
    if len(masks) != len(logits):
        raise ValueError(f"action_mask has {len(masks)} parts but {name} has {len(logits)} components")
    logp = entropy = None
    for k, (part, mask) in enumerate(zip(logits, masks)):
        lp, ent = _categorical(part, action[..., k], mask, f"{name}[{k}]")
        logp = lp if logp is None else logp + lp
        entropy = ent if entropy is None else entropy + ent
    return logp, entropy
