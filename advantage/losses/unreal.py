"""UNREAL's auxiliary losses (Jaderberg et al. 2016), pure functions over tensors.

- pixel control: n-step Q-learning on pseudo-rewards, the mean absolute change of the pixels in
  each cell of a grid over the (cropped) frame. With :math:`c` a cell and :math:`Q(s, a, c)` the
  auxiliary head's action values,

  .. math::
      r^{pc}_t(c) = \\frac{1}{|c|} \\sum_{p \\in c} \\frac{1}{K} \\sum_k |x_{t+1}(k, p) - x_t(k, p)|,
      \\qquad G_t(c) = r^{pc}_t(c) + \\gamma_{pc} G_{t+1}(c),\\quad G_L(c) = \\max_a Q(s_L, a, c)

  and :math:`L_{PC} = \\frac 1 N \\sum_n w^n \\sum_c (G^n(c) - Q(s^n, a^n, c))^2`;
- reward prediction: the sign of the next reward (three classes: 0 zero, 1 positive,
  2 negative) classified from a short stack of frames,
  :math:`L_{RP} = -\\frac 1 N \\sum_n w^n \\log p(\\mathrm{class}(r^n) | s^n_{t-k+1..t})`;
- value replay: :math:`L_{VR} = \\frac 1 N \\sum_n w^n (G^n - V(s^n))^2` on replayed sequences,
  :math:`G` the n-step return bootstrapped from the current value of the sequence's last frame.

Targets (``return_``) are used as given: pass them detached.
"""

from __future__ import annotations

from collections import namedtuple

import torch
import torch.nn.functional as F

from advantage.data.returns import nstep_returns
from advantage.losses.policy import check_float, check_same_shape, weighted_mean

pixel_control_data = namedtuple("pixel_control_data", ["q", "action", "return_", "weight"])
pixel_control_loss = namedtuple("pixel_control_loss", ["pixel_control_loss"])
reward_prediction_data = namedtuple("reward_prediction_data", ["logit", "reward", "weight"])
reward_prediction_loss = namedtuple("reward_prediction_loss", ["reward_prediction_loss", "accuracy"])
value_replay_data = namedtuple("value_replay_data", ["value", "return_", "weight"])
value_replay_loss = namedtuple("value_replay_loss", ["value_replay_loss"])


def pixel_change_rewards(frames: torch.Tensor, cell_size: int) -> torch.Tensor:
    """Pixel-control pseudo-rewards of consecutive frames.

    Shapes: ``frames (L + 1, *B, K, H, W)`` channel-first, any dtype → ``(L, *B, H // s, W // s)``
    floats, ``s = cell_size``. The frame is cropped to its centred ``(H // s) s × (W // s) s``
    region, cut into ``s × s`` cells, and each cell's reward is the absolute change from frame
    ``t`` to ``t + 1`` averaged over the cell's pixels and the channels.
    """
    if frames.dim() < 4 or frames.shape[0] < 2:
        raise ValueError(f"frames must be (L + 1, ..., K, H, W) with L >= 1, got shape {tuple(frames.shape)}")
    if cell_size < 1:
        raise ValueError(f"cell_size must be >= 1, got {cell_size}")
    H, W = frames.shape[-2:]
    gh, gw = H // cell_size, W // cell_size
    if gh == 0 or gw == 0:
        raise ValueError(f"cell_size {cell_size} is larger than the {H}x{W} frame; choose cell_size <= {min(H, W)}")
    top, left = (H - gh * cell_size) // 2, (W - gw * cell_size) // 2
    x = frames[..., top:top + gh * cell_size, left:left + gw * cell_size].float()
    change = (x[1:] - x[:-1]).abs().mean(dim=-3)  # (L, *B, gh s, gw s)
    lead = change.shape[:-2]
    cells = change.reshape(*lead, gh, cell_size, gw, cell_size)
    return cells.mean(dim=(-3, -1))


def pixel_control_returns(
    pseudo_rewards: torch.Tensor,
    next_max_q: torch.Tensor,
    terminated: torch.Tensor,
    truncated: torch.Tensor,
    gamma: float,
) -> torch.Tensor:
    """n-step Q-learning targets per cell.

    Shapes: ``pseudo_rewards``, ``next_max_q`` ``(L, B, *cells)``; ``terminated``, ``truncated``
    ``(L, B)`` → ``(L, B, *cells)``. ``next_max_q[t] = max_a Q(s_{t+1}, a, c)`` (detached), the
    last one the bootstrap; the recursion is :func:`~advantage.data.returns.nstep_returns`'s
    (cut at termination, bootstrapped from the final frame at truncation).
    """
    check_same_shape("pseudo_rewards", tuple(pseudo_rewards.shape), next_max_q=next_max_q)
    L, B = pseudo_rewards.shape[:2]
    cells = pseudo_rewards.shape[2:].numel()
    flags = [f.reshape(L, B, 1).expand(L, B, cells).reshape(L, -1) for f in (terminated, truncated)]
    returns = nstep_returns(pseudo_rewards.reshape(L, -1), next_max_q.reshape(L, -1), *flags, gamma)
    return returns.reshape(pseudo_rewards.shape)


def pixel_control_error(data: pixel_control_data) -> pixel_control_loss:
    """Squared error of the taken action's values, summed over cells, weighted mean over samples.

    Shapes: ``q (N, A, *cells)``, ``action (N,)`` int64, ``return_ (N, *cells)``, ``weight (N,)``
    or None (ones) → a 0-d tensor.
    """
    q, action, return_, weight = data
    check_float("q", q)
    check_float("return_", return_)
    if q.dim() < 2 or tuple(return_.shape) != (q.shape[0], *q.shape[2:]):
        raise ValueError(f"q must be (N, A, *cells) and return_ (N, *cells); got {tuple(q.shape)} and {tuple(return_.shape)}")
    check_same_shape("action", tuple(action.shape), weight=weight)
    index = action.long().view(-1, 1, *([1] * (q.dim() - 2))).expand(-1, 1, *q.shape[2:])
    q_taken = q.gather(1, index).squeeze(1)
    per_sample = (return_ - q_taken).pow(2).flatten(1).sum(dim=1)
    return pixel_control_loss(weighted_mean(per_sample, weight))


def reward_classes(reward: torch.Tensor) -> torch.Tensor:
    """The class of each reward's sign: 0 for zero, 1 for positive, 2 for negative."""
    return torch.where(reward > 0, 1, torch.where(reward < 0, 2, 0)).long()


def reward_prediction_error(data: reward_prediction_data) -> reward_prediction_loss:
    """Cross-entropy of the reward's sign class, and the fraction classified right.

    Shapes: ``logit (N, 3)``, ``reward (N,)``, ``weight (N,)`` or None → two 0-d tensors.
    """
    logit, reward, weight = data
    check_float("logit", logit)
    if logit.dim() != 2 or logit.shape[1] != 3:
        raise ValueError(f"logit must be (N, 3) (zero, positive, negative), got {tuple(logit.shape)}")
    check_same_shape("reward", tuple(reward.shape), weight=weight)
    target = reward_classes(reward)
    nll = F.cross_entropy(logit, target, reduction="none")
    accuracy = weighted_mean((logit.argmax(dim=1) == target).to(logit.dtype), weight).detach()
    return reward_prediction_loss(weighted_mean(nll, weight), accuracy)


def value_replay_error(data: value_replay_data) -> value_replay_loss:
    """Weighted mean squared error of replayed values against their n-step returns.

    Shapes: ``value``, ``return_``, ``weight`` (N,) (weight may be None) → a 0-d tensor.
    """
    value, return_, weight = data
    check_float("value", value)
    check_float("return_", return_)
    check_same_shape("value", tuple(value.shape), return_=return_, weight=weight)
    return value_replay_loss(weighted_mean((return_ - value).pow(2), weight))
