"""The normalisation stage: observation statistics and reward scaling, one object the trainer
owns and the Ray workers build alike.

The statistics are the model's buffers (:class:`~advantage.models.normalization.ObsNormalizer`,
:class:`~advantage.models.normalization.RewardScaler`): acting normalises with them, and they are
saved, restored and broadcast with the weights, in the model's ``state_dict`` and nowhere else.
Each env's discounted return in flight, from which the next rollout's return statistics go on,
belongs to that env's episode: the trainer saves and restores it with the envs
(:meth:`Normalization.returns_in_flight`, :meth:`Normalization.restore_returns`), and it restarts
at 0 wherever the episodes restart.
This stage is the one place that updates them and scales rewards:

- the local loop and the actor-learner: scale a rollout's rewards (:meth:`scale_rewards`, which
  also learns the return statistics) and, after the update, learn the observation statistics
  from the rollout's observations (:meth:`learn_observations`), so acting and learning saw the
  same statistics;
- a Ray worker: scale with the learner's statistics as they came with the weights, leaving them
  untouched, and send back what they learn from (:meth:`scale_rewards_frozen`, :meth:`observations`);
- the A3C learner / actor-learner: learn from what the workers sent (:meth:`learn`).
"""

from __future__ import annotations

import torch
from torch import nn

from advantage.data.batch import Rollout


class Normalization:
    """The observation normaliser and reward scaler of ``model`` (either may be absent), with
    the discount ``gamma`` of the returns whose scale the rewards are divided by."""

    def __init__(self, model: nn.Module, gamma: float) -> None:
        self.obs = getattr(model, "obs_normalizer", None)
        self.rewards = getattr(model, "reward_scaler", None)
        self.gamma = gamma

    def scale_rewards(self, rollout: Rollout) -> None:
        """Learn the return statistics from the rollout and scale its rewards in place (the
        learner's rewards only: episode statistics stay unscaled)."""
        if self.rewards is not None:
            done = rollout.terminated | rollout.truncated
            rollout.rewards.copy_(self.rewards.update_and_scale(rollout.rewards, done, rollout.reset_step, self.gamma))

    def scale_rewards_frozen(self, rollout: Rollout) -> torch.Tensor | None:
        """Scale the rollout's rewards in place by the statistics as they are (a worker's: the
        learner's broadcast buffers) and return the discounted returns they learn from (each
        env's return in flight carried across rollouts); None, rewards untouched, without scaling."""
        if self.rewards is None:
            return None
        done = rollout.terminated | rollout.truncated
        discounted = self.rewards.discount(rollout.rewards, done, rollout.reset_step, self.gamma)
        rollout.rewards.copy_(self.rewards.scale(rollout.rewards))
        return discounted

    def returns_in_flight(self) -> torch.Tensor | None:
        """A CPU copy of each env's discounted return in flight (float64, (N,)) for a checkpoint;
        None without reward scaling or before the first rollout."""
        if self.rewards is None or self.rewards.discounted is None:
            return None
        return self.rewards.discounted.cpu().clone()

    def restore_returns(self, returns: torch.Tensor | None, device: torch.device) -> None:
        """Continue each env's discounted return from ``returns`` (from :meth:`returns_in_flight`);
        None restarts them at 0, as new episodes do."""
        if self.rewards is not None:
            self.rewards.discounted = None if returns is None else returns.to(device, torch.float64).clone()

    def observations(self, obs: torch.Tensor) -> torch.Tensor | None:
        """A copy of ``obs`` for the learner's observation statistics, or None without them."""
        return obs.clone() if self.obs is not None else None

    def learn_observations(self, rollout: Rollout) -> None:
        """Learn the observation statistics from the rollout's observations (reset steps left out)."""
        if self.obs is not None:
            obs, reset_step = rollout.obs, rollout.reset_step
            if obs.device.type == reset_step.device.type == "cpu" and not obs.requires_grad:  # numpy's gather: the same rows
                self.obs.rms.update(torch.from_numpy(obs.numpy()[~reset_step.numpy()]))
            else:
                self.obs.rms.update(obs[~reset_step])

    def learn(self, obs: torch.Tensor | None = None, discounted: torch.Tensor | None = None) -> None:
        """Learn from what workers sent: their observations and their envs' discounted returns."""
        if self.obs is not None and obs is not None:
            self.obs.rms.update(obs)
        if self.rewards is not None and discounted is not None:
            self.rewards.rms.update(discounted)
