"""Running mean/variance statistics (parallel Welford / Chan et al.) kept as module buffers.

Being buffers, the statistics travel in the model's ``state_dict`` and so in every checkpoint.
They change only when :meth:`RunningMeanStd.update` is called, which the trainer does while
collecting; evaluation never calls it, so statistics stay frozen there.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class RunningMeanStd(nn.Module):
    """Mean and variance of everything passed to :meth:`update`, merged batch by batch."""

    def __init__(self, shape: Sequence[int] = (), epsilon: float = 1e-4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(tuple(shape), dtype=torch.float64))
        self.register_buffer("var", torch.ones(tuple(shape), dtype=torch.float64))
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        batch = batch.to(torch.float64).reshape(-1, *self.mean.shape)
        n = batch.shape[0]
        batch_mean, batch_var = batch.mean(0), batch.var(0, unbiased=False)
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean += delta * n / total
        self.var.copy_((self.var * self.count + batch_var * n + delta.pow(2) * self.count * n / total) / total)
        self.count.copy_(total)


class ObsNormalizer(nn.Module):
    """``clip((x - mean) / sqrt(var + eps), -clip, clip)`` with running statistics."""

    def __init__(self, shape: Sequence[int], clip: float = 10.0, epsilon: float = 1e-8) -> None:
        super().__init__()
        self.rms = RunningMeanStd(shape)
        self.clip = clip
        self.epsilon = epsilon

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        mean = self.rms.mean.to(torch.float32)
        std = (self.rms.var + self.epsilon).sqrt().to(torch.float32)
        return ((obs.float() - mean) / std).clamp(-self.clip, self.clip)
