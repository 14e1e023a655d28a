"""The data a learner reads: one rollout as (T, N) tensors, and the flat or sequence batches cut from it.

Plain tensors only: no environment, no model. The collector fills a :class:`Rollout` (with every
step's episode-start mask and the model's memory before the step: empty for a feed-forward model);
an estimator adds advantages and returns; :func:`flatten` (feed-forward models) or
:func:`sequences` (recurrent models: whole env sequences or BPTT chunks, each with its stored
memory) turns it into what an update consumes.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch


@dataclass
class RolloutBatch:
    """Flattened transitions of one rollout, all on the learner's device, first dim B."""

    obs: torch.Tensor
    actions: torch.Tensor
    policy: torch.Tensor
    """Packed policy parameters seen while acting (the old policy PPO's ratio needs)."""
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    action_mask: torch.Tensor | None = None
    """(B, mask size) bool legal actions, when the env masks actions (losses then see only those)."""

    def __len__(self) -> int:
        return self.advantages.shape[0]

    def _map(self, take: Callable[[torch.Tensor], torch.Tensor]) -> RolloutBatch:
        return type(self)(*(  # a subclass's own per-sample fields are selected alike
            None if getattr(self, f) is None else take(getattr(self, f)) for f in self.__dataclass_fields__
        ))

    def _select(self, idx: slice) -> RolloutBatch:
        return self._map(lambda field: field[idx])

    def index(self, idx: torch.Tensor) -> RolloutBatch:
        """The transitions ``idx`` (int64 positions), one ``index_select`` per field: the values of
        ``field[idx]``, which for Atari's frames takes ~8x as long (a generic gather per element)."""
        return self._map(lambda field: field.index_select(0, idx))

    def minibatches(self, size: int) -> list[RolloutBatch]:
        """Shuffled minibatches of ``size``: one gather per field, then views of it (no copies)."""
        shuffled = self.index(torch.randperm(len(self), device=self.advantages.device))
        return [shuffled._select(slice(start, start + size)) for start in range(0, len(self), size)]


@dataclass
class Rollout:
    """One rollout, every field of shape (T, N, ...) except ``last_value`` (N,)."""

    obs: torch.Tensor
    actions: torch.Tensor
    policy: torch.Tensor
    values: torch.Tensor
    rewards: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    reset_step: torch.Tensor
    last_value: torch.Tensor
    action_mask: torch.Tensor | None = field(default=None, kw_only=True)
    """(T, N, mask size) bool: the legal actions at each step, when the env masks actions."""
    episode_start: torch.Tensor = field(kw_only=True)
    """(T, N) bool: ``obs[t]`` is the first observation of an episode (the memory is zeroed before it)."""
    memory: torch.Tensor = field(kw_only=True)
    """(T, *memory shape): the model's memory before step t (before the episode-start mask); the
    env axis is dim 2, as the memory's (M, N, ...) has it at dim 1. Empty for a feed-forward model."""

    last_obs: torch.Tensor | None = field(default=None, kw_only=True)
    """(N, ...): the observations after the rollout (those ``last_value`` is the value of), for an
    estimator that re-evaluates the rollout with the model being trained (V-trace)."""
    last_episode_start: torch.Tensor | None = field(default=None, kw_only=True)
    """(N,) bool: ``last_obs`` starts an episode (a recurrent model zeroes its memory before it)."""

    ENV_AXIS = {"last_value": 0, "memory": 2, "last_obs": 0, "last_episode_start": 0}
    """The env axis of the fields where it is not dim 1."""

    @property
    def next_values(self) -> torch.Tensor:
        """``V(s_{t+1})`` for every step: the next step's value, then the bootstrap."""
        return torch.cat([self.values[1:], self.last_value.unsqueeze(0)])


def _kept_transitions(
    source: Rollout | SequenceBatch, advantages: torch.Tensor, returns: torch.Tensor, keep: torch.Tensor
) -> tuple[RolloutBatch, torch.Tensor]:
    """The transitions ``keep`` marks in (time, env-or-sequence, ...) fields as one flat batch (one
    gather per field, no loop), and their flat time-major positions.

    On the CPU the gathers are numpy's fancy indexing on views of the tensors (the same copied
    bits at ~1 µs a field instead of torch's ~4 µs of dispatch: A2C's 40-sample batches paid more
    for the dispatch than for the copies)."""
    fields = [source.obs, source.actions, source.policy, source.values, advantages, returns, source.action_mask]
    if all(x is None or (x.device.type == "cpu" and not x.requires_grad) for x in (keep, *fields)):
        positions = np.flatnonzero(keep.numpy())

        def flat(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(x.numpy().reshape(-1, *x.shape[2:])[positions])

        idx = torch.from_numpy(positions)
    else:
        idx = keep.reshape(-1).nonzero().squeeze(1)

        def flat(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(-1, *x.shape[2:])[idx]

    batch = RolloutBatch(
        obs=flat(source.obs), actions=flat(source.actions), policy=flat(source.policy), values=flat(source.values),
        advantages=flat(advantages), returns=flat(returns),
        action_mask=None if source.action_mask is None else flat(source.action_mask),
    )
    return batch, idx


def flatten(rollout: Rollout, advantages: torch.Tensor, returns: torch.Tensor, keep: torch.Tensor) -> RolloutBatch:
    """The kept transitions as one flat batch."""
    return _kept_transitions(rollout, advantages, returns, keep)[0]


@dataclass
class SequenceBatch:
    """Sequences of one rollout for a recurrent learner: fields (L, B, ...) except ``state``.

    B counts sequences (envs, or env chunks); ``keep`` marks the transitions to learn from (the
    reset steps and any end padding are run through the LSTM but not learned from).
    """

    obs: torch.Tensor
    actions: torch.Tensor
    policy: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    episode_start: torch.Tensor
    keep: torch.Tensor
    memory: torch.Tensor
    """(M, B, ...): the model's memory before each sequence's first step (before its mask)."""
    action_mask: torch.Tensor | None = None
    """(L, B, mask size) legal actions, when the env masks actions."""

    @property
    def num_sequences(self) -> int:
        return self.keep.shape[1]

    def index(self, idx: torch.Tensor) -> SequenceBatch:
        """The sequences ``idx`` (along dim 1 of every field)."""
        return SequenceBatch(*(
            None if getattr(self, f.name) is None else getattr(self, f.name).index_select(1, idx) for f in dataclasses.fields(self)
        ))

    def kept(self) -> tuple[RolloutBatch, torch.Tensor]:
        """The kept transitions as a flat batch, and their flat (time-major) positions (gathered
        once: an update reads them every epoch, and a batch's fields do not change once built)."""
        return self._kept

    @functools.cached_property
    def _kept(self) -> tuple[RolloutBatch, torch.Tensor]:
        return _kept_transitions(self, self.advantages, self.returns, self.keep)


def sequences(
    rollout: Rollout,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    keep: torch.Tensor,
    length: int | None = None,
) -> SequenceBatch:
    """The rollout as sequences: whole env rollouts, or chunks of ``length`` steps (BPTT).

    With ``length`` L < T each env's T steps are cut into ``ceil(T / L)`` chunks (the last one
    padded at the end with ``keep = False``), each starting from the memory stored at its first
    step; chunk k of env n is sequence ``k * N + n``.
    """
    r = rollout
    T, N = keep.shape
    L = T if length is None else min(length, T)
    chunks = -(-T // L)
    pad = chunks * L - T

    def cut(x: torch.Tensor) -> torch.Tensor:  # (T, N, ...) -> (L, chunks * N, ...)
        if pad:
            x = torch.cat([x, x.new_zeros(pad, *x.shape[1:])])
        x = x.reshape(chunks, L, *x.shape[1:]).transpose(0, 1)
        return x.reshape(L, chunks * N, *x.shape[3:])

    memory = r.memory[::L]  # (chunks, M, N, ...)
    return SequenceBatch(
        obs=cut(r.obs), actions=cut(r.actions), policy=cut(r.policy), values=cut(r.values),
        advantages=cut(advantages), returns=cut(returns), episode_start=cut(r.episode_start),
        keep=cut(keep), memory=memory.transpose(0, 1).reshape(memory.shape[1], chunks * N, *memory.shape[3:]),
        action_mask=None if r.action_mask is None else cut(r.action_mask),
    )
