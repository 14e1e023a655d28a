"""Generalized state-dependent exploration (gSDE; Raffin et al. 2021, "Smooth exploration for
robotic reinforcement learning").

The exploration noise is a function of the state, held fixed between resamplings: with ``z`` the
actor's last hidden features (detached: the noise does not train the features) and an exploration
matrix ``E`` of shape ``(features, actions)`` drawn elementwise from ``N(0, σ²)``,

    a = μ(s) + z(s)ᵀ E,        σ = exp(log_std), a learned ``(features, actions)`` matrix.

Given ``s``, ``a_j`` is Gaussian with mean ``μ_j`` and variance ``Σ_i z_i² σ_ij²``: that diagonal
Gaussian is the policy the losses see (log-probability and entropy summed over actions), exactly
the distribution the action was drawn from, at acting and at training alike. ``E`` (one per env)
is resampled at every rollout's start and every ``sde_sample_freq`` steps; between resamplings the
same state gives the same action, which is what makes the exploration smooth.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from torch import nn

from advantage.models.heads import GaussianHead, describe_box_actions
from advantage.models.init import layer_init

VARIANCE_EPS = 1e-6
"""Added to the variance so that σ stays positive where the features vanish."""


def resample_due(t: int, sample_freq: int) -> bool:
    """Whether step ``t`` of a rollout draws new exploration matrices: at ``t = 0`` always, then
    every ``sample_freq`` steps (never again within the rollout when it is -1)."""
    return t == 0 or (sample_freq > 0 and t % sample_freq == 0)


class StateDependentNoiseHead(nn.Module):
    """Continuous actions with gSDE: a diagonal Gaussian whose σ depends on the features."""

    def __init__(self, in_features: int, space: spaces.Box, log_std_init: float = 0.0) -> None:
        super().__init__()
        dim = int(np.prod(space.shape))
        self.mu = layer_init(nn.Linear(in_features, dim), std=0.01)
        self.log_std = nn.Parameter(torch.full((in_features, dim), float(log_std_init)))
        self.exploration: torch.Tensor | None = None
        """``(n, features, actions)``: one exploration matrix per env; see :meth:`reset_noise`."""
        describe_box_actions(self, space)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(μ, σ)`` with ``σ_j = sqrt(Σ_i z_i² exp(2 log_std_ij) + ε)``."""
        variance = features.detach().square() @ self.log_std.mul(2).exp()
        return self.mu(features), (variance + VARIANCE_EPS).sqrt()

    def reset_noise(self, n: int) -> None:
        """Draw ``n`` new exploration matrices ``E ~ N(0, σ²)`` (with the current σ)."""
        std = self.log_std.detach().exp()
        self.exploration = std * torch.randn(n, *std.shape, device=std.device, dtype=std.dtype)

    def sample(self, params: tuple[torch.Tensor, torch.Tensor], features: torch.Tensor) -> torch.Tensor:
        """``μ + zᵀ E`` with each row's own matrix (new matrices when the batch size changed)."""
        mu = params[0]
        if self.exploration is None or self.exploration.shape[0] != mu.shape[0]:
            self.reset_noise(mu.shape[0])
        noise = torch.bmm(features.detach().unsqueeze(1), self.exploration).squeeze(1)
        return mu + noise

    mode = staticmethod(GaussianHead.mode)
    loss_mask = staticmethod(GaussianHead.loss_mask)
    pack = staticmethod(GaussianHead.pack)
    unpack = staticmethod(GaussianHead.unpack)
    to_env = GaussianHead.to_env
    env_action = GaussianHead.env_action
