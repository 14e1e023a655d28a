"""Running mean/variance statistics (parallel Welford / Chan et al.) kept as module buffers.

Being buffers, the statistics travel in the model's ``state_dict`` and so in every checkpoint.
They change only when :meth:`RunningMeanStd.update` is called, which the trainer does after each
update; evaluation never calls it, so statistics stay frozen there.
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
    """``clip((x - mean) / sqrt(var + eps), -clip, clip)`` with running statistics, per element.

    ``raw`` (bool, of ``shape``) marks elements passed through unchanged: the image parts of a
    structured observation, which their CNN already scales (never normalised twice).
    """

    def __init__(
        self, shape: Sequence[int], clip: float = 10.0, epsilon: float = 1e-8, raw: torch.Tensor | None = None
    ) -> None:
        super().__init__()
        self.rms = RunningMeanStd(shape)
        self.clip = clip
        self.epsilon = epsilon
        self.register_buffer("raw", raw if raw is not None and bool(raw.any()) else None, persistent=False)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        mean = self.rms.mean.to(torch.float32)
        std = (self.rms.var + self.epsilon).sqrt().to(torch.float32)
        out = ((obs.float() - mean) / std).clamp(-self.clip, self.clip)
        return out if self.raw is None else torch.where(self.raw, obs.float(), out)


class RewardScaler(nn.Module):
    """Divide rewards by the running std of the discounted return (as SB3's ``VecNormalize``).

    Per env, ``R_t = r_t + gamma * R_{t-1}``, restarted at 0 after every episode end; the
    statistics of ``R`` are updated with a rollout's ``R_t`` (reset steps, which carry no
    transition, left out) and the rollout's rewards become ``clip(r_t / sqrt(var(R) + eps), ±clip)``.
    Only the statistics are buffers (in the model's ``state_dict``, broadcast to Ray workers with
    the weights); the per-env return in flight, ``discounted``, belongs to the episodes in flight
    and is checkpointed with the envs by the trainer (``resume.reward_returns``). The mean
    is not subtracted: shifting rewards would change which policy is optimal.
    """

    def __init__(self, clip: float = 10.0, epsilon: float = 1e-8) -> None:
        super().__init__()
        self.rms = RunningMeanStd(())
        self.clip, self.epsilon = clip, epsilon
        self.discounted: torch.Tensor | None = None  # (N,) return in flight per env

    @torch.no_grad()
    def update_and_scale(
        self, rewards: torch.Tensor, done: torch.Tensor, reset_step: torch.Tensor, gamma: float
    ) -> torch.Tensor:
        """Update the statistics with a (T, N) rollout and return its scaled rewards (new tensor)."""
        self.rms.update(self.discount(rewards, done, reset_step, gamma))
        return self.scale(rewards)

    @torch.no_grad()
    def discount(
        self, rewards: torch.Tensor, done: torch.Tensor, reset_step: torch.Tensor, gamma: float
    ) -> torch.Tensor:
        """Carry each env's return in flight through a (T, N) rollout; returns the ``R_t`` the
        statistics learn from (reset steps left out), flat, float64. The statistics are not touched:
        an A3C worker, which scales with the learner's statistics, sends these to the learner."""
        if self.discounted is None or self.discounted.shape != rewards.shape[1:]:
            self.discounted = torch.zeros(rewards.shape[1:], dtype=torch.float64, device=rewards.device)
        returns = torch.empty(rewards.shape, dtype=torch.float64, device=rewards.device)
        if rewards.device.type == "cpu":  # the same operations on numpy views: the same bits, ~5x faster a step
            carried, r, d, out = self.discounted.numpy().copy(), rewards.numpy(), done.numpy(), returns.numpy()
            for t in range(r.shape[0]):
                carried = carried * gamma + r[t]
                out[t] = carried
                carried[d[t]] = 0.0
            self.discounted = torch.from_numpy(carried)
            return returns[~reset_step]
        for t in range(rewards.shape[0]):  # a recurrence in time, vectorised over envs
            self.discounted = self.discounted * gamma + rewards[t]
            returns[t] = self.discounted
            self.discounted = self.discounted.masked_fill(done[t], 0.0)
        return returns[~reset_step]

    def scale(self, rewards: torch.Tensor) -> torch.Tensor:
        std = (self.rms.var + self.epsilon).sqrt().to(rewards.dtype)
        return (rewards / std).clamp(-self.clip, self.clip)
