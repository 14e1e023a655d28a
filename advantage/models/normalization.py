"""Running mean/variance statistics (parallel Welford / Chan et al.) kept as module buffers.

Being buffers, the statistics travel in the model's ``state_dict`` and so in every checkpoint.
They change only when :meth:`RunningMeanStd.update` is called, which the trainer does after each
update; evaluation never calls it, so statistics stay frozen there.

On the CPU the small arithmetic around torch's reductions runs on numpy views of the same buffers:
the same float operations in the same order, so the same bits, at ~1 µs an operation instead of
torch's ~3 µs of dispatch (A2C updates its statistics after every 40-80 transitions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn


def _numpy_ok(*tensors: torch.Tensor) -> bool:
    """Whether ``tensors`` may be read and written through numpy views: plain CPU tensors outside
    autograd and outside tracing, compilation or export (which must see torch operations; their
    fake tensors are subclasses)."""
    return (
        all(type(t) is torch.Tensor and t.device.type == "cpu" and not t.requires_grad for t in tensors)
        and not torch.jit.is_tracing()
        and not torch.compiler.is_compiling()
    )


_NUMPY_INPUTS = {torch.float32, torch.float64, torch.float16, torch.uint8, torch.int8, torch.int16, torch.int32,
                 torch.int64, torch.bool}
"""Input dtypes numpy converts to float32 as torch does (bfloat16 has no numpy dtype)."""
_NUMPY_FLOATS = {torch.float32, torch.float64}
"""dtypes whose numpy arithmetic rounds as torch's (torch computes float16 in float32)."""


def merge_moments(mean, var, count, batch_mean, batch_var, n: int):
    """Chan et al.'s merge of running ``(mean, var, count)`` with a batch's ``(mean, var)`` of
    ``n`` samples, written once for torch tensors and numpy arrays (the same operations in the
    same order on either)::

        δ = m_B − m,  c' = c + n,  m' = m + δ n / c',  v' = (v c + v_B n + δ² c n / c') / c'
    """
    delta = batch_mean - mean
    total = count + n
    return mean + delta * n / total, (var * count + batch_var * n + delta * delta * count * n / total) / total, total


def normalize_in_place(x: np.ndarray, mean: np.ndarray, std: np.ndarray, clip: np.float32) -> np.ndarray:
    """``clip((x - mean) / std, -clip, clip)`` written into the float32 array ``x`` (returned):
    :class:`ObsNormalizer`'s arithmetic, in the order and rounding of its torch path."""
    np.divide(np.subtract(x, mean, out=x), std, out=x)
    return np.minimum(np.maximum(x, -clip, out=x), clip, out=x)


class RunningMeanStd(nn.Module):
    """Mean and variance of everything passed to :meth:`update`, merged batch by batch."""

    def __init__(self, shape: Sequence[int] = (), epsilon: float = 1e-4) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(tuple(shape), dtype=torch.float64))
        self.register_buffer("var", torch.ones(tuple(shape), dtype=torch.float64))
        self.register_buffer("count", torch.tensor(epsilon, dtype=torch.float64))
        self.merges = 0
        """Batches merged by :meth:`update` (which may write through numpy views, unseen by the
        buffers' version counters): with those counters, says when the statistics last changed."""

    def stamp(self) -> tuple[int, ...]:
        """Changes whenever the statistics may have: an :meth:`update`, or any in-place write or
        replacement of the buffers by torch (``load_state_dict``, ``fill_``, ``.to(...)``)."""
        mean, var = self.mean, self.var
        return self.merges, mean._version, var._version, mean.data_ptr(), var.data_ptr()

    def update(self, batch: torch.Tensor) -> None:
        """Merge the mean and variance of ``batch`` (samples along the leading dims, then the
        statistics' shape) into the running ones (torch's reductions; see :func:`merge_moments`).
        An empty batch (a rollout of reset steps only) changes nothing."""
        batch = batch.detach().to(torch.float64).reshape(-1, *self.mean.shape)
        n = batch.shape[0]
        if n == 0:
            return
        batch_mean, batch_var = batch.mean(0), batch.var(0, unbiased=False)
        buffers = (self.mean, self.var, self.count)
        if _numpy_ok(*buffers, batch):
            buffers, batch_mean, batch_var = [t.numpy() for t in buffers], batch_mean.numpy(), batch_var.numpy()
            if batch_mean.ndim == 0:  # one statistic: Python floats, the same IEEE double operations
                merged = merge_moments(*(float(x) for x in (*buffers, batch_mean, batch_var)), n)
            else:
                merged = merge_moments(*buffers, batch_mean, batch_var, n)
        else:
            merged = merge_moments(*buffers, batch_mean, batch_var, n)
        for buffer, value in zip(buffers, merged):
            buffer[...] = value
        self.merges += 1


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
        self._float32: tuple[tuple[int, ...], np.ndarray, np.ndarray] | None = None
        """:meth:`float32_statistics` with the statistics' :meth:`RunningMeanStd.stamp` they were read at."""

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.raw is None and obs.dtype in _NUMPY_INPUTS and _numpy_ok(obs, self.rms.mean):  # the same operations on numpy views
            return torch.from_numpy(self.normalize_numpy(obs.numpy()))
        mean = self.rms.mean.to(torch.float32)
        std = (self.rms.var + self.epsilon).sqrt().to(torch.float32)
        out = ((obs.float() - mean) / std).clamp(-self.clip, self.clip)
        return out if self.raw is None else torch.where(self.raw, obs.float(), out)

    def float32_statistics(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mean, sqrt(var + eps))`` rounded to float32, as :meth:`forward` uses them (CPU
        buffers; read-only arrays, computed again only after the statistics changed: an A2C update
        normalises twice and refreshes the numpy actor once per change)."""
        rms, cached = self.rms, self._float32
        stamp = rms.stamp()
        if cached is None or cached[0] != stamp:
            mean, std = rms.mean.numpy().astype(np.float32), np.sqrt(rms.var.numpy() + self.epsilon).astype(np.float32)
            mean.flags.writeable = std.flags.writeable = False
            cached = self._float32 = (stamp, mean, std)
        return cached[1], cached[2]

    def normalize_numpy(self, obs: np.ndarray) -> np.ndarray:
        """:meth:`forward` (without ``raw`` elements) on a numpy array of CPU statistics: a new
        float32 array, the same bits."""
        return normalize_in_place(obs.astype(np.float32), *self.float32_statistics(), np.float32(self.clip))


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
            for t in range(r.shape[0]):  # in place: carried · γ, then + r_t (as float64), as above
                np.add(np.multiply(carried, gamma, out=carried), r[t], out=carried)
                out[t] = carried
                carried[d[t]] = 0.0
            self.discounted = torch.from_numpy(carried)
            return torch.from_numpy(out[~reset_step.numpy()])
        for t in range(rewards.shape[0]):  # a recurrence in time, vectorised over envs
            self.discounted = self.discounted * gamma + rewards[t]
            returns[t] = self.discounted
            self.discounted = self.discounted.masked_fill(done[t], 0.0)
        return returns[~reset_step]

    def scale(self, rewards: torch.Tensor) -> torch.Tensor:
        """``clip(r / sqrt(var(R) + eps), ±clip)``, a new tensor of ``rewards``' dtype."""
        if rewards.dtype in _NUMPY_FLOATS and _numpy_ok(rewards, self.rms.var):  # the same operations on a numpy view and Python floats
            r = rewards.numpy()
            out = np.divide(r, r.dtype.type(math.sqrt(float(self.rms.var) + self.epsilon)))
            return torch.from_numpy(np.minimum(np.maximum(out, -self.clip, out=out), self.clip, out=out))
        std = (self.rms.var + self.epsilon).sqrt().to(rewards.dtype)
        return (rewards / std).clamp(-self.clip, self.clip)
