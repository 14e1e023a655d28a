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

import torch

from advantage.data.batch import RecurrentRollout
from advantage.envs.vector import StepResult, VecEnv
from advantage.models.recurrent import ActorCriticLSTM
from advantage.training.collector import RolloutCollector


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


