"""Action heads: from features to a policy in the form the losses take as ``logit``.

Each head also knows how to sample, how to pick the greedy action, how to pack its policy
parameters into one ``(B, policy_dim)`` tensor for rollout storage (PPO needs the acting policy
later) and unpack them, and how to turn a stored action into what the environment accepts.

Discrete heads take an optional action mask ``(B, mask_size)`` (True = legal; MultiDiscrete: the
components' masks concatenated): sampling and the greedy choice then never pick an illegal action,
and :meth:`loss_mask` gives the mask in the form the losses take (probabilities and entropy over
the legal actions only). Actions are stored from 0; ``to_env`` adds the space's ``start``.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import nn
from torch.distributions import Bernoulli, Independent

from advantage.models.init import layer_init


def _masked(logits: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return logits if mask is None else logits.masked_fill(~mask, torch.finfo(logits.dtype).min)


class CategoricalHead(nn.Module):
    """Discrete actions: logits of a categorical distribution (``Discrete(n, start)``)."""

    def __init__(self, in_features: int, num_actions: int, start: int = 0) -> None:
        super().__init__()
        self.linear = layer_init(nn.Linear(in_features, num_actions), std=0.01)
        self.policy_dim = num_actions
        self.mask_size = num_actions
        self.action_shape: tuple[int, ...] = ()
        self.action_dtype = torch.int64
        self.start = int(start)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)

    @staticmethod
    def sample(logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return torch.multinomial(torch.softmax(_masked(logits, mask), dim=-1), 1).squeeze(-1)

    @staticmethod
    def mode(logits: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return _masked(logits, mask).argmax(dim=-1)

    @staticmethod
    def loss_mask(mask: torch.Tensor | None) -> torch.Tensor | None:
        return mask

    @staticmethod
    def pack(logits: torch.Tensor) -> torch.Tensor:
        return logits

    @staticmethod
    def unpack(packed: torch.Tensor) -> torch.Tensor:
        return packed

    def to_env(self, action: torch.Tensor) -> np.ndarray:
        return action.numpy() + self.start if self.start else action.numpy()


class MultiDiscreteHead(nn.Module):
    """Several independent discrete actions: a list of logit tensors, one per component."""

    def __init__(self, in_features: int, nvec: np.ndarray, start: np.ndarray | None = None) -> None:
        super().__init__()
        self.env_shape = tuple(np.asarray(nvec).shape)
        self.sizes = [int(n) for n in np.asarray(nvec).reshape(-1)]
        self.linear = layer_init(nn.Linear(in_features, sum(self.sizes)), std=0.01)
        self.policy_dim = sum(self.sizes)
        self.mask_size = sum(self.sizes)
        self.action_shape = (len(self.sizes),)
        self.action_dtype = torch.int64
        self.start = np.zeros(len(self.sizes), np.int64) if start is None else np.asarray(start).reshape(-1)

    def forward(self, features: torch.Tensor) -> list[torch.Tensor]:
        return list(self.linear(features).split(self.sizes, dim=-1))

    def loss_mask(self, mask: torch.Tensor | None) -> list[torch.Tensor] | None:
        return None if mask is None else list(mask.split(self.sizes, dim=-1))

    def sample(self, logits: list[torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
        masks = self.loss_mask(mask) or [None] * len(logits)
        return torch.stack([CategoricalHead.sample(part, m) for part, m in zip(logits, masks)], dim=-1)

    def mode(self, logits: list[torch.Tensor], mask: torch.Tensor | None = None) -> torch.Tensor:
        masks = self.loss_mask(mask) or [None] * len(logits)
        return torch.stack([CategoricalHead.mode(part, m) for part, m in zip(logits, masks)], dim=-1)

    @staticmethod
    def pack(logits: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(logits, dim=-1)

    def unpack(self, packed: torch.Tensor) -> list[torch.Tensor]:
        return list(packed.split(self.sizes, dim=-1))

    def to_env(self, action: torch.Tensor) -> np.ndarray:
        return (action.numpy() + self.start).reshape((-1, *self.env_shape))


class BernoulliHead(nn.Module):
    """MultiBinary actions: one independent Bernoulli per bit, as a torch distribution (the
    losses read its ``log_prob`` and ``entropy``, summed over the bits)."""

    def __init__(self, in_features: int, space: spaces.MultiBinary) -> None:
        super().__init__()
        dim = int(np.prod(space.shape))
        self.linear = layer_init(nn.Linear(in_features, dim), std=0.01)
        self.policy_dim = dim
        self.mask_size = None
        self.action_shape = (dim,)
        self.action_dtype = torch.float32
        self.env_shape = tuple(space.shape)

    def forward(self, features: torch.Tensor) -> Independent:
        return self.unpack(self.linear(features))

    @staticmethod
    def sample(dist: Independent, mask: None = None) -> torch.Tensor:
        return dist.sample()

    @staticmethod
    def mode(dist: Independent, mask: None = None) -> torch.Tensor:
        return (dist.base_dist.logits > 0).float()

    @staticmethod
    def pack(dist: Independent) -> torch.Tensor:
        return dist.base_dist.logits

    @staticmethod
    def unpack(packed: torch.Tensor) -> Independent:
        return Independent(Bernoulli(logits=packed, validate_args=False), 1)

    @staticmethod
    def loss_mask(mask: None) -> None:
        return None

    def to_env(self, action: torch.Tensor) -> np.ndarray:
        return action.numpy().astype(np.int8).reshape((-1, *self.env_shape))


def describe_box_actions(head: nn.Module, space: spaces.Box) -> None:
    """The attributes every head of Box actions exposes: packed policy width (μ and σ), no action
    mask, the flat action shape and dtype, the env's shape and the bounds actions are clipped to."""
    dim = int(np.prod(space.shape))
    head.policy_dim = 2 * dim
    head.mask_size = None
    head.action_shape = (dim,)
    head.action_dtype = torch.float32
    head.env_shape = space.shape
    head.low = np.asarray(space.low, dtype=np.float32).reshape(-1)
    head.high = np.asarray(space.high, dtype=np.float32).reshape(-1)


class GaussianHead(nn.Module):
    """Continuous actions: a diagonal Gaussian with a learned, state-independent log-std.

    The stored action is the raw sample (its log-probability is what PPO's ratio needs); only the
    copy sent to the environment is clipped to the action bounds.
    """

    def __init__(self, in_features: int, space: spaces.Box, log_std_init: float = 0.0) -> None:
        super().__init__()
        dim = int(np.prod(space.shape))
        self.mu = layer_init(nn.Linear(in_features, dim), std=0.01)
        self.log_std = nn.Parameter(torch.full((dim,), float(log_std_init)))
        describe_box_actions(self, space)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = self.mu(features)
        return mu, self.log_std.exp().expand_as(mu)

    @staticmethod
    def sample(params: tuple[torch.Tensor, torch.Tensor], mask: None = None) -> torch.Tensor:
        mu, sigma = params
        return mu + sigma * torch.randn_like(mu)

    @staticmethod
    def mode(params: tuple[torch.Tensor, torch.Tensor], mask: None = None) -> torch.Tensor:
        return params[0]

    @staticmethod
    def loss_mask(mask: None) -> None:
        return None

    @staticmethod
    def pack(params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return torch.cat(params, dim=-1)

    @staticmethod
    def unpack(packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, sigma = packed.chunk(2, dim=-1)
        return mu, sigma

    def to_env(self, action: torch.Tensor) -> np.ndarray:
        """The actions clipped to the space's bounds, in its shape (the array's own ``clip``:
        ``np.clip`` without its ~3 µs of wrappers, paid once per env step)."""
        clipped = action.numpy().clip(self.low, self.high)
        return clipped.reshape((-1, *self.env_shape))


ActionHead = CategoricalHead | MultiDiscreteHead | BernoulliHead | GaussianHead


def make_head(in_features: int, space: spaces.Space) -> ActionHead:
    """The head matching a Gymnasium action space."""
    if isinstance(space, spaces.Discrete):
        return CategoricalHead(in_features, int(space.n), int(space.start))
    if isinstance(space, spaces.MultiDiscrete):
        return MultiDiscreteHead(in_features, space.nvec, space.start)
    if isinstance(space, spaces.MultiBinary):
        return BernoulliHead(in_features, space)
    if isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.floating):
        return GaussianHead(in_features, space)
    raise TypeError(
        f"unsupported action space {space}; advantage supports Discrete, MultiDiscrete, MultiBinary "
        "and float Box (continuous) actions"
    )
