"""Rollouts for recurrent policies: the LSTM state and the episode-start mask travel with the data.

When does an episode start? Under Gymnasium's next-step autoreset, the step that ends an episode
returns its final observation; the agent acts on it once more (the *reset step*: action ignored,
the env returns the reset observation). So observation ``o_t`` is the first of an episode exactly
when the step that produced it was a reset step, or when it came from ``reset()``:

    episode_start_t = reset_step_{t-1}   (and True for the observations of ``reset()``)

The collector knows this before it acts on ``o_t``, zeroes the LSTM state there, and stores the
mask with the data; the training pass reads the same mask, so both reset at the same step. The
final observation is still read with the old episode's state, which makes ``V(final obs)`` the
right bootstrap for a truncated episode. The reset step is dropped from learning (``keep``) but
stays in the sequence; its output state is never used since the mask zeroes it at the next step.

Every step also stores the state the LSTM held before it (``states``), so a rollout can be cut
into chunks for truncated backpropagation through time, each chunk starting from its stored state.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from .algorithms.base import RolloutBatch
from .envs import StepResult, VecEnv
from .models.recurrent import ActorCriticLSTM
from .rollout import Rollout, RolloutCollector


@dataclass
class RecurrentRollout(Rollout):
    """A :class:`Rollout` with the LSTM bookkeeping."""

    episode_start: torch.Tensor
    """(T, N) bool: ``obs[t]`` is the first observation of an episode (state zeroed before it)."""
    states: torch.Tensor
    """(T, 2, N, C): the LSTM state ``(h, c)`` before step t, before the episode-start mask."""


class RecurrentRolloutCollector(RolloutCollector):
    """Steps ``envs`` with a recurrent ``model``, carrying its state across rollouts.

    ``hidden`` (2, N, C) and ``episode_start`` (N,) are the state and mask the next step will use;
    both are tensors so a checkpoint can hold them.
    """

    def __init__(self, envs: VecEnv, model: ActorCriticLSTM, nsteps: int, device: torch.device) -> None:
        super().__init__(envs, model, nsteps, device)
        T, N = nsteps, envs.num_envs
        base = {f.name: getattr(self.storage, f.name) for f in dataclasses.fields(self.storage)}
        self.storage = RecurrentRollout(
            **base,
            episode_start=torch.zeros(T, N, dtype=torch.bool, device=device),
            states=torch.zeros(T, *model.initial_state(N).shape, device=device),
        )
        self.reset_state()

    def reset_state(self) -> None:
        """Zero state; every env's next observation starts an episode."""
        N = self.envs.num_envs
        self.hidden = self.model.initial_state(N).to(self.device)
        self.episode_start = torch.ones(N, dtype=torch.bool, device=self.device)

    def reset(self, seed: int | None) -> None:
        super().reset(seed)
        self.reset_state()

    def act(
        self, t: int, obs: torch.Tensor, action_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Store the state and mask step ``t`` starts from, then act and carry the new state."""
        self.storage.states[t] = self.hidden
        self.storage.episode_start[t] = self.episode_start
        action, value, policy, self.hidden = self.model.act(
            obs, self.hidden, self.episode_start, action_mask=action_mask
        )
        return action, value, policy

    def observe(self, step: StepResult) -> None:
        # the observation a reset step returns is the first of an episode: zero the state before it
        self.episode_start = torch.from_numpy(step.reset_step).to(self.device)

    def bootstrap_value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.model.value(obs, self.hidden, self.episode_start)


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
    state: torch.Tensor
    """(2, B, C): the LSTM state before each sequence's first step (before its mask)."""
    action_mask: torch.Tensor | None = None
    """(L, B, mask size) legal actions, when the env masks actions."""

    @property
    def num_sequences(self) -> int:
        return self.keep.shape[1]

    def index(self, idx: torch.Tensor) -> SequenceBatch:
        """The sequences ``idx`` (along dim 1 of every field)."""
        return SequenceBatch(*(
            None if getattr(self, f.name) is None else getattr(self, f.name)[:, idx] for f in dataclasses.fields(self)
        ))

    def kept(self) -> tuple[RolloutBatch, torch.Tensor]:
        """The kept transitions as a flat batch, and their flat (time-major) positions."""
        idx = self.keep.reshape(-1).nonzero().squeeze(1)

        def flat(x: torch.Tensor) -> torch.Tensor:
            return x.reshape(-1, *x.shape[2:])[idx]

        batch = RolloutBatch(
            obs=flat(self.obs), actions=flat(self.actions), policy=flat(self.policy),
            values=flat(self.values), advantages=flat(self.advantages), returns=flat(self.returns),
            action_mask=None if self.action_mask is None else flat(self.action_mask),
        )
        return batch, idx


def sequences(
    rollout: RecurrentRollout,
    advantages: torch.Tensor,
    returns: torch.Tensor,
    keep: torch.Tensor,
    length: int | None = None,
) -> SequenceBatch:
    """The rollout as sequences: whole env rollouts, or chunks of ``length`` steps (BPTT).

    With ``length`` L < T each env's T steps are cut into ``ceil(T / L)`` chunks (the last one
    padded at the end with ``keep = False``), each starting from the state stored at its first
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

    state = r.states[::L]  # (chunks, 2 · towers, N, C)
    return SequenceBatch(
        obs=cut(r.obs), actions=cut(r.actions), policy=cut(r.policy), values=cut(r.values),
        advantages=cut(advantages), returns=cut(returns), episode_start=cut(r.episode_start),
        keep=cut(keep), state=state.transpose(0, 1).reshape(state.shape[1], chunks * N, -1),
        action_mask=None if r.action_mask is None else cut(r.action_mask),
    )
