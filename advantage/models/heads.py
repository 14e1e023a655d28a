"""Action heads: from features to a policy in the form the losses take as ``logit``.

Each head also knows how to sample, how to pick the greedy action, how to pack its policy
parameters into one ``(B, policy_dim)`` tensor for rollout storage (PPO needs the acting policy
later) and unpack them, and how to turn a stored action into what the environment accepts.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from .init import layer_init


class CategoricalHead(nn.Module):
    """Discrete actions: logits of a categorical distribution."""

    def __init__(self, in_features: int, num_actions: int) -> None:
        super().__init__()
        self.linear = layer_init(nn.Linear(in_features, num_actions), std=0.01)
        self.policy_dim = num_actions
        self.action_shape: tuple[int, ...] = ()
        self.action_dtype = torch.int64

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features)

    @staticmethod
    def sample(logits: torch.Tensor) -> torch.Tensor:
        return torch.multinomial(torch.softmax(logits, dim=-1), 1).squeeze(-1)

    @staticmethod
    def mode(logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(dim=-1)

    @staticmethod
    def pack(logits: torch.Tensor) -> torch.Tensor:
        return logits

    @staticmethod
    def unpack(packed: torch.Tensor) -> torch.Tensor:
        return packed

    def to_env(self, action: torch.Tensor) -> np.ndarray:
        return action.numpy()


class MultiDiscreteHead(nn.Module):
    """Several independent discrete actions: a list of logit tensors, one per component."""

    def __init__(self, in_features: int, nvec: np.ndarray) -> None:
        super().__init__()
        self.sizes = [int(n) for n in np.asarray(nvec).reshape(-1)]
        self.linear = layer_init(nn.Linear(in_features, sum(self.sizes)), std=0.01)
        self.policy_dim = sum(self.sizes)
        self.action_shape = (len(self.sizes),)
        self.action_dtype = torch.int64

    def forward(self, features: torch.Tensor) -> list[torch.Tensor]:
        return list(self.linear(features).split(self.sizes, dim=-1))

    @staticmethod
    def sample(logits: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([CategoricalHead.sample(part) for part in logits], dim=-1)

    @staticmethod
    def mode(logits: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([part.argmax(dim=-1) for part in logits], dim=-1)

    @staticmethod
    def pack(logits: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(logits, dim=-1)

    def unpack(self, packed: torch.Tensor) -> list[torch.Tensor]:
        return list(packed.split(self.sizes, dim=-1))

    def to_env(self, action: torch.Tensor) -> np.ndarray:
        return action.numpy()


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
        self.policy_dim = 2 * dim
        self.action_shape = (dim,)
        self.action_dtype = torch.float32
        self.env_shape = space.shape
        self.low = np.asarray(space.low, dtype=np.float32).reshape(-1)
        self.high = np.asarray(space.high, dtype=np.float32).reshape(-1)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu = self.mu(features)
        return mu, self.log_std.exp().expand_as(mu)

    @staticmethod
    def sample(params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        mu, sigma = params
        return mu + sigma * torch.randn_like(mu)

    @staticmethod
    def mode(params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return params[0]

    @staticmethod
    def pack(params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return torch.cat(params, dim=-1)

    @staticmethod
    def unpack(packed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, sigma = packed.chunk(2, dim=-1)
        return mu, sigma

    def to_env(self, action: torch.Tensor) -> np.ndarray:
        clipped = np.clip(action.numpy(), self.low, self.high)
        return clipped.reshape((-1, *self.env_shape))


ActionHead = CategoricalHead | MultiDiscreteHead | GaussianHead


def make_head(in_features: int, space: spaces.Space) -> ActionHead:
    """The head matching a Gymnasium action space."""
    if isinstance(space, spaces.Discrete):
        return CategoricalHead(in_features, int(space.n))
    if isinstance(space, spaces.MultiDiscrete):
        return MultiDiscreteHead(in_features, space.nvec)
    if isinstance(space, spaces.Box):
        return GaussianHead(in_features, space)
    raise TypeError(
        f"unsupported action space {space}; advantage supports Discrete, MultiDiscrete and Box"
    )
